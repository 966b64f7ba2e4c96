//! Builds "map" kernels (thread `i` reads `x0[i]`, `x1[i]`, … and writes
//! several results per thread), emits them, compiles them all as one host
//! C++ program against `host-shims/host_shim.h` with UBSan, runs it, and
//! returns every output's bits.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use spindle_codegen::cuda::{emit, EmitOptions};
use spindle_codegen::ir::*;
use spindle_codegen::KernelMode;

// ------------------------------------------------------------- IR builders
// The shared ones (`spindle_codegen::ir_build`), and those of this suite.

pub use spindle_codegen::ir_build::{
    atomic, bin, cast, float, index, int, intr, load, place_local, place_param, slice_len, ty, un,
};

pub fn st(kind: StmtKind, line: u32) -> Stmt {
    Stmt {
        kind,
        span: SrcSpan { line, column: 0 },
    }
}

pub fn function(
    name: &str,
    params: Vec<(&str, ParamKind)>,
    locals: Vec<(&str, Ty, bool)>,
    body: Vec<StmtKind>,
) -> Function {
    Function {
        name: name.into(),
        params: params
            .into_iter()
            .map(|(n, kind)| Param {
                name: n.into(),
                kind,
                mutable: false,
            })
            .collect(),
        ret: Ty::Unit,
        locals: locals
            .into_iter()
            .map(|(n, ty, mutable)| Local {
                name: n.into(),
                ty,
                mutable,
            })
            .collect(),
        body: Block {
            stmts: body
                .into_iter()
                .enumerate()
                .map(|(i, k)| st(k, i as u32 + 1))
                .collect(),
        },
        span: SrcSpan::default(),
    }
}

pub fn kernel(name: &str, entry: Function, sites: usize, structs: Vec<StructDef>) -> Kernel {
    Kernel {
        file: "tests/cuda_host.rs".into(),
        structs,
        fault_sites: (0..sites)
            .map(|i| FaultSite {
                what: format!("s{i}"),
                function: name.into(),
                span: SrcSpan::default(),
            })
            .collect(),
        ..Kernel::new(name, KernelMode::Batch, entry)
    }
}

/// Input `k` of a map kernel (a local of type `s`).
pub fn arg(k: u32, s: Scalar) -> Expr {
    load(place_local(1 + k, ty(s)))
}

/// Rust's answer for one case, from the input bits.
pub type Eval = Box<dyn Fn(&[u64]) -> u64>;

/// A map kernel to check: name, input types, input values (one vector per
/// input, one entry per thread), and its cases.
pub type MapSpec = (String, Vec<Scalar>, Vec<Vec<u64>>, Vec<Case>);

/// One result a map kernel computes per thread, with Rust's answer.
pub struct Case {
    pub what: String,
    pub expr: Expr,
    /// Rust's result from the input bits (each input zero-extended to u64).
    pub eval: Eval,
    /// Float results may differ from Rust's by this many units in the last
    /// place (for functions whose libm differs; 0 for everything else).
    pub ulps: u64,
}

pub fn case(what: impl Into<String>, expr: Expr, eval: impl Fn(&[u64]) -> u64 + 'static) -> Case {
    Case {
        what: what.into(),
        expr,
        eval: Box::new(eval),
        ulps: 0,
    }
}

