//! Operations of a block or warp
//! ([`ExprKind::Collective`](crate::ir::ExprKind::Collective)), `lane_id()`
//! and the memory fences.
//!
//! The device-only primitives are named helpers under
//! `#ifndef SPINDLE_HOST_SHIM` (host versions: `host-shims/host_shim.h`, where each
//! CUDA thread of a block is an OS thread and a warp is a rendezvous):
//!
//! | helper                          | CUDA                         |
//! |---------------------------------|------------------------------|
//! | `spindle_sync_threads()`        | `__syncthreads()`            |
//! | `spindle_active_mask()`         | `__activemask()`             |
//! | `spindle_sync_warp_mask(m)`     | `__syncwarp(m)`              |
//! | `spindle_shfl_u32/u64(m, v, l)` | `__shfl_sync(m, v, l)`       |
//! | `spindle_vote_all/any(m, p)`    | `__all_sync/__any_sync(m, p)` |
//! | `spindle_vote_ballot(m, p)`     | `__ballot_sync(m, p)`        |
//! | `spindle_fence_device/block()`  | `__threadfence(_block)()`    |
//!
//! The member mask of a warp operation is `__activemask()`: the lanes
//! running this code, which in convergent code is every thread of the warp
//! that has not finished. The shuffles (`spindle_warp_shuffle_<kind>_<t>`,
//! plain C over those primitives) compute the source lane themselves and
//! give the caller its own value when the source is outside 0..32 or not a
//! member, as the IR defines; every member still takes part in the
//! `__shfl_sync`. Narrow types and `bool` travel as `uint32_t`, 64-bit
//! types as one 64-bit shuffle, floats as their bits. The sub-warp forms
//! (`spindle_warp_shuffle_<kind>_w_<t>`, for `[v, x, width]`) compute the
//! source within the caller's segment of `width` lanes the same way, after
//! a width that is not a power of two from 1 to 32 has stopped the thread
//! with a `ShuffleWidth` fault; a segment that calls while the rest of the
//! warp does not is fine, since the member mask is the lanes running.
//!
//! The collective's `site` is for the CPU backend, which reports a barrier
//! or warp operation reached by only part of the block or warp
//! ([`FaultKind::DivergentBarrier`](crate::ir::FaultKind::DivergentBarrier),
//! [`FaultKind::DivergentWarp`](crate::ir::FaultKind::DivergentWarp)). Nothing
//! detects that on a GPU: there it is undefined behaviour, as in CUDA.

use super::scalar::tag;
use super::stmt::FnEmitter;
use super::Ctx;
use crate::ir::{CollectiveOp, Expr, Intrinsic, Scalar, SiteId, Ty};

impl FnEmitter<'_, '_> {
    /// The C text of a collective operation.
    pub(crate) fn collective(
        &mut self,
        op: CollectiveOp,
        args: &[Expr],
        site: SiteId,
        ty: &Ty,
    ) -> String {
        use CollectiveOp as C;
        let (arity, want) = match op {
            C::SyncThreads | C::SyncWarp => (0..=0, Some(Ty::Unit)),
            // `[v, x]`, or `[v, x, width]` for a sub-warp shuffle.
            C::Shuffle | C::ShuffleDown | C::ShuffleUp | C::ShuffleXor => (2..=3, None),
            C::All | C::Any => (1..=1, Some(Ty::Scalar(Scalar::Bool))),
            C::Ballot => (1..=1, Some(Ty::Scalar(Scalar::U32))),
        };
        if !arity.contains(&args.len()) || want.is_some_and(|w| &w != ty) {
            return self
                .ctx
                .invalid(&format!("{} with a wrong signature", op.rust_name()));
        }
        let v = self.operands(args);
        match op {
            C::SyncThreads => format!("{}()", self.ctx.sync_threads_helper()),
            C::SyncWarp => {
                let mask = self.ctx.active_mask_helper();
                let sync = self.ctx.device_only_helper("spindle_sync_warp_mask", |_| {
                    "__device__ __forceinline__ void spindle_sync_warp_mask(uint32_t mask) { __syncwarp(mask); }".into()
                });
                format!("{sync}({mask}())")
            }
            C::All | C::Any | C::Ballot => {
                if args[0].ty != Ty::Scalar(Scalar::Bool) {
                    return self
                        .ctx
                        .invalid(&format!("{} of a non-bool", op.rust_name()));
                }
                let f = self.ctx.vote_helper(op);
                format!("{f}({})", super::expr::bare(&v[0]))
            }
            C::Shuffle | C::ShuffleDown | C::ShuffleUp | C::ShuffleXor => {
                let (Some(s), true) = (
                    ty.as_scalar().filter(|_| &args[0].ty == ty),
                    args[1..].iter().all(|a| a.ty == Ty::Scalar(Scalar::U32)),
                ) else {
                    return self.ctx.invalid(&format!(
                        "{} takes a scalar and a u32 (and a u32 width) and returns the scalar",
                        op.rust_name()
                    ));
                };
                let x = super::expr::bare(&v[1]);
                if let Some(width) = v.get(2) {
                    let f = self.ctx.shuffle_width_helper(op, s);
                    let w = super::expr::bare(width);
                    return format!("{f}(spindle_fault, {}, {x}, {w}, {site}u)", v[0]);
                }
                let f = self.ctx.shuffle_helper(op, s);
                format!("{f}({}, {x})", v[0])
            }
        }
    }
}

