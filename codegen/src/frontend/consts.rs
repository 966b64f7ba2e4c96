//! External constants: module-level `const` items a function names.
//!
//! A proc macro cannot see a `const` defined elsewhere, so at macro time a
//! path that is not a local, a parameter or a std numeric constant names an
//! *external constant*: its type is a fresh external type variable, and the
//! path is recorded in [`Analysis::consts`](super::Analysis::consts). The
//! glue reads each constant's value at run time (rustc checks that the path
//! exists and is a scalar), and at link time the constant is a literal of
//! its real type.

use quote::ToTokens;

use super::env::Env;
use super::path_idents;
use super::signature::record_path;
use crate::ir::Scalar;
use crate::layout::ConstValue;
use crate::ExternalConst;

/// Whether `p` may name a module-level constant; if not, why it is rejected.
///
/// Accepted: a single identifier (`WINDOW`; rustc reports it if nothing of
/// that name exists), or a module path (`config::WINDOW`,
/// `crate::config::WINDOW`). Rejected: associated items of types
/// (`Self::X`, `Tally::X`, enum variants), std paths that are not numeric
/// constants, generic or qualified paths.
pub(super) fn classify(p: &syn::ExprPath) -> Result<(), String> {
    let text = super::const_key(&p.path);
    if p.qself.is_some() {
        return Err("qualified paths (`<T as Trait>::X`) are not supported in kernels".into());
    }
    if p.path.segments.iter().any(|s| !s.arguments.is_none()) {
        return Err(format!(
            "`{}` is not supported in kernels: generic paths cannot be read on the GPU",
            p.path.to_token_stream()
        ));
    }
    let segs = path_idents(&p.path);
    let first = segs[0].as_str();
    if segs.len() == 1 {
        return match first {
            "None" => Err("`Option`/`Result` are not supported in kernels".into()),
            "self" => {
                Err("methods cannot be kernels or device functions: there is no `self`".into())
            }
            _ => Ok(()),
        };
    }
    let std_msg = || {
        format!(
            "`{text}` is not supported in kernels: only std numeric constants (`u32::MAX`, \
             `f32::EPSILON`, `core::f32::consts::PI`) and module-level `const`s can be named by \
             path"
        )
    };
    if matches!(first, "std" | "core" | "alloc") {
        return Err(std_msg());
    }
    let owner = &segs[segs.len() - 2];
    if Scalar::from_rust_name(owner).is_some() || owner == "str" {
        return Err(std_msg());
    }
    if owner == "Self" || owner.starts_with(|c: char| c.is_ascii_uppercase()) {
        return Err(format!(
            "`{text}` is not supported in kernels: associated constants and enum variants cannot \
             be read on the GPU; use a module-level `const` (`const {}: u32 = …;`)",
            segs.last().expect("non-empty")
        ));
    }
    Ok(())
}

/// What is known about a constant where it is used.
pub(super) enum Lookup {
    /// Macro time: the value (and type) is known to the linker only.
    Unknown,
    /// Link time: its value.
    Value(ConstValue),
    /// Link time: no usable value was given (the message says why).
    Missing(String),
}

/// Looks up the constant `path` names. At macro time the path is recorded
/// for the glue.
pub(super) fn lookup(
    env: Env<'_>,
    consts: &[ExternalConst<'_>],
    const_paths: &mut Vec<syn::Path>,
    path: &syn::Path,
) -> Lookup {
    if !env.is_link() {
        record_path(const_paths, path);
        return Lookup::Unknown;
    }
    let key = super::const_key(path);
    let Some(c) = consts.iter().find(|c| c.path == key) else {
        return Lookup::Missing(format!(
            "no value was recorded for the constant `{key}`: the kernel's metadata does not \
             match its source; rebuild the crate"
        ));
    };
    let valid = match c.value {
        ConstValue::Bool(_) => true,
        ConstValue::Int(s, v) => s.is_int() && fits(s, v),
        ConstValue::Float(s, _) => s.is_float(),
    };
    if !valid {
        return Lookup::Missing(format!(
            "the recorded value of the constant `{key}` is invalid ({:?})",
            c.value
        ));
    }
    Lookup::Value(c.value)
}

fn fits(s: Scalar, v: i128) -> bool {
    let bits = s.bits();
    if s.is_signed_int() {
        (-(1i128 << (bits - 1))..1i128 << (bits - 1)).contains(&v)
    } else {
        (0..1i128 << bits).contains(&v)
    }
}
