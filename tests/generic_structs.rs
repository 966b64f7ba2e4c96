//! Generic `#[derive(DeviceType)]` structs: their layouts against rustc's
//! (`std::mem`), in buffers, by value, in struct literals and patterns, in
//! `#[device]` fns and in ring messages, replies and state, inside generic
//! and non-generic kernels, on the CPU backend (and a GPU when present)
//! against plain Rust; every kernel compiled with NVRTC.

mod common;

use spindle::prelude::*;

fn devices(test: &str) -> Vec<Device> {
    let mut devs = vec![common::cpu()];
    devs.extend(common::gpu(test));
    devs
}

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
pub struct Pair<T: Scalar> {
    pub lo: T,
    pub hi: T,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
pub struct Vec2 {
    pub x: f32,
    pub y: f32,
}

/// Two parameters, a nested generic struct, a non-generic struct and an
/// array of a parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
pub struct Tagged<K: Int, V: Num> {
    pub tag: K,
    pub range: Pair<V>,
    pub at: Vec2,
    pub few: [K; 3],
}

fn layout_of<T: DeviceType>() -> (usize, usize, Vec<usize>) {
    match T::DESC {
        spindle::__private::TypeDesc::Struct(l) => {
            (l.size, l.align, l.fields.iter().map(|f| f.offset).collect())
        }
        other => panic!("not a struct: {other:?}"),
    }
}

/// What the linker lays out for an instantiation (from the definition
/// the derive records), for comparing with rustc's.
fn linked_layout(
    generic: &'static spindle::__private::GenericStruct,
    args: &[spindle::__private::Scalar],
) -> (usize, usize, Vec<usize>) {
    match spindle_codegen::generic_layout::instantiate(generic, args).unwrap() {
        spindle::__private::TypeDesc::Struct(l) => {
            (l.size, l.align, l.fields.iter().map(|f| f.offset).collect())
        }
        other => panic!("not a struct: {other:?}"),
    }
}

#[test]
fn instantiation_layouts_agree_with_rustc() {
    use spindle::__private::Scalar as S;
    use std::mem::{align_of, offset_of, size_of};
    type P8 = Pair<u8>;
    type P64 = Pair<f64>;
    type T1 = Tagged<u8, f64>;
    type T2 = Tagged<i64, u16>;
    let rustc = [
        (
            size_of::<P8>(),
            align_of::<P8>(),
            vec![offset_of!(P8, lo), offset_of!(P8, hi)],
        ),
        (
            size_of::<P64>(),
            align_of::<P64>(),
            vec![offset_of!(P64, lo), offset_of!(P64, hi)],
        ),
        (
            size_of::<T1>(),
            align_of::<T1>(),
            vec![
                offset_of!(T1, tag),
                offset_of!(T1, range),
                offset_of!(T1, at),
                offset_of!(T1, few),
            ],
        ),
        (
            size_of::<T2>(),
            align_of::<T2>(),
            vec![
                offset_of!(T2, tag),
                offset_of!(T2, range),
                offset_of!(T2, at),
                offset_of!(T2, few),
            ],
        ),
    ];
    let described = [
        layout_of::<P8>(),
        layout_of::<P64>(),
        layout_of::<T1>(),
        layout_of::<T2>(),
    ];
    let linked = [
        linked_layout(&Pair, &[S::U8]),
        linked_layout(&Pair, &[S::F64]),
        linked_layout(&Tagged, &[S::U8, S::F64]),
        linked_layout(&Tagged, &[S::I64, S::U16]),
    ];
    assert_eq!(described, rustc);
    assert_eq!(linked, rustc);
    assert_eq!(<T1 as DeviceType>::DESC.rust_name(), "Tagged<u8, f64>");
}

// ------------------------------------------------------------- batch kernels

/// A generic kernel over buffers of `Pair<T>`: literals, field access,
/// a pattern, a generic device fn taking and returning `Pair<T>`.
#[kernel(mode = "batch")]
fn spans<T: Num>(pairs: &[Pair<T>], out: &mut [Pair<T>], widths: &mut [T]) {
    let i = global_index();
    if i < pairs.len() {
        let p = pairs[i];
        let Pair { lo, hi } = ordered(p);
        out[i] = Pair { lo, hi };
        widths[i] = hi - lo;
    }
}

#[device]
fn ordered<T: Num>(p: Pair<T>) -> Pair<T> {
    if p.lo <= p.hi {
        p
    } else {
        Pair { lo: p.hi, hi: p.lo }
    }
}

fn spans_on_host<T: Num>(pairs: &[Pair<T>]) -> (Vec<Pair<T>>, Vec<T>) {
    let out: Vec<Pair<T>> = pairs.iter().map(|p| ordered(*p)).collect();
    let widths = out.iter().map(|p| p.hi - p.lo).collect();
    (out, widths)
}

#[test]
fn generic_kernel_over_buffers_of_pairs() {
    for dev in devices("generic_kernel_over_buffers_of_pairs") {
        let pairs: Vec<Pair<f32>> = (0..100)
            .map(|i| Pair {
                lo: (i * 7 % 13) as f32 * 0.5,
                hi: (i * 5 % 11) as f32,
            })
            .collect();
        let input = dev.upload(&pairs).unwrap();
        let mut out = dev.zeros::<Pair<f32>>(pairs.len()).unwrap();
        let mut widths = dev.zeros::<f32>(pairs.len()).unwrap();
        spans::launch(
            &dev,
            Launch::for_elements(pairs.len()),
            &input,
            &mut out,
            &mut widths,
        )
        .unwrap();
        let (want, want_w) = spans_on_host(&pairs);
        assert_eq!(out.to_vec().unwrap(), want);
        assert_eq!(widths.to_vec().unwrap(), want_w);

        let pairs: Vec<Pair<i64>> = (0..50)
            .map(|i| Pair {
                lo: i * 3 - 40,
                hi: 100 - i * i,
            })
            .collect();
        let input = dev.upload(&pairs).unwrap();
        let mut out = dev.zeros::<Pair<i64>>(pairs.len()).unwrap();
        let mut widths = dev.zeros::<i64>(pairs.len()).unwrap();
        spans::launch::<i64>(
            &dev,
            Launch::for_elements(pairs.len()),
            &input,
            &mut out,
            &mut widths,
        )
        .unwrap();
        let (want, want_w) = spans_on_host(&pairs);
        assert_eq!(out.to_vec().unwrap(), want);
        assert_eq!(widths.to_vec().unwrap(), want_w);
    }
}

/// A non-generic kernel: `Pair<f32>` by value as a parameter, a literal
/// whose argument comes from its unsuffixed fields and the annotation,
/// and the nested `Tagged<u32, f32>` in a buffer.
#[kernel(mode = "batch")]
fn shift_tagged(by: Pair<f32>, items: &mut [Tagged<u32, f32>]) {
    let i = global_index();
    if i < items.len() {
        let unit: Pair<f32> = Pair { lo: 1.0, hi: 1.0 };
        let mut t = items[i];
        t.range.lo = t.range.lo + by.lo * unit.lo;
        t.range.hi += by.hi * unit.hi;
        t.at = Vec2 {
            x: t.at.x + t.range.lo,
            y: t.at.y,
        };
        t.few[2] = t.tag + t.few[0];
        items[i] = t;
    }
}

#[test]
fn non_generic_kernel_uses_concrete_instantiations() {
    for dev in devices("non_generic_kernel_uses_concrete_instantiations") {
        let items: Vec<Tagged<u32, f32>> = (0..40u32)
            .map(|i| Tagged {
                tag: i,
                range: Pair {
                    lo: i as f32,
                    hi: 2.0 * i as f32,
                },
                at: Vec2 {
                    x: 0.5,
                    y: i as f32,
                },
                few: [i * 10, 0, 0],
            })
            .collect();
        let mut b = dev.upload(&items).unwrap();
        let by = Pair { lo: 0.25, hi: -3.0 };
        shift_tagged::launch(&dev, Launch::for_elements(items.len()), by, &mut b).unwrap();
        let want: Vec<Tagged<u32, f32>> = items
            .iter()
            .map(|t| {
                let mut t = *t;
                t.range.lo += by.lo;
                t.range.hi += by.hi;
                t.at.x += t.range.lo;
                t.few[2] = t.tag + t.few[0];
                t
            })
            .collect();
        assert_eq!(b.to_vec().unwrap(), want);
    }
}

// ------------------------------------------------------------- ring kernels

/// State, message and reply generic over `T`.
#[kernel(mode = "ring")]
fn widen<T: Num>(state: &mut Pair<T>, msg: T) -> Pair<T> {
    if msg < state.lo {
        state.lo = msg;
    }
    if msg > state.hi {
        state.hi = msg;
    }
    *state
}

#[test]
fn ring_kernel_with_generic_state_message_and_reply() {
    for dev in devices("ring_kernel_with_generic_state_message_and_reply") {
        let mut a = widen::spawn(
            &dev,
            Pair {
                lo: 0.0f64,
                hi: 0.0,
            },
        )
        .unwrap();
        assert_eq!(a.call(2.5).unwrap(), Pair { lo: 0.0, hi: 2.5 });
        assert_eq!(a.call(-1.0).unwrap(), Pair { lo: -1.0, hi: 2.5 });
        assert_eq!(a.shutdown().unwrap(), Pair { lo: -1.0, hi: 2.5 });
        let mut a = widen::spawn(&dev, Pair { lo: 5u16, hi: 5 }).unwrap();
        assert_eq!(a.call(9).unwrap(), Pair { lo: 5, hi: 9 });
        assert_eq!(a.shutdown().unwrap(), Pair { lo: 5, hi: 9 });
    }
}

/// A message that is a generic struct, in a non-generic ring kernel.
#[kernel(mode = "ring")]
fn add_pairs(state: &mut Pair<i32>, msg: Pair<i32>) -> i32 {
    state.lo += msg.lo;
    state.hi += msg.hi;
    state.hi - state.lo
}

#[test]
fn ring_kernel_with_a_generic_struct_message() {
    for dev in devices("ring_kernel_with_a_generic_struct_message") {
        let mut a = add_pairs::spawn(&dev, Pair::default()).unwrap();
        assert_eq!(a.call(Pair { lo: 1, hi: 10 }).unwrap(), 9);
        assert_eq!(a.call(Pair { lo: -4, hi: 2 }).unwrap(), 15);
        assert_eq!(a.shutdown().unwrap(), Pair { lo: -3, hi: 12 });
    }
}

// ------------------------------------------------------------- methods

#[device]
impl<T: Num> Pair<T> {
    fn new(lo: T, hi: T) -> Self {
        Pair { lo, hi }
    }

