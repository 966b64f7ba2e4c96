//! Block-shared arrays, barriers, atomics, warp operations, `lane_id` and
//! fences through the public API, on the CPU backend (and a GPU when
//! present), each result checked against plain Rust. Divergent barriers
//! and warp operations are undefined on a GPU, so their tests run on the
//! CPU backend only, which reports them as divergence faults (`FaultKind::DivergentBarrier`, `DivergentWarp`).

#![allow(clippy::needless_range_loop)]

mod common;

use spindle::prelude::*;
use spindle::FaultKind;

fn devices(test: &str) -> Vec<Device> {
    let mut devs = vec![common::cpu()];
    devs.extend(common::gpu(test));
    devs
}

// ------------------------------------------------------------- geometry

#[kernel(mode = "batch")]
fn lanes_3d(out: &mut [u32]) {
    let t = thread_idx();
    let d = block_dim();
    let linear = t.x + t.y * d.x + t.z * d.x * d.y;
    let per_block = d.x * d.y * d.z;
    thread_fence_block();
    out[(block_idx().x * per_block + linear) as usize] = lane_id();
}

#[test]
fn lane_id_counts_threads_in_linear_order() {
    for dev in devices("lane_id_counts_threads_in_linear_order") {
        // 7 × 3 × 2 = 42 threads per block: one full warp and one of 10.
        let blocks = 3u32;
        let n = (blocks * 42) as usize;
        let mut out = dev.zeros::<u32>(n).unwrap();
        lanes_3d::launch(&dev, Launch::new(blocks, (7u32, 3u32, 2u32)), &mut out).unwrap();
        let got = out.to_vec().unwrap();
        for i in 0..n {
            assert_eq!(got[i], (i % 42) as u32 % 32, "thread {i} on {}", dev.name());
        }
    }
}

// ------------------------------------------------------------- shared arrays

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
struct Pair {
    key: u32,
    value: f32,
}

/// Each block reverses its part of `x` through a shared array of structs.
#[kernel(mode = "batch")]
fn reverse_blocks(x: &[f32], out: &mut [Pair]) {
    let tile = shared_array::<Pair, 512>();
    let t = thread_idx().x as usize;
    let n = block_dim().x as usize;
    let base = block_idx().x as usize * n;
    tile[t] = Pair {
        key: (base + t) as u32,
        value: x[base + t],
    };
    sync_threads();
    out[base + t] = tile[n - 1 - t];
}

#[test]
fn shared_array_is_one_per_block() {
    let mut rng = common::rng("shared_array_is_one_per_block");
    for dev in devices("shared_array_is_one_per_block") {
        for block in [1u32, 33, 100, 512] {
            let blocks = 5u32;
            let n = (blocks * block) as usize;
            let x: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
            let xb = dev.upload(&x).unwrap();
            let mut out = dev.zeros::<Pair>(n).unwrap();
            reverse_blocks::launch(&dev, Launch::new(blocks, block), &xb, &mut out).unwrap();
            let got = out.to_vec().unwrap();
            let b = block as usize;
            for i in 0..n {
                let src = i / b * b + (b - 1 - i % b);
                assert_eq!(
                    got[i],
                    Pair {
                        key: src as u32,
                        value: x[src]
                    },
                    "element {i}, block size {block}, on {}",
                    dev.name()
                );
            }
        }
    }
}

/// Threads past the end return before the barrier: they have finished, so
/// the barrier waits only for the others.
#[kernel(mode = "batch")]
fn neighbours(x: &[u32], out: &mut [u32]) {
    let i = global_index();
    if i >= x.len() {
        return;
    }
    let tile = shared_array::<u32, 256>();
    let t = thread_idx().x as usize;
    tile[t] = x[i];
    sync_threads();
    let last = (x.len() - 1 - (i - t)).min(block_dim().x as usize - 1);
    out[i] = tile[t] + tile[if t == last { 0 } else { t + 1 }];
}

#[test]
fn barrier_after_early_return() {
    for dev in devices("barrier_after_early_return") {
        let n = 600usize;
        let x: Vec<u32> = (0..n as u32).map(|v| v * 3 + 1).collect();
        let xb = dev.upload(&x).unwrap();
        let mut out = dev.zeros::<u32>(n).unwrap();
        neighbours::launch(&dev, Launch::new(3u32, 256u32), &xb, &mut out).unwrap();
        let got = out.to_vec().unwrap();
        for i in 0..n {
            let base = i / 256 * 256;
            let end = (base + 256).min(n);
            let next = if i + 1 == end { base } else { i + 1 };
            assert_eq!(got[i], x[i] + x[next], "element {i} on {}", dev.name());
        }
    }
}

