//! Tests of the CPU backend with hand-built IR (the front end is tested on
//! its own; these pin the interpreter's semantics).
mod alloc;
mod arith;
mod atomics;
mod barriers;
mod bench;
mod control;
mod dynamic_shared;
mod faults;
mod groups;
mod intrinsics;
mod memory;
mod ring;
mod warp_segments;
mod warps;

use std::sync::Arc;

pub(super) use spindle_codegen::ir::*;
pub(super) use spindle_codegen::ir_build::*;

use super::{CpuDevice, HostMem, InterpretedHandler};
use crate::buffer::Mem;
use crate::kernel::KernelArg;
use crate::queue::Storage;
use crate::types::{bytes_of, DeviceType};
use crate::{Launch, Result};

/// The linear thread index in the block, `x + y × bdx + z × bdx × bdy`
/// (u32).
pub(super) fn linear_tid() -> Expr {
    let t = |axis| dim(Intrinsic::ThreadIdx, axis);
    let b = |axis| dim(Intrinsic::BlockDim, axis);
    // x + bdx × (y + bdy × z)
    let yz = bin(BinOp::Add, t(1), bin(BinOp::Mul, b(1), t(2)));
    bin(BinOp::Add, t(0), bin(BinOp::Mul, b(0), yz))
}

// ---- running ----

pub(super) fn mem<T: DeviceType>(data: &[T]) -> Arc<Storage> {
    Arc::new(Storage::new(Mem::Cpu(
        HostMem::from_bytes(bytes_of(data), String::new).unwrap(),
    )))
}

pub(super) fn read<T: DeviceType + Default>(m: &Storage) -> Vec<T> {
    let Mem::Cpu(h) = &m.mem else {
        panic!("not host memory")
    };
    // SAFETY (test): no launch is running on the memory.
    let bytes = unsafe { h.bytes() };
    let n = bytes.len() / std::mem::size_of::<T>();
    (0..n)
        // SAFETY (test): `T` is plain data and the bytes came from `T`s.
        .map(|i| unsafe {
            std::ptr::read_unaligned(bytes.as_ptr().add(i * std::mem::size_of::<T>()).cast::<T>())
        })
        .collect()
}

pub(super) fn arg_in<T: DeviceType>(m: &Arc<Storage>, len: usize) -> KernelArg<'_> {
    KernelArg::Slice {
        desc: &T::DESC,
        mem: m,
        len,
    }
}

pub(super) fn arg_out<T: DeviceType>(m: &mut Arc<Storage>, len: usize) -> KernelArg<'_> {
    KernelArg::SliceMut {
        desc: &T::DESC,
        mem: m,
        len,
    }
}

