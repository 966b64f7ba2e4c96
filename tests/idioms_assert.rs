//! Assertions in kernels: `assert!`, `assert_eq!`, `assert_ne!`,
//! `debug_assert!` (kept exactly when this test build has debug
//! assertions), `panic!` and `unreachable!` stop the thread, and the launch
//! or actor reports `Error::Assertion` with the kernel, the message, the
//! line, the block and the thread — on the CPU backend and a GPU when
//! present.

mod common;

use spindle::prelude::*;
use spindle::{Dim3, FaultKind};

/// Doubles `x[i]` after checking it; some inputs fail one check each.
#[kernel(mode = "batch")]
fn checked(x: &[u32], out: &mut [u32]) {
    let i = global_index();
    if i < out.len() {
        let v = x[i];
        assert!(v < 1000, "input out of range");
        assert!(v != 999);
        assert_eq!(v % 2, 0);
        assert_ne!(v, 500, "five hundred is reserved");
        debug_assert!(v != 42);
        let half = match v {
            64 => panic!("sixty-four"),
            700..=799 => unreachable!(),
            n => n / 2,
        };
        out[i] = half * 4;
    }
}

/// A counter whose handler refuses a zero step.
#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
struct Counter {
    total: u32,
}

#[kernel(mode = "ring")]
fn count(state: &mut Counter, step: u32) -> u32 {
    assert!(step > 0, "a step must be positive");
    state.total += step;
    state.total
}

fn devices(test: &str) -> Vec<Device> {
    let mut devs = vec![common::cpu()];
    devs.extend(common::gpu(test));
    devs
}

/// The line of the first line of this file holding `needle`.
fn line_of(needle: &str) -> u32 {
    let src = include_str!("idioms_assert.rs");
    let i = src
        .lines()
        .position(|l| l.contains(needle))
        .expect("in the file");
    i as u32 + 1
}

#[test]
fn passing_assertions_change_nothing() {
    for dev in devices("passing_assertions_change_nothing") {
        let x: Vec<u32> = (0..300)
            .map(|i| (i * 2) % 640)
            .filter(|v| ![42, 64, 500].contains(v))
            .collect();
        let xb = dev.upload(&x).unwrap();
        let mut out = dev.zeros::<u32>(x.len()).unwrap();
        checked::launch(&dev, Launch::for_elements(x.len()), &xb, &mut out).unwrap();
        let want: Vec<u32> = x.iter().map(|v| v / 2 * 4).collect();
        assert_eq!(out.to_vec().unwrap(), want, "on {}", dev.name());
    }
}

#[test]
fn a_failed_assertion_is_reported_with_its_message_line_block_and_thread() {
    // (input, message, the source text on its line)
    let cases = [
        (1000, "input out of range", "assert!(v < 1000"),
        (999, "assertion failed: v != 999", "assert!(v != 999)"),
        (
            7,
            "assertion `left == right` failed: v % 2 == 0",
            "assert_eq!(v % 2, 0)",
        ),
        (
            500,
            "assertion `left != right` failed: five hundred is reserved",
            "assert_ne!(v, 500",
        ),
        (64, "sixty-four", "panic!(\"sixty-four\")"),
        (
            702,
            "internal error: entered unreachable code",
            "unreachable!()",
        ),
    ];
    for dev in devices("a_failed_assertion_is_reported") {
        for (bad, message, source) in cases {
            // Element 70 (block 2, thread 6 of 32) holds the bad input.
            let mut x: Vec<u32> = (0..128).map(|i| i * 2 % 40).collect();
            x[70] = bad;
            let xb = dev.upload(&x).unwrap();
            let mut out = dev.zeros::<u32>(x.len()).unwrap();
            let err = checked::launch(&dev, Launch::new(4, 32), &xb, &mut out).unwrap_err();
            let line = line_of(source);
            match &err {
                Error::Assertion(f) => {
                    assert_eq!(f.kernel, "checked");
                    assert_eq!(f.kind, FaultKind::Assertion);
                    assert_eq!(f.what, message, "input {bad} on {}", dev.name());
                    assert_eq!(
                        (f.block, f.thread),
                        (Dim3::new(2, 0, 0), Dim3::new(6, 0, 0))
                    );
                    assert_eq!(f.location.line, Some(line), "{err}");
                    assert_eq!(f.location.function.as_deref(), Some("checked"));
                    assert!(f.location.file.ends_with("idioms_assert.rs"), "{err}");
                    assert_eq!(err.fault(), Some(&**f));
                    let text = err.to_string();
                    assert!(
                        text.contains(message) && text.contains(&format!(":{line}")),
                        "{text}"
                    );
                }
                other => panic!(
                    "input {bad} on {}: expected an assertion, got {other}",
                    dev.name()
                ),
            }
            // The other threads ran to the end.
            assert_eq!(out.to_vec().unwrap()[3], x[3] / 2 * 4);
        }
    }
}

#[test]
fn debug_assert_follows_the_builds_debug_assertions() {
    for dev in devices("debug_assert_follows_the_builds_debug_assertions") {
        let xb = dev.upload(&[2u32, 42, 4]).unwrap();
        let mut out = dev.zeros::<u32>(3).unwrap();
        let r = checked::launch(&dev, Launch::for_elements(3), &xb, &mut out);
        if cfg!(debug_assertions) {
            let err = r.unwrap_err();
            assert!(
                err.to_string().contains("assertion failed: v != 42"),
                "{err}"
            );
        } else {
            r.unwrap();
            assert_eq!(out.to_vec().unwrap(), [4, 84, 8]);
        }
    }
}

#[test]
fn a_ring_handlers_assertion_fails_the_actor() {
    for dev in devices("a_ring_handlers_assertion_fails_the_actor") {
        let mut actor = count::spawn(&dev, Counter::default()).unwrap();
        assert_eq!(actor.call(3).unwrap(), 3);
        let err = actor.call(0).unwrap_err();
        match &err {
            Error::Assertion(f) => {
                assert_eq!(f.kernel, "count");
                assert_eq!(f.what, "a step must be positive");
            }
            other => panic!("expected an assertion on {}, got {other}", dev.name()),
        }
        let again = actor.call(1).unwrap_err();
        assert!(again.to_string().contains("count"), "{again}");
        assert!(actor.shutdown().is_err());
    }
}

#[test]
fn every_kernel_here_compiles_with_nvrtc() {
    common::compile_all_kernels_with_nvrtc("every_kernel_here_compiles_with_nvrtc (idioms_assert)");
}
