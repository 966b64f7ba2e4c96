//! spindle's procedural macros: `#[kernel]`, `#[device]`, `#[derive(DeviceType)]`.
//!
//! Each macro is three stages — parse the attribute and item, check them
//! with the kernel compiler's front end (`spindle_codegen::frontend`), expand
//! with `quote!` — and never panics: every problem becomes a spanned
//! `compile_error!`, emitted beside the unchanged item so IDEs keep working.
//!
//! An implementation crate of spindle with no stable API of its own: use
//! the macros through the `spindle` facade crate, whose documentation is
//! the user manual. Generated code names only `::spindle` items (the user
//! API, and `::spindle::__private` for everything hidden: `paths.rs`).

use proc_macro::TokenStream;

mod attr;
mod device_fn;
mod device_impl;
mod device_type;
mod device_type_generic;
mod error;
mod kernel;
mod paths;
mod source;

/// The macro checks the function against the subset of Rust kernels
/// support while the program compiles: a construct a GPU cannot run is a
/// compile error at its tokens, saying what to write instead. Its options
/// and the items it generates are documented on `spindle::kernel`.
#[proc_macro_attribute]
pub fn kernel(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item2: proc_macro2::TokenStream = item.into();
    kernel::expand(attr.into(), item2.clone())
        .unwrap_or_else(|e| error::with_item(e, item2))
        .into()
}

/// Makes a function callable from kernels and other device functions; on
/// an `impl Type { … }` block of a `DeviceType`, makes its methods,
/// associated functions and associated constants usable in kernels.
#[proc_macro_attribute]
pub fn device(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item2: proc_macro2::TokenStream = item.into();
    device_fn::expand(attr.into(), item2.clone())
        .unwrap_or_else(|e| device_fn::with_placeholder(error::with_item(e, item2.clone()), &item2))
        .into()
}

/// Describes a `#[repr(C)]` struct's layout, or a C-like
/// `#[repr(<integer>)]` enum's variants, so kernels can use the type.
#[proc_macro_derive(DeviceType)]
pub fn derive_device_type(item: TokenStream) -> TokenStream {
    device_type::expand(item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
