//! [`Device`]: a CUDA GPU or the CPU backend, and what runs on it.

use std::sync::Arc;

use spindle_codegen::ir::{Kernel, ParamKind, Ty};
use spindle_codegen::layout::TypeDesc;

use crate::buffer::Mem;
use crate::kernel::{KernelArg, KernelInfo};
use crate::types::{bytes_of, DeviceType};
use crate::{cpu, cuda, Buffer, Error, Launch, Result};

/// Which backend a [`Device`] runs kernels on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// An NVIDIA GPU through the CUDA driver and NVRTC.
    Cuda,
    /// The CPU backend: the kernel's IR interpreted with GPU semantics.
    Cpu,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Cuda => "cuda",
            Backend::Cpu => "cpu",
        })
    }
}

pub(crate) enum DeviceInner {
    Cpu(cpu::CpuDevice),
    Cuda(cuda::CudaDevice),
}

/// A place to run kernels: a CUDA GPU or the CPU backend. Cheap to clone
/// (clones share the device).
///
/// ```
/// # use spindle_runtime as spindle;
/// use spindle::{Backend, Device};
/// let dev = Device::cpu();
/// assert_eq!(dev.backend(), Backend::Cpu);
/// let buf = dev.upload(&[1u32, 2, 3]).unwrap();
/// assert_eq!(buf.to_vec().unwrap(), vec![1, 2, 3]);
/// ```
#[derive(Clone)]
pub struct Device {
    pub(crate) inner: Arc<DeviceInner>,
}

impl Device {
    /// The device selected by `SPINDLE_BACKEND`: `cuda` (GPU 0, an error if
    /// unusable), `cpu`, or `auto` (the default: GPU 0 if usable, else CPU).
    #[allow(clippy::should_implement_trait)]
    pub fn default() -> Result<Device> {
        let choice = std::env::var("SPINDLE_BACKEND").unwrap_or_default();
        match choice.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => match Device::cuda(0) {
                Ok(d) => Ok(d),
                Err(e) => {
                    tracing::info!(reason = %e, "no usable CUDA device; using the CPU backend");
                    Ok(Device::cpu())
                }
            },
            "cuda" | "gpu" => Device::cuda(0),
            "cpu" => Ok(Device::cpu()),
            other => Err(Error::Config(format!(
                "SPINDLE_BACKEND={other:?}: use \"auto\", \"cuda\" or \"cpu\""
            ))),
        }
    }

    /// CUDA GPU number `ordinal`. Fails with [`Error::CudaUnavailable`] when
    /// no driver or no such device is present (never panics).
    pub fn cuda(ordinal: usize) -> Result<Device> {
        let dev = cuda::CudaDevice::new(ordinal)?;
        Ok(Device {
            inner: Arc::new(DeviceInner::Cuda(dev)),
        })
    }

    /// The CPU backend.
    pub fn cpu() -> Device {
        Device {
            inner: Arc::new(DeviceInner::Cpu(cpu::CpuDevice::new())),
        }
    }

    /// Which backend this device uses.
    pub fn backend(&self) -> Backend {
        match &*self.inner {
            DeviceInner::Cpu(_) => Backend::Cpu,
            DeviceInner::Cuda(_) => Backend::Cuda,
        }
    }

    /// A human-readable name: the GPU's name, or `"CPU backend (N threads)"`.
    pub fn name(&self) -> String {
        match &*self.inner {
            DeviceInner::Cpu(c) => c.name(),
            DeviceInner::Cuda(c) => c.name(),
        }
    }

    /// `true` when `other` is this same device (not merely the same kind).
    pub fn same_as(&self, other: &Device) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Copies `data` into a new buffer on this device. [`Error::OutOfMemory`]
    /// when the CPU backend cannot allocate it.
    pub fn upload<T: DeviceType>(&self, data: &[T]) -> Result<Buffer<T>> {
        let bytes = bytes_of(data);
        let mem = match &*self.inner {
            DeviceInner::Cpu(_) => Mem::Cpu(cpu::HostMem::from_bytes(bytes, || {
                buffer_what("upload", data.len(), std::any::type_name::<T>())
            })?),
            DeviceInner::Cuda(c) => Mem::Cuda(c.upload(bytes)?),
        };
        Ok(Buffer::new(mem, data.len(), self.clone()))
    }

    /// A new buffer of `n` zeroed values. [`Error::OutOfMemory`] when the
    /// CPU backend cannot allocate it (or `n` values do not fit in memory
    /// at all).
    pub fn zeros<T: DeviceType>(&self, n: usize) -> Result<Buffer<T>> {
        let what = || buffer_what("zeros", n, std::any::type_name::<T>());
        let bytes = crate::fallible::bytes_for(n, size_of::<T>(), what)?;
        let mem = match &*self.inner {
            DeviceInner::Cpu(_) => Mem::Cpu(cpu::HostMem::zeroed(bytes, what)?),
            DeviceInner::Cuda(c) => Mem::Cuda(c.zeros(bytes)?),
        };
        Ok(Buffer::new(mem, n, self.clone()))
    }

    /// Launches a batch kernel and waits for it: the glue that
    /// `#[kernel(mode = "batch")]` generates calls it (through
    /// `__private::launch_batch`).
    ///
    /// It runs after the work queued on its buffers that it conflicts with
    /// (see [`Buffer`]), and has finished when it returns.
    pub(crate) fn launch_batch(
        &self,
        info: &'static KernelInfo,
        launch: Launch,
        args: &mut [KernelArg<'_>],
    ) -> Result<()> {
        let kernel = info.linked()?;
        launch.validate(info.name)?;
        check_args(&kernel, args, self)?;
        // Held until the launch has finished.
        let _access = crate::queue::wait_for_args(args)?;
        match &*self.inner {
            DeviceInner::Cpu(c) => c.launch(&kernel, &launch, args),
            DeviceInner::Cuda(c) => c.launch(info, &kernel, &launch, args),
        }
    }
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("backend", &self.backend())
            .field("name", &self.name())
            .finish()
    }
}

