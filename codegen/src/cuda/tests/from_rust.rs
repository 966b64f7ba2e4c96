//! Kernels written in Rust, linked by the front end (`crate::link`) and
//! emitted: what the front end produces for atomics, shared arrays,
//! barriers, warp operations, `lane_id` and fences is what the emitter
//! handles. They join the NVRTC corpus.

use super::irb::code_of;
use crate::ir::Kernel;
use crate::{link, ItemSource, KernelMode, KernelOptions};

const HISTOGRAM: &str = "fn histogram(x: &[u32], bins: &mut [u32]) {
    let i = global_index();
    if i < x.len() {
        let b = x[i] as usize % bins.len();
        atomic_add(&mut bins[b], 1);
    }
}";

const BLOCK_REDUCE: &str = "fn block_reduce(x: &[f32], out: &mut [f32]) {
    let tile = shared_array::<f32, 256>();
    let t = thread_idx().x as usize;
    let i = global_index();
    let mut v = 0.0;
    if i < x.len() {
        v = x[i];
    }
    tile[t] = v;
    let hits: &mut [u32; 8] = shared_array();
    if t < 8 {
        hits[t] = 0;
    }
    sync_threads();
    atomic_add(&mut hits[t % 8], 1);
    let mut s = 128;
    while s > 0 {
        if t < s {
            tile[t] += tile[t + s];
        }
        sync_threads();
        s /= 2;
    }
    if t == 0 {
        out[block_idx().x as usize] = tile[0];
    }
}";

const WARP_OPS: &str = "fn warp_ops(x: &[f32], out: &mut [f32], votes: &mut [u32]) {
    let i = global_index();
    let mut v = x[i];
    let mut d = 16;
    while d > 0 {
        v += warp_shuffle_down(v, d);
        d /= 2;
    }
    let lane = lane_id();
    let b = warp_ballot(v > 0.0);
    let all = warp_all(b != 0);
    let any = warp_any(lane == 0);
    if all && any {
        votes[i] = b;
    }
    sync_warp();
    v = warp_shuffle(v, 0) + warp_shuffle_xor(v, 1) + warp_shuffle_up(v, 1);
    thread_fence();
    thread_fence_block();
    thread_fence_system();
    out[i] = v + warp_max(lane) as f32;
}";

const WARP_MAX: &str = "fn warp_max(v: u32) -> u32 {
    let mut m = v;
    let mut d = 1;
    while d < 32 {
        m = m.max(warp_shuffle_xor(m, d));
        d *= 2;
    }
    m
}";

/// Sub-warp shuffles: a segment-wide scan, and one of each kind (widths
/// literal and from a parameter).
const WARP_WIDTH: &str = "fn warp_width(x: &[i32], out: &mut [i32], w: u32) {
    let i = global_index();
    let mut v = x[i];
    let mut d = 1;
    while d < 8 {
        let n = warp_shuffle_up_width(v, d, 8);
        if lane_id() % 8 >= d {
            v += n;
        }
        d *= 2;
    }
    out[i] = v + warp_shuffle_width(v, 0, w) + warp_shuffle_down_width(v, 1, 16)
        + warp_shuffle_xor_width(v, 1, 2);
}";

const MIXED_ATOMICS: &str = "fn mixed_atomics(f: &mut [f64], s: &mut [i64], u: &mut [usize]) {
    let i = global_index();
    atomic_add(&mut f[0], 1.5);
    atomic_sub(&mut f[1], 0.25);
    let old = atomic_exchange(&mut f[2], i as f64);
    atomic_min(&mut s[0], i as i64 - 5);
    atomic_max(&mut s[1], old as i64);
    let seen = atomic_cas(&mut u[0], i, i + 1);
    atomic_or(&mut u[1], seen);
}";

const RING_COUNTER: &str = "fn ring_counter(state: &mut u64, msg: u64) -> u64 {
    let part = shared_array::<u64, 32>();
    let t = thread_idx().x as usize;
    part[t] = msg;
    sync_threads();
    if t == 0 {
        let mut s = 0;
        for k in 0..32 {
            s += part[k];
        }
        atomic_add(state, s);
    }
    sync_threads();
    *state
}";

