//! Queues: asynchronous launches, ordering through buffers across queues,
//! deferred faults, recorded graphs (`graphs.rs`) — on the CPU backend,
//! and on a GPU when one is present.

#[path = "../common/mod.rs"]
mod common;
mod graphs;

use spindle::prelude::*;

#[kernel(mode = "batch")]
fn saxpy(a: f32, x: &[f32], y: &mut [f32]) {
    let i = global_index();
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}

#[kernel(mode = "batch")]
fn square_into(y: &[f32], z: &mut [f32]) {
    let i = global_index();
    if i < z.len() {
        z[i] = y[i] * y[i];
    }
}

#[kernel(mode = "batch")]
fn step(pass: u32, data: &mut [u32]) {
    let i = global_index();
    if i < data.len() {
        data[i] = data[i] * 3 + pass;
    }
}

/// `dst[i] = mix(dst[i], src[i], k)` after `spin` rounds of busy work on
/// `dst[i]`: slow enough that launches overlap, and order-sensitive.
#[kernel(mode = "batch")]
fn mix(k: u32, spin: u32, src: &[u32], dst: &mut [u32]) {
    let i = global_index();
    if i < dst.len() {
        let mut v = dst[i];
        let mut s = 0u32;
        while s < spin {
            v = v * 1664525 + 1013904223;
            s += 1;
        }
        dst[i] = (v * 3) ^ (src[i] + k);
    }
}

/// The host reference of [`mix`].
fn mix_ref(k: u32, spin: u32, src: &[u32], dst: &mut [u32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        let mut v = *d;
        for _ in 0..spin {
            v = v.wrapping_mul(1664525).wrapping_add(1013904223);
        }
        *d = v.wrapping_mul(3) ^ s.wrapping_add(k);
    }
}

/// Reads `data[at]`: out of bounds when `at >= data.len()`.
#[kernel(mode = "batch")]
fn poke(at: u32, data: &mut [u32]) {
    if global_index() == 0 {
        data[at as usize] = 7;
    }
}

/// One thread adds one to `count[0]`.
#[kernel(mode = "batch")]
fn bump(count: &mut [u32]) {
    if global_index() == 0 {
        count[0] += 1;
    }
}

/// The kernel, index and length of an out-of-bounds fault, if `r` is one.
fn out_of_bounds<T: std::fmt::Debug>(r: spindle::Result<T>) -> (String, u64, u64) {
    match r {
        Err(Error::Fault(f)) => match f.kind {
            spindle::FaultKind::OutOfBounds { index, len } => (f.kernel.clone(), index, len),
            other => panic!("expected an index out of bounds, got {other:?}"),
        },
        other => panic!("expected a fault, got {other:?}"),
    }
}

fn devices(test: &str) -> Vec<Device> {
    let mut devs = vec![common::cpu()];
    devs.extend(common::gpu(test));
    devs
}

/// The contract's example, as written, with every output checked, on
/// each device (a CUDA stream and a CUDA graph on a GPU).
#[test]
fn the_contract_example_runs_as_written() -> spindle::Result<()> {
    for dev in devices("the_contract_example_runs_as_written") {
        contract_example(&dev)?;
    }
    Ok(())
}

fn contract_example(dev: &Device) -> spindle::Result<()> {
    let n = 1000;
    let x = dev.upload(&vec![1.0f32; n])?;
    let mut y = dev.upload(&vec![2.0f32; n])?;
    let mut z = dev.zeros::<f32>(n)?;
    let launch = Launch::for_elements(n);
    let q = dev.queue()?;
    saxpy::enqueue(&q, Launch::for_elements(n), 3.0, &x, &mut y)?;
    square_into::enqueue(&q, launch, &y, &mut z)?;
    q.sync()?;
    let out = z.to_vec()?;
    assert!(out.iter().all(|&v| v == 25.0), "z = (3·1 + 2)²");
    let mut data = dev.upload(&(0..n as u32).collect::<Vec<_>>())?;
    let passes = 5;
    let graph = q.record(|q| {
        for pass in 0..passes {
            step::enqueue(q, launch, pass, &mut data)?;
        }
        Ok(())
    })?;
    assert_eq!(graph.len(), passes as usize);
    assert_eq!(
        data.to_vec()?,
        (0..n as u32).collect::<Vec<_>>(),
        "recording runs nothing"
    );
    graph.launch(&q)?;
    graph.launch(&q)?;
    let got = data.to_vec()?;
    for (i, g) in got.iter().enumerate() {
        let mut v = i as u32;
        for _ in 0..2 {
            for pass in 0..passes {
                v = v.wrapping_mul(3).wrapping_add(pass);
            }
        }
        assert_eq!(*g, v, "element {i}");
    }
    q.sync()
}