// ------------------------------------------------------------- dynamic shared memory

/// Per-block sums through the launch's dynamic shared memory, sized by the
/// block size chosen at run time.
#[kernel(mode = "batch")]
fn dyn_block_sums(x: &[u32], sums: &mut [u32]) {
    let partial = dynamic_shared::<u32>();
    let t = thread_idx().x as usize;
    let i = global_index();
    partial[t] = if i < x.len() { x[i] } else { 0 };
    sync_threads();
    if t == 0 {
        let mut s = 0u32;
        for k in 0..block_dim().x as usize {
            s = s.wrapping_add(partial[k]);
        }
        sums[block_idx().x as usize] = s;
    }
}

#[test]
fn dynamic_shared_memory_is_sized_by_the_launch() {
    let mut rng = common::rng("dynamic_shared_memory_is_sized_by_the_launch");
    for dev in devices("dynamic_shared_memory_is_sized_by_the_launch") {
        for block in [1usize, 32, 100, 384] {
            let n = 1000usize;
            let blocks = n.div_ceil(block);
            let x: Vec<u32> = (0..n).map(|_| rng.u32(..)).collect();
            let xb = dev.upload(&x).unwrap();
            let mut sums = dev.zeros::<u32>(blocks).unwrap();
            let launch = Launch::new(blocks as u32, block as u32).shared_bytes(4 * block as u32);
            dyn_block_sums::launch(&dev, launch, &xb, &mut sums).unwrap();
            let expected: Vec<u32> = x
                .chunks(block)
                .map(|c| c.iter().fold(0u32, |a, &v| a.wrapping_add(v)))
                .collect();
            assert_eq!(
                sums.to_vec().unwrap(),
                expected,
                "block {block} on {}",
                dev.name()
            );
        }
    }
}

/// Two views of the same bytes: a `u32` written is read back as four
/// little-endian `u8`s; each view's length is the launch's bytes over its
/// element size, rounded down.
#[kernel(mode = "batch")]
fn dyn_alias(out: &mut [u8], lens: &mut [usize]) {
    let words = dynamic_shared::<u32>();
    let bytes = dynamic_shared::<u8>();
    let t = thread_idx().x as usize;
    if t == 0 {
        words[0] = 0x0403_0201;
    }
    sync_threads();
    if t < 4 {
        out[t] = bytes[t];
    }
    if t == 0 {
        lens[0] = words.len();
        lens[1] = bytes.len();
    }
}

#[kernel(mode = "batch")]
fn dyn_past_the_end(out: &mut [u32]) {
    let buf = dynamic_shared::<u32>();
    let t = thread_idx().x as usize;
    buf[t] = 1;
    out[t] = buf[t];
}

#[test]
fn dynamic_shared_views_alias_and_are_bounds_checked() {
    for dev in devices("dynamic_shared_views_alias_and_are_bounds_checked") {
        let mut out = dev.zeros::<u8>(4).unwrap();
        let mut lens = dev.zeros::<usize>(2).unwrap();
        dyn_alias::launch(
            &dev,
            Launch::new(1u32, 32u32).shared_bytes(10),
            &mut out,
            &mut lens,
        )
        .unwrap();
        assert_eq!(out.to_vec().unwrap(), vec![1, 2, 3, 4], "on {}", dev.name());
        assert_eq!(lens.to_vec().unwrap(), vec![2, 10], "on {}", dev.name());

        // 8 threads, room for 6 `u32`s: threads 6 and 7 index out of bounds.
        let mut out = dev.zeros::<u32>(8).unwrap();
        let r = dyn_past_the_end::launch(&dev, Launch::new(1u32, 8u32).shared_bytes(24), &mut out);
        match r.as_ref().err().and_then(Error::fault).map(|f| (f, f.kind)) {
            Some((f, FaultKind::OutOfBounds { index, len })) => {
                assert_eq!(
                    (f.kernel.as_str(), f.what.as_str()),
                    ("dyn_past_the_end", "buf")
                );
                // The first faulting thread wins the record: 6 on the CPU
                // backend, 6 or 7 on a GPU.
                assert!((6..8).contains(&index), "index {index} on {}", dev.name());
                assert_eq!(len, 6, "on {}", dev.name());
            }
            _ => panic!(
                "expected an out-of-bounds fault on {}, got {r:?}",
                dev.name()
            ),
        }
    }
}

