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
//! CPU program. Later asks find it without a lock or a write: the first
//! [`SLOTS`] instantiations sit in write-once slots (`OnceLock`s, filled in
//! order under a mutex), so a hit is an acquire load and a comparison of a
//! few words per slot before it (BENCHMARKS.md, "Generic kernels"); more
//! instantiations than that go to a list behind a `RwLock`.

use std::sync::{Mutex, OnceLock, PoisonError, RwLock};

use spindle_codegen::frontend::instance_name;
use spindle_codegen::GenericArg;

use crate::kernel::KernelInfo;

/// How many instantiations of one kernel are found without a lock.
pub const SLOTS: usize = 8;

/// What a [`KernelInfo`] is with respect to generics.
#[derive(Debug)]
pub struct Generic {
    /// The template of a generic kernel (linked only per instantiation).
    pub template: bool,
    /// An instantiation's arguments (empty for other kernels).
    pub args: &'static [GenericArg],
    /// A template's first instantiations, filled in order.
    slots: [OnceLock<&'static KernelInfo>; SLOTS],
    /// The instantiations after the first [`SLOTS`].
    more: RwLock<Vec<&'static KernelInfo>>,
    /// Held while an instantiation is made.
    making: Mutex<()>,
}

impl Generic {
    /// A kernel that is not generic.
    pub const fn none() -> Self {
        Generic::new(false, &[])
    }

    /// The template of a generic kernel.
    pub const fn template() -> Self {
        Generic::new(true, &[])
    }

    const fn new(template: bool, args: &'static [GenericArg]) -> Self {
        Generic {
            template,
            args,
            slots: [const { OnceLock::new() }; SLOTS],
            more: RwLock::new(Vec::new()),
            making: Mutex::new(()),
        }
    }

    /// The instantiations made so far.
    pub fn instances(&self) -> Vec<&'static KernelInfo> {
        let mut out: Vec<&'static KernelInfo> =
            self.slots.iter().map_while(|s| s.get().copied()).collect();
        out.extend(
            self.more
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .iter(),
        );
        out
    }

    /// The instantiation for `args`, if made.
    fn find(&self, args: &[GenericArg]) -> Option<&'static KernelInfo> {
        for slot in &self.slots {
            // Slots fill in order: the first empty one ends the list.
            let k = *slot.get()?;
            if k.generic.args == args {
                return Some(k);
            }
        }
        self.more
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .find(|k| k.generic.args == args)
    }

    /// Adds a new instantiation (called with `making` held, so slots fill
    /// in order and no instantiation is added twice).
    fn add(&self, k: &'static KernelInfo) {
        match self.slots.iter().find(|s| s.get().is_none()) {
            Some(slot) => {
                let _ = slot.set(k);
            }
            None => self
                .more
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .push(k),
        }
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
        if let Some(k) = self.generic.find(args) {
            return k;
        }
        let _making = self
            .generic
            .making
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(k) = self.generic.find(args) {
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
            generic: Generic::new(false, Box::leak(args.to_vec().into_boxed_slice())),
            linked: OnceLock::new(),
        }));
        tracing::debug!(kernel = name, "new instantiation");
        self.generic.add(instance);
        instance
    }
}
