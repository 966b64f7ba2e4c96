//! Functions and statements.
//!
//! Loops: `while`/`loop` become C loops; a `for` over a range evaluates
//! its bounds (and step) once into temporaries and never computes a value
//! past the end, so `0..=u8::MAX` and `step_by` cannot overflow. `break`
//! and `continue` of an outer loop jump to labels (`spindle_break_<id>`,
//! `spindle_continue_<id>`); the loop body is then wrapped in its own
//! block so no jump crosses a declaration.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::expr::{bare, indent_lines};
use super::names::FnNames;
use super::scalar::{unsigned_c, wide_c};
use super::{handler_symbol, Ctx};
use crate::abi;
use crate::ir::{
    BinOp, Block, Expr, ExprKind, Function, LoopId, ParamKind, Place, Stmt, StmtKind, Ty,
};

/// Emits one function body.
pub(crate) struct FnEmitter<'c, 'k> {
    pub(crate) ctx: &'c mut Ctx<'k>,
    pub(crate) f: &'k Function,
    pub(crate) names: FnNames,
    /// Statements the current statement needs first (see `expr.rs`).
    pub(crate) pre: Vec<String>,
    pub(crate) temps: u32,
    /// Enclosing loops, innermost last, with whether C's `continue` is
    /// right for them (not for a `for` over a range, whose step follows
    /// the body).
    loops: Vec<(LoopId, bool)>,
    break_labels: HashSet<LoopId>,
    continue_labels: HashSet<LoopId>,
    out: String,
    depth: usize,
    /// The C function returns `void` (a batch entry, or a unit function).
    void_ret: bool,
    /// Locals some expression reads (see `walk.rs`).
    read: HashSet<u32>,
    /// The kernel entry (batch entry or ring handler): the one function
    /// that declares and uses the block-shared arrays.
    pub(crate) is_entry: bool,
    /// What the function's integer expressions can hold (`range.rs`).
    pub(crate) ranges: super::range::Ranges<'k>,
}

/// Where a function goes in the unit.
enum Role {
    Device(u32),
    BatchEntry,
    RingHandler,
}

/// Device functions (prototypes, then definitions), then the entry.
pub(crate) fn emit_functions<'k>(ctx: &mut Ctx<'k>) -> String {
    let kernel = ctx.kernel;
    let mut out = String::new();
    if !kernel.device_fns.is_empty() {
        out.push_str("\n// ---- device functions\n");
        for (i, f) in kernel.device_fns.iter().enumerate() {
            let sig = signature(ctx, f, &Role::Device(i as u32));
            let _ = writeln!(out, "{sig};");
        }
        for (i, f) in kernel.device_fns.iter().enumerate() {
            out.push('\n');
            out.push_str(&function(ctx, f, Role::Device(i as u32)));
        }
    }
    out.push_str("\n// ---- kernel\n");
    let role = if kernel.mode.is_ring() {
        Role::RingHandler
    } else {
        Role::BatchEntry
    };
    out.push_str(&function(ctx, &kernel.entry, role));
    out
}

fn signature(ctx: &mut Ctx<'_>, f: &Function, role: &Role) -> String {
    let names = FnNames::new(f);
    let mut params = vec!["SpindleFault* spindle_fault".to_string()];
    for (i, p) in f.params.iter().enumerate() {
        let n = &names.params[i];
        match &p.kind {
            // A ring handler reads its message where the loop left it (in
            // shared memory, or in its ring slot): by reference, so no
            // thread keeps a copy on its stack. A `mut` message is the
            // thread's own, by value.
            ParamKind::Value(t) if matches!(role, Role::RingHandler) && !p.mutable => {
                params.push(format!("const {}& {n}", ctx.c_type(t)))
            }
            ParamKind::Value(t) => params.push(format!("{} {n}", ctx.c_type(t))),
            ParamKind::StateRef(t) | ParamKind::Ref(t) => {
                params.push(format!("{}* {n}", ctx.c_type(t)))
            }
            ParamKind::Slice { elem, mutable } => {
                let c = ctx.c_type(elem);
                let cnst = if *mutable { "" } else { "const " };
                params.push(format!("{cnst}{c}* __restrict__ {n}"));
                params.push(format!("uint64_t {}", names.lens[i]));
            }
        }
    }
    let params = params.join(", ");
    match role {
        Role::Device(id) => {
            let ret = ctx.c_type(&f.ret);
            let name = ctx
                .names
                .function(*id)
                .unwrap_or("spindle_invalid_fn")
                .to_string();
            format!("__device__ {ret} {name}({params})")
        }
        Role::BatchEntry => format!(
            "extern \"C\" __global__ void {}({params})",
            abi::entry_symbol(&ctx.kernel.name)
        ),
        Role::RingHandler => {
            let ret = ctx.c_type(&f.ret);
            format!(
                "__device__ {ret} {}({params})",
                handler_symbol(&ctx.kernel.name)
            )
        }
    }
}