/// Random chains of `mix` over a few buffers, each launch on a random
/// queue, against the same chain run in order on the host.
#[test]
fn random_chains_across_queues_match_a_sequential_reference() {
    let mut rng = common::rng("random_chains_across_queues_match_a_sequential_reference");
    for dev in devices("random_chains_across_queues_match_a_sequential_reference") {
        let Ok(first) = dev.queue() else {
            eprintln!("skipping queues on {}: not supported", dev.name());
            continue;
        };
        for round in 0..4 {
            let n = 1 + rng.usize(..3000);
            let nbuf = 2 + rng.usize(..4);
            let nq = 1 + rng.usize(..4);
            let mut queues = vec![dev.queue().unwrap()];
            while queues.len() < nq {
                queues.push(dev.queue().unwrap());
            }
            let mut host: Vec<Vec<u32>> = (0..nbuf)
                .map(|_| (0..n).map(|_| rng.u32(..)).collect())
                .collect();
            let mut bufs: Vec<Buffer<u32>> = host.iter().map(|h| dev.upload(h).unwrap()).collect();
            let ops = 20 + rng.usize(..40);
            for _ in 0..ops {
                let q = &queues[rng.usize(..nq)];
                let s = rng.usize(..nbuf);
                let d = (s + 1 + rng.usize(..nbuf - 1)) % nbuf;
                let (k, spin) = (rng.u32(..), rng.u32(..64));
                let src = host[s].clone();
                mix_ref(k, spin, &src, &mut host[d]);
                let (src, dst) = pair(&mut bufs, s, d);
                mix::enqueue(q, Launch::for_elements(n), k, spin, src, dst).unwrap();
                // Now and then a host read in the middle of it all.
                if rng.u32(..10) == 0 {
                    let b = rng.usize(..nbuf);
                    assert_eq!(
                        bufs[b].to_vec().unwrap(),
                        host[b],
                        "round {round}, buffer {b}"
                    );
                }
            }
            for (b, (buf, want)) in bufs.iter().zip(&host).enumerate() {
                assert_eq!(
                    &buf.to_vec().unwrap(),
                    want,
                    "round {round} on {}: buffer {b} after {ops} launches on {nq} queues",
                    dev.name()
                );
            }
            for q in &queues {
                q.sync().unwrap();
            }
        }
        first.sync().unwrap();
    }
}

/// `(&bufs[s], &mut bufs[d])` for `s != d`.
fn pair<T: DeviceType>(bufs: &mut [Buffer<T>], s: usize, d: usize) -> (&Buffer<T>, &mut Buffer<T>) {
    assert_ne!(s, d);
    if s < d {
        let (a, b) = bufs.split_at_mut(d);
        (&a[s], &mut b[0])
    } else {
        let (a, b) = bufs.split_at_mut(s);
        (&b[0], &mut a[d])
    }
}

/// A synchronous launch, `copy_from` and `to_vec` wait for queued work.
#[test]
fn synchronous_work_and_host_access_wait_for_queued_work() {
    for dev in devices("synchronous_work_and_host_access_wait_for_queued_work") {
        let Ok(q) = dev.queue() else { continue };
        let n = 4096;
        let src = dev.upload(&vec![5u32; n]).unwrap();
        let mut a = dev.upload(&vec![1u32; n]).unwrap();
        let mut want = vec![1u32; n];
        mix::enqueue(&q, Launch::for_elements(n), 9, 500, &src, &mut a).unwrap();
        mix_ref(9, 500, &[5; 4096], &mut want);
        // A synchronous launch on `a` runs after the queued one.
        mix::launch(&dev, Launch::for_elements(n), 2, 3, &src, &mut a).unwrap();
        mix_ref(2, 3, &[5; 4096], &mut want);
        assert_eq!(a.to_vec().unwrap(), want);
        // `copy_from` waits for the queued write before overwriting.
        mix::enqueue(&q, Launch::for_elements(n), 1, 500, &src, &mut a).unwrap();
        a.copy_from(&vec![3u32; n]).unwrap();
        assert_eq!(a.to_vec().unwrap(), vec![3u32; n]);
        q.sync().unwrap();
    }
}

/// Buffers dropped while launches that use them are queued: the launches
/// still run on valid memory, and later work is unaffected.
#[test]
fn buffers_dropped_with_pending_work_are_freed_after_it() {
    for dev in devices("buffers_dropped_with_pending_work_are_freed_after_it") {
        let Ok(q) = dev.queue() else { continue };
        let n = 8192;
        let keep = dev.upload(&vec![2u32; n]).unwrap();
        let mut out = dev.zeros::<u32>(n).unwrap();
        let mut want = vec![0u32; n];
        for round in 0..20u32 {
            let src = dev.upload(&vec![round; n]).unwrap();
            let mut tmp = dev.upload(&vec![round + 1; n]).unwrap();
            mix::enqueue(&q, Launch::for_elements(n), round, 200, &keep, &mut tmp).unwrap();
            mix::enqueue(&q, Launch::for_elements(n), 1, 0, &tmp, &mut out).unwrap();
            mix::enqueue(&q, Launch::for_elements(n), 2, 0, &src, &mut out).unwrap();
            // Dropped at once, while the launches (the first one slow)
            // are still queued; the reference is computed after.
            drop(src);
            drop(tmp);
            let mut t = vec![round + 1; n];
            mix_ref(round, 200, &vec![2; n], &mut t);
            mix_ref(1, 0, &t, &mut want);
            mix_ref(2, 0, &vec![round; n], &mut want);
        }
        assert_eq!(out.to_vec().unwrap(), want, "on {}", dev.name());
        q.sync().unwrap();
    }
}

