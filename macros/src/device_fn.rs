//! `#[device]`: keep the function for host code and rustc, and emit its
//! metadata in a module of the same name (modules and functions live in
//! different namespaces, so `helper` and `helper::__SPINDLE_DEVICE_FN` coexist).
//!
//! On an `impl Type { … }` block (see `device_impl.rs`), the metadata of
//! each method, associated fn and associated const, registered so the
//! linker finds it through `Type`.

use proc_macro2::TokenStream;
use quote::quote;
use spindle_codegen::frontend;

use crate::kernel::{const_table, device_fn_refs, type_refs};
use crate::{paths, source};

pub fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    if !attr.is_empty() {
        return Err(syn::Error::new_spanned(attr, "#[device] takes no options"));
    }
    match syn::parse2::<syn::Item>(item.clone())? {
        syn::Item::Fn(_) => {}
        syn::Item::Impl(imp) => return crate::device_impl::expand(imp),
        other => {
            return Err(syn::Error::new_spanned(
                other,
                "#[device] goes on a `fn` or on an `impl Type { … }` block",
            ))
        }
    }
    let func: syn::ItemFn = syn::parse2(item.clone())?;
    let analysis = frontend::analyze_device_fn(&func)?;
    let (text, line) = source::layout_preserving(&item);
    let mut checked = func.clone();
    frontend::annotate_lets(&mut checked, None);

    let name = &func.sig.ident;
    let vis = &func.vis;
    let name_str = name.to_string();
    let private = paths::private();
    let types = type_refs(&analysis);
    let device_fns = device_fn_refs(&analysis);
    let (const_table, consts) = const_table(&analysis, name);
    Ok(quote! {
        #checked

        #const_table

        #[doc(hidden)]
        #[allow(unused_imports, non_snake_case)]
        #vis mod #name {
            use super::*;

            #[doc(hidden)]
            pub static __SPINDLE_DEVICE_FN: #private::DeviceFnInfo = #private::DeviceFnInfo {
                name: #name_str,
                source: #text,
                file: ::core::file!(),
                line: #line,
                types: &[#(#types),*],
                device_fns: &[#(#device_fns),*],
                consts: #consts,
            };
        }
    })
}

/// After an error in a `#[device]` fn: `reported` (the errors and the item)
/// plus an empty metadata module of the fn's name, so kernels that call it
/// get no second, confusing "cannot find module" error. The crate does not
/// compile anyway, so the placeholder's contents are never used.
pub fn with_placeholder(reported: TokenStream, item: &TokenStream) -> TokenStream {
    let Ok(func) = syn::parse2::<syn::ItemFn>(item.clone()) else {
        return reported;
    };
    let name = &func.sig.ident;
    let vis = &func.vis;
    let name_str = name.to_string();
    let private = paths::private();
    quote! {
        #reported

        #[doc(hidden)]
        #[allow(unused_imports, non_snake_case)]
        #vis mod #name {
            #[doc(hidden)]
            pub static __SPINDLE_DEVICE_FN: #private::DeviceFnInfo = #private::DeviceFnInfo {
                name: #name_str,
                source: "",
                file: ::core::file!(),
                line: 0,
                types: &[],
                device_fns: &[],
                consts: &[],
            };
        }
    }
}