// ------------------------------------------------------------- atomics

/// The seven integer atomics, one generic kernel for every type they take.
#[kernel(mode = "batch")]
fn atomics<T: Int + AtomicInt>(x: &[T], acc: &mut [T]) {
    let i = global_index();
    if i < x.len() {
        let v = x[i];
        atomic_add(&mut acc[0], v);
        atomic_sub(&mut acc[1], v);
        atomic_min(&mut acc[2], v);
        atomic_max(&mut acc[3], v);
        atomic_and(&mut acc[4], v);
        atomic_or(&mut acc[5], v);
        atomic_xor(&mut acc[6], v);
    }
}

/// Runs `atomics::<T>` over `x` from the identity of each operation, and
/// checks the result against the same folds in plain Rust.
fn check_atomics<T: Int + AtomicInt>(dev: &Device, launch: Launch, x: &[T]) {
    let mut expected: [T; 7] = [T::ZERO, T::ZERO, T::MAX, T::MIN, !T::ZERO, T::ZERO, T::ZERO];
    let xb = dev.upload(x).unwrap();
    let mut acc = dev.upload(&expected).unwrap();
    atomics::launch(dev, launch, &xb, &mut acc).unwrap();
    for &v in x {
        expected[0] = expected[0].wrapping_add(v);
        expected[1] = expected[1].wrapping_sub(v);
        expected[2] = expected[2].min(v);
        expected[3] = expected[3].max(v);
        expected[4] &= v;
        expected[5] |= v;
        expected[6] ^= v;
    }
    assert_eq!(
        acc.to_vec().unwrap(),
        expected,
        "{}, n = {} on {}",
        std::any::type_name::<T>(),
        x.len(),
        dev.name()
    );
}

#[test]
fn integer_atomics_across_many_blocks() {
    let mut rng = common::rng("integer_atomics_across_many_blocks");
    for dev in devices("integer_atomics_across_many_blocks") {
        for n in [1usize, 31, 1000, 70_000] {
            let launch = Launch::for_elements(n);
            // Values with most bits set, so `and` does not collapse to 0 at once.
            let x: Vec<i32> = (0..n).map(|_| rng.i32(..) | 0x0100_0001).collect();
            check_atomics(&dev, launch, &x);
            let x: Vec<u32> = (0..n).map(|_| rng.u32(..) | 0x8000_0010).collect();
            check_atomics(&dev, launch, &x);
            let x: Vec<i64> = (0..n)
                .map(|_| rng.i64(..) | 0x0100_0000_0000_0001)
                .collect();
            check_atomics(&dev, launch, &x);
            let x: Vec<u64> = (0..n)
                .map(|_| rng.u64(..) | 0x8000_0000_0000_0100)
                .collect();
            check_atomics(&dev, launch, &x);
            let x: Vec<isize> = (0..n)
                .map(|_| rng.isize(..) | 0x0100_0000_0000_0001)
                .collect();
            check_atomics(&dev, launch, &x);
            let x: Vec<usize> = (0..n)
                .map(|_| rng.usize(..) | 0x8000_0000_0000_0100)
                .collect();
            check_atomics(&dev, launch, &x);
        }
    }
}

/// Every thread tries to claim slot 0 (which holds 0) with `cas`; every
/// thread swaps its id into slot 1 and keeps what it took out.
#[kernel(mode = "batch")]
fn claim(slots: &mut [u32], cas_old: &mut [u32], swapped_out: &mut [usize], ids: &mut [usize]) {
    let i = global_index();
    if i < cas_old.len() {
        cas_old[i] = atomic_cas(&mut slots[0], 0, i as u32 + 1);
        swapped_out[i] = atomic_exchange(&mut ids[0], i + 1);
    }
}

