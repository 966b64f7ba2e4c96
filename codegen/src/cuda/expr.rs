//! Expressions and places.
//!
//! Rust evaluates operands left to right; C++ leaves the order of most
//! operands unspecified. Only faults (bounds checks, checked division,
//! calls that may fault) make the order observable, so: when an operand
//! has such an effect and an earlier operand has one too, the earlier one
//! is first stored in a temporary (`spindle_t<N>`). Those temporaries, and
//! the lowering of `&&`/`||` whose right side needs statements, go into
//! `pre`: statements the enclosing statement emits before itself.

use super::index::Len;
use super::stmt::FnEmitter;
use crate::ir::{BinOp, Expr, ExprKind, Intrinsic, Lit, ParamKind, Place, PlaceRoot, Proj, Ty};

/// Operands being emitted left to right (see the module doc).
#[derive(Default)]
pub(crate) struct Seq {
    pub(crate) texts: Vec<String>,
    /// Operands with effects still inline, with their C types.
    pending: Vec<(usize, String)>,
}

impl FnEmitter<'_, '_> {
    /// A fresh temporary name.
    pub(crate) fn new_temp(&mut self) -> String {
        self.temps += 1;
        format!("spindle_t{}", self.temps)
    }

    /// Adds an operand whose emission started when `pre` had `start` entries.
    pub(crate) fn seq_add(
        &mut self,
        seq: &mut Seq,
        start: usize,
        text: String,
        effects: bool,
        ty: &Ty,
    ) {
        let cty = if effects && !is_name(&text) {
            self.ctx.c_type(ty)
        } else {
            String::new()
        };
        self.seq_add_c(seq, start, text, effects, cty);
    }

    /// [`Self::seq_add`] for an operand of C type `cty` (a pointer, say).
    pub(crate) fn seq_add_c(
        &mut self,
        seq: &mut Seq,
        start: usize,
        text: String,
        effects: bool,
        cty: String,
    ) {
        // A bare name (a temporary holding the result) has no effects left.
        let effects = effects && !is_name(&text);
        let grew = self.pre.len() > start;
        if grew || effects {
            for (at, (i, cty)) in (start..).zip(std::mem::take(&mut seq.pending)) {
                let t = self.new_temp();
                let decl = format!("{cty} {t} = {};", bare(&seq.texts[i]));
                self.pre.insert(at, decl);
                seq.texts[i] = t;
            }
        }
        if effects {
            seq.pending.push((seq.texts.len(), cty));
        }
        seq.texts.push(text);
    }

