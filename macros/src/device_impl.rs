//! `#[device] impl Type { … }`: the block is kept for rustc, with each
//! method's `let`s annotated like a `#[device] fn`'s, and every item's
//! metadata (a `DeviceFnInfo` named `Type::item`) is registered with
//! `inventory` beside `<Type as DeviceType>::DESC`: a kernel that reaches
//! `Type` reaches its impl blocks, without naming them.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};
use spindle_codegen::frontend::{self, Analysis};

use crate::kernel::{const_table_named, device_fn_refs, type_refs, type_refs_with};
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
    impl_params(&imp, last)?;
    let generic = !imp.generics.params.is_empty();
    let self_name = last.ident.to_string();
    let private = paths::private();
    let krate = paths::krate();
    let mut errors: Option<syn::Error> = None;
    let mut statics = Vec::new();
    let mut refs = Vec::new();
    for (i, item) in imp.items.iter_mut().enumerate() {
        let (ident, text, line, analysis) = match item {
            syn::ImplItem::Fn(f) => {
                // A method of a generic block is a generic fn: the block's
                // parameters first, then its own (written where its name is).
                let mut with_params = f.clone();
                with_params.sig.generics = merged_generics(&imp.generics, &f.sig);
                let (text, line) = source::layout_preserving(&with_params.to_token_stream());
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
                    sig: with_params.sig.clone(),
                    block: Box::new(std::mem::replace(&mut f.block, empty)),
                };
                let analysis = frontend::analyze_method(&func, &self_name);
                if analysis.is_ok() {
                    frontend::annotate_method_lets(&mut func, &self_name);
                }
                f.block = *func.block;
                (f.sig.ident.clone(), text, line, analysis)
            }
            syn::ImplItem::Const(c) if generic => {
                combine(
                    &mut errors,
                    syn::Error::new_spanned(
                        &c.ident,
                        "associated consts of generic #[device] impl blocks are not supported: \
                         write an associated fn (`fn zero() -> Self`)",
                    ),
                );
                continue;
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
        let types = match generic {
            true => type_refs_with(&analysis, std::slice::from_ref(&self_name)),
            false => type_refs(&analysis),
        };
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
    let self_desc = match generic {
        // The generic struct's definition: the constant named like it.
        true => {
            let mut family = self_path.clone();
            for s in &mut family.segments {
                s.arguments = syn::PathArguments::None;
            }
            quote!(&#private::TypeDesc::Generic(&#family))
        }
        false => quote!(&<#self_path as #krate::DeviceType>::DESC),
    };
    Ok(quote! {
        #imp

        #[allow(non_upper_case_globals)]
        const _: () = {
            #(#statics)*
            static __SPINDLE_ITEMS: [&#private::DeviceFnInfo; #n] = [#(#refs),*];
            static __SPINDLE_IMPL: #private::DeviceImplInfo = #private::DeviceImplInfo {
                self_ty: #self_desc,
                items: &__SPINDLE_ITEMS,
            };
            #private::inventory::submit! {
                #private::DeviceImplRegistration(&__SPINDLE_IMPL)
            }
        };
    })
}

/// The block-level rules: an inherent, safe impl.
fn check_block(imp: &syn::ItemImpl) -> syn::Result<()> {
    if let Some((_, path, _)) = &imp.trait_ {
        return Err(syn::Error::new_spanned(
            path,
            "#[device] goes on an inherent `impl Type { … }` block; trait impls are not \
             supported in kernels: write the operation as a method",
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

/// The type parameters of a generic block (`impl<T: Num> Pair<T>`): each
/// bounded by a scalar trait, and the type's arguments exactly these
/// parameters in order (so a method's instantiation follows its
/// receiver's). Empty for a block of a concrete type.
fn impl_params(imp: &syn::ItemImpl, last: &syn::PathSegment) -> syn::Result<Vec<syn::Ident>> {
    let params = crate::device_type_generic::type_params(&imp.generics)?;
    let args: Vec<Option<&syn::Ident>> = match &last.arguments {
        syn::PathArguments::None => Vec::new(),
        syn::PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .map(|a| match a {
                syn::GenericArgument::Type(syn::Type::Path(p)) if p.qself.is_none() => {
                    p.path.get_ident()
                }
                _ => None,
            })
            .collect(),
        syn::PathArguments::Parenthesized(p) => {
            return Err(syn::Error::new_spanned(p, "expected a struct's type"))
        }
    };
    let same = args.len() == params.len() && args.iter().zip(&params).all(|(a, p)| *a == Some(p));
    if !same {
        let names: Vec<String> = params.iter().map(ToString::to_string).collect();
        let at: &dyn quote::ToTokens = match &last.arguments {
            syn::PathArguments::None => &last.ident,
            other => other,
        };
        return Err(syn::Error::new_spanned(
            at,
            match params.is_empty() {
                true => "#[device] impl blocks of a generic struct are generic over its \
                         parameters: `impl<T: Num> Pair<T> { … }`"
                    .to_string(),
                false => format!(
                    "a generic #[device] impl block is for the struct over the block's own \
                     parameters, in order: `{}<{}>`",
                    last.ident,
                    names.join(", ")
                ),
            },
        ));
    }
    Ok(params)
}

/// The generics of a method of `block` as a fn: the block's parameters,
/// then the method's own, spanned at the method's name (so the captured
/// source keeps every other token in place).
fn merged_generics(block: &syn::Generics, sig: &syn::Signature) -> syn::Generics {
    if block.params.is_empty() {
        return sig.generics.clone();
    }
    let mut g = block.clone();
    g.params.extend(sig.generics.params.iter().cloned());
    if g.where_clause.is_none() {
        g.where_clause = sig.generics.where_clause.clone();
    }
    let span = sig.ident.span();
    let tokens: proc_macro2::TokenStream = respan(g.to_token_stream(), span);
    let mut out: syn::Generics = syn::parse2(tokens).unwrap_or(g);
    if let Some(w) = &sig.generics.where_clause {
        out.where_clause = Some(w.clone());
    }
    out
}

fn respan(tokens: proc_macro2::TokenStream, span: proc_macro2::Span) -> proc_macro2::TokenStream {
    tokens
        .into_iter()
        .map(|t| match t {
            proc_macro2::TokenTree::Group(g) => {
                let mut n = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                n.set_span(span);
                proc_macro2::TokenTree::Group(n)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

fn combine(all: &mut Option<syn::Error>, e: syn::Error) {
    match all {
        Some(a) => a.combine(e),
        None => *all = Some(e),
    }
}
