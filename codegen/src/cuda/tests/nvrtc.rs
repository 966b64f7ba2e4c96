//! A corpus of emitted kernels for compiling with the real NVRTC:
//! `SPINDLE_EMIT_DUMP=/tmp/dir cargo test -p spindle-codegen cuda_dump -- --ignored`
//! writes one `.cu` per kernel (compile them with NVRTC and the flags of
//! `NVRTC_FLAGS`). Every kernel must compile without errors or warnings.

use super::irb::*;
use crate::cuda::{emit, EmitOptions};
use crate::ir::Kernel;

/// Every kernel the emitter tests build, by name.
pub(crate) fn corpus() -> Vec<(String, Kernel)> {
    let mut out = vec![("saxpy".to_string(), saxpy())];
    let mut no_checks = saxpy();
    no_checks.bounds_checks = false;
    out.push(("saxpy_unchecked".to_string(), no_checks));
    out.push(("loops".to_string(), super::control::loops_kernel()));
    out.push(("calls".to_string(), super::control::calls_kernel()));
    out.push((
        "short_circuit".to_string(),
        super::control::short_circuit_kernel(),
    ));
    out.push(("structs".to_string(), super::types::structs_kernel()));
    out.push(("tally".to_string(), crate::ring::samples::tally()));
    for s in crate::ir::Scalar::ALL {
        out.push((format!("ops_{}", s.rust_name()), super::ops::ops_kernel(s)));
        out.push((
            format!("casts_from_{}", s.rust_name()),
            super::ops::casts_kernel(s),
        ));
        if s != crate::ir::Scalar::Bool {
            let k = super::intrinsics::intrinsics_kernel(s);
            out.push((format!("intrinsics_{}", s.rust_name()), k));
        }
    }
    out
}

#[test]
fn cuda_corpus_emits_without_errors() {
    for (name, k) in corpus() {
        let c = emit(&k, &EmitOptions::default()).code;
        assert!(!c.contains("#error"), "{name}:\n{c}");
    }
}

#[test]
#[ignore = "writes files; set SPINDLE_EMIT_DUMP to a folder"]
fn cuda_dump_corpus() {
    let Ok(dir) = std::env::var("SPINDLE_EMIT_DUMP") else {
        eprintln!("SPINDLE_EMIT_DUMP not set; nothing written");
        return;
    };
    std::fs::create_dir_all(&dir).unwrap();
    for (name, k) in corpus() {
        let c = emit(&k, &EmitOptions::default()).code;
        std::fs::write(format!("{dir}/{name}.cu"), c).unwrap();
    }
}