/// A fault is reported by the next `sync`, naming the kernel; launches
/// after it still run; the queue stays usable.
#[test]
fn faults_are_reported_at_sync_and_later_launches_run() {
    for dev in devices("faults_are_reported_at_sync_and_later_launches_run") {
        let Ok(q) = dev.queue() else { continue };
        let mut data = dev.zeros::<u32>(16).unwrap();
        let mut count = dev.zeros::<u32>(1).unwrap();
        poke::enqueue(&q, Launch::new(1u32, 32u32), 99, &mut data).unwrap();
        poke::enqueue(&q, Launch::new(1u32, 32u32), 100, &mut data).unwrap();
        bump::enqueue(&q, Launch::new(1u32, 1u32), &mut count).unwrap();
        let (kernel, index, len) = out_of_bounds(q.sync());
        assert_eq!(kernel, "poke");
        assert_eq!((index, len), (99, 16), "the first fault is reported");
        q.sync().expect("a fault is reported once");
        assert_eq!(
            count.to_vec().unwrap(),
            vec![1],
            "the launch after the fault ran"
        );
        poke::enqueue(&q, Launch::new(1u32, 32u32), 3, &mut data).unwrap();
        q.sync().unwrap();
        assert_eq!(data.to_vec().unwrap()[3], 7, "the queue is still usable");
    }
}

/// The host read that waits for a faulted launch reports its fault (and
/// the queue's next `sync` no longer does).
#[test]
fn faults_are_reported_by_the_host_read_that_waits_for_them() {
    for dev in devices("faults_are_reported_by_the_host_read_that_waits_for_them") {
        let Ok(q) = dev.queue() else { continue };
        let mut data = dev.zeros::<u32>(4).unwrap();
        poke::enqueue(&q, Launch::new(1u32, 32u32), 4, &mut data).unwrap();
        let (kernel, index, _) = out_of_bounds(data.to_vec());
        assert_eq!((kernel.as_str(), index), ("poke", 4));
        q.sync().expect("already reported by `to_vec`");
        assert_eq!(data.to_vec().unwrap(), vec![0; 4]);
        // `copy_from` reports it too, and leaves the buffer unchanged.
        poke::enqueue(&q, Launch::new(1u32, 32u32), 5, &mut data).unwrap();
        out_of_bounds(data.copy_from(&[1, 2, 3, 4]));
        assert_eq!(data.to_vec().unwrap(), vec![0; 4]);
        q.sync().unwrap();
    }
}

/// Launches queued from several threads, on one queue and on several,
/// all writing one counter: every one runs, one after another.
#[test]
fn enqueue_from_several_threads() {
    for dev in devices("enqueue_from_several_threads") {
        let Ok(shared) = dev.queue() else { continue };
        let own: Vec<Queue> = (0..4).map(|_| dev.queue().unwrap()).collect();
        let counter = std::sync::Mutex::new(dev.zeros::<u32>(1).unwrap());
        let per_thread = 50u32;
        std::thread::scope(|s| {
            for (t, own) in own.iter().enumerate() {
                let (shared, counter) = (&shared, &counter);
                s.spawn(move || {
                    for i in 0..per_thread {
                        let q = if (i as usize + t).is_multiple_of(2) {
                            shared
                        } else {
                            own
                        };
                        let mut c = counter.lock().unwrap();
                        bump::enqueue(q, Launch::new(1u32, 1u32), &mut c).unwrap();
                    }
                });
            }
        });
        let c = counter.into_inner().unwrap();
        assert_eq!(c.to_vec().unwrap(), vec![4 * per_thread]);
        shared.sync().unwrap();
        for q in &own {
            q.sync().unwrap();
        }
    }
}

