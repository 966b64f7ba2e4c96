//! Calls of generic `#[device]` fns at link time: which instantiation a
//! call means, from its turbofish (`clamp01::<f32>(v)`) or, as rustc
//! infers it, from the types of the arguments a type parameter appears in
//! (`clamp01(v)`; an unsuffixed literal argument takes rustc's fallback
//! type, `f64` or `i32`).

use super::Lowerer;
use crate::frontend::env::Env;
use crate::frontend::hir::{CalleeKey, HExpr};
use crate::frontend::types::{Kind, Shape, TyVar};
use crate::frontend::{value_type_of, GenericParam, GenericParamKind};
use crate::ir::Scalar;
use crate::layout::ConstValue;
use crate::GenericArg;

impl Lowerer<'_, '_, '_> {
    /// The callee a call of device fn `key` by path `p` with `args`
    /// means: `key`, or the instantiation its generic arguments name. An
    /// error is reported (and `None` returned) when they cannot be told.
    pub(super) fn generic_callee(
        &mut self,
        key: CalleeKey,
        name: &str,
        p: &syn::Path,
        args: &[HExpr],
    ) -> Option<CalleeKey> {
        let Env::Link(link) = self.cx.env else {
            return Some(key);
        };
        let params = match link.generic_params(key) {
            Ok(params) => params,
            Err(errors) => {
                let first = errors.first().map(ToString::to_string).unwrap_or_default();
                self.error(
                    p,
                    format!("the generic parameters of `{name}` are invalid: {first}"),
                );
                return None;
            }
        };
        let explicit = match &p.segments.last()?.arguments {
            syn::PathArguments::None => None,
            syn::PathArguments::AngleBracketed(a) => Some(a),
            syn::PathArguments::Parenthesized(a) => {
                self.error(a, "write generic arguments as `name::<f32>(…)`");
                return None;
            }
        };
        if params.is_empty() {
            if let Some(a) = explicit {
                self.error(
                    a,
                    format!("`{name}` is not generic: remove the generic arguments"),
                );
                return None;
            }
            return Some(key);
        }
        let values = match explicit {
            Some(a) => self.explicit_args(name, &params, a)?,
            None => self.inferred_args(key, name, &params, p, args)?,
        };
        match link.instance(key, &params, &values) {
            Ok(k) => Some(k),
            Err(msg) => {
                self.error(p, msg);
                None
            }
        }
    }

    fn explicit_args(
        &mut self,
        name: &str,
        params: &[GenericParam],
        a: &syn::AngleBracketedGenericArguments,
    ) -> Option<Vec<GenericArg>> {
        if a.args.len() != params.len() {
            self.error(
                a,
                format!(
                    "`{name}` takes {} generic argument(s) but {} were given",
                    params.len(),
                    a.args.len()
                ),
            );
            return None;
        }
        let mut out = Vec::new();
        for (param, arg) in params.iter().zip(&a.args) {
            let value = match (&param.kind, arg) {
                (GenericParamKind::Type { .. }, syn::GenericArgument::Type(syn::Type::Path(t))) => {
                    t.path
                        .get_ident()
                        .and_then(|i| Scalar::from_rust_name(&i.to_string()))
                        .map(GenericArg::Type)
                }
                (GenericParamKind::Const(s), syn::GenericArgument::Const(e)) => {
                    const_arg(*s, e).map(GenericArg::Const)
                }
                _ => None,
            };
            match value {
                Some(v) => out.push(v),
                None => {
                    self.error(
                        arg,
                        format!(
                            "`{}` of `{name}` takes a scalar type or a literal value here",
                            param.name
                        ),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }

    fn inferred_args(
        &mut self,
        key: CalleeKey,
        name: &str,
        params: &[GenericParam],
        p: &syn::Path,
        args: &[HExpr],
    ) -> Option<Vec<GenericArg>> {
        let Env::Link(link) = self.cx.env else {
            return None;
        };
        let item = link.item(key).ok()?;
        let mut values: Vec<Option<GenericArg>> = vec![None; params.len()];
        let impl_params = link.impl_params(key);
        for (input, arg) in item.sig.inputs.iter().zip(args) {
            let syn::FnArg::Typed(t) = input else {
                // `self` of a generic struct's block: the struct's arguments
                // are the method's first parameters.
                if let Some(Shape::Generic(_, struct_args)) = self.types().shape(arg.ty) {
                    let vars = self.types().tuple_elems(struct_args).to_vec();
                    for (j, v) in vars.into_iter().enumerate().take(impl_params) {
                        if values[j].is_none() {
                            values[j] = self.types().scalar_of(v).map(GenericArg::Type);
                        }
                    }
                }
                continue;
            };
            self.infer_from(&value_type_of(&t.ty), arg.ty, params, &mut values);
        }
        let mut out = Vec::new();
        for (param, v) in params.iter().zip(values) {
            match v {
                Some(v) => out.push(v),
                None => {
                    let example = match param.kind {
                        GenericParamKind::Type { .. } => "f32",
                        GenericParamKind::Const(_) => "4",
                    };
                    self.error(
                        p,
                        format!(
                            "cannot tell `{}` of `{name}` from the arguments here: write it, \
                             `{name}::<{example}, …>(…)`",
                            param.name
                        ),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }
}

impl Lowerer<'_, '_, '_> {
    /// Infers the type parameters that the parameter type `ty` names from
    /// the type `v` of the argument passed for it: `T` (a scalar), `Pair<T>`
    /// (an instantiation of a generic struct), `[T; N]`.
    fn infer_from(
        &mut self,
        ty: &syn::Type,
        v: TyVar,
        params: &[GenericParam],
        values: &mut [Option<GenericArg>],
    ) {
        match ty {
            syn::Type::Paren(p) => self.infer_from(&p.elem, v, params, values),
            syn::Type::Group(g) => self.infer_from(&g.elem, v, params, values),
            syn::Type::Array(a) => {
                let Some(Shape::Array(elem, len)) = self.types().shape(v) else {
                    return;
                };
                // `[T; N]`: `N` is the argument's length, as rustc infers it.
                let named = match &a.len {
                    syn::Expr::Path(p) if p.qself.is_none() => p.path.get_ident(),
                    _ => None,
                };
                if let Some(i) = named.and_then(|id| params.iter().position(|q| id == &q.name)) {
                    if let (GenericParamKind::Const(s), None) = (&params[i].kind, &values[i]) {
                        values[i] = Some(GenericArg::Const(ConstValue::Int(*s, len as i128)));
                    }
                }
                self.infer_from(&a.elem, elem, params, values);
            }
            syn::Type::Path(tp) if tp.qself.is_none() => {
                if let Some(i) = tp
                    .path
                    .get_ident()
                    .and_then(|ident| params.iter().position(|p| ident == &p.name))
                {
                    if values[i].is_none() {
                        let types = self.types();
                        let s = types.scalar_of(v).or(match types.open_kind(v) {
                            Some(Kind::Float) => Some(Scalar::F64),
                            Some(Kind::Int) => Some(Scalar::I32),
                            _ => None,
                        });
                        values[i] = s.map(GenericArg::Type);
                    }
                    return;
                }
                let Some(syn::PathArguments::AngleBracketed(a)) =
                    tp.path.segments.last().map(|s| &s.arguments)
                else {
                    return;
                };
                let Some(Shape::Generic(_, args)) = self.types().shape(v) else {
                    return;
                };
                let arg_vars = self.types().tuple_elems(args).to_vec();
                for (a, av) in a.args.iter().zip(arg_vars) {
                    if let syn::GenericArgument::Type(t) = a {
                        self.infer_from(t, av, params, values);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A const generic argument written as a literal (`4`, `-1`, `true`,
/// `256usize`, or a parameter of the caller already substituted).
fn const_arg(s: Scalar, e: &syn::Expr) -> Option<ConstValue> {
    match e {
        syn::Expr::Lit(l) => match &l.lit {
            syn::Lit::Bool(b) if s == Scalar::Bool => Some(ConstValue::Bool(b.value)),
            syn::Lit::Int(i)
                if s.is_int() && (i.suffix().is_empty() || i.suffix() == s.rust_name()) =>
            {
                Some(ConstValue::Int(s, i.base10_parse::<i128>().ok()?))
            }
            _ => None,
        },
        syn::Expr::Block(b) => match b.block.stmts.as_slice() {
            [syn::Stmt::Expr(e, None)] => const_arg(s, e),
            _ => None,
        },
        syn::Expr::Paren(p) => const_arg(s, &p.expr),
        syn::Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => match const_arg(s, &u.expr)? {
            ConstValue::Int(s, v) if s.is_signed_int() => Some(ConstValue::Int(s, -v)),
            _ => None,
        },
        _ => None,
    }
}
