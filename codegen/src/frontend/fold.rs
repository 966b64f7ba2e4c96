//! Constant folding of an instantiation's syntax tree: what its const
//! parameters decide is decided before lowering, so the emitted code holds
//! only the taken branch of `if B >= 64 { … }` and `B / 2` as a number.
//!
//! Only expressions whose operands are typed literals fold (the const
//! arguments are written with their type suffix, `256usize`), and only
//! when Rust would compute the same value without overflow; anything
//! else is left for the kernel to compute, so folding never changes what
//! the code means.

use syn::visit_mut::{self, VisitMut};

use super::generics::value_expr;
use crate::ir::Scalar;
use crate::layout::ConstValue;

/// Folds `item`'s constant expressions and `if`s with a constant condition.
pub fn fold(item: &mut syn::ItemFn) {
    Folder.visit_item_fn_mut(item);
}

struct Folder;

/// A literal: an integer with its type (`None`: unsuffixed, it takes the
/// other operand's), or a `bool`.
#[derive(Clone, Copy)]
enum Lit {
    Bool(bool),
    Int(Option<Scalar>, i128),
}

fn constant(e: &syn::Expr) -> Option<Lit> {
    match e {
        syn::Expr::Lit(l) => match &l.lit {
            syn::Lit::Bool(b) => Some(Lit::Bool(b.value)),
            syn::Lit::Int(i) => {
                let s = match i.suffix() {
                    "" => None,
                    t => Some(Scalar::from_rust_name(t).filter(|s| s.is_int())?),
                };
                let v = i.base10_parse::<u128>().ok()?;
                Some(Lit::Int(s, i128::try_from(v).ok()?))
            }
            _ => None,
        },
        syn::Expr::Paren(p) => constant(&p.expr),
        syn::Expr::Group(g) => constant(&g.expr),
        syn::Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => match constant(expr)? {
            Lit::Int(Some(s), v) if s.is_signed_int() => Some(Lit::Int(Some(s), -v)),
            _ => None,
        },
        syn::Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Not(_),
            expr,
            ..
        }) => match constant(expr)? {
            Lit::Bool(b) => Some(Lit::Bool(!b)),
            _ => None,
        },
        _ => None,
    }
}

fn in_range(s: Scalar, v: i128) -> bool {
    let bits = s.bits();
    if s.is_signed_int() {
        v >= -(1i128 << (bits - 1)) && v < (1i128 << (bits - 1))
    } else {
        v >= 0 && v < (1i128 << bits)
    }
}

/// `a op b` for two constants, or `None` when it does not fold.
fn binary(op: &syn::BinOp, a: Lit, b: Lit) -> Option<ConstValue> {
    use syn::BinOp as B;
    match (a, b) {
        (Lit::Bool(x), Lit::Bool(y)) => Some(ConstValue::Bool(match op {
            B::And(_) => x && y,
            B::Or(_) => x || y,
            B::Eq(_) => x == y,
            B::Ne(_) => x != y,
            _ => return None,
        })),
        (Lit::Int(s, x), Lit::Int(t, y)) => {
            if let B::Shl(_) | B::Shr(_) = op {
                let s = s?;
                if y < 0 || y >= s.bits() as i128 {
                    return None;
                }
                let v = match op {
                    B::Shl(_) => x.checked_shl(y as u32)?,
                    _ => x >> y,
                };
                return in_range(s, v).then_some(ConstValue::Int(s, v));
            }
            let s = match (s, t) {
                (Some(s), Some(t)) if s != t => return None,
                (Some(s), _) | (None, Some(s)) => s,
                (None, None) => return None,
            };
            if !in_range(s, x) || !in_range(s, y) {
                return None;
            }
            let cmp = |c: bool| Some(ConstValue::Bool(c));
            let v = match op {
                B::Eq(_) => return cmp(x == y),
                B::Ne(_) => return cmp(x != y),
                B::Lt(_) => return cmp(x < y),
                B::Le(_) => return cmp(x <= y),
                B::Gt(_) => return cmp(x > y),
                B::Ge(_) => return cmp(x >= y),
                B::Add(_) => x + y,
                B::Sub(_) => x - y,
                B::Mul(_) => x.checked_mul(y)?,
                B::Div(_) if y != 0 => x / y,
                B::Rem(_) if y != 0 => x % y,
                B::BitAnd(_) => x & y,
                B::BitOr(_) => x | y,
                B::BitXor(_) => x ^ y,
                _ => return None,
            };
            in_range(s, v).then_some(ConstValue::Int(s, v))
        }
        _ => None,
    }
}

fn empty_block(span: proc_macro2::Span) -> syn::Expr {
    syn::Expr::Block(syn::ExprBlock {
        attrs: Vec::new(),
        label: None,
        block: syn::Block {
            brace_token: syn::token::Brace(span),
            stmts: Vec::new(),
        },
    })
}

impl VisitMut for Folder {
    fn visit_expr_mut(&mut self, e: &mut syn::Expr) {
        visit_mut::visit_expr_mut(self, e);
        match e {
            syn::Expr::Binary(b) => {
                let (Some(x), Some(y)) = (constant(&b.left), constant(&b.right)) else {
                    return;
                };
                if let Some(v) = binary(&b.op, x, y) {
                    let span = syn::spanned::Spanned::span(&b.op);
                    *e = value_expr(v, span);
                }
            }
            syn::Expr::Unary(u) if matches!(u.op, syn::UnOp::Not(_)) => {
                if let Some(Lit::Bool(b)) = constant(e) {
                    *e = value_expr(ConstValue::Bool(b), proc_macro2::Span::call_site());
                }
            }
            syn::Expr::If(i) => {
                let Some(Lit::Bool(c)) = constant(&i.cond) else {
                    return;
                };
                let span = i.if_token.span;
                *e = if c {
                    syn::Expr::Block(syn::ExprBlock {
                        attrs: Vec::new(),
                        label: None,
                        block: i.then_branch.clone(),
                    })
                } else {
                    match i.else_branch.take() {
                        Some((_, other)) => *other,
                        None => empty_block(span),
                    }
                };
            }
            _ => {}
        }
    }
}