fn function<'k>(ctx: &mut Ctx<'k>, f: &'k Function, role: Role) -> String {
    let sig = signature(ctx, f, &role);
    let void_ret = matches!(role, Role::BatchEntry) || f.ret == Ty::Unit;
    let is_entry = !matches!(role, Role::Device(_));
    let mut fe = FnEmitter {
        ctx,
        f,
        names: FnNames::new(f),
        pre: Vec::new(),
        temps: 0,
        loops: Vec::new(),
        break_labels: HashSet::new(),
        continue_labels: HashSet::new(),
        out: String::new(),
        depth: 1,
        void_ret,
        read: super::walk::read_locals(f),
        is_entry,
        ranges: super::range::Ranges::new(f),
    };
    if is_entry {
        fe.shared_arrays();
        fe.dynamic_shared_views();
    }
    fe.block(&f.body);
    let ends_in_return = matches!(
        f.body.stmts.last(),
        Some(Stmt {
            kind: StmtKind::Return(_),
            ..
        })
    );
    if !void_ret && !ends_in_return {
        // Valid IR returns on every path; this only silences C's warning.
        fe.line("__builtin_unreachable();");
    }
    format!("{sig} {{\n{}}}\n", fe.out)
}

impl FnEmitter<'_, '_> {
    /// Writes one line at the current depth.
    pub(crate) fn line(&mut self, text: &str) {
        self.out.push_str(&indent_lines(text, self.depth));
        self.out.push('\n');
    }

    /// Declares the kernel's block-shared arrays at the top of the entry:
    /// `__shared__` variables of the array's wrapper type, aligned as Rust
    /// aligns the element. In a ring handler (a `__device__` function) they
    /// are static, so they outlive one message, as the IR says.
    fn shared_arrays(&mut self) {
        let kernel = self.ctx.kernel;
        let used = super::walk::used_shared(self.f);
        for (i, a) in kernel.shared.iter().enumerate() {
            let ty = Ty::Array(Box::new(a.elem.clone()), a.len);
            let c = self.ctx.c_type(&ty);
            let name = self
                .ctx
                .names
                .shared(i as u32)
                .unwrap_or("spindle_invalid_ir");
            let align = kernel.align_of(&a.elem);
            let unused = if used.contains(&(i as u32)) {
                ""
            } else {
                "[[maybe_unused]] "
            };
            let line = format!("{unused}alignas({align}) __shared__ {c} {name};");
            self.line(&line);
        }
    }

    /// Writes the statements the current statement needs first.
    fn flush_pre(&mut self) {
        for s in std::mem::take(&mut self.pre) {
            self.line(&s);
        }
    }

    fn block(&mut self, b: &Block) {
        for s in &b.stmts {
            self.stmt(s);
        }
    }

    /// `b` one level deeper.
    fn nested(&mut self, b: &Block) {
        self.depth += 1;
        self.block(b);
        self.depth -= 1;
    }

