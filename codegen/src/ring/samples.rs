//! Hand-built ring kernels (IR) for tests that cannot use the macros: the
//! ring emitter's unit tests here, and the runtime's NVRTC, host-compiled
//! and GPU ring tests. Each mirrors a small Rust handler, given in its doc.
#![doc(hidden)]

use crate::ir::*;
use crate::ir_build::*;
use crate::KernelMode;

fn param_def(name: &str, kind: ParamKind) -> Param {
    Param {
        name: name.into(),
        kind,
        mutable: false,
    }
}

fn kernel(
    name: &str,
    threads: u32,
    structs: Vec<StructDef>,
    entry: Function,
    sites: Vec<FaultSite>,
) -> Kernel {
    Kernel {
        threads,
        file: "tests/ring_samples.rs".into(),
        structs,
        fault_sites: sites,
        ..Kernel::new(name, KernelMode::Ring, entry)
    }
}

fn function(
    name: &str,
    params: Vec<Param>,
    ret: Ty,
    locals: Vec<Local>,
    stmts: Vec<Stmt>,
) -> Function {
    Function {
        name: name.into(),
        params,
        ret,
        locals,
        body: Block { stmts },
        span: SrcSpan { line: 1, column: 0 },
    }
}

fn site(kernel: &str, what: &str, line: u32) -> FaultSite {
    FaultSite {
        what: what.into(),
        function: kernel.into(),
        span: SrcSpan { line, column: 4 },
    }
}

/// `fn <name>(state: &mut [u32; len], msg: u32) -> u32` with one local,
/// `i: u32`.
fn u32_array_handler(name: &str, len: u32, body: Vec<Stmt>) -> Function {
    let u32t = ty(Scalar::U32);
    function(
        name,
        vec![
            param_def(
                "state",
                ParamKind::StateRef(Ty::Array(Box::new(u32t.clone()), len)),
            ),
            param_def("msg", ParamKind::Value(u32t.clone())),
        ],
        u32t.clone(),
        vec![Local {
            name: "i".into(),
            ty: u32t,
            mutable: false,
        }],
        body,
    )
}

/// The parts every `u32_array_handler` body starts from: the statement
/// `let i = thread_idx().x;` (with `Dim3` at struct 0), and the
/// expressions `i` and `msg`.
fn lane_and_msg() -> (Stmt, Expr, Expr) {
    let u32t = ty(Scalar::U32);
    let declare = stmt(StmtKind::Let {
        local: 0,
        init: Some(thread_x(0)),
    });
    let i = load(place(PlaceRoot::Local(0), vec![], u32t.clone()));
    let msg = load(place(PlaceRoot::Param(1), vec![], u32t));
    (declare, i, msg)
}

/// `state[index as usize]` of a `u32_array_handler`, checked at `site`.
fn state_at(index: Expr, site: u32) -> Place {
    place(
        PlaceRoot::Param(0),
        vec![Proj::Index {
            index: Box::new(cast(index, Scalar::Usize)),
            site,
        }],
        ty(Scalar::U32),
    )
}

/// `let i = thread_idx().x;` as an expression (needs `Dim3` at `dim3`).
fn thread_x(dim3: StructId) -> Expr {
    let idx = expr(
        ExprKind::Intrinsic(Intrinsic::ThreadIdx, vec![]),
        Ty::Struct(dim3),
    );
    expr(ExprKind::Field(Box::new(idx), 0), ty(Scalar::U32))
}