pub(super) fn launch(k: &Arc<Kernel>, l: Launch, args: &mut [KernelArg<'_>]) -> Result<()> {
    CpuDevice::new().launch(k, &l, args)
}

/// A kernel `out[i] = f(x[i])` over `i = global_index() < out.len()`.
pub(super) fn map_kernel(a: Scalar, r: Scalar, f: impl Fn(Expr) -> Expr) -> Arc<Kernel> {
    let mut k = KernelBuilder::new("map");
    let x = k.slice("x", ty(a), false);
    let out = k.slice("out", ty(r), true);
    let i = k.local("i", ty(Scalar::Usize));
    let sx = k.site("x", 2);
    let so = k.site("out", 3);
    let body = vec![
        let_(i, global_index()),
        if_(
            bin(BinOp::Lt, local(i, ty(Scalar::Usize)), slice_len(out)),
            vec![store_elem(
                out,
                local(i, ty(Scalar::Usize)),
                so,
                ty(r),
                f(elem(x, local(i, ty(Scalar::Usize)), sx, ty(a))),
            )],
            vec![],
        ),
    ];
    k.build(body)
}

/// A kernel `out[i] = f(x[i], y[i])`.
pub(super) fn zip_kernel(
    a: Scalar,
    b: Scalar,
    r: Scalar,
    f: impl Fn(Expr, Expr) -> Expr,
) -> Arc<Kernel> {
    let mut k = KernelBuilder::new("zip");
    let x = k.slice("x", ty(a), false);
    let y = k.slice("y", ty(b), false);
    let out = k.slice("out", ty(r), true);
    let i = k.local("i", ty(Scalar::Usize));
    let s = k.site("x", 2);
    let iu = || local(i, ty(Scalar::Usize));
    let body = vec![
        let_(i, global_index()),
        if_(
            bin(BinOp::Lt, iu(), slice_len(out)),
            vec![store_elem(
                out,
                iu(),
                s,
                ty(r),
                f(elem(x, iu(), s, ty(a)), elem(y, iu(), s, ty(b))),
            )],
            vec![],
        ),
    ];
    k.build(body)
}

/// Runs a [`map_kernel`] over `xs` in blocks of 64 threads.
pub(super) fn run_map<A: DeviceType, R: DeviceType + Default>(k: &Arc<Kernel>, xs: &[A]) -> Vec<R> {
    let x = mem(xs);
    let mut out = mem(&vec![R::default(); xs.len()]);
    let l = Launch::new((xs.len() as u32).div_ceil(64), 64);
    launch(
        k,
        l,
        &mut [arg_in::<A>(&x, xs.len()), arg_out::<R>(&mut out, xs.len())],
    )
    .unwrap();
    read(&out)
}

/// Runs a [`zip_kernel`].
pub(super) fn run_zip<A: DeviceType, B: DeviceType, R: DeviceType + Default>(
    k: &Arc<Kernel>,
    xs: &[A],
    ys: &[B],
) -> Vec<R> {
    assert_eq!(xs.len(), ys.len());
    let (x, y) = (mem(xs), mem(ys));
    let mut out = mem(&vec![R::default(); xs.len()]);
    let l = Launch::new((xs.len() as u32).div_ceil(64), 64);
    launch(
        k,
        l,
        &mut [
            arg_in::<A>(&x, xs.len()),
            arg_in::<B>(&y, ys.len()),
            arg_out::<R>(&mut out, xs.len()),
        ],
    )
    .unwrap();
    read(&out)
}

/// The saxpy kernel of the README's quickstart: `y[i] = a * x[i] + y[i]`.
pub(super) fn saxpy_kernel() -> Arc<Kernel> {
    let mut k = KernelBuilder::new("saxpy");
    let f = ty(Scalar::F32);
    let a = k.value("a", f.clone());
    let x = k.slice("x", f.clone(), false);
    let y = k.slice("y", f.clone(), true);
    let i = k.local("i", ty(Scalar::Usize));
    let sx = k.site("x", 4);
    let sy = k.site("y", 4);
    let iu = || local(i, ty(Scalar::Usize));
    k.build(vec![
        let_(i, global_index()),
        if_(
            bin(BinOp::Lt, iu(), slice_len(y)),
            vec![store_elem(
                y,
                iu(),
                sy,
                f.clone(),
                bin(
                    BinOp::Add,
                    bin(
                        BinOp::Mul,
                        param(a, f.clone()),
                        elem(x, iu(), sx, f.clone()),
                    ),
                    elem(y, iu(), sy, f.clone()),
                ),
            )],
            vec![],
        ),
    ])
}

#[test]
fn saxpy_runs_over_a_partial_last_block() {
    let k = saxpy_kernel();
    let n = 1000;
    let xs: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let ys: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 * 0.5).collect();
    let x = mem(&xs);
    let mut y = mem(&ys);
    let a = 3.0f32;
    launch(
        &k,
        Launch::for_elements(n),
        &mut [
            KernelArg::value(&a),
            arg_in::<f32>(&x, n),
            arg_out::<f32>(&mut y, n),
        ],
    )
    .unwrap();
    let got: Vec<f32> = read(&y);
    let want: Vec<f32> = xs.iter().zip(&ys).map(|(x, y)| a * x + y).collect();
    assert_eq!(got, want);
}