/// `name(x0: &[I0], …, o0: &mut [O0], …)`: thread `i` loads every input at
/// `i`, then stores case `j` of output slot `s` at `os[i * n_s + j]`.
pub fn map_kernel(name: &str, inputs: &[Scalar], cases: &[Case]) -> (Kernel, Vec<Scalar>) {
    let mut outs: Vec<Scalar> = Vec::new();
    for c in cases {
        let s = c.expr.ty.as_scalar().unwrap();
        if !outs.contains(&s) {
            outs.push(s);
        }
    }
    let mut params = Vec::new();
    let names: Vec<String> = (0..inputs.len())
        .map(|k| format!("x{k}"))
        .chain((0..outs.len()).map(|k| format!("o{k}")))
        .collect();
    for (k, s) in inputs.iter().enumerate() {
        params.push((
            names[k].as_str(),
            ParamKind::Slice {
                elem: ty(*s),
                mutable: false,
            },
        ));
    }
    for (k, s) in outs.iter().enumerate() {
        params.push((
            names[inputs.len() + k].as_str(),
            ParamKind::Slice {
                elem: ty(*s),
                mutable: true,
            },
        ));
    }
    let mut locals = vec![("i", ty(Scalar::Usize), false)];
    let input_names: Vec<String> = (0..inputs.len()).map(|k| format!("a{k}")).collect();
    for (k, s) in inputs.iter().enumerate() {
        locals.push((input_names[k].as_str(), ty(*s), false));
    }
    let i = || load(place_local(0, ty(Scalar::Usize)));
    let mut then = Vec::new();
    for (k, s) in inputs.iter().enumerate() {
        then.push(st(
            StmtKind::Let {
                local: 1 + k as u32,
                init: Some(load(index(place_param(k as u32, ty(*s)), i(), 0, ty(*s)))),
            },
            2,
        ));
    }
    for (slot, s) in outs.iter().enumerate() {
        let mine: Vec<&Case> = cases.iter().filter(|c| c.expr.ty == ty(*s)).collect();
        for (j, c) in mine.iter().enumerate() {
            let idx = bin(
                BinOp::Add,
                bin(BinOp::Mul, i(), int(Scalar::Usize, mine.len() as i128)),
                int(Scalar::Usize, j as i128),
            );
            let p = (inputs.len() + slot) as u32;
            then.push(st(
                StmtKind::Assign {
                    place: index(place_param(p, ty(*s)), idx, 1, ty(*s)),
                    value: c.expr.clone(),
                },
                3,
            ));
        }
    }
    let len0 = Expr {
        kind: ExprKind::SliceLen(0),
        ty: ty(Scalar::Usize),
    };
    let body = vec![
        StmtKind::Let {
            local: 0,
            init: Some(intr(Intrinsic::GlobalIndex, vec![], ty(Scalar::Usize))),
        },
        StmtKind::If {
            cond: bin(BinOp::Lt, i(), len0),
            then_block: Block { stmts: then },
            else_block: Block::default(),
        },
    ];
    (
        kernel(name, function(name, params, locals, body), 2, vec![]),
        outs,
    )
}

pub fn coll(op: CollectiveOp, args: Vec<Expr>, ty: Ty) -> Expr {
    Expr {
        kind: ExprKind::Collective { op, args, site: 0 },
        ty,
    }
}

/// Dynamic shared view `id` of the kernel, as a place of type `elem`
/// (index it with [`at`], like a slice parameter).
pub fn dynamic_shared(id: u32, elem: Ty) -> Place {
    Place {
        root: PlaceRoot::DynamicShared(id),
        proj: vec![],
        ty: elem,
    }
}

/// `len()` of dynamic shared view `id`.
pub fn dynamic_shared_len(id: u32) -> Expr {
    Expr {
        kind: ExprKind::DynamicSharedLen(id),
        ty: ty(Scalar::Usize),
    }
}

/// Block-shared array `id` of the kernel, as a place of type `[elem; len]`.
pub fn shared(id: u32, elem: Ty, len: u32) -> Place {
    Place {
        root: PlaceRoot::Shared(id),
        proj: vec![],
        ty: Ty::Array(Box::new(elem), len),
    }
}

// Builders for the concurrent kernels (`atomics.rs`, `shared.rs`, `warps.rs`).

pub fn get(id: LocalId, s: Scalar) -> Expr {
    load(place_local(id, ty(s)))
}

pub fn block(stmts: Vec<StmtKind>) -> Block {
    Block {
        stmts: stmts.into_iter().map(|k| st(k, 0)).collect(),
    }
}

pub fn if_then(cond: Expr, then: Vec<StmtKind>) -> StmtKind {
    StmtKind::If {
        cond,
        then_block: block(then),
        else_block: Block::default(),
    }
}

pub fn let_(local: LocalId, init: Expr) -> StmtKind {
    StmtKind::Let {
        local,
        init: Some(init),
    }
}

pub fn ro(s: Scalar) -> ParamKind {
    ParamKind::Slice {
        elem: ty(s),
        mutable: false,
    }
}

