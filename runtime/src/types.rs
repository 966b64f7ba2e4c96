//! [`DeviceType`]: the types kernels can take, hold and return.

use spindle_codegen::ir::Scalar;
use spindle_codegen::layout::{FieldLayout, StructLayout, TypeDesc};

use crate::Dim3;

/// A type whose values can cross between host and kernel: scalars, arrays of
/// them, and `#[repr(C)]` structs with `#[derive(DeviceType)]`.
///
/// # Safety
///
/// `DESC` must describe the type's exact memory layout (size, alignment,
/// field offsets and field types), and every bit pattern the kernel can
/// write for those fields must be a valid value of the type. The derive
/// guarantees both; do not implement this by hand.
pub unsafe trait DeviceType: Copy + Send + Sync + 'static {
    /// The layout description the linker and the backends use (written by
    /// the derive; not an API).
    #[doc(hidden)]
    const DESC: TypeDesc;
}

macro_rules! scalar_device_types {
    ($($t:ty => $s:ident),* $(,)?) => {
        $(
            // SAFETY: a scalar's layout is its size and alignment; the
            // kernels only write values of the scalar's own type into it
            // (`bool` only ever as 0 or 1).
            unsafe impl DeviceType for $t {
                const DESC: TypeDesc = TypeDesc::Scalar(Scalar::$s);
            }
        )*
    };
}

scalar_device_types!(
    bool => Bool, i8 => I8, i16 => I16, i32 => I32, i64 => I64, isize => Isize,
    u8 => U8, u16 => U16, u32 => U32, u64 => U64, usize => Usize, f32 => F32, f64 => F64,
);

// SAFETY: `[T; N]` is N consecutive `T`s with T's alignment.
unsafe impl<T: DeviceType, const N: usize> DeviceType for [T; N] {
    const DESC: TypeDesc = TypeDesc::Array {
        elem: &T::DESC,
        len: N,
    };
}

// `Dim3` is defined beside `Launch`, in this crate, where the derive
// (which names the facade's paths) is not available: the same layout by
// hand, with every offset and size taken from the type as the derive does.
static DIM3_FIELDS: [FieldLayout; 3] = [
    FieldLayout {
        name: "x",
        offset: std::mem::offset_of!(Dim3, x),
        ty: &<u32 as DeviceType>::DESC,
    },
    FieldLayout {
        name: "y",
        offset: std::mem::offset_of!(Dim3, y),
        ty: &<u32 as DeviceType>::DESC,
    },
    FieldLayout {
        name: "z",
        offset: std::mem::offset_of!(Dim3, z),
        ty: &<u32 as DeviceType>::DESC,
    },
];

static DIM3_LAYOUT: StructLayout = StructLayout {
    name: "Dim3",
    args: &[],
    size: std::mem::size_of::<Dim3>(),
    align: std::mem::align_of::<Dim3>(),
    fields: &DIM3_FIELDS,
};

const _: () = assert!(spindle_codegen::layout::follows_c_layout(&DIM3_LAYOUT));

// SAFETY: `Dim3` is `#[repr(C)]` with three `u32` fields; `DIM3_LAYOUT`
// takes their offsets and the size from the type (`offset_of!`), and
// every bit pattern is a valid `u32`.
unsafe impl DeviceType for Dim3 {
    const DESC: TypeDesc = TypeDesc::Struct(&DIM3_LAYOUT);
}

/// The bytes of a slice of device values, for copying to a device or into a
/// CPU buffer.
pub(crate) fn bytes_of<T: DeviceType>(values: &[T]) -> &[u8] {
    // SAFETY: `T: DeviceType` is plain data (`Copy`, `repr(C)` or scalar);
    // the slice covers exactly `size_of_val(values)` initialised bytes of
    // the values (padding bytes are only copied, never interpreted).
    unsafe {
        std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
    }
}