    /// Emits expressions as operands evaluated in order.
    pub(crate) fn operands<'e>(&mut self, es: impl IntoIterator<Item = &'e Expr>) -> Vec<String> {
        let mut seq = Seq::default();
        for e in es {
            let start = self.pre.len();
            let text = self.expr(e);
            let effects = self.effects(e);
            if matches!(e.kind, ExprKind::Borrow(_)) {
                // Held in a temporary, a borrow is a pointer.
                let cty = format!("{}*", self.ctx.c_type(&e.ty));
                self.seq_add_c(&mut seq, start, text, effects, cty);
            } else {
                self.seq_add(&mut seq, start, text, effects, &e.ty);
            }
        }
        seq.texts
    }

    /// Can evaluating `e` fault (or otherwise be observed)?
    pub(crate) fn effects(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Lit(_) | ExprKind::SliceLen(_) | ExprKind::DynamicSharedLen(_) => false,
            ExprKind::Load(p) | ExprKind::Borrow(p) => self.place_effects(p),
            ExprKind::Unary(_, a)
            | ExprKind::Cast(a)
            | ExprKind::Field(a, _)
            | ExprKind::ArrayRepeat(a, _) => self.effects(a),
            ExprKind::Binary(op, a, b) => {
                let int_div = matches!(op, BinOp::Div | BinOp::Rem)
                    && a.ty.as_scalar().is_some_and(|s| s.is_int());
                int_div || self.effects(a) || self.effects(b)
            }
            ExprKind::Call(..) | ExprKind::Assert { .. } => true,
            ExprKind::Check { index, len, .. } => {
                self.ctx.kernel.bounds_checks || self.effects(index) || self.effects(len)
            }
            ExprKind::Intrinsic(i, args) => {
                intrinsic_has_effects(*i) || args.iter().any(|a| self.effects(a))
            }
            ExprKind::StructLit(args) | ExprKind::ArrayLit(args) => {
                args.iter().any(|a| self.effects(a))
            }
            ExprKind::Atomic { .. } | ExprKind::Collective { .. } => true,
        }
    }

    /// Can computing the place fault?
    pub(crate) fn place_effects(&self, p: &Place) -> bool {
        p.proj.iter().any(|pr| match pr {
            Proj::Index { index, .. } => self.ctx.kernel.bounds_checks || self.effects(index),
            Proj::Field(_) => false,
        })
    }

    /// The C text of an expression of a non-unit type (or of a unit call).
    pub(crate) fn expr(&mut self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::Lit(lit) => self.literal(lit, &e.ty),
            ExprKind::DynamicSharedLen(id) => {
                if !self.is_entry {
                    return self
                        .ctx
                        .invalid("a dynamic shared view used outside the kernel entry");
                }
                match self.ctx.names.dynamic_shared_len(*id) {
                    Some(len) => len,
                    None => self
                        .ctx
                        .invalid(&format!("dynamic shared view id {id} out of range")),
                }
            }
            ExprKind::Atomic { op, place, args } => self.atomic(*op, place, args),
            ExprKind::Collective { op, args, site } => self.collective(*op, args, *site, &e.ty),
            ExprKind::Load(p) => {
                if e.ty == Ty::Unit {
                    return "((void)0)".to_string();
                }
                self.place(p)
            }
            // A whole slice: the pointer and the length a
            // `ParamKind::Slice` parameter takes.
            ExprKind::Borrow(Place {
                root: PlaceRoot::Param(id),
                proj,
                ..
            }) if proj.is_empty()
                && matches!(
                    self.f.params.get(*id as usize).map(|p| &p.kind),
                    Some(ParamKind::Slice { .. })
                ) =>
            {
                let (n, len) = (
                    &self.names.params[*id as usize],
                    &self.names.lens[*id as usize],
                );
                format!("{n}, {len}")
            }
            // `&place`: the pointer a `ParamKind::Ref` parameter takes.
            ExprKind::Borrow(p) => format!("&{}", self.place(p)),
            ExprKind::Unary(op, a) => {
                let x = self.expr(a);
                match a.ty.as_scalar() {
                    Some(s) => self.ctx.unary(*op, s, &x),
                    None => self.ctx.invalid("unary operator on a non-scalar"),
                }
            }
            ExprKind::Binary(op @ (BinOp::And | BinOp::Or), a, b) => {
                self.short_circuit(*op == BinOp::And, a, b)
            }
            ExprKind::Binary(op, a, b) => {
                if let Some(text) = self.no_wrap_binary(e) {
                    return text;
                }
                let v = self.operands([&**a, &**b]);
                match (a.ty.as_scalar(), b.ty.as_scalar()) {
                    (Some(sa), Some(sb)) => self.ctx.binary(*op, sa, sb, &v[0], &v[1]),
                    _ => self.ctx.invalid("binary operator on a non-scalar"),
                }
            }
            ExprKind::Cast(a) => {
                let x = self.expr(a);
                match (a.ty.as_scalar(), e.ty.as_scalar()) {
                    (Some(from), Some(to)) => self.ctx.cast(from, to, &x),
                    _ => self.ctx.invalid("cast of a non-scalar"),
                }
            }
            ExprKind::Call(id, args) => {
                let v = self.operands(args);
                let name = match self.ctx.names.function(*id) {
                    Some(n) => n.to_string(),
                    None => self.ctx.invalid(&format!("function id {id} out of range")),
                };
                let mut text = format!("{name}(spindle_fault");
                for a in v {
                    text.push_str(", ");
                    text.push_str(bare(&a));
                }
                text.push(')');
                text
            }
            ExprKind::Intrinsic(i, args) => self.intrinsic(*i, args, &e.ty),
            ExprKind::StructLit(fields) => {
                let v = self.operands(fields);
                let c = self.ctx.c_type(&e.ty);
                format!("{c}{{{}}}", v.join(", "))
            }
            ExprKind::ArrayLit(elems) => {
                let v = self.operands(elems);
                let c = self.ctx.c_type(&e.ty);
                format!("{c}{{{{{}}}}}", v.join(", "))
            }
            ExprKind::ArrayRepeat(value, len) => {
                let x = self.expr(value);
                let f = self.repeat_helper(&e.ty, &value.ty, *len);
                format!("{f}({x})")
            }
            ExprKind::Field(inner, idx) => self.field(inner, *idx),
            ExprKind::SliceLen(p) => match self.names.lens.get(*p as usize) {
                Some(n) => n.clone(),
                None => self.ctx.invalid(&format!("parameter id {p} out of range")),
            },
            ExprKind::Check {
                index,
                len,
                site,
                inclusive,
            } => self.check(index, len, *site, *inclusive),
            ExprKind::Assert { cond, site } => {
                let c = self.expr(cond);
                format!("spindle_assert(spindle_fault, {}, {site}u)", bare(&c))
            }
        }
    }

    fn literal(&mut self, lit: &Lit, ty: &Ty) -> String {
        let Some(s) = ty.as_scalar() else {
            return self.ctx.invalid("literal of a non-scalar type");
        };
        match *lit {
            Lit::Bool(b) => (if b { "true" } else { "false" }).to_string(),
            Lit::Int(v) if s.is_float() => super::scalar::float_lit(s, v as f64),
            Lit::Int(v) => super::scalar::int_lit(s, v),
            Lit::Float(v) if s.is_float() => super::scalar::float_lit(s, v),
            Lit::Float(_) => self.ctx.invalid("float literal of an integer type"),
        }
    }

    /// `a && b` / `a || b`; when `b` needs statements, they run only if
    /// `a` does not decide the result.
    fn short_circuit(&mut self, and: bool, a: &Expr, b: &Expr) -> String {
        let l = self.expr(a);
        let outer = std::mem::take(&mut self.pre);
        let r = self.expr(b);
        let inner = std::mem::replace(&mut self.pre, outer);
        let op = if and { "&&" } else { "||" };
        if inner.is_empty() {
            return format!("({l} {op} {r})");
        }
        let t = self.new_temp();
        self.pre.push(format!("bool {t} = {};", bare(&l)));
        let mut block = format!("if ({}{t}) {{\n", if and { "" } else { "!" });
        for s in inner {
            block.push_str(&indent_lines(&s, 1));
            block.push('\n');
        }
        block.push_str(&format!("  {t} = {};\n}}", bare(&r)));
        self.pre.push(block);
        t
    }

    /// `inner.field`; thread geometry fields read the CUDA built-ins directly.
    fn field(&mut self, inner: &Expr, idx: u32) -> String {
        if let ExprKind::Intrinsic(i, args) = &inner.kind {
            let builtin = match i {
                Intrinsic::ThreadIdx => Some("threadIdx"),
                Intrinsic::BlockIdx => Some("blockIdx"),
                Intrinsic::BlockDim => Some("blockDim"),
                Intrinsic::GridDim => Some("gridDim"),
                _ => None,
            };
            if let (Some(b), true, Some(c)) =
                (builtin, args.is_empty(), ["x", "y", "z"].get(idx as usize))
            {
                if let Some(dims) = self.ctx.ring_block_dim(*i) {
                    return dims[idx as usize].clone();
                }
                return format!("{b}.{c}");
            }
        }
        let text = self.expr(inner);
        match &inner.ty {
            Ty::Struct(id) => match self.ctx.names.field(*id, idx) {
                Some(f) => format!("{text}.{f}"),
                None => self.ctx.invalid(&format!("field {idx} of struct {id}")),
            },
            _ => self.ctx.invalid("field of a non-struct"),
        }
    }

    /// The C lvalue of a place. Index checks are evaluated left to right.
    pub(crate) fn place(&mut self, p: &Place) -> String {
        let bounds = self.ctx.kernel.bounds_checks;
        let (root, ty, slice_len) = match p.root {
            PlaceRoot::Local(id) => match (
                self.names.locals.get(id as usize),
                self.f.locals.get(id as usize),
            ) {
                (Some(n), Some(l)) => (n.clone(), l.ty.clone(), None),
                _ => return self.ctx.invalid(&format!("local id {id} out of range")),
            },
            PlaceRoot::Param(id) => {
                let (Some(n), Some(param)) = (
                    self.names.params.get(id as usize),
                    self.f.params.get(id as usize),
                ) else {
                    return self.ctx.invalid(&format!("parameter id {id} out of range"));
                };
                match &param.kind {
                    ParamKind::Value(t) => (n.clone(), t.clone(), None),
                    ParamKind::StateRef(t) | ParamKind::Ref(t) => {
                        (format!("(*{n})"), t.clone(), None)
                    }
                    ParamKind::Slice { elem, .. } => (
                        n.clone(),
                        elem.clone(),
                        Some(self.names.lens[id as usize].clone()),
                    ),
                }
            }
            PlaceRoot::Shared(id) => {
                // Declared by the entry function only (`stmt.rs`), as the
                // array's wrapper struct, so it indexes like any array.
                let (Some(n), Some(a)) = (
                    self.ctx.names.shared(id).map(str::to_string),
                    self.ctx.kernel.shared.get(id as usize),
                ) else {
                    return self
                        .ctx
                        .invalid(&format!("shared array id {id} out of range"));
                };
                if !self.is_entry {
                    return self
                        .ctx
                        .invalid("a shared array used outside the kernel entry");
                }
                (n, Ty::Array(Box::new(a.elem.clone()), a.len), None)
            }
            PlaceRoot::DynamicShared(id) => {
                // Declared by the batch entry only (`dynamic_shared.rs`), as
                // a `T*` with its length: it indexes like a slice parameter.
                let (Some(n), Some(len), Some(v)) = (
                    self.ctx.names.dynamic_shared(id).map(str::to_string),
                    self.ctx.names.dynamic_shared_len(id),
                    self.ctx.kernel.dynamic_shared.get(id as usize),
                ) else {
                    return self
                        .ctx
                        .invalid(&format!("dynamic shared view id {id} out of range"));
                };
                if !self.is_entry {
                    return self
                        .ctx
                        .invalid("a dynamic shared view used outside the kernel entry");
                }
                (n, v.elem.clone(), Some(len))
            }
        };
        // First the checked indices, as ordered operands.
        let mut seq = Seq::default();
        let mut shapes = Vec::new();
        let mut cur = if slice_len.is_some() {
            None
        } else {
            Some(ty.clone())
        };
        for (k, pr) in p.proj.iter().enumerate() {
            match pr {
                Proj::Field(f) => match cur.take() {
                    Some(Ty::Struct(sid)) => {
                        let Some(name) = self.ctx.names.field(sid, *f).map(str::to_string) else {
                            return self.ctx.invalid(&format!("field {f} of struct {sid}"));
                        };
                        cur = self.ctx.kernel.structs[sid as usize]
                            .fields
                            .get(*f as usize)
                            .map(|d| d.ty.clone());
                        shapes.push(Err(name));
                    }
                    _ => return self.ctx.invalid("field projection on a non-struct"),
                },
                Proj::Index { index, site } => {
                    let len = match (k, &slice_len, cur.take()) {
                        (0, Some(len), _) => {
                            cur = Some(ty.clone());
                            Len::Runtime(len.clone())
                        }
                        (_, _, Some(Ty::Array(elem, n))) => {
                            cur = Some(*elem);
                            Len::Const(n)
                        }
                        _ => return self.ctx.invalid("index projection on a non-array"),
                    };
                    let start = self.pre.len();
                    let (text, checked) = if bounds {
                        self.checked_index(index, len, *site)
                    } else {
                        (self.expr(index), false)
                    };
                    let effects = checked || self.effects(index);
                    self.seq_add(
                        &mut seq,
                        start,
                        text,
                        effects,
                        &Ty::Scalar(crate::ir::Scalar::Usize),
                    );
                    shapes.push(Ok(seq.texts.len() - 1));
                }
            }
        }
        if slice_len.is_some() && !matches!(p.proj.first(), Some(Proj::Index { .. })) {
            return self
                .ctx
                .invalid("a slice parameter or dynamic shared view used without an index");
        }
        let mut text = root;
        for (k, shape) in shapes.into_iter().enumerate() {
            match shape {
                Err(field) => {
                    text.push('.');
                    text.push_str(&field);
                }
                Ok(i) if k == 0 && slice_len.is_some() => {
                    text = format!("{text}[{}]", seq.texts[i]);
                }
                Ok(i) => text = format!("{text}.v[{}]", seq.texts[i]),
            }
        }
        text
    }

    /// `spindle_repeat_<array>(v)`: `[v; len]`.
    fn repeat_helper(&mut self, arr: &Ty, elem: &Ty, len: u32) -> String {
        let arr_c = self.ctx.c_type(arr);
        let elem_c = self.ctx.c_type(elem);
        let name = format!("spindle_repeat_{arr_c}");
        self.ctx.helper(&name, |_| {
            format!(
                "__device__ __forceinline__ {arr_c} {name}({elem_c} x) {{\n  {arr_c} r;\n  \
                 for (uint32_t i = 0; i < {len}u; ++i) r.v[i] = x;\n  return r;\n}}\n"
            )
        })
    }
}

