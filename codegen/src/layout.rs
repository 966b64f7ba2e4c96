//! Type metadata that `#[derive(DeviceType)]` emits as constants, and that the
//! linker turns into the IR's [`StructDef`](crate::ir::StructDef)s.
//!
//! A proc macro cannot see a struct defined elsewhere, so every kernel carries
//! `&'static TypeDesc`s for the types it names; rustc resolves the paths, and
//! the offsets come from `core::mem::offset_of!`, so Rust is the one source of
//! truth for every layout.

use crate::ir::Scalar;

/// The shape of a type a kernel can hold: a scalar, an array, or a struct.
#[derive(Debug, Clone, Copy)]
pub enum TypeDesc {
    /// A scalar.
    Scalar(Scalar),
    /// `[elem; len]`.
    Array {
        /// Element type.
        elem: &'static TypeDesc,
        /// Number of elements.
        len: usize,
    },
    /// A `#[derive(DeviceType)]` struct.
    Struct(&'static StructLayout),
    /// A `#[derive(DeviceType)]` C-like enum (`#[repr(u32)] enum Op { Add,
    /// Mul }`): in kernels, its discriminant as its integer type.
    Enum(&'static EnumLayout),
    /// A generic `#[derive(DeviceType)]` struct before its arguments
    /// (`Pair` of `struct Pair<T: Scalar>`): not a type a value can have
    /// (its size and alignment are 0), but what a kernel's list of the
    /// types it names holds for a generic struct, from which the linker
    /// makes each instantiation it uses
    /// ([`instantiate`](crate::generic_layout::instantiate)).
    Generic(&'static GenericStruct),
}

/// The layout of a `#[repr(C)]` struct, as Rust computed it.
#[derive(Debug, Clone, Copy)]
pub struct StructLayout {
    /// The struct's name (last path segment), e.g. `"Tally"`; `"Pair"` of
    /// `Pair<f32>`.
    pub name: &'static str,
    /// The type arguments of an instantiation of a generic struct (`f32`
    /// of `Pair<f32>`), in order; empty when the struct is not generic.
    pub args: &'static [&'static TypeDesc],
    /// `size_of::<T>()`.
    pub size: usize,
    /// `align_of::<T>()`.
    pub align: usize,
    /// Fields in declaration order.
    pub fields: &'static [FieldLayout],
}

/// A `#[repr(<integer>)]` enum whose variants have no fields, as Rust
/// numbered them.
#[derive(Debug, Clone, Copy)]
pub struct EnumLayout {
    /// The enum's name (last path segment), e.g. `"Op"`.
    pub name: &'static str,
    /// The integer type of its `#[repr]`: a value is its discriminant.
    pub repr: Scalar,
    /// The variants in declaration order.
    pub variants: &'static [EnumVariant],
}

/// One variant of an [`EnumLayout`].
#[derive(Debug, Clone, Copy)]
pub struct EnumVariant {
    /// The variant's name, e.g. `"Add"`.
    pub name: &'static str,
    /// Its discriminant (`Op::Add as i128`).
    pub value: i128,
}

/// Whether some variant's discriminant is 0, so zeroed memory
/// (`Device::zeros`) holds a valid value.
pub const fn has_zero_variant(variants: &[EnumVariant]) -> bool {
    let mut i = 0;
    while i < variants.len() {
        if variants[i].value == 0 {
            return true;
        }
        i += 1;
    }
    false
}

/// One field of a [`StructLayout`].
#[derive(Debug, Clone, Copy)]
pub struct FieldLayout {
    /// Field name.
    pub name: &'static str,
    /// `offset_of!(T, field)`.
    pub offset: usize,
    /// The field's type.
    pub ty: &'static TypeDesc,
}

impl TypeDesc {
    /// Size in bytes.
    pub const fn size(&self) -> usize {
        match self {
            TypeDesc::Scalar(s) => s.size(),
            TypeDesc::Array { elem, len } => elem.size() * *len,
            TypeDesc::Struct(l) => l.size,
            TypeDesc::Enum(e) => e.repr.size(),
            TypeDesc::Generic(_) => 0,
        }
    }

    /// Alignment in bytes.
    pub const fn align(&self) -> usize {
        match self {
            TypeDesc::Scalar(s) => s.size(),
            TypeDesc::Array { elem, .. } => elem.align(),
            TypeDesc::Struct(l) => l.align,
            TypeDesc::Enum(e) => e.repr.size(),
            TypeDesc::Generic(_) => 0,
        }
    }

    /// A Rust-like spelling: `f32`, `[u32; 4]`, `Tally`, `Pair<f32>`. A
    /// struct's is the name kernels know it by.
    pub fn rust_name(&self) -> String {
        match self {
            TypeDesc::Scalar(s) => s.rust_name().to_string(),
            TypeDesc::Array { elem, len } => format!("[{}; {}]", elem.rust_name(), len),
            TypeDesc::Struct(l) => l.rust_name(),
            TypeDesc::Enum(e) => e.name.to_string(),
            TypeDesc::Generic(g) => g.name.to_string(),
        }
    }
}

impl StructLayout {
    /// `Tally`, or `Pair<f32>` for an instantiation of a generic struct.
    pub fn rust_name(&self) -> String {
        if self.args.is_empty() {
            return self.name.to_string();
        }
        let args: Vec<String> = self.args.iter().map(|a| a.rust_name()).collect();
        format!("{}<{}>", self.name, args.join(", "))
    }
}

/// A generic `#[derive(DeviceType)]` struct (`struct Pair<T: Scalar> { lo:
/// T, hi: T }`) as its definition reads, before its arguments: what the
/// linker needs to lay out any instantiation (see
/// [`instantiate`](crate::generic_layout::instantiate)).
#[derive(Debug, Clone, Copy)]
pub struct GenericStruct {
    /// The struct's name, e.g. `"Pair"`.
    pub name: &'static str,
    /// Its type parameters, in order (each bounded by a scalar trait, so
    /// every argument is a scalar).
    pub params: &'static [&'static str],
    /// Fields in declaration order.
    pub fields: &'static [GenericField],
}

/// One field of a [`GenericStruct`].
#[derive(Debug, Clone, Copy)]
pub struct GenericField {
    /// Field name.
    pub name: &'static str,
    /// Its type, in terms of the struct's parameters.
    pub ty: FieldShape,
}

/// The type of a field of a generic struct.
#[derive(Debug, Clone, Copy)]
pub enum FieldShape {
    /// The struct's type parameter of this index.
    Param(usize),
    /// A type that does not depend on the parameters.
    Known(&'static TypeDesc),
    /// `[elem; len]` of a type that depends on them.
    Array(&'static FieldShape, usize),
    /// Another generic struct, with these arguments (`Pair<T>` inside
    /// `struct Segment<T: Scalar> { ends: Pair<T> }`).
    Generic(&'static GenericStruct, &'static [FieldShape]),
}

/// `true` when `layout`'s offsets and size are those C gives a struct with
/// these fields (each field at the next multiple of its alignment, size
/// rounded up to the struct's alignment) — what the CUDA side assumes.
pub const fn follows_c_layout(layout: &StructLayout) -> bool {
    let mut end = 0usize;
    let mut align = 1usize;
    let mut i = 0;
    while i < layout.fields.len() {
        let f = &layout.fields[i];
        let a = f.ty.align();
        let at = end.div_ceil(a) * a;
        if f.offset != at {
            return false;
        }
        end = at + f.ty.size();
        if a > align {
            align = a;
        }
        i += 1;
    }
    layout.align == align && layout.size == end.div_ceil(align) * align
}

/// The value of a module-level `const` a kernel names, read by the glue at
/// run time (`const_value(&WINDOW)`) and turned into a literal of its type
/// when the kernel is linked.
///
/// ```
/// use spindle_codegen::ir::Scalar;
/// use spindle_codegen::layout::ConstValue;
/// assert_eq!(ConstValue::from(32usize), ConstValue::Int(Scalar::Usize, 32));
/// assert_eq!(ConstValue::from(0.5f32).scalar(), Scalar::F32);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ConstValue {
    /// A `bool`.
    Bool(bool),
    /// An integer of an integer scalar type.
    Int(Scalar, i128),
    /// A float of a float scalar type (an `f32` is stored widened, exactly).
    Float(Scalar, f64),
}

impl ConstValue {
    /// The value's scalar type.
    pub const fn scalar(&self) -> Scalar {
        match self {
            ConstValue::Bool(_) => Scalar::Bool,
            ConstValue::Int(s, _) | ConstValue::Float(s, _) => *s,
        }
    }
}

impl From<bool> for ConstValue {
    fn from(v: bool) -> Self {
        ConstValue::Bool(v)
    }
}

macro_rules! const_value_from {
    ($variant:ident, $conv:ty: $($t:ty => $s:ident),*) => {$(
        impl From<$t> for ConstValue {
            fn from(v: $t) -> Self {
                ConstValue::$variant(Scalar::$s, v as $conv)
            }
        }
    )*};
}
const_value_from!(Int, i128: i8 => I8, i16 => I16, i32 => I32, i64 => I64, isize => Isize,
    u8 => U8, u16 => U16, u32 => U32, u64 => U64, usize => Usize);
const_value_from!(Float, f64: f32 => F32, f64 => F64);