/// ```ignore
/// #[repr(C)] struct Tally { count: u32, sum: f32 }
/// #[repr(C)] struct Add { value: f32 }
/// #[kernel(mode = "ring")]
/// fn tally(state: &mut Tally, msg: Add) -> Tally {
///     state.count += 1;
///     state.sum += msg.value;
///     *state
/// }
/// ```
pub fn tally() -> Kernel {
    let field = |name: &str, offset, s| FieldDef {
        name: name.into(),
        offset,
        ty: ty(s),
    };
    let tally = StructDef {
        name: "Tally".into(),
        size: 8,
        align: 4,
        fields: vec![field("count", 0, Scalar::U32), field("sum", 4, Scalar::F32)],
    };
    let add = StructDef {
        name: "Add".into(),
        size: 4,
        align: 4,
        fields: vec![field("value", 0, Scalar::F32)],
    };
    let (ts, adds) = (Ty::Struct(0), Ty::Struct(1));
    let state = PlaceRoot::Param(0);
    let body = vec![
        stmt(StmtKind::CompoundAssign {
            place: place(state, vec![Proj::Field(0)], ty(Scalar::U32)),
            op: BinOp::Add,
            value: int(Scalar::U32, 1),
        }),
        stmt(StmtKind::CompoundAssign {
            place: place(state, vec![Proj::Field(1)], ty(Scalar::F32)),
            op: BinOp::Add,
            value: load(place(
                PlaceRoot::Param(1),
                vec![Proj::Field(0)],
                ty(Scalar::F32),
            )),
        }),
        stmt(StmtKind::Return(Some(load(place(
            state,
            vec![],
            ts.clone(),
        ))))),
    ];
    let entry = function(
        "tally",
        vec![
            param_def("state", ParamKind::StateRef(ts.clone())),
            param_def("msg", ParamKind::Value(adds)),
        ],
        ts,
        vec![],
        body,
    );
    kernel("tally", 1, vec![tally, add], entry, vec![])
}

/// A block-wide handler over an array state, `threads` ≤ 32 threads:
///
/// ```ignore
/// #[kernel(mode = "ring", threads = N)]
/// fn lanes(state: &mut [u32; 32], msg: u32) -> u32 {
///     let i = thread_idx().x;
///     state[i as usize] += msg + i;
///     state[i as usize] // the reply is thread 0's: state[0]
/// }
/// ```
pub fn lanes(threads: u32) -> Kernel {
    let (declare, i, msg) = lane_and_msg();
    let body = vec![
        declare,
        stmt(StmtKind::CompoundAssign {
            place: state_at(i.clone(), 0),
            op: BinOp::Add,
            value: bin(BinOp::Add, msg, i.clone()),
        }),
        stmt(StmtKind::Return(Some(load(state_at(i, 1))))),
    ];
    let entry = u32_array_handler("lanes", 32, body);
    kernel(
        "lanes",
        threads,
        vec![dim3_def()],
        entry,
        vec![site("lanes", "state", 3), site("lanes", "state", 4)],
    )
}

/// A handler that faults on demand: `msg = t * 1000 + j` makes thread `t`
/// index `state[j]` (out of bounds for `j ≥ 4`).
///
/// ```ignore
/// #[kernel(mode = "ring", threads = N)]
/// fn faulty(state: &mut [u32; 4], msg: u32) -> u32 {
///     let i = thread_idx().x;
///     if i == msg / 1000 {
///         state[(msg % 1000) as usize] += 1;
///     }
///     i + msg
/// }
/// ```
pub fn faulty(threads: u32) -> Kernel {
    let (declare, i, msg) = lane_and_msg();
    let body = vec![
        declare,
        stmt(StmtKind::If {
            cond: bin(
                BinOp::Eq,
                i.clone(),
                bin(BinOp::Div, msg.clone(), int(Scalar::U32, 1000)),
            ),
            then_block: Block {
                stmts: vec![stmt(StmtKind::CompoundAssign {
                    place: state_at(bin(BinOp::Rem, msg.clone(), int(Scalar::U32, 1000)), 0),
                    op: BinOp::Add,
                    value: int(Scalar::U32, 1),
                })],
            },
            else_block: Block::default(),
        }),
        stmt(StmtKind::Return(Some(bin(BinOp::Add, i, msg)))),
    ];
    let entry = u32_array_handler("faulty", 4, body);
    kernel(
        "faulty",
        threads,
        vec![dim3_def()],
        entry,
        vec![site("faulty", "state", 5)],
    )
}

/// Every sample, for compile checks.
pub fn all() -> Vec<Kernel> {
    vec![tally(), lanes(1), lanes(32), faulty(1), faulty(32)]
}
