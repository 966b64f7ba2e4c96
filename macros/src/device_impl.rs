//! `#[device] impl Type { … }`: the block is kept for rustc, with each
//! method's `let`s annotated like a `#[device] fn`'s, and every item's
//! metadata (a `DeviceFnInfo` named `Type::item`) is registered with
//! `inventory` beside `<Type as DeviceType>::DESC`: a kernel that reaches
//! `Type` reaches its impl blocks, without naming them.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};
use spindle_codegen::frontend::{self, Analysis};

use crate::kernel::{const_table_named, device_fn_refs, type_refs};
use crate::{paths, source};

pub fn expand(mut imp: syn::ItemImpl) -> syn::Result<TokenStream> {
    check_block(&imp)?;
    let self_path =
        match &*imp.self_ty {
            syn::Type::Path(p) if p.qself.is_none() => p.path.clone(),
            other => return Err(syn::Error::new_spanned(
                other,
                "#[device] impl blocks are for a `#[derive(DeviceType)]` struct or enum, named \
                 by its path",
            )),
        };
    let last = self_path
        .segments
        .last()
        .expect("a type path has a segment");
    if !last.arguments.is_none() {
        return Err(syn::Error::new_spanned(
            &last.arguments,
            "#[device] impl blocks are for concrete types: generic types are not supported",
        ));
    }
    let self_name = last.ident.to_string();
    let private = paths::private();
    let krate = paths::krate();
    let mut errors: Option<syn::Error> = None;
    let mut statics = Vec::new();
    let mut refs = Vec::new();
    for (i, item) in imp.items.iter_mut().enumerate() {
        let (ident, text, line, analysis) = match item {
            syn::ImplItem::Fn(f) => {
                let (text, line) = source::layout_preserving(&f.to_token_stream());
                // Analyze (and annotate) the method as a fn over its own
                // block, moved rather than copied: the annotations find
                // the `let`s by address.
                let empty = syn::Block {
                    brace_token: f.block.brace_token,
                    stmts: Vec::new(),
                };
                let mut func = syn::ItemFn {
                    attrs: Vec::new(),
                    vis: syn::Visibility::Inherited,
                    sig: f.sig.clone(),
                    block: Box::new(std::mem::replace(&mut f.block, empty)),
                };
                let analysis = frontend::analyze_method(&func, &self_name);
                if analysis.is_ok() {
                    frontend::annotate_method_lets(&mut func, &self_name);
                }
                f.block = *func.block;
                (f.sig.ident.clone(), text, line, analysis)
            }
            syn::ImplItem::Const(c) => {
                let (text, line) = source::layout_preserving(&c.to_token_stream());
                let as_item = syn::ItemConst {
                    attrs: Vec::new(),
                    vis: syn::Visibility::Inherited,
                    const_token: c.const_token,
                    ident: c.ident.clone(),
                    generics: c.generics.clone(),
                    colon_token: c.colon_token,
                    ty: Box::new(c.ty.clone()),
                    eq_token: c.eq_token,
                    expr: Box::new(c.expr.clone()),
                    semi_token: c.semi_token,
                };
                let func = frontend::const_as_fn(&as_item);
                let analysis = frontend::analyze_method(&func, &self_name);
                (c.ident.clone(), text, line, analysis)
            }
            other => {
                combine(
                    &mut errors,
                    syn::Error::new_spanned(
                        other,
                        "a #[device] impl block holds `fn`s and `const`s only",
                    ),
                );
                continue;
            }
        };
        let analysis: Analysis = match analysis {
            Ok(a) => a,
            Err(e) => {
                combine(&mut errors, e);
                continue;
            }
        };
        let name = format!("{self_name}::{ident}");
        let info = format_ident!("__SPINDLE_ITEM_{}", i);
        let table = format_ident!("__SPINDLE_CONSTS_{}", i);
        let (table_def, consts) = const_table_named(&analysis, &table);
        let types = type_refs(&analysis);
        let device_fns = device_fn_refs(&analysis);
        statics.push(quote! {
            #table_def
            static #info: #private::DeviceFnInfo = #private::DeviceFnInfo {
                name: #name,
                source: #text,
                file: ::core::file!(),
                line: #line,
                types: &[#(#types),*],
                device_fns: &[#(#device_fns),*],
                consts: #consts,
            };
        });
        refs.push(quote!(&#info));
    }
    if let Some(e) = errors {
        return Err(e);
    }
    let n = refs.len();
    Ok(quote! {
        #imp

        #[allow(non_upper_case_globals)]
        const _: () = {
            #(#statics)*
            static __SPINDLE_ITEMS: [&#private::DeviceFnInfo; #n] = [#(#refs),*];
            static __SPINDLE_IMPL: #private::DeviceImplInfo = #private::DeviceImplInfo {
                self_ty: &<#self_path as #krate::DeviceType>::DESC,
                items: &__SPINDLE_ITEMS,
            };
            #private::inventory::submit! {
                #private::DeviceImplRegistration(&__SPINDLE_IMPL)
            }
        };
    })
}

/// The block-level rules: an inherent, non-generic, safe impl.
fn check_block(imp: &syn::ItemImpl) -> syn::Result<()> {
    if let Some((_, path, _)) = &imp.trait_ {
        return Err(syn::Error::new_spanned(
            path,
            "#[device] goes on an inherent `impl Type { … }` block; trait impls are not \
             supported in kernels: write the operation as a method",
        ));
    }
    if !imp.generics.params.is_empty() || imp.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &imp.generics,
            "#[device] impl blocks cannot be generic: kernels need one concrete type",
        ));
    }
    if let Some(u) = &imp.unsafety {
        return Err(syn::Error::new_spanned(
            u,
            "#[device] impl blocks cannot be `unsafe`",
        ));
    }
    Ok(())
}

fn combine(all: &mut Option<syn::Error>, e: syn::Error) {
    match all {
        Some(a) => a.combine(e),
        None => *all = Some(e),
    }
}
