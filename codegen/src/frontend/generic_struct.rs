//! Instantiations of generic `DeviceType` structs in kernels: the type
//! `Pair<f32>` names, what `Self` is in a `#[device] impl` block of one,
//! and what a struct literal or pattern's path means (`Pair { .. }` infers
//! its arguments, `Pair::<f32> { .. }` writes them). A generic struct's
//! instantiation is the type shape `Generic(name, args)`, whose arguments
//! unify like a tuple's; its layout is made at link time
//! (`crate::generic_layout`).

use super::signature::{err, record_path, value_type, TypeCx};
use super::types::{Shape, TyVar, Types};
use crate::ir::Scalar;

/// The type `Self` stands for in a `#[device] impl` block of `name`:
/// a struct, or an instantiation of a generic one (`Pair<f32>`).
pub(super) fn self_type(types: &mut Types, name: &str, link: bool) -> TyVar {
    if !link {
        // At macro time any instantiation is the struct's name.
        let base = name.split('<').next().unwrap_or(name);
        let key = types.struct_key(base);
        return types.known(Shape::Struct(key));
    }
    if let Some((base, args)) = name.strip_suffix('>').and_then(|n| n.split_once('<')) {
        let args = args
            .split(',')
            .map(|a| match Scalar::from_rust_name(a.trim()) {
                Some(s) => types.scalar(s),
                None => types.fresh_external(),
            })
            .collect();
        return types.generic(base, args);
    }
    let key = types.struct_key(name);
    types.known(Shape::Struct(key))
}

/// `Pair<f32>`: an instantiation of a generic `DeviceType` struct. Its
/// arguments are scalar types (the struct's parameters are bounded by
/// scalar traits). At macro time the struct is unknown: any instantiation
/// is the struct's name (rustc checks the arguments against the bounds).
pub(super) fn generic_struct_type(
    cx: &mut TypeCx<'_, '_>,
    path: &syn::Path,
    name: &str,
    a: &syn::AngleBracketedGenericArguments,
) -> syn::Result<TyVar> {
    let mut args = Vec::new();
    for arg in &a.args {
        let syn::GenericArgument::Type(t) = arg else {
            return Err(err(
                arg,
                "a generic DeviceType struct takes scalar types as its arguments (`Pair<f32>`)",
            ));
        };
        let v = value_type(cx, t)?;
        if cx.env.is_link() && cx.types.scalar_of(v).is_none() {
            return Err(err(
                t,
                "a generic DeviceType struct takes scalar types as its arguments (`Pair<f32>`)",
            ));
        }
        args.push(v);
    }
    record_path(cx.struct_paths, path);
    if !cx.env.is_link() {
        let key = cx.types.struct_key(name);
        return Ok(cx.types.known(Shape::Struct(key)));
    }
    match cx.env.generic_struct(name) {
        Some(g) if g.params.len() == args.len() => Ok(cx.types.generic(name, args)),
        Some(g) => Err(err(
            a,
            &format!(
                "`{name}` takes {} type argument(s) but {} were given",
                g.params.len(),
                args.len()
            ),
        )),
        None => Err(err(
            path,
            &format!(
                "no generic DeviceType struct `{name}` is known: a generic struct used in a \
                 kernel needs `#[derive(DeviceType)]` and `#[repr(C)]`"
            ),
        )),
    }
}