pub fn rw(s: Scalar) -> ParamKind {
    ParamKind::Slice {
        elem: ty(s),
        mutable: true,
    }
}

/// `slice[i * stride + k]` of type `s`.
pub fn strided(p: ParamId, s: Scalar, i: Expr, stride: i128, k: i128) -> Place {
    let idx = bin(
        BinOp::Add,
        bin(BinOp::Mul, i, int(Scalar::Usize, stride)),
        int(Scalar::Usize, k),
    );
    index(place_param(p, ty(s)), idx, 1, ty(s))
}

/// `thread_idx().x` / `block_idx().x` as `usize` (struct 0 is `Dim3`).
pub fn geom(which: Intrinsic) -> Expr {
    cast(
        Expr {
            kind: ExprKind::Field(Box::new(intr(which, vec![], Ty::Struct(0))), 0),
            ty: ty(Scalar::U32),
        },
        Scalar::Usize,
    )
}

pub fn sync_threads() -> StmtKind {
    StmtKind::Expr(coll(CollectiveOp::SyncThreads, vec![], Ty::Unit))
}

// ------------------------------------------------------------- host run

/// A batch kernel from Rust source (`fn name(..) { .. }`), linked by the
/// front end.
pub fn from_rust(src: &'static str) -> Kernel {
    let name = src["fn ".len()..src.find('(').unwrap()].trim();
    let item = spindle_codegen::ItemSource {
        name,
        source: src,
        file: "src/kernels.rs",
        line: 1,
        consts: &[],
    };
    let options = spindle_codegen::KernelOptions::new(KernelMode::Batch);
    spindle_codegen::link(&item, &options, &[], &[]).unwrap_or_else(|e| panic!("{e}"))
}

/// A C expression of type `s` with exactly these bits.
pub fn c_value(s: Scalar, bits: u64) -> String {
    match s {
        Scalar::Bool => (if bits != 0 { "true" } else { "false" }).into(),
        Scalar::F32 => format!("spindle_f32_from_bits({:#x}u)", bits as u32),
        Scalar::F64 => format!("spindle_f64_from_bits({bits:#x}ull)"),
        _ => format!("({})({bits:#x}ull)", s.c_name()),
    }
}

fn unsigned_c(s: Scalar) -> &'static str {
    match s.size() {
        1 => "uint8_t",
        2 => "uint16_t",
        4 => "uint32_t",
        _ => "uint64_t",
    }
}

/// One launch in the host program.
pub struct Launch {
    pub kernel: Kernel,
    /// Every slice argument in parameter order: element type, values (bits),
    /// and whether to print it afterwards.
    pub slices: Vec<(Scalar, Vec<u64>, bool)>,
    pub grid: u32,
    pub block: u32,
    /// Run the threads of a block as concurrent OS threads
    /// (`spindle_host_launch_concurrent`: real barriers, warps, contended
    /// atomics) instead of one after another.
    pub concurrent: bool,
    /// Bytes of dynamic shared memory per block (the views of
    /// `Kernel::dynamic_shared`).
    pub shared_bytes: u32,
}

/// What the host program printed.
#[derive(Default, Debug)]
pub struct Results {
    /// `(kernel, slice, index)` → bits.
    pub values: HashMap<(String, usize, usize), u64>,
    /// kernel → `[flag, kind, site, index, len, block.x, thread.x]`.
    pub faults: HashMap<String, [u64; 7]>,
}

/// Where g++ is, or `None` (the tests then say they are skipped).
pub fn gxx() -> Option<&'static str> {
    Command::new("g++")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| "g++")
}

/// Emits every kernel, compiles them into one program (each inside its own
/// namespace) with UBSan at optimisation level `opt` (`"-O0"`…), runs it
/// and parses its output. UBSan checks do not depend on `opt`; `-O0`
/// compiles the big programs several times faster.
pub fn run(tag: &str, launches: &[Launch], opt: &str) -> Results {
    run_with(tag, launches, opt, Sanitizer::Undefined)
}