/// What a buffer allocation was for, in an [`Error::OutOfMemory`].
fn buffer_what(call: &str, n: usize, ty: &str) -> String {
    format!("`Device::{call}`: a CPU-backend buffer of {n} `{ty}` values")
}

/// Checks that the glue's arguments fit the linked parameters: count, kind,
/// element layout, and that every buffer lives on `dev`'s backend and, for
/// a GPU, on the same GPU (a buffer of another GPU is refused).
pub(crate) fn check_args(kernel: &Kernel, args: &[KernelArg<'_>], dev: &Device) -> Result<()> {
    let err = |param: &str, message: String| Error::Argument {
        kernel: kernel.name.clone(),
        param: param.to_string(),
        message,
    };
    if args.len() != kernel.entry.params.len() {
        return Err(err(
            "",
            format!(
                "expected {} arguments, got {}",
                kernel.entry.params.len(),
                args.len()
            ),
        ));
    }
    for (p, a) in kernel.entry.params.iter().zip(args.iter()) {
        let (want_ty, desc, mem) = match (&p.kind, a) {
            (ParamKind::Value(t), KernelArg::Value { desc, .. }) => (t, *desc, None),
            (
                ParamKind::Slice {
                    elem,
                    mutable: false,
                },
                KernelArg::Slice { desc, mem, .. },
            ) => (elem, *desc, Some(&**mem)),
            (
                ParamKind::Slice {
                    elem,
                    mutable: true,
                },
                KernelArg::SliceMut { desc, mem, .. },
            ) => (elem, *desc, Some(&**mem)),
            _ => {
                return Err(err(
                    &p.name,
                    "argument kind does not match the parameter".into(),
                ))
            }
        };
        if !desc_matches(kernel, want_ty, desc) {
            return Err(err(
                &p.name,
                format!(
                    "expected `{}`, got `{}`",
                    kernel.ty_name(want_ty),
                    desc.rust_name()
                ),
            ));
        }
        if let Some(mem) = mem {
            let ok = match (&mem.mem, &*dev.inner) {
                (Mem::Cpu(_), DeviceInner::Cpu(_)) => true,
                (Mem::Cuda(m), DeviceInner::Cuda(c)) => m.belongs_to(c),
                _ => false,
            };
            if !ok {
                return Err(err(
                    &p.name,
                    format!("the buffer lives on another device than `{}`", dev.name()),
                ));
            }
        }
    }
    Ok(())
}

/// Whether a runtime type description matches an IR type.
pub(crate) fn desc_matches(kernel: &Kernel, ty: &Ty, desc: &TypeDesc) -> bool {
    match (ty, desc) {
        (Ty::Scalar(a), TypeDesc::Scalar(b)) => a == b,
        // In kernels an enum is its discriminant.
        (Ty::Scalar(a), TypeDesc::Enum(e)) => *a == e.repr,
        (Ty::Array(e, n), TypeDesc::Array { elem, len }) => {
            *n as usize == *len && desc_matches(kernel, e, elem)
        }
        (Ty::Struct(id), TypeDesc::Struct(l)) => {
            let d = kernel.struct_def(*id);
            d.name == l.rust_name() && d.size as usize == l.size && d.fields.len() == l.fields.len()
        }
        _ => false,
    }
}
