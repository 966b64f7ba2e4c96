//! Tests of memory and launches against a hand-written kernel that follows
//! the ABI (`spindle_codegen::abi`), independent of the emitter. The compile
//! test needs NVRTC; the others need a GPU and skip (saying so) without one.

use spindle_codegen::ir::{Kernel, Scalar, Ty};
use spindle_codegen::ir_build::{arr, ty, KernelBuilder};

use super::compile_cubin;
use super::launch::ArgPack;
use super::modules::LoadedKernel;
use super::CudaDevice;
use crate::device::DeviceInner;
use crate::kernel::KernelArg;
use crate::types::DeviceType;
use crate::{Device, Error, FaultKind, Launch};

/// `y[i] = x[i] * p.b + p.a + p.c + sum(arr) + k`, with a bounds check of
/// `x` that records a fault the way generated code does.
const PROBE: &str = r#"
typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned char u8;
struct SpindleFault { u32 flag; u32 kind; u32 site; u32 _pad; u64 index; u64 len; u32 block[3]; u32 thread[3]; };
struct Pair { u32 a; float b; u8 c; };
struct Arr3 { double v[3]; };
static_assert(sizeof(Pair) == 12, "Pair");
static_assert(sizeof(SpindleFault) == 56, "SpindleFault");

extern "C" __global__ void spindle_probe(SpindleFault* fault, u8 k, Pair p, Arr3 arr,
                                         const float* x, u64 x_len, float* y, u64 y_len) {
    u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x;
    if (i >= y_len) return;
    if (i >= x_len) {
        if (atomicCAS(&fault->flag, 0u, 1u) == 0u) {
            fault->kind = 1;
            fault->site = 0;
            fault->index = i;
            fault->len = x_len;
            fault->block[0] = blockIdx.x; fault->block[1] = blockIdx.y; fault->block[2] = blockIdx.z;
            fault->thread[0] = threadIdx.x; fault->thread[1] = threadIdx.y; fault->thread[2] = threadIdx.z;
        }
        return;
    }
    y[i] = x[i] * p.b + (float)p.a + (float)p.c + (float)(arr.v[0] + arr.v[1] + arr.v[2]) + (float)k;
}
"#;

/// The IR signature of [`PROBE`] (the body is not needed to launch).
pub(super) fn probe_ir() -> Kernel {
    let mut kb = KernelBuilder::batch("probe");
    kb.k.file = "runtime/src/cuda/gpu_tests.rs".into();
    let pair = kb.add_struct(
        "Pair",
        &[
            ("a", ty(Scalar::U32)),
            ("b", ty(Scalar::F32)),
            ("c", ty(Scalar::U8)),
        ],
    );
    kb.value("k", ty(Scalar::U8));
    kb.value("p", Ty::Struct(pair));
    kb.value("arr", arr(ty(Scalar::F64), 3));
    kb.slice("x", ty(Scalar::F32), false);
    kb.slice("y", ty(Scalar::F32), true);
    kb.site("x", 7);
    kb.k
}

/// The by-value arguments: k = 7, p = {1, 2.0, 3}, arr = [0.5, 0.25, 0.25],
/// so `y[i] = 2 x[i] + 12`.
pub(super) fn value_args() -> [KernelArg<'static>; 3] {
    let mut pair = Vec::new();
    pair.extend_from_slice(&1u32.to_ne_bytes());
    pair.extend_from_slice(&2.0f32.to_ne_bytes());
    pair.extend_from_slice(&[3, 0, 0, 0]);
    let arr: Vec<u8> = [0.5f64, 0.25, 0.25]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    [
        KernelArg::value(&7u8),
        KernelArg::Value {
            desc: &u32::DESC, // not checked by the backend; the IR type is
            bytes: pair,
        },
        KernelArg::Value {
            desc: &<[f64; 3]>::DESC,
            bytes: arr,
        },
    ]
}

pub(super) fn gpu_or_skip(test: &str) -> Option<Device> {
    match Device::cuda(0) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("SKIPPED {test}: needs a CUDA GPU ({e})");
            None
        }
    }
}

pub(super) fn cuda_of(dev: &Device) -> &CudaDevice {
    match &*dev.inner {
        DeviceInner::Cuda(c) => c,
        DeviceInner::Cpu(_) => unreachable!("Device::cuda gave a CPU device"),
    }
}

pub(super) fn load_probe(c: &CudaDevice) -> LoadedKernel {
    let m = compile_cubin("probe", PROBE, c.arch()).unwrap();
    c.gpu
        .load_cubin("probe", &m.cubin, "spindle_probe")
        .unwrap()
}

