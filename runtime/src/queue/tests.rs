//! Queue internals that the public API cannot observe: when a buffer
//! dropped with pending work is freed, and that a launch waits for work of
//! another queue however long it takes.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::order::{host_access, order_lock, Deps, Timeline};
use crate::kernel::{KernelArg, KernelInfo};
use crate::{Device, KernelMode, Launch};

/// `y[i] = x[i] + 1`.
static COPY_PLUS_ONE: KernelInfo = KernelInfo {
    name: "copy_plus_one",
    mode: KernelMode::Batch,
    threads: 0,
    bounds_checks: true,
    debug_assertions: true,
    source: "fn copy_plus_one(x: &[u32], y: &mut [u32]) {
        let i = global_index();
        if i < y.len() { y[i] = x[i] + 1; }
    }",
    file: file!(),
    line: 1,
    types: &[],
    device_fns: &[],
    consts: &[],
    generic: crate::kernel::Generic::none(),
    linked: OnceLock::new(),
};

/// Stands for work of another queue on `mem` that has not finished: a
/// write numbered 1 on a timeline nothing runs.
fn pending_write(mem: &Arc<super::Storage>) -> Arc<Timeline> {
    let gate = Arc::new(Timeline::new());
    let _order = order_lock();
    let seq = gate.issue();
    mem.order(&gate, seq, true, &mut Deps::new());
    gate
}

#[test]
fn a_buffer_dropped_with_pending_work_is_freed_after_it() {
    let dev = Device::cpu();
    let q = dev.queue().unwrap();
    let x = dev.upload(&[1u32, 2, 3]).unwrap();
    let mut y = dev.zeros::<u32>(3).unwrap();
    let mut z = dev.zeros::<u32>(3).unwrap();
    let gate = pending_write(&x.mem);
    let l = Launch::new(1u32, 32u32);
    q.enqueue_batch(
        &COPY_PLUS_ONE,
        l,
        &mut [KernelArg::slice(&x), KernelArg::slice_mut(&mut y)],
    )
    .unwrap();
    q.enqueue_batch(
        &COPY_PLUS_ONE,
        l,
        &mut [KernelArg::slice(&y), KernelArg::slice_mut(&mut z)],
    )
    .unwrap();
    let y_mem = Arc::downgrade(&y.mem);
    let x_mem = Arc::downgrade(&x.mem);
    drop(y);
    drop(x);
    // The launches wait for the other queue's write of `x`, however long.
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        y_mem.upgrade().is_some(),
        "`y` was freed under pending work"
    );
    assert!(
        x_mem.upgrade().is_some(),
        "`x` was freed under pending work"
    );
    assert!(
        !q.core.line.is_done(1),
        "a launch ran before the write it reads"
    );
    gate.finish(1);
    q.sync().unwrap();
    assert_eq!(z.to_vec().unwrap(), vec![3, 4, 5]);
    assert!(y_mem.upgrade().is_none(), "`y` outlived the work on it");
    assert!(x_mem.upgrade().is_none(), "`x` outlived the work on it");
}

#[test]
fn host_reads_wait_for_pending_writes() {
    let dev = Device::cpu();
    let mut x = dev.upload(&[1u32, 2, 3]).unwrap();
    let gate = pending_write(&x.mem);
    std::thread::scope(|s| {
        let reader = s.spawn(|| x.to_vec().unwrap());
        std::thread::sleep(Duration::from_millis(30));
        assert!(!reader.is_finished(), "`to_vec` did not wait for the write");
        gate.finish(1);
        assert_eq!(reader.join().unwrap(), vec![1, 2, 3]);
    });
    let gate = pending_write(&x.mem);
    std::thread::scope(|s| {
        let x = &mut x;
        let writer = s.spawn(move || x.copy_from(&[7, 8, 9]).unwrap());
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            !writer.is_finished(),
            "`copy_from` did not wait for the write"
        );
        gate.finish(1);
        writer.join().unwrap();
    });
    assert_eq!(x.to_vec().unwrap(), vec![7, 8, 9]);
}

/// A launch queued while a host access of its buffer is in progress (a
/// read on another thread while a graph is replayed, say) waits for it.
#[test]
fn queued_launches_wait_for_host_accesses_in_progress() {
    let dev = Device::cpu();
    let q = dev.queue().unwrap();
    let x = dev.upload(&[1u32, 2, 3]).unwrap();
    let mut y = dev.zeros::<u32>(3).unwrap();
    let reading = host_access(&[(&y.mem, false)], true).unwrap();
    let l = Launch::new(1u32, 32u32);
    q.enqueue_batch(
        &COPY_PLUS_ONE,
        l,
        &mut [KernelArg::slice(&x), KernelArg::slice_mut(&mut y)],
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(!q.core.line.is_done(1), "a write ran under a host read");
    drop(reading);
    q.sync().unwrap();
    assert_eq!(y.to_vec().unwrap(), vec![2, 3, 4]);
    // Finished host accesses are forgotten: reads do not pile up.
    for _ in 0..10 {
        y.to_vec().unwrap();
    }
    assert!(
        y.mem.remembered() <= 2,
        "{} accesses remembered",
        y.mem.remembered()
    );
}
