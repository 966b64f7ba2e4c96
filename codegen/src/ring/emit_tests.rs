//! Text-level tests of the ring kernel emitter. Compiling the text (NVRTC,
//! and g++ against the host shim, run against the Rust host side) is done
//! by spindle-runtime's `ring_nvrtc` and `ring_host_compiled` tests.

use super::emit::{emit_ring, ring_entry_symbol};
use super::samples;
use crate::cuda::EmitOptions;
use crate::ir::Ty;

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
            "extern \"C\" __global__ void spindle_ring_{}(SpindleRingControl* spindle_ctl, unsigned char* spindle_requests, unsigned char* spindle_replies,",
            k.name
        );
        assert!(c.contains(&sig), "{c}");
        assert!(c.contains("static_assert(sizeof(SpindleRingControl) == 640"));
        assert!(c.contains(&format!(
            "spindle_handler_{}(spindle_fault, spindle_state, spindle_ring_msg)",
            k.name
        )));
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
    for helper in [
        "spindle_load_acquire_sys_u32",
        "spindle_store_release_sys_u32",
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
    // tally's message is 4 bytes; the loop adds two 4-byte words.
    assert!(emit_ring(&with_shared(MAX_SHARED_BYTES - 12), &EmitOptions::default()).is_ok());
    let err = emit_ring(&with_shared(MAX_SHARED_BYTES - 11), &EmitOptions::default()).unwrap_err();
    assert!(err.contains("must fit in 49152 bytes"), "{err}");
}