    fn sum(&self) -> T {
        self.lo + self.hi
    }

    fn width(self) -> T {
        self.hi - self.lo
    }

    fn grow(&mut self, by: T) {
        self.lo -= by;
        self.hi += by;
    }

    fn swapped(&self) -> Self {
        Self::new(self.hi, self.lo)
    }
}

/// Generic methods from a generic kernel: an associated fn, `&self`,
/// `self` and `&mut self` methods, one calling another through `Self`.
#[kernel(mode = "batch")]
fn pair_methods<T: Num>(pairs: &mut [Pair<T>], sums: &mut [T], by: T) {
    let i = global_index();
    if i < pairs.len() {
        let p = Pair::new(pairs[i].lo, pairs[i].hi);
        sums[i] = p.sum() + p.swapped().width();
        pairs[i].grow(by);
    }
}

/// The same methods from a non-generic kernel, at `Pair<f32>`.
#[kernel(mode = "batch")]
fn pair_sums(pairs: &[Pair<f32>], out: &mut [f32]) {
    let i = global_index();
    if i < pairs.len() {
        let mut p = pairs[i];
        p.grow(0.5);
        out[i] = p.sum() * Pair::new(1.0f32, 3.0).width();
    }
}

#[test]
fn generic_methods_from_generic_and_plain_kernels() {
    for dev in devices("generic_methods_from_generic_and_plain_kernels") {
        let pairs: Vec<Pair<i32>> = (0..64).map(|i| Pair::new(i - 20, 3 * i)).collect();
        let mut b = dev.upload(&pairs).unwrap();
        let mut sums = dev.zeros::<i32>(pairs.len()).unwrap();
        pair_methods::launch(
            &dev,
            Launch::for_elements(pairs.len()),
            &mut b,
            &mut sums,
            2,
        )
        .unwrap();
        let want_sums: Vec<i32> = pairs
            .iter()
            .map(|p| p.sum() + p.swapped().width())
            .collect();
        let want: Vec<Pair<i32>> = pairs
            .iter()
            .map(|p| {
                let mut p = *p;
                p.grow(2);
                p
            })
            .collect();
        assert_eq!(sums.to_vec().unwrap(), want_sums);
        assert_eq!(b.to_vec().unwrap(), want);

        let pairs: Vec<Pair<f32>> = (0..32).map(|i| Pair::new(i as f32, 0.25)).collect();
        let input = dev.upload(&pairs).unwrap();
        let mut out = dev.zeros::<f32>(pairs.len()).unwrap();
        pair_sums::launch(&dev, Launch::for_elements(pairs.len()), &input, &mut out).unwrap();
        let want: Vec<f32> = pairs
            .iter()
            .map(|p| {
                let mut p = *p;
                p.grow(0.5);
                p.sum() * Pair::new(1.0f32, 3.0).width()
            })
            .collect();
        assert_eq!(out.to_vec().unwrap(), want);
    }
}

// ------------------------------------------------------------- emitted code

#[test]
fn each_instantiation_is_its_own_c_struct() {
    let f32_src = spans::cuda_source::<f32>();
    let i64_src = spans::cuda_source::<i64>();
    assert!(f32_src.contains("Pair_f32"), "{f32_src}");
    assert!(i64_src.contains("Pair_i64") && !i64_src.contains("Pair_f32"));
    let src = shift_tagged::cuda_source();
    assert!(
        src.contains("Tagged_u32_f32") && src.contains("Pair_f32"),
        "{src}"
    );
}

#[test]
fn every_kernel_compiles_with_nvrtc() {
    let made = [
        spans::kernel::<f32>(),
        spans::kernel::<i64>(),
        widen::kernel::<f64>(),
        widen::kernel::<u16>(),
        pair_methods::kernel::<i32>(),
        pair_methods::kernel::<f64>(),
    ];
    assert_eq!(made[0].name(), "spans::<f32>");
    common::compile_all_kernels_with_nvrtc("generic_structs::every_kernel_compiles_with_nvrtc");
}
