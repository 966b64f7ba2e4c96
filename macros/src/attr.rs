//! Parsing `#[kernel(mode = "...", threads = N, bounds_checks = bool)]`.

use proc_macro2::{Span, TokenStream};
use spindle_codegen::ir::MAX_RING_THREADS;
use spindle_codegen::{KernelMode, KernelOptions};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Lit, MetaNameValue, Token};

/// The options `#[kernel]` takes.
const KNOWN: [&str; 3] = ["mode", "threads", "bounds_checks"];

/// Parses the attribute's arguments into [`KernelOptions`]; an option
/// given twice is an error at its second use.
pub fn parse_kernel_attr(attr: TokenStream) -> syn::Result<KernelOptions> {
    let args = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(attr.clone())?;
    let mut mode: Option<KernelMode> = None;
    let mut threads: Option<(u32, Span)> = None;
    let mut bounds_checks = true;
    let mut seen: Vec<String> = Vec::new();
    for arg in &args {
        let key = arg
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        if KNOWN.contains(&key.as_str()) {
            if seen.contains(&key) {
                return Err(syn::Error::new_spanned(
                    &arg.path,
                    format!("kernel option `{key}` is given twice: give each option once"),
                ));
            }
            seen.push(key.clone());
        }
        match key.as_str() {
            "mode" => {
                let s = lit_str(&arg.value, "mode = \"batch\" or mode = \"ring\"")?;
                mode = Some(
                    s.value()
                        .parse::<KernelMode>()
                        .map_err(|e| syn::Error::new(s.span(), e.to_string()))?,
                );
            }
            "threads" => {
                let n = lit_int(
                    &arg.value,
                    &format!("threads = N, with 1 <= N <= {MAX_RING_THREADS}"),
                )?;
                let v: u32 = n.base10_parse().map_err(|_| {
                    syn::Error::new(
                        n.span(),
                        format!("threads must be an integer from 1 to {MAX_RING_THREADS}"),
                    )
                })?;
                if !(1..=MAX_RING_THREADS).contains(&v) {
                    return Err(syn::Error::new(
                        n.span(),
                        format!(
                            "threads = {v} is out of range: a ring handler runs on 1 to \
                             {MAX_RING_THREADS} threads of one block"
                        ),
                    ));
                }
                threads = Some((v, n.span()));
            }
            "bounds_checks" => {
                bounds_checks =
                    lit_bool(&arg.value, "bounds_checks = true or bounds_checks = false")?;
            }
            _ => return Err(syn::Error::new_spanned(
                &arg.path,
                "unknown kernel option: valid options are `mode`, `threads` and `bounds_checks`",
            )),
        }
    }
    let Some(mode) = mode else {
        let span = if attr.is_empty() {
            Span::call_site()
        } else {
            syn::spanned::Spanned::span(&attr)
        };
        return Err(syn::Error::new(
            span,
            "missing kernel mode: write #[kernel(mode = \"batch\")] or #[kernel(mode = \"ring\")]",
        ));
    };
    if let Some((_, span)) = threads {
        if mode.is_batch() {
            return Err(syn::Error::new(
                span,
                "`threads` is a ring-mode option; a batch kernel's threads come from its Launch",
            ));
        }
    }
    Ok(KernelOptions {
        mode,
        threads: threads.map(|(n, _)| n).unwrap_or(1),
        bounds_checks,
        // The user's build decides, when the kernel links (`KernelInfo`);
        // the macro checks every assertion.
        debug_assertions: true,
    })
}

fn lit_str<'a>(e: &'a Expr, want: &str) -> syn::Result<&'a syn::LitStr> {
    match e {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s),
        _ => Err(syn::Error::new_spanned(e, format!("expected {want}"))),
    }
}

fn lit_int<'a>(e: &'a Expr, want: &str) -> syn::Result<&'a syn::LitInt> {
    match e {
        Expr::Lit(ExprLit {
            lit: Lit::Int(n), ..
        }) => Ok(n),
        _ => Err(syn::Error::new_spanned(e, format!("expected {want}"))),
    }
}

fn lit_bool(e: &Expr, want: &str) -> syn::Result<bool> {
    match e {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(b), ..
        }) => Ok(b.value),
        _ => Err(syn::Error::new_spanned(e, format!("expected {want}"))),
    }
}