impl Ctx<'_> {
    /// `lane_id()`, the fences; `None` for other intrinsics.
    pub(crate) fn thread_intrinsic(&mut self, i: Intrinsic) -> Option<String> {
        let fence = |name: &str, cuda: &str| {
            format!("__device__ __forceinline__ void {name}(void) {{ {cuda}(); }}")
        };
        let text = match i {
            Intrinsic::LaneId => format!("{}()", self.lane_id_helper()),
            Intrinsic::ThreadFence => {
                let f = self.device_only_helper("spindle_fence_device", |_| {
                    fence("spindle_fence_device", "__threadfence")
                });
                format!("{f}()")
            }
            Intrinsic::ThreadFenceBlock => {
                let f = self.device_only_helper("spindle_fence_block", |_| {
                    fence("spindle_fence_block", "__threadfence_block")
                });
                format!("{f}()")
            }
            // Always in the prelude (the fault record publishes with it).
            Intrinsic::ThreadFenceSystem => "spindle_fence_system()".into(),
            _ => return None,
        };
        Some(text)
    }

    /// `spindle_lane_id()`: the linear thread index in the block, `x`
    /// fastest, modulo 32 (plain C: the host shim's `threadIdx` works too).
    pub(crate) fn lane_id_helper(&mut self) -> String {
        self.helper("spindle_lane_id", |_| {
            "__device__ __forceinline__ uint32_t spindle_lane_id(void) {\n  \
             return (threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y) & 31u;\n}\n"
                .into()
        })
    }

    /// `spindle_sync_threads`: in the prelude of ring kernels already (the
    /// ring loop uses it), a helper for batch kernels.
    fn sync_threads_helper(&mut self) -> String {
        let name = "spindle_sync_threads";
        if self.kernel.mode.is_ring() {
            return name.into();
        }
        self.device_only_helper(name, |_| {
            "__device__ __forceinline__ void spindle_sync_threads(void) { __syncthreads(); }".into()
        })
    }

    fn active_mask_helper(&mut self) -> String {
        self.device_only_helper("spindle_active_mask", |_| {
            "__device__ __forceinline__ uint32_t spindle_active_mask(void) { return __activemask(); }"
                .into()
        })
    }

    /// `spindle_warp_all/any(p)` (`bool`), `spindle_warp_ballot(p)` (`uint32_t`).
    fn vote_helper(&mut self, op: CollectiveOp) -> String {
        let (kind, ret, cuda, conv) = match op {
            CollectiveOp::All => ("all", "bool", "__all_sync", " != 0"),
            CollectiveOp::Any => ("any", "bool", "__any_sync", " != 0"),
            _ => ("ballot", "uint32_t", "__ballot_sync", ""),
        };
        let mask = self.active_mask_helper();
        let prim = format!("spindle_vote_{kind}");
        self.device_only_helper(&prim, |_| {
            format!(
                "__device__ __forceinline__ {ret} {prim}(uint32_t mask, bool p) {{ return {cuda}(mask, (int)p){conv}; }}"
            )
        });
        let name = format!("spindle_warp_{kind}");
        self.helper(&name, |_| {
            format!(
                "__device__ __forceinline__ {ret} {name}(bool p) {{ return {prim}({mask}(), p); }}\n"
            )
        })
    }

    /// `spindle_warp_shuffle_<kind>_<t>(v, x)`: the IR's shuffle on `s`.
    fn shuffle_helper(&mut self, op: CollectiveOp, s: Scalar) -> String {
        let (kind, src) = match op {
            CollectiveOp::Shuffle => ("idx", "(uint64_t)(x % 32u)"),
            CollectiveOp::ShuffleDown => ("down", "(uint64_t)lane + x"),
            // 32: no source lane (`delta > lane`).
            CollectiveOp::ShuffleUp => ("up", "x > lane ? 32ull : (uint64_t)(lane - x)"),
            _ => ("xor", "(uint64_t)(lane ^ x)"),
        };
        let name = format!("spindle_warp_shuffle_{kind}_{}", tag(s));
        let body = self.shuffle_body(s, "", src);
        let c = s.c_name();
        self.helper(&name, |_| {
            format!("__device__ __forceinline__ {c} {name}({c} v, uint32_t x) {{\n{body}}}\n")
        })
    }

    /// `spindle_warp_shuffle_<kind>_w_<t>(f, v, x, width, site)`: the IR's
    /// shuffle within segments of `width` lanes. A width that is not a
    /// power of two from 1 to 32 faults first (`ShuffleWidth`, the width
    /// as the index), so the thread leaves before the others shuffle.
    fn shuffle_width_helper(&mut self, op: CollectiveOp, s: Scalar) -> String {
        // `seg`: the segment's first lane; `pos`: the lane's place in it.
        let (kind, src) = match op {
            CollectiveOp::Shuffle => ("idx", "(uint64_t)(seg + (x & (w - 1u)))"),
            CollectiveOp::ShuffleDown => {
                ("down", "(uint64_t)pos + x < w ? (uint64_t)lane + x : 32ull")
            }
            CollectiveOp::ShuffleUp => ("up", "x > pos ? 32ull : (uint64_t)(lane - x)"),
            // Earlier segments can be read, later ones not.
            _ => ("xor", "(lane ^ x) < seg + w ? (uint64_t)(lane ^ x) : 32ull"),
        };
        let name = format!("spindle_warp_shuffle_{kind}_w_{}", tag(s));
        let segment = if matches!(op, CollectiveOp::ShuffleDown | CollectiveOp::ShuffleUp) {
            "const uint32_t seg = lane & ~(w - 1u);\n  const uint32_t pos = lane - seg;\n  "
        } else {
            "const uint32_t seg = lane & ~(w - 1u);\n  "
        };
        let body = self.shuffle_body(s, segment, src);
        let c = s.c_name();
        self.helper(&name, |_| {
            format!(
                "__device__ __forceinline__ {c} {name}(SpindleFault* f, {c} v, uint32_t x, uint32_t w, uint32_t site) {{\n  \
                 if (w == 0u || w > 32u || (w & (w - 1u)) != 0u) spindle_fault_exit(f, SPINDLE_FAULT_SHUFFLE_WIDTH, site, w, 32ull);\n\
                 {body}}}\n"
            )
        })
    }

    /// The body of a shuffle helper: the member mask and `lane`, the
    /// statements `pre`, the source lane `src` (a `uint64_t`, 32 or more
    /// for none, over `v`, `x`, `lane` and what `pre` defined), the shuffle.
    fn shuffle_body(&mut self, s: Scalar, pre: &str, src: &str) -> String {
        let c = s.c_name();
        let wide = s.bits() == 64;
        let raw_c = if wide { "uint64_t" } else { "uint32_t" };
        let prim = if wide {
            "spindle_shfl_u64"
        } else {
            "spindle_shfl_u32"
        };
        // The value as the shuffled word, and back.
        let (to_raw, from_raw) = match s {
            Scalar::F32 => (
                "spindle_f32_bits(v)".to_string(),
                "spindle_f32_from_bits(r)".to_string(),
            ),
            Scalar::F64 => (
                "spindle_f64_bits(v)".to_string(),
                "spindle_f64_from_bits(r)".to_string(),
            ),
            Scalar::Bool => ("(uint32_t)v".to_string(), "r != 0u".to_string()),
            _ if s.c_name() == raw_c => ("v".to_string(), "r".to_string()),
            _ => (format!("({raw_c})v"), format!("({c})r")),
        };
        let mask = self.active_mask_helper();
        let lane = self.lane_id_helper();
        self.device_only_helper(prim, |_| {
            let cuda_v = if wide {
                "(unsigned long long)v"
            } else {
                "v"
            };
            format!(
                "__device__ __forceinline__ {raw_c} {prim}(uint32_t mask, {raw_c} v, uint32_t src) {{ \
                 return ({raw_c})__shfl_sync(mask, {cuda_v}, (int)src); }}"
            )
        });
        format!(
            "  const uint32_t mask = {mask}();\n  \
             const uint32_t lane = {lane}();\n  \
             {pre}const uint64_t src = {src};\n  \
             const bool ok = src < 32u && ((mask >> src) & 1u) != 0u;\n  \
             // Every member shuffles; one without a source reads its own lane.\n  \
             const {raw_c} r = {prim}(mask, {to_raw}, ok ? (uint32_t)src : lane);\n  \
             return ok ? {from_raw} : v;\n"
        )
    }
}