#[test]
fn probe_kernel_compiles() {
    if let Err(e) = super::nvrtc_version() {
        eprintln!("SKIPPED probe_kernel_compiles: {e}");
        return;
    }
    let m = compile_cubin("probe", PROBE, "sm_80").unwrap();
    assert!(m.resources.function("spindle_probe").is_some(), "{}", m.log);
}

#[test]
fn arguments_are_packed_per_the_abi_without_a_gpu() {
    let mut kernel = probe_ir();
    kernel.entry.params.truncate(3); // the by-value parameters
    let pack = ArgPack::new(0xdead_beef, &kernel, &value_args()).unwrap();
    let bytes = |i: usize| -> Vec<u8> {
        pack.arg_words(i)
            .iter()
            .flat_map(|w| w.to_ne_bytes())
            .collect()
    };
    assert_eq!(pack.len(), 4);
    assert_eq!(pack.arg_words(0), &[0xdead_beef]);
    assert_eq!(bytes(1)[0], 7);
    assert_eq!(&bytes(2)[..12], &[1, 0, 0, 0, 0, 0, 0, 64, 3, 0, 0, 0]);
    assert_eq!(&bytes(3)[8..16], &0.25f64.to_ne_bytes());

    let [_, p, arr] = value_args();
    let wrong = ArgPack::new(0, &kernel, &[KernelArg::value(&7u32), p, arr]);
    assert!(
        matches!(wrong, Err(Error::Argument { ref param, .. }) if param == "k"),
        "{:?}",
        wrong.err()
    );
    let too_few = ArgPack::new(0, &kernel, &[KernelArg::value(&7u8)]);
    assert!(matches!(too_few, Err(Error::Argument { .. })));

    // A buffer of the CPU backend cannot be passed to a CUDA launch.
    let kernel = probe_ir();
    let cpu = Device::cpu();
    let x = cpu.upload(&[1.0f32; 4]).unwrap();
    let mut y = cpu.zeros::<f32>(4).unwrap();
    let [k, p, arr] = value_args();
    let args = [
        k,
        p,
        arr,
        KernelArg::slice(&x),
        KernelArg::slice_mut(&mut y),
    ];
    let r = ArgPack::new(0, &kernel, &args);
    assert!(
        matches!(r, Err(Error::Buffer(ref m)) if m.contains("`x`")),
        "{:?}",
        r.err()
    );
}

#[test]
fn buffers_round_trip() {
    let Some(dev) = gpu_or_skip("buffers_round_trip") else {
        return;
    };
    let data: Vec<u64> = (0..10_000).map(|i| i * 3 + 1).collect();
    let mut b = dev.upload(&data).unwrap();
    assert_eq!(b.to_vec().unwrap(), data);
    let back: Vec<u64> = data.iter().rev().copied().collect();
    b.copy_from(&back).unwrap();
    assert_eq!(b.to_vec().unwrap(), back);
    let z = dev.zeros::<f32>(777).unwrap();
    assert_eq!(z.to_vec().unwrap(), vec![0.0; 777]);
    let empty = dev.upload::<u8>(&[]).unwrap();
    assert!(empty.to_vec().unwrap().is_empty());
    assert!(!dev.name().is_empty());
}

#[test]
fn launch_packs_values_and_slices() {
    let Some(dev) = gpu_or_skip("launch_packs_values_and_slices") else {
        return;
    };
    let c = cuda_of(&dev);
    let kernel = probe_ir();
    let loaded = load_probe(c);
    let n = 1000;
    let xs: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let x = dev.upload(&xs).unwrap();
    let mut y = dev.zeros::<f32>(n).unwrap();
    let [k, p, arr] = value_args();
    let mut args = [
        k,
        p,
        arr,
        KernelArg::slice(&x),
        KernelArg::slice_mut(&mut y),
    ];
    c.launch_loaded(&kernel, &loaded, &Launch::for_elements(n), &mut args)
        .unwrap();
    let want: Vec<f32> = xs.iter().map(|v| 2.0 * v + 12.0).collect();
    assert_eq!(y.to_vec().unwrap(), want);
}

