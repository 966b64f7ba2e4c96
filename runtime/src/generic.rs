//! Generic kernels: one [`KernelInfo`] per instantiation, made at its
//! first use.
//!
//! `#[kernel]` on a generic fn emits one `static KernelInfo` (the
//! *template*: its source still has the generic parameters) and generic
//! glue that knows its concrete arguments (`<T as Scalar>::SCALAR`, the
//! values of const parameters). The glue asks the template for the
//! instantiation of those arguments; the first ask makes a `KernelInfo`
//! of its own (leaked: it lives as long as the program, like the
//! template), which links, compiles and caches like any kernel — its own
//! entry name (`spindle_axpy__f32`), its own CUBIN in the disk cache (the
//! key is the emitted source, which differs per instantiation), its own
//! CPU program. Later asks find it in a short list behind a `RwLock`: a
//! read lock and a comparison of a few words (BENCHMARKS.md, "generic
//! kernels").

use std::sync::{OnceLock, PoisonError, RwLock};

use spindle_codegen::frontend::instance_name;
use spindle_codegen::GenericArg;

use crate::kernel::KernelInfo;

/// What a [`KernelInfo`] is with respect to generics.
#[derive(Debug)]
pub struct Generic {
    /// The template of a generic kernel (linked only per instantiation).
    pub template: bool,
    /// An instantiation's arguments (empty for other kernels).
    pub args: &'static [GenericArg],
    /// A template's instantiations made so far.
    instances: RwLock<Vec<&'static KernelInfo>>,
}

impl Generic {
    /// A kernel that is not generic.
    pub const fn none() -> Self {
        Generic {
            template: false,
            args: &[],
            instances: RwLock::new(Vec::new()),
        }
    }

    /// The template of a generic kernel.
    pub const fn template() -> Self {
        Generic {
            template: true,
            args: &[],
            instances: RwLock::new(Vec::new()),
        }
    }

    /// The instantiations made so far.
    pub fn instances(&self) -> Vec<&'static KernelInfo> {
        self.instances
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl KernelInfo {
    /// The instantiation of this generic kernel for `args`, made on first
    /// use. A kernel that is not generic is its own only instantiation
    /// (for `args` empty); wrong arguments are reported when it links.
    pub fn instance(&'static self, args: &[GenericArg]) -> &'static KernelInfo {
        if !self.generic.template {
            return self;
        }
        let find =
            |list: &[&'static KernelInfo]| list.iter().copied().find(|k| k.generic.args == args);
        if let Some(k) = find(
            &self
                .generic
                .instances
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        ) {
            return k;
        }
        let mut list = self
            .generic
            .instances
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(k) = find(&list) {
            return k;
        }
        let name: &'static str = Box::leak(instance_name(self.name, args).into_boxed_str());
        let instance: &'static KernelInfo = Box::leak(Box::new(KernelInfo {
            name,
            mode: self.mode,
            threads: self.threads,
            bounds_checks: self.bounds_checks,
            debug_assertions: self.debug_assertions,
            source: self.source,
            file: self.file,
            line: self.line,
            types: self.types,
            device_fns: self.device_fns,
            consts: self.consts,
            generic: Generic {
                template: false,
                args: Box::leak(args.to_vec().into_boxed_slice()),
                instances: RwLock::new(Vec::new()),
            },
            linked: OnceLock::new(),
        }));
        tracing::debug!(kernel = name, "new instantiation");
        list.push(instance);
        instance
    }
}
