//! Text-level tests of the ring kernel emitter. Compiling the text (NVRTC,
//! and g++ against the host shim, run against the Rust host side) is done
//! by spindle-runtime's `ring_nvrtc` and `ring_host_compiled` tests.

use super::emit::{emit_ring, ring_entry_symbol};
use super::samples;
use crate::cuda::{self, EmitOptions};
use crate::ir::{ParamKind, Ty};

#[test]
fn every_sample_emits_a_complete_ring_kernel() {
    for k in samples::all() {
        let src = emit_ring(&k, &EmitOptions::default()).unwrap();
        let c = &src.code;
        assert_eq!(src.entry, ring_entry_symbol(&k.name));
        assert_eq!(src.threads, k.threads);
        assert!(!c.contains("#error"), "{}:\n{c}", k.name);
        assert!(
            !c.contains('$'),
            "unreplaced placeholder in {}:\n{c}",
            k.name
        );
        let sig = format!(
            "extern \"C\" __global__ void __launch_bounds__(SPINDLE_RING_BLOCK) spindle_ring_{}(SpindleRingControl* spindle_ctl, unsigned char* spindle_requests, unsigned char* spindle_replies,",
            k.name
        );
        assert!(c.contains(&sig), "{c}");
        assert!(c.contains(&format!(
            "#define SPINDLE_RING_BLOCK {}u",
            src.block_threads
        )));
        assert!(c.contains("static_assert(sizeof(SpindleRingControl) == 640"));
        assert!(c.contains(&format!(
            "spindle_handler_{}(spindle_fault, spindle_state, spindle_msg)",
            k.name
        )));
        // The handler reads the message by reference and thread 0 builds
        // its reply in place: no per-thread copy of either.
        let ParamKind::Value(msg) = &k.entry.params[1].kind else {
            panic!("{}: the message is a value", k.name)
        };
        let handler_sig = format!(
            "spindle_handler_{}(SpindleFault* spindle_fault, {}* p_state, const {}& p_msg)",
            k.name,
            src.state_type,
            cuda::c_type(&k, msg)
        );
        assert!(c.contains(&handler_sig), "{c}");
        assert!(c.contains("new (spindle_ring_reply_at(spindle_i), SpindleRingPlace{})"));
        // Exactly one __global__: the ring loop.
        assert_eq!(c.matches("__global__").count(), 1, "{c}");
    }
}

#[test]
fn slot_layouts_follow_the_message_and_reply_types() {
    let src = emit_ring(&samples::tally(), &EmitOptions::default()).unwrap();
    assert_eq!(src.request.payload_size, 4);
    assert_eq!(src.reply.payload_size, 8);
    assert_eq!(src.request.stride, 16);
    assert_eq!(src.reply.stride, 16);
    assert!(src
        .code
        .contains("static_assert(sizeof(SpindleReplySlot) == 16"));
}

#[test]
fn device_only_operations_sit_behind_named_helpers() {
    let c = emit_ring(&samples::lanes(32), &EmitOptions::default())
        .unwrap()
        .code;
    let loop_text = &c[c.find("// ---- ring executor").unwrap()..];
    let shim_guarded_end = loop_text.find("#endif").unwrap();
    let body = &loop_text[shim_guarded_end..];
    for raw in [
        "__syncthreads",
        "__nanosleep",
        "asm",
        "atomicCAS",
        "__threadfence",
    ] {
        assert!(!body.contains(raw), "raw `{raw}` in the ring loop:\n{body}");
    }
    for raw in [
        "__ballot_sync",
        "__shfl_sync",
        "__syncwarp",
        "globaltimer",
        "fence.",
    ] {
        assert!(!body.contains(raw), "raw `{raw}` in the ring loop:\n{body}");
    }
    for helper in [
        "spindle_store_release_sys_u32",
        "spindle_ring_load_relaxed_u32",
        "spindle_ring_store_relaxed_u32",
        "spindle_ring_fence_acq_rel()",
        "spindle_ring_ballot",
        "spindle_ring_shfl",
        "spindle_ring_sync_warp",
        "spindle_ring_clock_ns()",
        "spindle_nanosleep",
        "spindle_sync_threads()",
        "spindle_sync_threads_count(1u)",
        "spindle_atomic_cas_u32",
    ] {
        assert!(body.contains(helper), "{helper} missing");
    }
}

