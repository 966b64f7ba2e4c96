//! `#[device]`: keep the function for host code and rustc, and emit its
//! metadata in a module of the same name (modules and functions live in
//! different namespaces, so `helper` and `helper::__SPINDLE_DEVICE_FN` coexist).

use proc_macro2::TokenStream;
use quote::quote;
use spindle_codegen::frontend;

use crate::kernel::{const_table, device_fn_refs, type_refs};
use crate::{paths, source};

pub fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    if !attr.is_empty() {
        return Err(syn::Error::new_spanned(attr, "#[device] takes no options"));
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