    fn stmt(&mut self, s: &Stmt) {
        if self.ctx.options.line_directives && s.span.line > 0 {
            let file = self
                .ctx
                .kernel
                .file
                .replace('\\', "\\\\")
                .replace('"', "\\\"");
            let _ = writeln!(self.out, "#line {} \"{file}\"", s.span.line);
        }
        match &s.kind {
            StmtKind::Let { local, init } => self.let_stmt(*local, init.as_ref()),
            StmtKind::Assign { place, value } => self.assign(place, None, value),
            StmtKind::CompoundAssign { place, op, value } => self.assign(place, Some(*op), value),
            StmtKind::Expr(e) => {
                let t = self.expr(e);
                self.flush_pre();
                self.discard(e, t);
            }
            StmtKind::If {
                cond,
                then_block,
                else_block,
            } => {
                let c = self.expr(cond);
                self.flush_pre();
                self.line(&format!("if ({}) {{", bare(&c)));
                self.nested(then_block);
                self.else_part(else_block);
            }
            StmtKind::While { id, cond, body } => {
                let c = self.expr(cond);
                if self.pre.is_empty() {
                    self.line(&format!("while ({}) {{", bare(&c)));
                    self.loop_body(*id, true, body, "");
                } else {
                    // The condition needs statements: test it at the top of each pass.
                    let pre = std::mem::take(&mut self.pre);
                    self.line("for (;;) {");
                    self.depth += 1;
                    self.pre = pre;
                    self.flush_pre();
                    self.line(&format!("if (!{c}) break;"));
                    self.depth -= 1;
                    self.loop_body(*id, true, body, "");
                }
                self.line("}");
                self.break_label(*id);
            }
            StmtKind::Loop { id, body } => {
                self.line("for (;;) {");
                self.loop_body(*id, true, body, "");
                self.line("}");
                self.break_label(*id);
            }
            StmtKind::For {
                id,
                var,
                start,
                end,
                inclusive,
                step,
                body,
            } => self.for_range(*id, *var, start, end, *inclusive, step.as_ref(), body),
            StmtKind::Break(id) => {
                if self.loops.last().map(|l| l.0) == Some(*id) {
                    self.line("break;");
                } else {
                    self.break_labels.insert(*id);
                    self.line(&format!("goto spindle_break_{id};"));
                }
            }
            StmtKind::Continue(id) => {
                if self.loops.last() == Some(&(*id, true)) {
                    self.line("continue;");
                } else {
                    self.continue_labels.insert(*id);
                    self.line(&format!("goto spindle_continue_{id};"));
                }
            }
            StmtKind::Return(value) => self.return_stmt(value.as_ref()),
            StmtKind::Block(b) => {
                self.line("{");
                self.nested(b);
                self.line("}");
            }
        }
    }

    /// An expression statement: its value, if any, is dropped.
    fn discard(&mut self, e: &Expr, text: String) {
        if e.ty == Ty::Unit || matches!(e.kind, ExprKind::Call(..)) {
            if text != "((void)0)" {
                self.line(&format!("{text};"));
            }
        } else {
            self.line(&format!("(void){text};"));
        }
    }

    fn let_stmt(&mut self, id: u32, init: Option<&Expr>) {
        let (Some(local), Some(name)) = (
            self.f.locals.get(id as usize),
            self.names.locals.get(id as usize).cloned(),
        ) else {
            let t = self.ctx.invalid(&format!("local id {id} out of range"));
            self.line(&format!("{t};"));
            return;
        };
        if local.ty == Ty::Unit {
            // C has no `void` variables; only the initializer's effects remain.
            if let Some(e) = init {
                let t = self.expr(e);
                self.flush_pre();
                self.discard(e, t);
            }
            return;
        }
        let c = format!("{}{}", self.unused_attr(id), self.ctx.c_type(&local.ty));
        match init {
            Some(e) => {
                let t = self.expr(e);
                self.flush_pre();
                self.line(&format!("{c} {name} = {};", bare(&t)));
            }
            None => self.line(&format!("{c} {name};")),
        }
    }

