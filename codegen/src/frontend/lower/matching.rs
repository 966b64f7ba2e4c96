//! `match`, `if let`, `while let` and `matches!`, lowered to `if` chains
//! over the patterns of `pattern.rs`.
//!
//! The scrutinee is evaluated once; the arms are tried in order, each
//! pattern's condition reading the subject. rustc has checked the match
//! is exhaustive, so the last arm, when it has no guard, is taken without
//! testing it: whatever reaches it is a value it covers. An arm with a
//! guard that fails goes on to the next arm, as in Rust: its bindings are
//! made, the guard runs, and a flag records whether the arm was taken.

use proc_macro2::Span;
use syn::spanned::Spanned;

use super::expr::Stored;
use super::pattern::Subject;
use super::stmt::local_place;
use super::Lowerer;
use crate::frontend::hir::{HExpr, HExprKind, HLit, HStmt, HStmtKind};
use crate::frontend::types::{Kind, TyVar};
use crate::ir::{LocalId, Scalar};

/// Where the arms of a value-producing construct store their value.
pub(super) struct ValueSink {
    pub ty: TyVar,
    pub dest: Option<LocalId>,
    pub stored: Vec<Stored>,
}

impl ValueSink {
    pub fn new(ty: TyVar) -> Self {
        ValueSink {
            ty,
            dest: None,
            stored: Vec::new(),
        }
    }
}

