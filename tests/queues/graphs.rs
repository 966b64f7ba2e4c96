//! Recorded graphs: a recorded list on the CPU backend, a CUDA graph on a
//! GPU (and under the CUDA stand-in), with the same observable behaviour.

use super::{bump, common, devices, mix, mix_ref, out_of_bounds, poke, step};
use spindle::prelude::*;

/// A graph replayed many times, interleaved with other queues' work on its
/// buffers, against the host reference.
#[test]
fn graphs_replay_in_order_with_other_work() {
    for dev in devices("graphs_replay_in_order_with_other_work") {
        let mut rng = common::rng("graphs_replay_in_order_with_other_work");
        let (q, other) = (dev.queue().unwrap(), dev.queue().unwrap());
        let n = 1500;
        let mut ha: Vec<u32> = (0..n).map(|_| rng.u32(..)).collect();
        let mut hb: Vec<u32> = (0..n).map(|_| rng.u32(..)).collect();
        let mut a = dev.upload(&ha).unwrap();
        let mut b = dev.upload(&hb).unwrap();
        let (k1, k2) = (rng.u32(..), rng.u32(..));
        let graph = q
            .record(|q| {
                mix::enqueue(q, Launch::for_elements(n), k1, 30, &a, &mut b)?;
                mix::enqueue(q, Launch::for_elements(n), k2, 0, &b, &mut a)
            })
            .unwrap();
        assert_eq!(graph.len(), 2);
        for i in 0..50u32 {
            graph.launch(&q).unwrap();
            mix_ref(k1, 30, &ha, &mut hb);
            mix_ref(k2, 0, &hb.clone(), &mut ha);
            // Work on another queue between replays, on the graph's buffers.
            mix::enqueue(&other, Launch::for_elements(n), i, 5, &a, &mut b).unwrap();
            mix_ref(i, 5, &ha.clone(), &mut hb);
        }
        assert_eq!(a.to_vec().unwrap(), ha, "on {}", dev.name());
        assert_eq!(b.to_vec().unwrap(), hb, "on {}", dev.name());
        q.sync().unwrap();
        other.sync().unwrap();
    }
}

/// A fault in a replay is reported by the next `sync`, naming the kernel
/// and its index; the launches after it in the graph, and later replays,
/// still run; each replay's fault is its own (a replay after a reported
/// fault reports again, a clean sync reports nothing).
#[test]
fn a_fault_in_a_replay_is_reported_once_and_later_nodes_run() {
    for dev in devices("a_fault_in_a_replay_is_reported_once_and_later_nodes_run") {
        let q = dev.queue().unwrap();
        let mut data = dev.zeros::<u32>(16).unwrap();
        let mut count = dev.zeros::<u32>(1).unwrap();
        let faulty = q
            .record(|q| {
                bump::enqueue(q, Launch::new(1u32, 1u32), &mut count)?;
                poke::enqueue(q, Launch::new(1u32, 32u32), 99, &mut data)?;
                bump::enqueue(q, Launch::new(1u32, 1u32), &mut count)
            })
            .unwrap();
        let clean = q
            .record(|q| poke::enqueue(q, Launch::new(1u32, 1u32), 2, &mut data))
            .unwrap();
        // More replays in flight than a graph has instantiations on a GPU.
        for _ in 0..10 {
            faulty.launch(&q).unwrap();
        }
        let (kernel, index, len) = out_of_bounds(q.sync());
        assert_eq!((kernel.as_str(), index, len), ("poke", 99, 16));
        q.sync().expect("a fault is reported once");
        assert_eq!(count.to_vec().unwrap(), vec![20], "every bump ran");
        clean.launch(&q).unwrap();
        q.sync().expect("the clean graph does not fault");
        faulty.launch(&q).unwrap();
        out_of_bounds(q.sync());
        assert_eq!(count.to_vec().unwrap(), vec![22]);
        assert_eq!(data.to_vec().unwrap()[2], 7, "on {}", dev.name());
    }
}

/// A graph keeps its buffers alive, outlives the queue it was recorded on
/// and the queues it was replayed on (dropped with replays in flight), and
/// replays on any queue of its device.
#[test]
fn a_graph_outlives_its_buffers_and_queues() {
    for dev in devices("a_graph_outlives_its_buffers_and_queues") {
        let n = 4096;
        let mut out = dev.upload(&vec![1u32; n]).unwrap();
        let graph = {
            let src = dev.upload(&vec![9u32; n]).unwrap();
            let q = dev.queue().unwrap();
            q.record(|q| {
                step::enqueue(q, Launch::for_elements(n), 1, &mut out)?;
                mix::enqueue(q, Launch::for_elements(n), 2, 40, &src, &mut out)
            })
            .unwrap()
            // `src` and `q` are dropped here.
        };
        let mut want = vec![1u32; n];
        let replay = |want: &mut Vec<u32>| {
            for w in want.iter_mut() {
                *w = w.wrapping_mul(3).wrapping_add(1);
            }
            mix_ref(2, 40, &vec![9; n], want);
        };
        for _ in 0..3 {
            let q = dev.queue().unwrap();
            for _ in 0..6 {
                graph.launch(&q).unwrap();
                replay(&mut want);
            }
            // Dropped with replays in flight: they still run.
        }
        let q = dev.queue().unwrap();
        graph.launch(&q).unwrap();
        replay(&mut want);
        q.sync().unwrap();
        assert_eq!(out.to_vec().unwrap(), want, "on {}", dev.name());
    }
}

/// An empty recording is a graph that replays as nothing.
#[test]
fn an_empty_graph_replays_as_nothing() {
    for dev in devices("an_empty_graph_replays_as_nothing") {
        let q = dev.queue().unwrap();
        let graph = q.record(|_| Ok(())).unwrap();
        assert!(graph.is_empty());
        graph.launch(&q).unwrap();
        q.sync().unwrap();
    }
}
