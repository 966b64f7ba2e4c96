//! Faults injected into the stand-in (`SPINDLE_EMU_*`, see
//! `cuda-emu/src/config.rs`), seen through spindle's public API: each is
//! reported clearly, a failed actor stays failed, and nothing hangs.

mod common;

use std::time::{Duration, Instant};

use cudarc::driver::sys::CUresult;
use spindle::prelude::*;
use spindle::{Error, RingConfig};

#[kernel(mode = "batch")]
fn scale(k: f32, x: &mut [f32]) {
    let i = global_index();
    if i < x.len() {
        x[i] *= k;
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
struct Tally {
    count: u32,
    sum: f32,
}

#[derive(Clone, Copy, Debug, DeviceType)]
#[repr(C)]
struct Add {
    value: f32,
}

#[kernel(mode = "ring")]
fn tally(state: &mut Tally, msg: Add) -> Tally {
    state.count += 1;
    state.sum += msg.value;
    *state
}

fn gpu() -> Device {
    assert!(common::in_child(), "run by its parent test");
    let dev = Device::cuda(0).expect("the stand-in's device");
    assert!(dev.name().contains("emulated"), "{}", dev.name());
    dev
}

/// `x` scaled by 2 on `dev`, checked.
fn scale_works(dev: &Device) {
    let mut x = dev.upload(&[1.0f32, 2.0, 3.0]).unwrap();
    scale::launch(dev, Launch::for_elements(3), 2.0, &mut x).unwrap();
    assert_eq!(x.to_vec().unwrap(), vec![2.0, 4.0, 6.0]);
}

/// The context and message of an [`Error::Cuda`], checked to carry the
/// driver's `code` and the driver error as its source.
fn cuda_error(r: Result<impl std::fmt::Debug, Error>, code: CUresult) -> (String, String) {
    match r {
        Err(
            ref e @ Error::Cuda {
                ref context,
                code: got,
                ref message,
                ..
            },
        ) => {
            assert_eq!(got, Some(code as u32), "{e}");
            let source = std::error::Error::source(e).expect("the driver's error as the source");
            assert!(
                source.to_string().contains(&format!("{code:?}")),
                "{source}"
            );
            (context.clone(), message.clone())
        }
        other => panic!("expected a CUDA error, got {other:?}"),
    }
}

child_test!(out_of_memory_at_the_nth_allocation, out_of_memory_child,
env: [("SPINDLE_EMU_FAIL_ALLOC", "4")],
check: |out| {
    out.assert_passed();
    assert!(out.stderr.contains("injected fault (SPINDLE_EMU_FAIL_ALLOC)"), "{}", out.stderr);
});

#[test]
#[ignore = "child of out_of_memory_at_the_nth_allocation"]
fn out_of_memory_child() {
    let dev = gpu();
    // Opening the device allocates fewer than four times; exactly one of
    // the uploads is the fourth allocation of the process.
    let results: Vec<_> = (0..6).map(|i| dev.upload(&vec![i as f32; 256])).collect();
    let failed: Vec<&Error> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(failed.len(), 1, "{results:?}");
    // The driver's CUDA_ERROR_OUT_OF_MEMORY is the typed error, naming
    // the GPU and the size.
    match failed[0] {
        Error::OutOfMemory { what, bytes } => {
            assert_eq!(*bytes, 1024);
            assert!(what.contains("a buffer on GPU 0"), "{what}");
        }
        other => panic!("expected Error::OutOfMemory, got {other:?}"),
    }
    // Not sticky: the device goes on working.
    for b in results.iter().flatten() {
        assert_eq!(b.to_vec().unwrap().len(), 256);
    }
    scale_works(&dev);
}

child_test!(a_failed_launch_is_reported_and_the_next_works, failed_launch_child,
    env: [("SPINDLE_EMU_FAIL_LAUNCH", "1")],
    check: |out| out.assert_passed());

#[test]
#[ignore = "child of a_failed_launch_is_reported_and_the_next_works"]
fn failed_launch_child() {
    let dev = gpu();
    let mut x = dev.upload(&[1.0f32; 8]).unwrap();
    // Reported as a refused launch of `scale`, with the driver's error.
    let text = match scale::launch(&dev, Launch::for_elements(8), 2.0, &mut x) {
        Err(e @ (Error::InvalidLaunch { .. } | Error::Cuda { .. })) => e.to_string(),
        other => panic!("expected the launch to be refused, got {other:?}"),
    };
    assert!(text.contains("scale"), "{text}");
    assert!(
        text.contains("CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"),
        "{text}"
    );
    assert_eq!(
        x.to_vec().unwrap(),
        vec![1.0; 8],
        "the failed launch ran nothing"
    );
    scale_works(&dev);
}

child_test!(an_illegal_address_is_sticky, illegal_address_child,
env: [("SPINDLE_EMU_ILLEGAL_ADDRESS", "spindle_scale")],
check: |out| {
    out.assert_passed();
    assert!(out.stderr.contains("context is unusable"), "{}", out.stderr);
});

#[test]
#[ignore = "child of an_illegal_address_is_sticky"]
fn illegal_address_child() {
    let dev = gpu();
    let mut x = dev.upload(&[1.0f32; 8]).unwrap();
    let (context, message) = cuda_error(
        scale::launch(&dev, Launch::for_elements(8), 2.0, &mut x),
        CUresult::CUDA_ERROR_ILLEGAL_ADDRESS,
    );
    assert!(context.contains("running kernel `scale`"), "{context}");
    assert!(message.contains("CUDA_ERROR_ILLEGAL_ADDRESS"), "{message}");
    assert!(
        message.contains("restart the process"),
        "says what to do: {message}"
    );
    // Every later call in the process fails the same way.
    let (_, message) = cuda_error(dev.upload(&[1u8]), CUresult::CUDA_ERROR_ILLEGAL_ADDRESS);
    assert!(message.contains("CUDA_ERROR_ILLEGAL_ADDRESS"), "{message}");
    let (_, message) = cuda_error(x.to_vec(), CUresult::CUDA_ERROR_ILLEGAL_ADDRESS);
    assert!(message.contains("CUDA_ERROR_ILLEGAL_ADDRESS"), "{message}");
}

child_test!(a_kernel_that_never_finishes_is_an_error, hung_kernel_child,
env: [("SPINDLE_EMU_HANG_KERNEL", "spindle_scale"), ("SPINDLE_EMU_HANG_MS", "300")],
check: |out| {
    out.assert_passed();
    assert!(out.stderr.contains("never finishes"), "{}", out.stderr);
    assert!(out.stderr.contains("would wait forever"), "{}", out.stderr);
    assert!(out.elapsed < Duration::from_secs(60), "took {:?}", out.elapsed);
});

#[test]
#[ignore = "child of a_kernel_that_never_finishes_is_an_error"]
fn hung_kernel_child() {
    let dev = gpu();
    let mut x = dev.upload(&[1.0f32; 8]).unwrap();
    let started = Instant::now();
    let (context, message) = cuda_error(
        scale::launch(&dev, Launch::for_elements(8), 2.0, &mut x),
        CUresult::CUDA_ERROR_LAUNCH_TIMEOUT,
    );
    assert!(context.contains("running kernel `scale`"), "{context}");
    assert!(message.contains("CUDA_ERROR_LAUNCH_TIMEOUT"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // Dropping the device with the kernel still "running" returns.
}

child_test!(a_ring_kernel_that_faults_stays_failed, failed_actor_child,
    env: [("SPINDLE_EMU_ILLEGAL_ADDRESS", "spindle_ring_tally")],
    check: |out| out.assert_passed());

#[test]
#[ignore = "child of a_ring_kernel_that_faults_stays_failed"]
fn failed_actor_child() {
    let dev = gpu();
    let started = Instant::now();
    let config = RingConfig::default().timeout(Duration::from_secs(2));
    let mut actor = match tally::spawn_with(&dev, Tally::default(), config) {
        Ok(a) => a,
        // Reporting it at spawn is as good as at the first call.
        Err(e) => {
            assert!(e.to_string().contains("CUDA_ERROR_ILLEGAL_ADDRESS"), "{e}");
            return;
        }
    };
    let stopped = |r: Result<Tally, Error>| match r {
        Err(Error::ActorStopped { kernel, reason }) => {
            assert_eq!(kernel, "tally");
            assert!(reason.contains("CUDA_ERROR_ILLEGAL_ADDRESS"), "{reason}");
        }
        other => panic!("expected the actor to be stopped, got {other:?}"),
    };
    stopped(actor.call(Add { value: 1.0 }));
    // It stays failed.
    stopped(actor.call(Add { value: 1.0 }));
    stopped(actor.shutdown());
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

child_test!(a_ring_kernel_that_never_starts_times_out, stuck_actor_child,
env: [("SPINDLE_EMU_HANG_KERNEL", "spindle_ring_tally"), ("SPINDLE_EMU_HANG_MS", "300")],
check: |out| {
    out.assert_passed();
    assert!(out.elapsed < Duration::from_secs(60), "took {:?}", out.elapsed);
});

#[test]
#[ignore = "child of a_ring_kernel_that_never_starts_times_out"]
fn stuck_actor_child() {
    let dev = gpu();
    let started = Instant::now();
    // The kernel never starts: spawn (which waits, bounded, for it) or the
    // first call says so, and nothing hangs.
    match tally::spawn_with(
        &dev,
        Tally::default(),
        RingConfig::default().timeout(Duration::from_secs(2)),
    ) {
        Err(Error::ActorStopped { kernel, reason }) => {
            assert_eq!(kernel, "tally");
            assert!(reason.contains("did not start"), "{reason}");
        }
        Err(other) => panic!("expected the actor to be reported stopped, got {other:?}"),
        Ok(mut actor) => {
            match actor.call(Add { value: 1.0 }) {
                Err(Error::Timeout { kernel, .. }) => assert_eq!(kernel, "tally"),
                other => panic!("expected a timeout, got {other:?}"),
            }
            // Dropping the actor returns although its kernel never ends.
            drop(actor);
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}