#[test]
fn non_ring_kernels_and_bad_signatures_are_refused() {
    let mut k = samples::tally();
    k.mode = crate::KernelMode::Batch;
    assert!(emit_ring(&k, &EmitOptions::default())
        .unwrap_err()
        .contains("not a ring kernel"));
    let mut k = samples::tally();
    k.entry.ret = Ty::Unit;
    assert!(emit_ring(&k, &EmitOptions::default())
        .unwrap_err()
        .contains("must return a reply"));
    let mut k = samples::tally();
    k.threads = 2000;
    assert!(emit_ring(&k, &EmitOptions::default())
        .unwrap_err()
        .contains("threads"));
    let mut k = samples::tally();
    k.entry.params.pop();
    assert!(emit_ring(&k, &EmitOptions::default()).is_err());
}

#[test]
fn shared_arrays_and_the_loop_must_fit_in_static_shared_memory() {
    use super::layout::MAX_BATCH;
    use super::plan::CONTROL_BYTES;
    use crate::ir::{Scalar, SharedArray, SrcSpan, MAX_SHARED_BYTES};
    let with_shared = |bytes: u32| {
        let mut k = samples::tally();
        k.shared.push(SharedArray {
            name: "big".into(),
            elem: Ty::Scalar(Scalar::U8),
            len: bytes,
            span: SrcSpan::default(),
        });
        k
    };
    // The loop needs its control block (CONTROL_BYTES plus a byte per
    // handler thread, 8 for tally's one thread); its staging shrinks to
    // what is left, down to none (messages read in place).
    let control = CONTROL_BYTES + 8;
    let fits = emit_ring(
        &with_shared(MAX_SHARED_BYTES - control),
        &EmitOptions::default(),
    )
    .unwrap();
    assert!(
        !fits.plan.msg_staged && !fits.plan.reply_staged,
        "{:?}",
        fits.plan
    );
    let err = emit_ring(
        &with_shared(MAX_SHARED_BYTES - control + 1),
        &EmitOptions::default(),
    )
    .unwrap_err();
    assert!(err.contains("must fit in 49152 bytes"), "{err}");
    // With room to spare, a full batch is staged.
    let roomy = emit_ring(&with_shared(1024), &EmitOptions::default()).unwrap();
    assert!(roomy.plan.msg_staged && roomy.plan.reply_staged);
    assert_eq!(roomy.plan.batch, MAX_BATCH);
}

#[test]
fn a_small_barrier_free_handler_gets_a_warp_and_keeps_its_block_dim() {
    let link = |src: &'static str, threads: u32| {
        let item = crate::ItemSource {
            name: "bd",
            source: src,
            file: "codegen/src/ring/emit_tests.rs",
            line: 1,
            consts: &[],
        };
        let options = crate::KernelOptions {
            threads,
            ..crate::KernelOptions::new(crate::KernelMode::Ring)
        };
        crate::link(&item, &options, &[], &[]).unwrap()
    };
    // Four handler threads and no block or warp operation: a block of 32
    // (the loop polls with a whole warp), but block_dim() still says 4.
    let k = link(
        "fn bd(state: &mut u32, msg: u32) -> u32 { *state += block_dim().x; msg + block_dim().x }",
        4,
    );
    let src = emit_ring(&k, &EmitOptions::default()).unwrap();
    assert_eq!((src.threads, src.block_threads), (4, 32));
    assert_eq!((src.plan.poll_lanes, src.plan.poll_rounds), (32, 1));
    let handler = &src.code[src.code.find("spindle_handler_bd(").unwrap()..];
    let handler = &handler[..handler.find("\n}\n").unwrap()];
    assert!(!handler.contains("blockDim"), "{handler}");
    assert!(handler.contains("4u"), "{handler}");
    // With a barrier the block is the handler's own: every thread of it
    // must reach the handler's barriers. Four lanes poll 8 slots each.
    let k = link(
        "fn bd(state: &mut u32, msg: u32) -> u32 { sync_threads(); *state += msg; *state }",
        4,
    );
    let src = emit_ring(&k, &EmitOptions::default()).unwrap();
    assert_eq!((src.threads, src.block_threads), (4, 4));
    assert_eq!((src.plan.poll_lanes, src.plan.poll_rounds), (4, 8));
}