fn source(src: &'static str) -> ItemSource<'static> {
    let name = src["fn ".len()..src.find('(').unwrap()].trim();
    ItemSource {
        name,
        source: src,
        file: "src/kernels.rs",
        line: 10,
        consts: &[],
    }
}

fn linked(src: &'static str, options: KernelOptions) -> Kernel {
    let devs = [source(WARP_MAX)];
    link(&source(src), &options, &devs, &[]).unwrap_or_else(|e| panic!("{e}"))
}

/// Every kernel of this file.
pub(crate) fn corpus() -> Vec<(String, Kernel)> {
    let batch = KernelOptions::new(KernelMode::Batch);
    let mut ring = KernelOptions::new(KernelMode::Ring);
    ring.threads = 32;
    [HISTOGRAM, BLOCK_REDUCE, WARP_OPS, WARP_WIDTH, MIXED_ATOMICS]
        .into_iter()
        .map(|src| (src, batch))
        .chain([(RING_COUNTER, ring)])
        .map(|(src, o)| {
            let k = linked(src, o);
            (format!("rust_{}", k.name), k)
        })
        .collect()
}

#[test]
fn cuda_kernels_from_rust_source_emit_without_errors() {
    for (name, k) in corpus() {
        let c = code_of(&k);
        assert!(!c.contains("#error"), "{name}:\n{c}");
        if k.mode.is_ring() {
            let r = crate::ring::emit_ring(&k, &crate::cuda::EmitOptions::default()).unwrap();
            assert!(!r.code.contains("#error"), "{name}:\n{}", r.code);
        }
    }
    let c = code_of(&linked(HISTOGRAM, KernelOptions::new(KernelMode::Batch)));
    assert!(c.contains("spindle_atomic_add_u32(&p_bins["), "{c}");
    let c = code_of(&linked(BLOCK_REDUCE, KernelOptions::new(KernelMode::Batch)));
    assert!(
        c.contains("alignas(4) __shared__ spindle_arr_256_float sh0_tile;"),
        "{c}"
    );
    assert!(c.contains("spindle_sync_threads();"), "{c}");
    assert!(
        c.contains("alignas(4) __shared__ spindle_arr_8_uint32_t sh1_hits;"),
        "{c}"
    );
    assert!(c.contains("spindle_atomic_add_u32(&sh1_hits.v["), "{c}");
}

#[test]
fn cuda_sub_warp_shuffles_fault_on_a_bad_width_then_shuffle_in_their_segment() {
    let c = code_of(&linked(WARP_WIDTH, KernelOptions::new(KernelMode::Batch)));
    for text in [
        "#define SPINDLE_FAULT_SHUFFLE_WIDTH 6u",
        // The call passes the fault record and the collective's site.
        "spindle_warp_shuffle_up_w_i32(spindle_fault, l1_v, l2_d, 8u, 1u)",
        "spindle_warp_shuffle_idx_w_i32(spindle_fault, l1_v, 0u, p_w, ",
        "spindle_warp_shuffle_down_w_i32(spindle_fault, l1_v, 1u, 16u, ",
        "spindle_warp_shuffle_xor_w_i32(spindle_fault, l1_v, 1u, 2u, ",
        "__device__ __forceinline__ int32_t spindle_warp_shuffle_up_w_i32(SpindleFault* f, \
         int32_t v, uint32_t x, uint32_t w, uint32_t site) {\n  \
         if (w == 0u || w > 32u || (w & (w - 1u)) != 0u) \
         spindle_fault_exit(f, SPINDLE_FAULT_SHUFFLE_WIDTH, site, w, 32ull);\n  \
         const uint32_t mask = spindle_active_mask();\n  \
         const uint32_t lane = spindle_lane_id();\n  \
         const uint32_t seg = lane & ~(w - 1u);\n  \
         const uint32_t pos = lane - seg;\n  \
         const uint64_t src = x > pos ? 32ull : (uint64_t)(lane - x);",
        "const uint64_t src = (uint64_t)(seg + (x & (w - 1u)));",
        "const uint64_t src = (uint64_t)pos + x < w ? (uint64_t)lane + x : 32ull;",
        "const uint64_t src = (lane ^ x) < seg + w ? (uint64_t)(lane ^ x) : 32ull;",
    ] {
        assert!(c.contains(text), "{text} missing:\n{c}");
    }
}