/// Which sanitizer the host program is built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sanitizer {
    /// UBSan (and float-cast-overflow): every test.
    Undefined,
    /// ThreadSanitizer: data races between the concurrent threads of a
    /// block (the shims' standalone fences are not modelled, hence
    /// `-Wno-tsan`; nothing here synchronises through them).
    Thread,
}

impl Sanitizer {
    fn flags(self) -> &'static [&'static str] {
        match self {
            Sanitizer::Undefined => &[
                "-fsanitize=undefined,float-cast-overflow",
                "-fno-sanitize-recover=all",
            ],
            Sanitizer::Thread => &["-fsanitize=thread", "-Wno-tsan"],
        }
    }
}

/// [`run`] built with `sanitizer`.
pub fn run_with(tag: &str, launches: &[Launch], opt: &str, sanitizer: Sanitizer) -> Results {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("spindle-cuda-host-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut main = format!("#include \"{}\"\n#include <cstdio>\n", shim_path());
    for (n, l) in launches.iter().enumerate() {
        let src = emit(&l.kernel, &EmitOptions::default());
        let file = dir.join(format!("{}.cu", l.kernel.name));
        std::fs::write(&file, &src.code).unwrap();
        let _ = writeln!(
            main,
            "namespace k{n} {{\n#include \"{}\"\n}}",
            file.display()
        );
    }
    main.push_str("int main() {\n");
    for (n, l) in launches.iter().enumerate() {
        let name = &l.kernel.name;
        let _ = writeln!(main, "  {{\n    k{n}::SpindleFault fault{{}};");
        let mut args = vec!["&fault".to_string()];
        for (k, (s, vals, _)) in l.slices.iter().enumerate() {
            let init: Vec<String> = vals.iter().map(|b| c_value(*s, *b)).collect();
            let _ = writeln!(
                main,
                "    static {} s{k}[{}] = {{{}}};",
                s.c_name(),
                vals.len().max(1),
                init.join(", ")
            );
            args.push(format!("s{k}"));
            args.push(format!("{}ull", vals.len()));
        }
        let _ = writeln!(
            main,
            "    spindle_host_launch{}({}, {}, [&] {{ k{n}::{}({}); }}, {}u);",
            if l.concurrent { "_concurrent" } else { "" },
            l.grid,
            l.block,
            src_entry(&l.kernel),
            args.join(", "),
            l.shared_bytes
        );
        for (k, (s, vals, print)) in l.slices.iter().enumerate() {
            if !*print {
                continue;
            }
            let bits = match s {
                Scalar::F32 => format!("spindle_f32_bits(s{k}[j])"),
                Scalar::F64 => format!("spindle_f64_bits(s{k}[j])"),
                _ => format!("({})s{k}[j]", unsigned_c(*s)),
            };
            let _ = writeln!(
                main,
                "    for (size_t j = 0; j < {}; ++j) std::printf(\"{name} {k} %zu %llx\\n\", j, (unsigned long long){bits});",
                vals.len()
            );
        }
        let _ = writeln!(
            main,
            "    std::printf(\"{name} fault %u %u %u %llu %llu %u %u\\n\", fault.flag, fault.kind, fault.site, \
             (unsigned long long)fault.index, (unsigned long long)fault.len, fault.block[0], fault.thread[0]);\n  }}"
        );
    }
    main.push_str("  return 0;\n}\n");
    let stdout = compile_and_run_with(&dir, &main, opt, sanitizer);
    let mut r = Results::default();
    for line in stdout.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w[1] == "fault" {
            let v: Vec<u64> = w[2..].iter().map(|x| x.parse().unwrap()).collect();
            r.faults.insert(w[0].to_string(), v.try_into().unwrap());
        } else {
            let key = (
                w[0].to_string(),
                w[1].parse().unwrap(),
                w[2].parse().unwrap(),
            );
            r.values.insert(key, u64::from_str_radix(w[3], 16).unwrap());
        }
    }
    if std::env::var_os("SPINDLE_HOST_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    r
}

/// Compiles `main` (a whole host program that includes the shim) in `dir`
/// with UBSan and `-Werror`, runs it, and returns what it printed; fails
/// the test on a compile error, a failed run or any diagnostic.
pub fn compile_and_run(dir: &std::path::Path, main: &str, opt: &str) -> String {
    compile_and_run_with(dir, main, opt, Sanitizer::Undefined)
}

/// [`compile_and_run`] built with `sanitizer`.
pub fn compile_and_run_with(
    dir: &std::path::Path,
    main: &str,
    opt: &str,
    sanitizer: Sanitizer,
) -> String {
    let cxx = gxx().expect("g++ present");
    let main_path = dir.join("main.cpp");
    std::fs::write(&main_path, main).unwrap();
    let exe = dir.join("run");
    let out = Command::new(cxx)
        .args([
            "-std=c++17",
            opt,
            "-Wall",
            "-Wextra",
            "-Wno-unused-parameter",
            "-Werror",
            "-pthread",
        ])
        .args(sanitizer.flags())
        .arg(&main_path)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "g++ failed on {}:\n{}",
        main_path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert!(
        run.status.success(),
        "host run failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        run.stderr.is_empty(),
        "UBSan or other diagnostics:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    String::from_utf8(run.stdout).unwrap()
}

/// The path of the host shim, for `#include`.
pub fn shim_path() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../host-shims/host_shim.h")
}

fn src_entry(k: &Kernel) -> String {
    spindle_codegen::abi::entry_symbol(&k.name)
}

/// Runs map kernels: for each `(name, inputs, values per input, cases)`,
/// checks every case on every thread against its Rust answer; returns the
/// mismatches as readable lines.
pub fn check_maps(tag: &str, maps: Vec<MapSpec>, opt: &str) -> Vec<String> {
    let mut launches = Vec::new();
    let mut shapes = Vec::new();
    for (name, inputs, values, cases) in &maps {
        let (k, outs) = map_kernel(name, inputs, cases);
        let n = values[0].len();
        let mut slices: Vec<(Scalar, Vec<u64>, bool)> = inputs
            .iter()
            .zip(values)
            .map(|(s, v)| (*s, v.clone(), false))
            .collect();
        let mut per_slot = Vec::new();
        for s in &outs {
            let count = cases.iter().filter(|c| c.expr.ty == ty(*s)).count();
            slices.push((*s, vec![0; n * count], true));
            per_slot.push(count);
        }
        launches.push(Launch {
            kernel: k,
            slices,
            grid: (n as u32).div_ceil(32),
            block: 32,
            concurrent: false,
            shared_bytes: 0,
        });
        shapes.push((outs, per_slot));
    }
    let r = run(tag, &launches, opt);
    let mut bad = Vec::new();
    for ((name, inputs, values, cases), (outs, per_slot)) in maps.iter().zip(&shapes) {
        for thread in 0..values[0].len() {
            let ins: Vec<u64> = values.iter().map(|v| v[thread]).collect();
            let mut seen = vec![0usize; outs.len()];
            for c in cases {
                let s = c.expr.ty.as_scalar().unwrap();
                let slot = outs.iter().position(|o| *o == s).unwrap();
                let idx = thread * per_slot[slot] + seen[slot];
                seen[slot] += 1;
                let want = (c.eval)(&ins) & mask(s);
                let got = r.values[&(name.clone(), inputs.len() + slot, idx)];
                // IEEE leaves NaN payloads open; any NaN matches any NaN.
                let both_nan = match s {
                    Scalar::F32 => {
                        f32::from_bits(got as u32).is_nan() && f32::from_bits(want as u32).is_nan()
                    }
                    Scalar::F64 => f64::from_bits(got).is_nan() && f64::from_bits(want).is_nan(),
                    _ => false,
                };
                let close = got.abs_diff(want) <= c.ulps;
                if got != want && !both_nan && !close {
                    bad.push(format!(
                        "{name}: {} with inputs {ins:#x?}: got {got:#x}, Rust says {want:#x}",
                        c.what
                    ));
                }
            }
        }
        assert_eq!(r.faults[name][0], 0, "{name} faulted: {:?}", r.faults[name]);
    }
    bad
}

/// The bits a value of type `s` occupies.
pub fn mask(s: Scalar) -> u64 {
    match s.size() {
        8 => u64::MAX,
        n => (1u64 << (8 * n)) - 1,
    }
}
