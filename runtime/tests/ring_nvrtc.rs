//! The generated persistent ring kernels compile with the real NVRTC (no GPU
//! needed), for the architectures spindle targets, without warnings and
//! without register spills. Skips, saying why, when libnvrtc is absent.

use spindle_codegen::cuda::EmitOptions;
use spindle_codegen::ring::{emit_ring, samples};
use spindle_runtime::cuda::compile_cubin;
use spindle_runtime::Error;

const ARCHS: [&str; 3] = ["sm_75", "sm_80", "sm_90"];

#[test]
fn ring_kernels_compile_with_nvrtc() {
    for k in samples::all() {
        let src = emit_ring(&k, &EmitOptions::default()).unwrap();
        for arch in ARCHS {
            let label = format!("{}_t{}", k.name, k.threads);
            match compile_cubin(&label, &src.code, arch) {
                Ok(m) => {
                    assert_eq!(&m.cubin[..4], b"\x7fELF", "{label} {arch}");
                    let lower = m.log.to_lowercase();
                    assert!(
                        !lower.contains("warning"),
                        "{label} {arch}: NVRTC warned:\n{}",
                        m.log
                    );
                    assert_eq!(
                        m.resources.spill_stores, 0,
                        "{label} {arch} spills:\n{}",
                        m.log
                    );
                    assert_eq!(
                        m.resources.spill_loads, 0,
                        "{label} {arch} spills:\n{}",
                        m.log
                    );
                    println!(
                        "{label} {arch}: {} registers, {} bytes of CUBIN",
                        m.resources.registers,
                        m.cubin.len()
                    );
                }
                Err(e @ Error::NvrtcUnavailable { .. }) => {
                    println!("SKIPPED: {e}");
                    return;
                }
                Err(e) => panic!("{label} {arch}:\n{e}"),
            }
        }
    }
}

#[test]
fn a_layout_mismatch_in_the_c_side_is_a_compile_error() {
    // The static_asserts generated from the Rust layout reject a C type of
    // another size: replace the message type's size in the assert.
    let k = samples::tally();
    let src = emit_ring(&k, &EmitOptions::default()).unwrap();
    let broken = src.code.replace(
        "static_assert(sizeof(SpindleRequestSlot) == 16",
        "static_assert(sizeof(SpindleRequestSlot) == 24",
    );
    assert_ne!(broken, src.code);
    match compile_cubin("tally_broken", &broken, "sm_80") {
        Err(Error::Compile { log, .. }) => {
            assert!(
                log.contains("SpindleRequestSlot: stride differs from the Rust layout"),
                "{log}"
            )
        }
        Err(e @ Error::NvrtcUnavailable { .. }) => println!("SKIPPED: {e}"),
        other => panic!("expected a compile error, got {other:?}"),
    }
}

/// The ring loop adds no copy of a large reply to the threads' stack: it
/// constructs thread 0's return value in the reply's buffer (shared staging
/// or the slot), so the stack holds at most the value the handler builds
/// (here `[x; N]`, which the emitter builds in a local array). When the
/// loop kept two copies of the reply per thread, a 16 KiB reply needed
/// 32 KiB of stack per thread besides, reserved for every resident thread
/// of the GPU, and larger replies could not spawn.
#[test]
fn a_large_reply_takes_no_stack_in_the_loop() {
    use spindle_codegen::{link, ItemSource, KernelMode, KernelOptions};
    let link_with = |words: u32| {
        let src: &'static str = Box::leak(
            format!(
                "fn big(state: &mut u32, msg: u32) -> [u32; {words}] {{
                    *state += msg;
                    [*state; {words}]
                }}"
            )
            .into_boxed_str(),
        );
        let item = ItemSource {
            name: "big",
            source: src,
            file: "runtime/tests/ring_nvrtc.rs",
            line: 1,
            consts: &[],
        };
        link(&item, &KernelOptions::new(KernelMode::Ring), &[], &[]).unwrap()
    };
    for words in [1024u32, 4096, 16384] {
        let k = link_with(words);
        let src = emit_ring(&k, &EmitOptions::default()).unwrap();
        let label = format!("big_reply_{words}");
        match compile_cubin(&label, &src.code, "sm_90") {
            Ok(m) => {
                let reply = words * 4;
                println!(
                    "{label}: {} bytes of stack per thread for a {reply}-byte reply",
                    m.resources.stack_frame_bytes
                );
                assert!(
                    m.resources.stack_frame_bytes <= reply + 256,
                    "{label}: {} bytes of stack per thread for a {reply}-byte reply:\n{}",
                    m.resources.stack_frame_bytes,
                    m.log
                );
            }
            Err(e @ Error::NvrtcUnavailable { .. }) => {
                println!("SKIPPED: {e}");
                return;
            }
            Err(e) => panic!("{label}:\n{e}"),
        }
    }
}