#[test]
fn cas_has_one_winner_and_exchange_loses_nothing() {
    for dev in devices("cas_has_one_winner_and_exchange_loses_nothing") {
        for n in [1usize, 64, 5000] {
            let mut slots = dev.zeros::<u32>(1).unwrap();
            let mut cas_old = dev.zeros::<u32>(n).unwrap();
            let mut swapped = dev.zeros::<usize>(n).unwrap();
            let mut ids = dev.zeros::<usize>(1).unwrap();
            claim::launch(
                &dev,
                Launch::for_elements(n),
                &mut slots,
                &mut cas_old,
                &mut swapped,
                &mut ids,
            )
            .unwrap();
            let winner = slots.to_vec().unwrap()[0];
            assert!((1..=n as u32).contains(&winner), "winner {winner} of {n}");
            let cas_old = cas_old.to_vec().unwrap();
            for (i, &old) in cas_old.iter().enumerate() {
                let expected = if i as u32 + 1 == winner { 0 } else { winner };
                assert_eq!(old, expected, "thread {i} of {n} on {}", dev.name());
            }
            // The values taken out plus the one left in are the initial 0
            // and every id, each exactly once.
            let mut seen = swapped.to_vec().unwrap();
            seen.push(ids.to_vec().unwrap()[0]);
            seen.sort_unstable();
            assert_eq!(
                seen,
                (0..=n).collect::<Vec<_>>(),
                "n = {n} on {}",
                dev.name()
            );
        }
    }
}

#[kernel(mode = "batch")]
fn float_atomics(x: &[f32], y: &[f64], acc32: &mut [f32], acc64: &mut [f64]) {
    let i = global_index();
    if i < x.len() {
        atomic_add(&mut acc32[0], x[i]);
        atomic_sub(&mut acc32[1], x[i]);
        atomic_add(&mut acc64[0], y[i]);
        atomic_sub(&mut acc64[1], y[i]);
        thread_fence();
    }
}

#[test]
fn float_atomics_sum_exactly_representable_values() {
    let mut rng = common::rng("float_atomics_sum_exactly_representable_values");
    for dev in devices("float_atomics_sum_exactly_representable_values") {
        let n = 20_000usize;
        // Small integers: every partial sum is exact, so any order gives
        // the same bits.
        let x: Vec<f32> = (0..n).map(|_| rng.i32(-100..100) as f32).collect();
        let y: Vec<f64> = (0..n).map(|_| rng.i32(-1000..1000) as f64 * 0.5).collect();
        let (xb, yb) = (dev.upload(&x).unwrap(), dev.upload(&y).unwrap());
        let mut a32 = dev.zeros::<f32>(2).unwrap();
        let mut a64 = dev.zeros::<f64>(2).unwrap();
        float_atomics::launch(&dev, Launch::for_elements(n), &xb, &yb, &mut a32, &mut a64).unwrap();
        let s32: f32 = x.iter().sum();
        let s64: f64 = y.iter().sum();
        assert_eq!(a32.to_vec().unwrap(), vec![s32, -s32], "on {}", dev.name());
        assert_eq!(a64.to_vec().unwrap(), vec![s64, -s64], "on {}", dev.name());
    }
}

// ------------------------------------------------------------- warp operations

/// Four shuffles of `x[i]`, each with its own per-thread operand.
#[kernel(mode = "batch")]
fn shuffles(x: &[i64], operand: &[u32], out: &mut [i64]) {
    let i = global_index();
    let v = x[i];
    let p = operand[i];
    out[4 * i] = warp_shuffle(v, p);
    out[4 * i + 1] = warp_shuffle_down(v, p);
    out[4 * i + 2] = warp_shuffle_up(v, p);
    out[4 * i + 3] = warp_shuffle_xor(v, p);
}

/// What lane `lane` of a warp of `warp_len` threads reads from `src`
/// (`None`: no such lane, it keeps its own value).
fn shuffle_source(lane: usize, warp_len: usize, kind: usize, p: u32) -> Option<usize> {
    let p = p as usize;
    let src = match kind {
        0 => p % 32,
        1 => lane + p,
        2 => lane.checked_sub(p)?,
        _ => lane ^ p,
    };
    (src < warp_len).then_some(src)
}