impl Lowerer<'_, '_, '_> {
    /// `match` as a statement.
    pub(super) fn match_stmt(&mut self, m: &syn::ExprMatch) {
        let subject = self.subject(&m.expr);
        self.arms(&m.arms, &subject, None);
    }

    /// `match` as a value.
    pub(super) fn match_value(&mut self, m: &syn::ExprMatch) -> HExpr {
        let span = m.span();
        let subject = self.subject(&m.expr);
        let ty = self.types().fresh(Kind::Any);
        let mut sink = ValueSink::new(ty);
        let at = self.stmts.len();
        self.arms(&m.arms, &subject, Some(&mut sink));
        self.sink_value(sink, at, span)
    }

    /// The value a [`ValueSink`] collected: its temporary (declared at
    /// statement `at`, before the construct), `()`, or `!` when every
    /// branch diverges.
    pub(super) fn sink_value(&mut self, sink: ValueSink, at: usize, span: Span) -> HExpr {
        if let Some(d) = sink.dest {
            let stmt = HStmt {
                kind: HStmtKind::Let {
                    local: d,
                    init: None,
                },
                span: self.src_span(span),
            };
            self.stmts.insert(at, stmt);
            return self.load_local(d, span);
        }
        if !sink.stored.is_empty() && sink.stored.iter().all(|s| *s == Stored::Never) {
            return self.never_expr(span);
        }
        self.unit_expr(span)
    }

    /// Lowers `arms` in order into the current statements.
    fn arms(&mut self, arms: &[syn::Arm], subject: &Subject, mut sink: Option<&mut ValueSink>) {
        let Some((arm, rest)) = arms.split_first() else {
            return;
        };
        let tested = self.pattern(&arm.pat, subject);
        let span = arm.pat.span();
        let last = rest.is_empty();
        match &arm.guard {
            None if last => {
                let body = self.nested(|l| {
                    l.bind(tested.binds);
                    l.arm_body(&arm.body, sink.as_deref_mut());
                });
                self.push(HStmtKind::Block(body), span);
            }
            None => {
                let then_block = self.nested(|l| {
                    l.bind(tested.binds);
                    l.arm_body(&arm.body, sink.as_deref_mut());
                });
                let else_block = self.nested(|l| l.arms(rest, subject, sink.as_deref_mut()));
                match tested.cond {
                    Some(cond) => self.push(
                        HStmtKind::If {
                            cond,
                            then_block,
                            else_block,
                        },
                        span,
                    ),
                    // An irrefutable pattern before the last arm: the
                    // rest is unreachable (rustc warns).
                    None => self.push(HStmtKind::Block(then_block), span),
                }
            }
            Some((_, guard)) => {
                let b = self.types().scalar(Scalar::Bool);
                let hit = self.temp(b, span);
                let no = HExpr {
                    kind: HExprKind::Lit(HLit::Bool(false)),
                    ty: b,
                    span,
                };
                self.push_let(hit, Some(no), span);
                let arm_block = self.nested(|l| {
                    l.bind(tested.binds);
                    let g = l.cond_expr(guard);
                    let taken = l.nested(|l| {
                        let yes = HExpr {
                            kind: HExprKind::Lit(HLit::Bool(true)),
                            ty: b,
                            span,
                        };
                        l.push(
                            HStmtKind::Assign {
                                place: local_place(hit, b),
                                value: yes,
                            },
                            span,
                        );
                        l.arm_body(&arm.body, sink.as_deref_mut());
                    });
                    l.push(
                        HStmtKind::If {
                            cond: g,
                            then_block: taken,
                            else_block: Vec::new(),
                        },
                        span,
                    );
                });
                match tested.cond {
                    Some(cond) => self.push(
                        HStmtKind::If {
                            cond,
                            then_block: arm_block,
                            else_block: Vec::new(),
                        },
                        span,
                    ),
                    None => self.push(HStmtKind::Block(arm_block), span),
                }
                if !last {
                    let rest_block = self.nested(|l| l.arms(rest, subject, sink));
                    let missed = self.load_local(hit, span);
                    let cond = self.not(missed);
                    self.push(
                        HStmtKind::If {
                            cond,
                            then_block: rest_block,
                            else_block: Vec::new(),
                        },
                        span,
                    );
                }
            }
        }
    }

    /// An arm's body: its value into the sink, or its effects.
    fn arm_body(&mut self, body: &syn::Expr, sink: Option<&mut ValueSink>) {
        match sink {
            None => self.stmt_expr(body),
            Some(sink) => {
                let v = match body {
                    syn::Expr::Block(b) if b.label.is_none() => self.block_value(&b.block),
                    other => self.expr(other),
                };
                let stored = self.store_value(&mut sink.dest, sink.ty, v);
                sink.stored.push(stored);
            }
        }
    }

    /// `if let pat = e { then } else { otherwise }`, as a statement
    /// (`sink` is `None`) or a value.
    pub(super) fn if_let(
        &mut self,
        l: &syn::ExprLet,
        then_branch: &syn::Block,
        else_branch: Option<&syn::Expr>,
        mut sink: Option<&mut ValueSink>,
    ) {
        let subject = self.subject(&l.expr);
        let tested = self.pattern(&l.pat, &subject);
        let span = l.span();
        let then_block = self.nested(|lw| {
            lw.bind(tested.binds);
            match sink.as_deref_mut() {
                None => lw.block_stmts(then_branch),
                Some(s) => {
                    let v = lw.block_value(then_branch);
                    let stored = lw.store_value(&mut s.dest, s.ty, v);
                    s.stored.push(stored);
                }
            }
        });
        let else_block = match else_branch {
            None => Vec::new(),
            Some(e) => self.nested(|lw| match sink {
                None => lw.stmt_expr(e),
                Some(s) => {
                    let v = match e {
                        syn::Expr::Block(b) => lw.block_value(&b.block),
                        other => lw.expr(other),
                    };
                    let stored = lw.store_value(&mut s.dest, s.ty, v);
                    s.stored.push(stored);
                }
            }),
        };
        match tested.cond {
            Some(cond) => self.push(
                HStmtKind::If {
                    cond,
                    then_block,
                    else_block,
                },
                span,
            ),
            None => self.push(HStmtKind::Block(then_block), span),
        }
    }

    /// `if let` as a value.
    pub(super) fn if_let_value(&mut self, i: &syn::ExprIf, l: &syn::ExprLet) -> HExpr {
        let span = i.span();
        let ty = self.types().fresh(Kind::Any);
        let mut sink = ValueSink::new(ty);
        let at = self.stmts.len();
        let else_branch = i.else_branch.as_ref().map(|(_, e)| &**e);
        self.if_let(l, &i.then_branch, else_branch, Some(&mut sink));
        if else_branch.is_none() {
            // `if let` without `else` is `()` (rustc checks the branch is).
            return self.unit_expr(span);
        }
        self.sink_value(sink, at, span)
    }

    /// `while let pat = e { body }`: `loop { match e { pat => body, _ => break } }`.
    pub(super) fn while_let(&mut self, w: &syn::ExprWhile, l: &syn::ExprLet) {
        let id = self.new_loop(w.label.as_ref());
        let span = w.while_token.span;
        let body = self.nested(|lw| {
            let subject = lw.subject(&l.expr);
            let tested = lw.pattern(&l.pat, &subject);
            let then_block = lw.nested(|lw| {
                lw.bind(tested.binds);
                lw.block_stmts(&w.body);
            });
            let line = lw.src_span(span);
            let leave = vec![HStmt {
                kind: HStmtKind::Break(id),
                span: line,
            }];
            match tested.cond {
                Some(cond) => lw.push(
                    HStmtKind::If {
                        cond,
                        then_block,
                        else_block: leave,
                    },
                    span,
                ),
                None => lw.push(HStmtKind::Block(then_block), span),
            }
        });
        self.loops.pop();
        self.push(HStmtKind::Loop { id, body }, span);
    }

    /// `matches!(e, pat)` or `matches!(e, pat if guard)`.
    pub(super) fn matches_macro(&mut self, mac: &syn::Macro) -> HExpr {
        let span = mac.span();
        let parsed = mac.parse_body_with(|input: syn::parse::ParseStream<'_>| {
            let e: syn::Expr = input.parse()?;
            input.parse::<syn::Token![,]>()?;
            let pat = syn::Pat::parse_multi_with_leading_vert(input)?;
            let guard = if input.peek(syn::Token![if]) {
                input.parse::<syn::Token![if]>()?;
                Some(input.parse::<syn::Expr>()?)
            } else {
                None
            };
            let _ = input.parse::<Option<syn::Token![,]>>()?;
            Ok((e, pat, guard))
        });
        let (e, pat, guard) = match parsed {
            Ok(p) => p,
            Err(err) => {
                self.errors.push(err);
                return self.error_expr(span);
            }
        };
        let arms = vec![
            syn::Arm {
                attrs: Vec::new(),
                pat,
                guard: guard.map(|g| (Default::default(), Box::new(g))),
                fat_arrow_token: Default::default(),
                body: Box::new(bool_lit(true, span)),
                comma: None,
            },
            syn::Arm {
                attrs: Vec::new(),
                pat: syn::Pat::Wild(syn::PatWild {
                    attrs: Vec::new(),
                    underscore_token: Default::default(),
                }),
                guard: None,
                fat_arrow_token: Default::default(),
                body: Box::new(bool_lit(false, span)),
                comma: None,
            },
        ];
        let subject = self.subject(&e);
        let ty = self.types().scalar(Scalar::Bool);
        let mut sink = ValueSink::new(ty);
        let at = self.stmts.len();
        self.arms(&arms, &subject, Some(&mut sink));
        self.sink_value(sink, at, span)
    }
}

fn bool_lit(v: bool, span: Span) -> syn::Expr {
    syn::Expr::Lit(syn::ExprLit {
        attrs: Vec::new(),
        lit: syn::Lit::Bool(syn::LitBool { value: v, span }),
    })
}