    /// `place = value` or `place op= value`. Rust evaluates the value
    /// first, then the place (and, for `op=`, the place only once).
    fn assign(&mut self, place: &Place, op: Option<BinOp>, value: &Expr) {
        if value.ty == Ty::Unit {
            let t = self.expr(value);
            self.flush_pre();
            self.discard(value, t);
            return;
        }
        let v = self.expr(value);
        let value_effects = self.effects(value) && !super::expr::is_name(&v);
        let place_start = self.pre.len();
        let p = self.place(place);
        let place_effects = self.place_effects(place);
        let mut v = v;
        if value_effects && (place_effects || self.pre.len() > place_start) {
            let t = self.new_temp();
            let c = self.ctx.c_type(&value.ty);
            self.pre
                .insert(place_start, format!("{c} {t} = {};", bare(&v)));
            v = t;
        }
        self.flush_pre();
        let Some(op) = op else {
            self.line(&format!("{p} = {};", bare(&v)));
            return;
        };
        let (Some(s), Some(rhs)) = (place.ty.as_scalar(), value.ty.as_scalar()) else {
            let t = self.ctx.invalid("compound assignment to a non-scalar");
            self.line(&format!("{t};"));
            return;
        };
        let native = if s.is_float() {
            matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div)
        } else {
            super::scalar::wraps_natively(s)
                && matches!(
                    op,
                    BinOp::Add
                        | BinOp::Sub
                        | BinOp::Mul
                        | BinOp::BitAnd
                        | BinOp::BitOr
                        | BinOp::BitXor
                )
        };
        let sym = match op {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::BitAnd => "&",
            BinOp::BitOr => "|",
            _ => "^",
        };
        if native {
            self.line(&format!("{p} {sym}= {};", bare(&v)));
        } else if place_effects {
            // Check the place once, through a reference.
            let r = self.new_temp();
            let c = s.c_name();
            self.line(&format!("{c}& {r} = {p};"));
            let rhs_text = self.ctx.binary(op, s, rhs, &r, &v);
            self.line(&format!("{r} = {};", bare(&rhs_text)));
        } else {
            let rhs_text = self.ctx.binary(op, s, rhs, &p, &v);
            self.line(&format!("{p} = {};", bare(&rhs_text)));
        }
    }

    /// `[[maybe_unused]] ` for a local nothing reads.
    fn unused_attr(&self, id: u32) -> &'static str {
        if self.read.contains(&id) {
            ""
        } else {
            "[[maybe_unused]] "
        }
    }

    fn else_part(&mut self, else_block: &Block) {
        if else_block.stmts.is_empty() {
            self.line("}");
            return;
        }
        if let [Stmt {
            kind:
                StmtKind::If {
                    cond,
                    then_block,
                    else_block,
                },
            ..
        }] = else_block.stmts.as_slice()
        {
            let c = self.expr(cond);
            if self.pre.is_empty() {
                self.line(&format!("}} else if ({}) {{", bare(&c)));
                self.nested(then_block);
                self.else_part(else_block);
                return;
            }
            let pre = std::mem::take(&mut self.pre);
            self.line("} else {");
            self.depth += 1;
            self.pre = pre;
            self.flush_pre();
            self.line(&format!("if ({}) {{", bare(&c)));
            self.nested(then_block);
            self.else_part(else_block);
            self.depth -= 1;
            self.line("}");
            return;
        }
        self.line("} else {");
        self.nested(else_block);
        self.line("}");
    }

    /// Emits a loop body one level deeper (plus `prefix` lines first), with
    /// the `continue` label when some inner loop jumps to it; `after` is
    /// code that runs after the body and the label.
    fn loop_body(&mut self, id: LoopId, native_continue: bool, body: &Block, prefix: &str) {
        self.loop_body_then(id, native_continue, body, prefix, "");
    }

    fn loop_body_then(
        &mut self,
        id: LoopId,
        native_continue: bool,
        body: &Block,
        prefix: &str,
        after: &str,
    ) {
        self.loops.push((id, native_continue));
        let outer = std::mem::take(&mut self.out);
        self.depth += 1;
        if !prefix.is_empty() {
            self.line(prefix);
        }
        let body_start = self.out.len();
        self.block(body);
        self.depth -= 1;
        let mut text = std::mem::replace(&mut self.out, outer);
        self.loops.pop();
        if self.continue_labels.contains(&id) {
            // Wrap the body so the jump to the label crosses no declaration.
            let body_text = text.split_off(body_start);
            let pad = "  ".repeat(self.depth + 1);
            text.push_str(&format!("{pad}{{\n"));
            for l in body_text.lines() {
                if l.starts_with("#line") || l.is_empty() {
                    text.push_str(l);
                } else {
                    text.push_str("  ");
                    text.push_str(l);
                }
                text.push('\n');
            }
            text.push_str(&format!("{pad}}}\n{pad}spindle_continue_{id}: ;\n"));
        }
        self.out.push_str(&text);
        if !after.is_empty() {
            self.depth += 1;
            self.line(after);
            self.depth -= 1;
        }
    }

    fn break_label(&mut self, id: LoopId) {
        if self.break_labels.contains(&id) {
            self.line(&format!("spindle_break_{id}: ;"));
        }
    }

    /// `for var in start..end` / `..=end`, optionally `.step_by(step)`.
    #[allow(clippy::too_many_arguments)]
    fn for_range(
        &mut self,
        id: LoopId,
        var: u32,
        start: &Expr,
        end: &Expr,
        inclusive: bool,
        step: Option<&Expr>,
        body: &Block,
    ) {
        let (Some(local), Some(name)) = (
            self.f.locals.get(var as usize),
            self.names.locals.get(var as usize).cloned(),
        ) else {
            let t = self
                .ctx
                .invalid(&format!("loop variable id {var} out of range"));
            self.line(&format!("{t};"));
            return;
        };
        let Some(s) = local.ty.as_scalar().filter(|s| s.is_int()) else {
            let t = self.ctx.invalid("for loop over a non-integer range");
            self.line(&format!("{t};"));
            return;
        };
        let c = s.c_name();
        // Bounds and step, evaluated once, in order.
        let mut exprs = vec![start, end];
        exprs.extend(step);
        let vals = self.operands(exprs.iter().copied());
        self.line("{");
        self.depth += 1;
        self.flush_pre();
        let lo = self.new_temp();
        let hi = self.new_temp();
        self.line(&format!("const {c} {lo} = {};", bare(&vals[0])));
        self.line(&format!("const {c} {hi} = {};", bare(&vals[1])));
        // A mutable loop variable is a copy, so assigning it cannot change the iteration.
        let (it, prefix) = if local.mutable {
            let it = self.new_temp();
            let prefix = format!("{}{c} {name} = {it};", self.unused_attr(var));
            (it, prefix)
        } else {
            (name, String::new())
        };
        if step.is_none() && !inclusive {
            // `it < hi` before each increment: `it + 1` never overflows.
            self.line(&format!("for ({c} {it} = {lo}; {it} < {hi}; ++{it}) {{"));
            self.loop_body(id, true, body, &prefix);
            self.line("}");
        } else {
            let u = unsigned_c(s);
            let w = wide_c(s);
            // Distance and step in an unsigned type wide enough for both (a
            // `usize` step of a `u8` loop must not be truncated).
            let step_s = step.and_then(|e| e.ty.as_scalar()).unwrap_or(s);
            let d = if s.bits() == 64 || step_s.bits() == 64 {
                "uint64_t"
            } else {
                "uint32_t"
            };
            // `(to)text`, or `text` when it already has that C type.
            let conv = |to: &str, from: &str, text: &str| {
                if to == from {
                    text.to_string()
                } else {
                    format!("({to}){}", super::expr::paren(text))
                }
            };
            let st = match (vals.get(2), step) {
                (Some(v), Some(e)) => {
                    let t = self.new_temp();
                    let su = unsigned_c(step_s);
                    let value = conv(d, su, &conv(su, &self.ctx.c_type(&e.ty), v));
                    self.line(&format!("const {d} {t} = {};", bare(&value)));
                    t
                }
                _ => (if d == "uint64_t" { "1ull" } else { "1u" }).to_string(),
            };
            let rem = self.new_temp();
            let cmp = if inclusive { "<=" } else { "<" };
            self.line(&format!("if ({lo} {cmp} {hi}) {{"));
            self.depth += 1;
            // `rem`: distance from the current value to the end; step only while it fits.
            let dist = conv(u, w, &format!("(({w}){hi} - ({w}){lo})"));
            self.line(&format!("{d} {rem} = {};", bare(&conv(d, u, &dist))));
            self.line(&format!("for ({c} {it} = {lo};;) {{"));
            let stop = if inclusive { "<" } else { "<=" };
            let after = format!(
                "if ({rem} {stop} {st}) break;\n{rem} -= {st};\n{it} = ({c})(({w}){it} + {});",
                conv(w, d, &st)
            );
            self.loop_body_then(id, false, body, &prefix, &after);
            self.line("}");
            self.depth -= 1;
            self.line("}");
        }
        self.break_label(id);
        self.depth -= 1;
        self.line("}");
    }

    fn return_stmt(&mut self, value: Option<&Expr>) {
        match value {
            Some(e) if !self.void_ret && e.ty != Ty::Unit => {
                let t = self.expr(e);
                self.flush_pre();
                self.line(&format!("return {};", bare(&t)));
            }
            Some(e) => {
                let t = self.expr(e);
                self.flush_pre();
                self.discard(e, t);
                self.line("return;");
            }
            None => self.line("return;"),
        }
    }
}