#[test]
fn shuffles_match_their_definition() {
    let mut rng = common::rng("shuffles_match_their_definition");
    for dev in devices("shuffles_match_their_definition") {
        // 48 threads per block: a full warp and a partial one of 16.
        let (blocks, block) = (4usize, 48usize);
        let n = blocks * block;
        let x: Vec<i64> = (0..n).map(|_| rng.i64(..)).collect();
        let operand: Vec<u32> = (0..n)
            .map(|_| {
                if rng.bool() {
                    rng.u32(0..40)
                } else {
                    rng.u32(..)
                }
            })
            .collect();
        let (xb, ob) = (dev.upload(&x).unwrap(), dev.upload(&operand).unwrap());
        let mut out = dev.zeros::<i64>(4 * n).unwrap();
        shuffles::launch(
            &dev,
            Launch::new(blocks as u32, block as u32),
            &xb,
            &ob,
            &mut out,
        )
        .unwrap();
        let got = out.to_vec().unwrap();
        for i in 0..n {
            let t = i % block;
            let warp_base = i - t % 32;
            let warp_len = (block - t / 32 * 32).min(32);
            for kind in 0..4 {
                let expected = match shuffle_source(t % 32, warp_len, kind, operand[i]) {
                    Some(src) => x[warp_base + src],
                    None => x[i],
                };
                assert_eq!(
                    got[4 * i + kind],
                    expected,
                    "thread {i}, shuffle kind {kind}, operand {} on {}",
                    operand[i],
                    dev.name()
                );
            }
        }
    }
}

/// Shuffles of narrow and float types: each thread swaps with its
/// neighbour.
#[kernel(mode = "batch")]
fn shuffle_types(a: &[f32], b: &[u8], c: &[bool], oa: &mut [f32], ob: &mut [u8], oc: &mut [bool]) {
    let i = global_index();
    oa[i] = warp_shuffle_xor(a[i], 1);
    ob[i] = warp_shuffle_xor(b[i], 1);
    oc[i] = warp_shuffle_xor(c[i], 1);
}

#[test]
fn shuffles_carry_every_scalar_type() {
    let mut rng = common::rng("shuffles_carry_every_scalar_type");
    for dev in devices("shuffles_carry_every_scalar_type") {
        let n = 128usize;
        let a: Vec<f32> = (0..n).map(|_| f32::from_bits(rng.u32(..))).collect();
        let b: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
        let c: Vec<bool> = (0..n).map(|_| rng.bool()).collect();
        let (ab, bb, cb) = (
            dev.upload(&a).unwrap(),
            dev.upload(&b).unwrap(),
            dev.upload(&c).unwrap(),
        );
        let mut oa = dev.zeros::<f32>(n).unwrap();
        let mut ob = dev.zeros::<u8>(n).unwrap();
        let mut oc = dev.zeros::<bool>(n).unwrap();
        shuffle_types::launch(
            &dev,
            Launch::new(2u32, 64u32),
            &ab,
            &bb,
            &cb,
            &mut oa,
            &mut ob,
            &mut oc,
        )
        .unwrap();
        let (ga, gb, gc) = (
            oa.to_vec().unwrap(),
            ob.to_vec().unwrap(),
            oc.to_vec().unwrap(),
        );
        for i in 0..n {
            assert_eq!(
                ga[i].to_bits(),
                a[i ^ 1].to_bits(),
                "f32 {i} on {}",
                dev.name()
            );
            assert_eq!(gb[i], b[i ^ 1], "u8 {i} on {}", dev.name());
            assert_eq!(gc[i], c[i ^ 1], "bool {i} on {}", dev.name());
        }
    }
}

/// Shuffles after the warp's threads took different paths: a branch, then
/// a loop whose trip count differs per thread. Every thread is back for
/// the shuffle, so every lane reads its neighbour's value (on a GPU this
/// checks that the member mask, `__activemask()`, sees the warp
/// reconverged).
#[kernel(mode = "batch")]
fn shuffle_after_divergence(x: &[u32], out: &mut [u32]) {
    let i = global_index();
    let mut v = x[i];
    if v % 2 == 0 {
        v /= 2;
    } else {
        v = v.wrapping_mul(3).wrapping_add(1);
    }
    let mut steps = 0u32;
    let mut c = x[i] % 50;
    while c > 0 {
        c -= 1;
        steps += 1;
    }
    out[2 * i] = warp_shuffle_xor(v, 1);
    out[2 * i + 1] = warp_shuffle_down(steps, 1);
}

