//! Views of the launch's dynamic shared memory
//! ([`Kernel::dynamic_shared`](crate::ir::Kernel::dynamic_shared)).
//!
//! The unit declares the area once, at file scope, as CUDA requires:
//! `extern __shared__ __align__(16) unsigned char spindle_dyn_smem[];`.
//! The batch entry then declares each view `i` as a pointer to the start of
//! that area, with its length in elements:
//!
//! ```c
//! float* dsh0_buf = (float*)spindle_dyn_smem;
//! const uint64_t dsh0_buf_len = (uint64_t)spindle_dynamic_smem_size() / (uint64_t)sizeof(float);
//! ```
//!
//! Every view starts at byte 0, so views alias each other; none is
//! `__restrict__`. Views of different types punning the same bytes lean,
//! like CUDA's own `reinterpret_cast` idioms, on NVVM not optimising by
//! C++'s type-based aliasing rule (a host compiler needs
//! `-fno-strict-aliasing` from `-O2` up). `spindle_dynamic_smem_size()` reads the PTX special
//! register `%dynamic_smem_size` (the launch's `sharedMemBytes`). Both the
//! area and the size are device-only: the host shim (`host-shims/host_shim.h`)
//! supplies a buffer its launchers fill per block, and its size.
//! A view's places index like a slice parameter's (`expr.rs`).

use super::stmt::FnEmitter;
use super::Ctx;
use crate::ir::DYNAMIC_SHARED_ALIGN;

impl Ctx<'_> {
    /// `spindle_dyn_smem`: the area, declared (device-only) on first use.
    fn dynamic_smem_area(&mut self) -> String {
        self.device_only_helper("spindle_dyn_smem", |_| {
            format!(
                "// The launch's dynamic shared memory; every view starts at byte 0.\n\
                 extern __shared__ __align__({DYNAMIC_SHARED_ALIGN}) unsigned char spindle_dyn_smem[];\n"
            )
        })
    }

    /// `spindle_dynamic_smem_size`: the area's size in bytes.
    fn dynamic_smem_size(&mut self) -> String {
        self.device_only_helper("spindle_dynamic_smem_size", |_| {
            "__device__ __forceinline__ uint32_t spindle_dynamic_smem_size(void) {\n  \
             uint32_t n;\n  asm(\"mov.u32 %0, %%dynamic_smem_size;\" : \"=r\"(n));\n  return n;\n}\n"
                .into()
        })
    }
}

impl FnEmitter<'_, '_> {
    /// Declares the kernel's dynamic shared views at the top of a batch
    /// entry (after the static shared arrays); a view or length nothing
    /// reads is `[[maybe_unused]]`.
    pub(crate) fn dynamic_shared_views(&mut self) {
        let kernel = self.ctx.kernel;
        if kernel.dynamic_shared.is_empty() {
            return;
        }
        if kernel.mode.is_ring() {
            self.ctx
                .error("invalid IR: dynamic shared memory in a ring kernel");
            return;
        }
        let (used, lens) = super::walk::used_dynamic_shared(self.f, kernel.bounds_checks);
        let area = self.ctx.dynamic_smem_area();
        let size = self.ctx.dynamic_smem_size();
        for (i, v) in kernel.dynamic_shared.iter().enumerate() {
            let id = i as u32;
            if kernel.align_of(&v.elem) > DYNAMIC_SHARED_ALIGN {
                self.ctx.error(&format!(
                    "invalid IR: dynamic shared view `{}` has an element aligned above {DYNAMIC_SHARED_ALIGN}",
                    v.name
                ));
            }
            let c = self.ctx.c_type(&v.elem);
            let (Some(name), Some(len)) = (
                self.ctx.names.dynamic_shared(id).map(str::to_string),
                self.ctx.names.dynamic_shared_len(id),
            ) else {
                continue;
            };
            let unused = |yes: bool| if yes { "" } else { "[[maybe_unused]] " };
            self.line(&format!(
                "{}{c}* {name} = ({c}*){area};",
                unused(used.contains(&id))
            ));
            self.line(&format!(
                "{}const uint64_t {len} = (uint64_t){size}() / (uint64_t)sizeof({c});",
                unused(lens.contains(&id))
            ));
        }
    }
}