/// More launches queued than a GPU queue has fault records (1024): the
/// oldest are read back to make room, and a fault among them is still the
/// one the next `sync` reports.
#[test]
fn more_launches_in_flight_than_fault_records() {
    for dev in devices("more_launches_in_flight_than_fault_records") {
        let q = dev.queue().unwrap();
        let mut data = dev.zeros::<u32>(4).unwrap();
        let mut count = dev.zeros::<u32>(1).unwrap();
        let launches = 1500u32;
        for i in 0..launches {
            if i == 5 {
                poke::enqueue(&q, Launch::new(1u32, 1u32), 40, &mut data).unwrap();
            }
            bump::enqueue(&q, Launch::new(1u32, 1u32), &mut count).unwrap();
        }
        let (kernel, index, _) = out_of_bounds(q.sync());
        assert_eq!((kernel.as_str(), index), ("poke", 40));
        assert_eq!(count.to_vec().unwrap(), vec![launches], "on {}", dev.name());
    }
}

/// What is wrong before a launch runs is an error from `enqueue`, and
/// nothing is queued.
#[test]
fn bad_launches_are_refused_at_enqueue() {
    let dev = Device::cpu();
    let q = dev.queue().unwrap();
    let mut data = dev.zeros::<u32>(4).unwrap();
    assert!(matches!(
        poke::enqueue(&q, Launch::for_elements(0), 0, &mut data),
        Err(Error::InvalidLaunch { .. })
    ));
    assert!(matches!(
        poke::enqueue(&q, Launch::new(1u32, 2048u32), 0, &mut data),
        Err(Error::InvalidLaunch { .. })
    ));
    q.sync().expect("nothing was queued");
    // A graph recorded on one device cannot run on another's queue.
    let other = Device::cpu();
    let graph = q
        .record(|q| poke::enqueue(q, Launch::new(1u32, 1u32), 1, &mut data))
        .unwrap();
    let oq = other.queue().unwrap();
    assert!(matches!(graph.launch(&oq), Err(Error::Queue(_))));
    // `sync` inside a recording is refused.
    let r = q.record(|q| q.sync());
    assert!(matches!(r, Err(Error::Queue(_))), "{r:?}");
    graph.launch(&q).unwrap();
    q.sync().unwrap();
    assert_eq!(data.to_vec().unwrap(), vec![0, 7, 0, 0]);
    // A GPU buffer on a CPU queue.
    if let Some(gpu) = common::gpu("bad_launches_are_refused_at_enqueue") {
        let mut on_gpu = gpu.zeros::<u32>(4).unwrap();
        assert!(matches!(
            poke::enqueue(&q, Launch::new(1u32, 1u32), 0, &mut on_gpu),
            Err(Error::Argument { .. })
        ));
        q.sync().unwrap();
    }
}

/// Every kernel of these files compiles with the real NVRTC.
#[test]
fn kernels_compile_with_nvrtc() {
    common::compile_all_kernels_with_nvrtc("kernels_compile_with_nvrtc");
}

#[kernel(mode = "ring")]
fn running_total(state: &mut u64, msg: u32) -> u64 {
    *state += msg as u64;
    *state
}

/// With a ring actor running (a persistent kernel on a GPU, which blocks
/// anything that synchronises the context), everything a queue does still
/// works: creating it, queueing on several queues, waiting, host reads,
/// faults, freeing buffers with work pending — and the actor keeps serving.
#[test]
fn queues_work_while_an_actor_runs() {
    for dev in devices("queues_work_while_an_actor_runs") {
        let n = 2048;
        let src = dev.upload(&vec![4u32; n]).unwrap();
        let mut data = dev.upload(&vec![1u32; n]).unwrap();
        // Every kernel loaded before the actor starts, as for synchronous
        // launches (a kernel's first load may synchronise the context).
        mix::launch(&dev, Launch::for_elements(n), 0, 0, &src, &mut data).unwrap();
        poke::launch(&dev, Launch::new(1u32, 1u32), 0, &mut data).unwrap();
        let mut want = data.to_vec().unwrap();
        let mut actor = running_total::spawn(&dev, 0).unwrap();
        assert_eq!(actor.call(5).unwrap(), 5);
        let (q1, q2) = (dev.queue().unwrap(), dev.queue().unwrap());
        for round in 0..10u32 {
            let mut tmp = dev.zeros::<u32>(n).unwrap();
            mix::enqueue(&q1, Launch::for_elements(n), round, 20, &src, &mut tmp).unwrap();
            mix::enqueue(&q2, Launch::for_elements(n), 1, 0, &tmp, &mut data).unwrap();
            drop(tmp);
            let mut t = vec![0u32; n];
            mix_ref(round, 20, &vec![4; n], &mut t);
            mix_ref(1, 0, &t, &mut want);
            assert_eq!(actor.call(1).unwrap(), 6 + round as u64);
        }
        poke::enqueue(&q2, Launch::new(1u32, 1u32), n as u32, &mut data).unwrap();
        out_of_bounds(q2.sync());
        assert_eq!(data.to_vec().unwrap(), want, "on {}", dev.name());
        q1.sync().unwrap();
        assert_eq!(actor.shutdown().unwrap(), 15);
    }
}