#[test]
fn shuffles_after_divergent_control_flow_see_the_whole_warp() {
    let mut rng = common::rng("shuffles_after_divergent_control_flow_see_the_whole_warp");
    for dev in devices("shuffles_after_divergent_control_flow_see_the_whole_warp") {
        let n = 256usize;
        let x: Vec<u32> = (0..n).map(|_| rng.u32(..)).collect();
        let xb = dev.upload(&x).unwrap();
        let mut out = dev.zeros::<u32>(2 * n).unwrap();
        shuffle_after_divergence::launch(&dev, Launch::new(2u32, 128u32), &xb, &mut out).unwrap();
        let got = out.to_vec().unwrap();
        let v = |j: usize| {
            if x[j].is_multiple_of(2) {
                x[j] / 2
            } else {
                x[j].wrapping_mul(3).wrapping_add(1)
            }
        };
        for i in 0..n {
            let down = if i % 32 == 31 { i } else { i + 1 };
            assert_eq!(got[2 * i], v(i ^ 1), "xor, thread {i} on {}", dev.name());
            assert_eq!(
                got[2 * i + 1],
                x[down] % 50,
                "down, thread {i} on {}",
                dev.name()
            );
        }
    }
}

#[kernel(mode = "batch")]
fn votes(x: &[u32], out: &mut [u32]) {
    let i = global_index();
    let p = x[i] % 3 == 0;
    out[3 * i] = warp_ballot(p);
    out[3 * i + 1] = warp_all(p) as u32;
    out[3 * i + 2] = warp_any(p) as u32;
    sync_warp();
}

#[test]
fn votes_cover_the_threads_of_the_warp() {
    let mut rng = common::rng("votes_cover_the_threads_of_the_warp");
    for dev in devices("votes_cover_the_threads_of_the_warp") {
        let (blocks, block) = (6usize, 40usize);
        let n = blocks * block;
        // Some warps all true, some all false, some mixed.
        let x: Vec<u32> = (0..n)
            .map(|i| match (i / 32) % 3 {
                0 => 3 * rng.u32(0..1000),
                1 => 3 * rng.u32(0..1000) + 1,
                _ => rng.u32(..),
            })
            .collect();
        let xb = dev.upload(&x).unwrap();
        let mut out = dev.zeros::<u32>(3 * n).unwrap();
        votes::launch(
            &dev,
            Launch::new(blocks as u32, block as u32),
            &xb,
            &mut out,
        )
        .unwrap();
        let got = out.to_vec().unwrap();
        for i in 0..n {
            let t = i % block;
            let warp_base = i - t % 32;
            let warp_len = (block - t / 32 * 32).min(32);
            let mut ballot = 0u32;
            for l in 0..warp_len {
                if x[warp_base + l].is_multiple_of(3) {
                    ballot |= 1 << l;
                }
            }
            let all = ballot.count_ones() as usize == warp_len;
            let expected = [ballot, all as u32, (ballot != 0) as u32];
            assert_eq!(
                &got[3 * i..3 * i + 3],
                &expected,
                "thread {i} on {}",
                dev.name()
            );
        }
    }
}

/// A butterfly sum in a `#[device]` fn: every lane ends with its warp's
/// total.
#[device]
fn warp_total(v: u64) -> u64 {
    let mut sum = v;
    let mut mask = 16;
    while mask > 0 {
        sum = sum.wrapping_add(warp_shuffle_xor(sum, mask));
        mask /= 2;
    }
    sum
}

#[kernel(mode = "batch")]
fn warp_totals(x: &[u64], out: &mut [u64]) {
    let i = global_index();
    out[i] = warp_total(x[i]);
}

#[test]
fn collectives_work_inside_device_functions() {
    let mut rng = common::rng("collectives_work_inside_device_functions");
    for dev in devices("collectives_work_inside_device_functions") {
        let n = 256usize;
        let x: Vec<u64> = (0..n).map(|_| rng.u64(..)).collect();
        let xb = dev.upload(&x).unwrap();
        let mut out = dev.zeros::<u64>(n).unwrap();
        warp_totals::launch(&dev, Launch::new(2u32, 128u32), &xb, &mut out).unwrap();
        let got = out.to_vec().unwrap();
        for i in 0..n {
            let warp = &x[i / 32 * 32..i / 32 * 32 + 32];
            let total = warp.iter().fold(0u64, |a, &v| a.wrapping_add(v));
            assert_eq!(got[i], total, "thread {i} on {}", dev.name());
        }
    }
}

// ------------------------------------------------------------- divergence (CPU only)

#[kernel(mode = "batch")]
fn divergent_barrier(out: &mut [u32]) {
    let t = thread_idx().x;
    if t < 5 {
        sync_threads();
    }
    out[global_index()] = t;
}