/// Does the intrinsic itself do something observable besides its value?
/// Fences order memory accesses, so they keep their place among operands.
/// (Atomics and collectives are their own expression kinds.)
fn intrinsic_has_effects(i: Intrinsic) -> bool {
    matches!(
        i,
        Intrinsic::ThreadFence | Intrinsic::ThreadFenceBlock | Intrinsic::ThreadFenceSystem
    )
}

/// Indents every line of `s` by `levels` steps of two spaces.
pub(crate) fn indent_lines(s: &str, levels: usize) -> String {
    let pad = "  ".repeat(levels);
    s.lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{pad}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `s` without one pair of enclosing parentheses, if it has them
/// (`(a < b)` → `a < b`), for statement positions where they only add noise.
pub(crate) fn bare(s: &str) -> &str {
    let b = s.as_bytes();
    if b.first() != Some(&b'(') || b.last() != Some(&b')') {
        return s;
    }
    let mut depth = 0i32;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 && i != b.len() - 1 {
                    return s;
                }
            }
            _ => {}
        }
    }
    &s[1..s.len() - 1]
}

/// `s` as the operand of a prefix cast: unchanged when it is a name, a
/// literal, a call, a subscript, a member access or already parenthesized;
/// otherwise wrapped in parentheses.
pub(crate) fn paren(s: &str) -> String {
    if is_atom(s) {
        s.to_string()
    } else {
        format!("({s})")
    }
}

fn is_atom(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    if s.starts_with('(') && bare(s).len() + 2 == s.len() {
        return true;
    }
    if !s.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
        return false;
    }
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            c if depth == 0 && !(c.is_ascii_alphanumeric() || c == '_' || c == '.') => {
                return false
            }
            _ => {}
        }
    }
    depth == 0
}

/// A C identifier: a local, parameter or temporary.
pub(crate) fn is_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
