//! Actor groups through the public API: the `spawn_group` glue of a ring
//! kernel, the contract's example as written, fault isolation, fairness,
//! block-wide handlers and bad input — on the CPU backend and on a GPU
//! when present (one persistent kernel; under the CUDA stand-in too).

mod common;

#[path = "../examples/ring_block.rs"]
mod ring_block;

use spindle::prelude::*;
use spindle::FaultKind;
use std::time::Duration;

fn devices(test: &str) -> Vec<Device> {
    let mut devs = vec![common::cpu()];
    devs.extend(common::gpu(test));
    devs
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

/// Indexes a 4-element table with the message: 4 and above is out of
/// bounds, a fault.
#[kernel(mode = "ring")]
fn lookup(state: &mut [u32; 4], msg: u32) -> u32 {
    state[msg as usize] += 1;
    state[msg as usize]
}

/// The contract's example, as written.
#[test]
fn contract_example_ten_thousand_actors() -> spindle::Result<()> {
    for dev in devices("contract_example_ten_thousand_actors") {
        contract_example(&dev)?;
    }
    Ok(())
}

fn contract_example(dev: &Device) -> spindle::Result<()> {
    let dev = dev.clone();
    let msg = Add { value: 2.0 };
    let i = 9_999;
    let mut group = tally::spawn_group(&dev, vec![Tally::default(); 10_000])?; // one kernel
    let r = group.call(i, msg)?;
    assert_eq!(r, Tally { count: 1, sum: 2.0 });
    for a in 0..10_000 {
        group.send(a, Add { value: a as f32 })?;
    }
    let mut answered = vec![0u32; 10_000];
    for _ in 0..10_000 {
        let (i, r) = group.recv_any()?; // the next reply from any actor
        answered[i] += 1;
        assert_eq!(r.count, if i == 9_999 { 2 } else { 1 }, "actor {i}");
    }
    assert!(answered.iter().all(|&n| n == 1));
    group.send(7, msg)?;
    let states: Vec<Tally> = group.shutdown()?;
    assert_eq!(states.len(), 10_000);
    for (a, s) in states.iter().enumerate() {
        let (count, sum) = match a {
            7 => (2, 9.0),
            9_999 => (2, 2.0 + 9_999.0),
            _ => (1, a as f32),
        };
        assert_eq!(*s, Tally { count, sum }, "actor {a}");
    }
    Ok(())
}

#[test]
fn a_fault_fails_only_its_actor() -> spindle::Result<()> {
    for dev in devices("a_fault_fails_only_its_actor") {
        a_fault_on(&dev)?;
    }
    Ok(())
}

fn a_fault_on(dev: &Device) -> spindle::Result<()> {
    let dev = dev.clone();
    let config = GroupConfig::default().workers(2);
    let mut group = lookup::spawn_group_with(&dev, vec![[0u32; 4]; 6], config)?;
    assert_eq!(group.call(2, 1)?, 1);
    group.send(2, 3)?;
    group.send(2, 9)?; // out of bounds: actor 2 fails here
                       // Never answered; refused already if the fault came first.
    let late = group.send(2, 0);
    assert!(
        matches!(late, Ok(()) | Err(Error::GroupActor { index: 2, .. })),
        "{late:?}"
    );
    assert_eq!(group.call(4, 3)?, 1); // same worker as actor 2
    assert_eq!(group.recv(2)?, 1); // published before the fault
    let e = group.recv(2).unwrap_err();
    let Error::GroupActor { index, error, .. } = &e else {
        panic!("expected a group actor's fault, got {e}");
    };
    assert_eq!(*index, 2);
    let Error::Fault(fault) = &**error else {
        panic!("expected a fault, got {error}");
    };
    assert_eq!(fault.kernel, "lookup");
    assert!(
        matches!(fault.kind, FaultKind::OutOfBounds { index: 9, len: 4 }),
        "{fault}"
    );
    assert!(e.to_string().contains("actor 2 of group `lookup`"), "{e}");
    // The others keep running, on both workers.
    for a in [0, 1, 3, 4, 5] {
        assert_eq!(group.call(a, 0)?, 1, "actor {a}");
    }
    assert!(matches!(
        group.call(2, 0),
        Err(Error::GroupActor { index: 2, .. })
    ));
    // A second fault on the same worker (GPU: a block launched again a
    // second time): only that actor fails.
    let e = group.call(4, 7).unwrap_err();
    assert!(matches!(e, Error::GroupActor { index: 4, .. }), "{e}");
    assert_eq!(group.call(0, 1)?, 1);
    assert_eq!(group.call(5, 3)?, 1);
    let states = group.shutdown()?;
    assert_eq!(states[2], [0, 1, 0, 1]);
    assert_eq!(states[4], [1, 0, 0, 1]);
    assert_eq!(states[0], [1, 1, 0, 0]);
    assert_eq!(states[5], [1, 0, 0, 1]);
    Ok(())
}

#[test]
fn bad_input_gets_clear_errors() -> spindle::Result<()> {
    for dev in devices("bad_input_gets_clear_errors") {
        bad_input_on(&dev)?;
    }
    Ok(())
}

fn bad_input_on(dev: &Device) -> spindle::Result<()> {
    let dev = dev.clone();
    let e = tally::spawn_group(&dev, Vec::new()).unwrap_err();
    assert!(e.to_string().contains("at least one actor"), "{e}");
    // A bad configuration names the group's own setter.
    let states = || vec![Tally::default(); 3];
    for (config, setter) in [
        (
            GroupConfig::default().capacity(3),
            "GroupConfig::capacity(3)",
        ),
        (
            GroupConfig::default().timeout(Duration::ZERO),
            "GroupConfig::timeout(0)",
        ),
        (
            GroupConfig::default().shutdown_timeout(Duration::ZERO),
            "GroupConfig::shutdown_timeout(0)",
        ),
        (GroupConfig::default().workers(0), "GroupConfig::workers(0)"),
    ] {
        let e = tally::spawn_group_with(&dev, states(), config).unwrap_err();
        assert!(
            matches!(&e, Error::Config(m) if m.contains(setter)),
            "{setter}: {e}"
        );
    }
    let mut group = tally::spawn_group(&dev, vec![Tally::default(); 3])?;
    let e = group.call(3, Add { value: 1.0 }).unwrap_err();
    assert!(
        matches!(&e, Error::Argument { kernel, param, .. } if kernel == "tally" && param == "actor"),
        "{e}"
    );
    assert!(
        e.to_string().contains("actor index 3 is out of range"),
        "{e}"
    );
    assert_eq!(group.call(2, Add { value: 1.0 })?.count, 1);
    assert_eq!(group.shutdown()?[2], Tally { count: 1, sum: 1.0 });
    Ok(())
}

#[test]
fn groups_are_send() {
    fn send<T: Send>(_: &T) {}
    for dev in devices("groups_are_send") {
        let group = tally::spawn_group(&dev, vec![Tally::default(); 2]).unwrap();
        send(&group);
        // Used from another thread, too.
        let states = std::thread::spawn(move || {
            let mut group = group;
            group.call(1, Add { value: 3.0 }).unwrap();
            group.shutdown().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(states[1].count, 1);
    }
}

#[test]
fn group_kernels_compile_with_nvrtc() {
    common::compile_all_kernels_with_nvrtc("group_kernels_compile_with_nvrtc");
}

/// A 64-thread handler (`threads = 64`: shared memory, barriers, an
/// atomic) serving a group: every actor's replies and state exact.
#[test]
fn block_wide_handlers_work_in_groups() -> spindle::Result<()> {
    for dev in devices("block_wide_handlers_work_in_groups") {
        block_wide_on(&dev)?;
    }
    Ok(())
}

fn block_wide_on(dev: &Device) -> spindle::Result<()> {
    use ring_block::{accumulate, accumulate_reference, batch, Lanes};
    let dev = dev.clone();
    let actors = 40;
    let mut group = accumulate::spawn_group(&dev, vec![Lanes::default(); actors])?;
    let mut models = vec![Lanes::default(); actors];
    for round in 0..5u32 {
        for a in 0..actors {
            group.send(a, batch(round * 100 + a as u32))?;
        }
        for (a, model) in models.iter_mut().enumerate() {
            let b = batch(round * 100 + a as u32);
            assert_eq!(group.recv(a)?, accumulate_reference(model, &b), "actor {a}");
        }
    }
    assert_eq!(group.shutdown()?, models);
    Ok(())
}
