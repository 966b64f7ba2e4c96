//! C declarations generated from Rust definitions: a `#[repr(C)]` struct
//! defined with the crate's `c_struct!` macro carries a table of its
//! fields ([`CStruct`]), and [`c_struct_decl`] writes the matching C struct
//! with `static_assert`s pinning its size, alignment and offsets to the
//! Rust ones. The fault record ([`crate::abi`]) and the ring protocol
//! ([`crate::ring::layout`]) are defined this way, so no C copy is kept by
//! hand.

use std::fmt::Write as _;

/// A field of a [`CStruct`], as the C declaration needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CField {
    /// Field name (same on both sides).
    pub name: &'static str,
    /// C type name (`uint32_t`, or another protocol struct).
    pub c_type: &'static str,
    /// `[N]` for arrays, else empty.
    pub c_suffix: &'static str,
    /// `offset_of!` on the Rust side.
    pub offset: usize,
    /// Whether the field is a `ring::layout::CacheLine` (emitted
    /// `alignas(128)`).
    pub line: bool,
}

/// A `#[repr(C)]` struct shared with generated CUDA code, whose C
/// declaration is generated from its Rust one.
pub trait CStruct {
    /// The C struct name.
    const C_NAME: &'static str;
    /// `size_of::<Self>()`.
    const SIZE: usize;
    /// `align_of::<Self>()`.
    const ALIGN: usize;
    /// Fields in declaration order.
    const FIELDS: &'static [CField];
}

/// Defines a `#[repr(C)]` struct and its [`CStruct`] table in one place,
/// so the C side cannot drift from the Rust side. Each field is written
/// `pub name: Type => "c_type" "[N]-or-empty" cache_line,`.
macro_rules! c_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident as $cname:literal {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty => $cty:literal $csuf:literal $line:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty ),*
        }

        impl $crate::cdecl::CStruct for $name {
            const C_NAME: &'static str = $cname;
            const SIZE: usize = ::std::mem::size_of::<$name>();
            const ALIGN: usize = ::std::mem::align_of::<$name>();
            const FIELDS: &'static [$crate::cdecl::CField] = &[
                $( $crate::cdecl::CField {
                    name: stringify!($field),
                    c_type: $cty,
                    c_suffix: $csuf,
                    offset: ::std::mem::offset_of!($name, $field),
                    line: $line,
                } ),*
            ];
        }
    };
}
pub(crate) use c_struct;

/// Appends `T`'s C declaration, with `static_assert`s on its size,
/// alignment and every field offset.
pub fn c_struct_decl<T: CStruct>(out: &mut String) {
    let _ = writeln!(out, "struct {} {{", T::C_NAME);
    for f in T::FIELDS {
        let align = if f.line { "alignas(128) " } else { "" };
        let _ = writeln!(out, "  {align}{} {}{};", f.c_type, f.name, f.c_suffix);
    }
    let _ = writeln!(out, "}};");
    let _ = writeln!(
        out,
        "static_assert(sizeof({0}) == {1}, \"{0}: size differs from the Rust definition\");",
        T::C_NAME,
        T::SIZE
    );
    let _ = writeln!(
        out,
        "static_assert(alignof({0}) == {1}, \"{0}: alignment differs from the Rust definition\");",
        T::C_NAME,
        T::ALIGN
    );
    for f in T::FIELDS {
        let _ = writeln!(
            out,
            "static_assert(offsetof({0}, {1}) == {2}, \"{0}.{1}: offset differs from the Rust definition\");",
            T::C_NAME,
            f.name,
            f.offset
        );
    }
}