#[kernel(mode = "batch")]
fn divergent_shuffle(out: &mut [u32]) {
    let mut v = thread_idx().x;
    if lane_id() < 7 {
        v = warp_shuffle(v, 0);
    }
    out[global_index()] = v;
}

#[test]
fn divergent_collectives_are_reported_on_the_cpu_backend() {
    let dev = common::cpu();
    let mut out = dev.zeros::<u32>(128).unwrap();
    let r = divergent_barrier::launch(&dev, Launch::new(2u32, 64u32), &mut out);
    match r.as_ref().err().and_then(Error::fault) {
        Some(f) => {
            assert_eq!(f.kernel, "divergent_barrier");
            assert_eq!(f.what, "sync_threads()");
            assert_eq!(f.kind, FaultKind::DivergentBarrier);
            assert_eq!(
                (f.block, f.thread),
                (Dim3::new(0, 0, 0), Dim3::new(0, 0, 0))
            );
            assert!(
                f.location.file.contains("intrinsics.rs") && f.location.line.is_some(),
                "{:?}",
                f.location
            );
        }
        None => panic!("expected a divergent barrier, got {r:?}"),
    }
    let text = r.unwrap_err().to_string();
    assert!(text.contains("only some threads of the block"), "{text}");
    let r = divergent_shuffle::launch(&dev, Launch::new(1u32, 64u32), &mut out);
    match r.as_ref().err().and_then(Error::fault) {
        Some(f) => {
            assert_eq!(f.what, "warp_shuffle()");
            assert_eq!(f.kind, FaultKind::DivergentWarp);
        }
        None => panic!("expected a divergent warp operation, got {r:?}"),
    }
    // The device is still usable.
    lanes_3d::launch(&dev, Launch::new(1u32, 32u32), &mut out).unwrap();
}

// ------------------------------------------------------------- ring handlers

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
struct Totals {
    sum: u64,
    atomic_sum: u64,
    messages: u32,
    max_seen: u32,
}

#[derive(Clone, Copy, Debug, DeviceType)]
#[repr(C)]
struct Chunk {
    v: [u32; 64],
}

/// A block-wide handler: a tree reduction in a shared array, plus atomics
/// on the state from every thread.
#[kernel(mode = "ring", threads = 64)]
fn chunk_sum(state: &mut Totals, msg: Chunk) -> u64 {
    let partial = shared_array::<u64, 64>();
    let t = thread_idx().x as usize;
    partial[t] = msg.v[t] as u64;
    atomic_add(&mut state.atomic_sum, msg.v[t] as u64);
    atomic_max(&mut state.max_seen, msg.v[t]);
    sync_threads();
    let mut stride = 32;
    while stride > 0 {
        if t < stride {
            partial[t] += partial[t + stride];
        }
        sync_threads();
        stride /= 2;
    }
    if t == 0 {
        state.sum += partial[0];
        state.messages += 1;
    }
    partial[0]
}

#[test]
fn ring_handler_with_shared_memory_barriers_and_atomics() {
    let mut rng = common::rng("ring_handler_with_shared_memory_barriers_and_atomics");
    for dev in devices("ring_handler_with_shared_memory_barriers_and_atomics") {
        let mut actor = chunk_sum::spawn(&dev, Totals::default()).unwrap();
        let mut expected = Totals::default();
        for _ in 0..300 {
            let mut v = [0u32; 64];
            for x in v.iter_mut() {
                *x = rng.u32(..);
            }
            let sum: u64 = v.iter().map(|&x| x as u64).sum();
            expected.sum += sum;
            expected.atomic_sum += sum;
            expected.messages += 1;
            expected.max_seen = expected.max_seen.max(*v.iter().max().unwrap());
            assert_eq!(actor.call(Chunk { v }).unwrap(), sum, "on {}", dev.name());
        }
        assert_eq!(actor.shutdown().unwrap(), expected, "on {}", dev.name());
    }
}

// ------------------------------------------------------------- NVRTC

#[test]
fn every_kernel_here_compiles_with_nvrtc() {
    // A generic kernel is registered by the instantiations made so far.
    atomics::kernel::<i32>();
    atomics::kernel::<u32>();
    atomics::kernel::<i64>();
    atomics::kernel::<u64>();
    atomics::kernel::<isize>();
    atomics::kernel::<usize>();
    common::compile_all_kernels_with_nvrtc("every_kernel_here_compiles_with_nvrtc");
}