#[test]
fn a_fault_is_reported_and_the_device_stays_usable() {
    let Some(dev) = gpu_or_skip("a_fault_is_reported_and_the_device_stays_usable") else {
        return;
    };
    let c = cuda_of(&dev);
    let kernel = probe_ir();
    let loaded = load_probe(c);
    let x = dev.upload(&vec![1.0f32; 1000]).unwrap();
    let mut long_y = dev.zeros::<f32>(1100).unwrap();
    let [k, p, arr] = value_args();
    let mut args = [
        k,
        p,
        arr,
        KernelArg::slice(&x),
        KernelArg::slice_mut(&mut long_y),
    ];
    match c.launch_loaded(&kernel, &loaded, &Launch::for_elements(1100), &mut args) {
        Err(Error::Fault(f)) => {
            let FaultKind::OutOfBounds { index, len } = f.kind else {
                panic!("expected OutOfBounds, got {f:?}");
            };
            assert_eq!(
                (f.kernel.as_str(), f.what.as_str(), len),
                ("probe", "x", 1000)
            );
            assert!((1000..1100).contains(&index), "index {index}");
            assert_eq!(f.block.x as u64 * 256 + f.thread.x as u64, index);
        }
        other => panic!("expected OutOfBounds, got {other:?}"),
    }
    // The record is cleared for the next launch, which succeeds.
    let mut y = dev.zeros::<f32>(1000).unwrap();
    let [k, p, arr] = value_args();
    let mut args = [
        k,
        p,
        arr,
        KernelArg::slice(&x),
        KernelArg::slice_mut(&mut y),
    ];
    c.launch_loaded(&kernel, &loaded, &Launch::for_elements(1000), &mut args)
        .unwrap();
    assert_eq!(y.to_vec().unwrap(), vec![14.0; 1000]);
}

#[test]
fn too_much_shared_memory_is_an_invalid_launch() {
    let Some(dev) = gpu_or_skip("too_much_shared_memory_is_an_invalid_launch") else {
        return;
    };
    let c = cuda_of(&dev);
    let kernel = probe_ir();
    let loaded = load_probe(c);
    let x = dev.upload(&[1.0f32; 4]).unwrap();
    let mut y = dev.zeros::<f32>(4).unwrap();
    let [k, p, arr] = value_args();
    let mut args = [
        k,
        p,
        arr,
        KernelArg::slice(&x),
        KernelArg::slice_mut(&mut y),
    ];
    let launch = Launch::for_elements(4).shared_bytes(64 << 20);
    let r = c.launch_loaded(&kernel, &loaded, &launch, &mut args);
    assert!(matches!(r, Err(Error::InvalidLaunch { .. })), "{r:?}");
    // Still usable.
    let mut args = {
        let [k, p, arr] = value_args();
        [
            k,
            p,
            arr,
            KernelArg::slice(&x),
            KernelArg::slice_mut(&mut y),
        ]
    };
    c.launch_loaded(&kernel, &loaded, &Launch::for_elements(4), &mut args)
        .unwrap();
    assert_eq!(y.to_vec().unwrap(), vec![14.0; 4]);
}

#[test]
fn a_wrong_value_size_is_an_argument_error() {
    let Some(dev) = gpu_or_skip("a_wrong_value_size_is_an_argument_error") else {
        return;
    };
    let c = cuda_of(&dev);
    let kernel = probe_ir();
    let loaded = load_probe(c);
    let x = dev.upload(&[1.0f32; 4]).unwrap();
    let mut y = dev.zeros::<f32>(4).unwrap();
    let [_, p, arr] = value_args();
    let mut args = [
        KernelArg::value(&7u32),
        p,
        arr,
        KernelArg::slice(&x),
        KernelArg::slice_mut(&mut y),
    ];
    let r = c.launch_loaded(&kernel, &loaded, &Launch::for_elements(4), &mut args);
    assert!(
        matches!(r, Err(Error::Argument { ref param, .. }) if param == "k"),
        "{r:?}"
    );
}

#[test]
fn cuda_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<CudaDevice>();
    check::<super::DeviceMem>();
    check::<Device>();
}

#[test]
fn a_buffer_larger_than_the_gpu_is_out_of_memory() {
    let Some(dev) = gpu_or_skip("a_buffer_larger_than_the_gpu_is_out_of_memory") else {
        return;
    };
    let bytes = 1u64 << 50;
    match dev.zeros::<u8>(bytes as usize) {
        Err(Error::OutOfMemory { what, bytes: b }) => {
            assert_eq!(b, bytes);
            assert!(what.contains("GPU 0"), "{what}");
        }
        other => panic!("expected OutOfMemory, got {other:?}"),
    }
    // Nothing was lost: the GPU still allocates.
    assert_eq!(
        dev.upload(&[5u32; 3]).unwrap().to_vec().unwrap(),
        vec![5; 3]
    );
}
