//! Entry signature, prelude, saxpy, bounds checks, structs and arrays.

use super::irb::*;
use crate::cuda::{emit, EmitOptions, NVRTC_FLAGS};
use crate::ir::*;

fn code(k: &Kernel) -> String {
    emit(k, &EmitOptions::default()).code
}

#[test]
fn cuda_saxpy_signature_and_body() {
    let src = emit(&saxpy(), &EmitOptions::default());
    assert_eq!(src.entry, "spindle_saxpy");
    let c = src.code;
    assert!(
        c.contains(
            "extern \"C\" __global__ void spindle_saxpy(SpindleFault* spindle_fault, float p_a, \
             const float* __restrict__ p_x, uint64_t p_x_len, float* __restrict__ p_y, uint64_t p_y_len) {"
        ),
        "{c}"
    );
    assert!(
        c.contains("uint64_t l0_i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;"),
        "{c}"
    );
    assert!(c.contains("if (l0_i < p_y_len) {"), "{c}");
    // Rust order: x[i], then y[i] read, then y[i] written; C++ does not
    // order operands of `+` or `=`, so earlier checked operands go first
    // into temporaries.
    let body = [
        "    float spindle_t1 = p_a * p_x[spindle_check(spindle_fault, l0_i, p_x_len, 0u)];",
        "    float spindle_t2 = spindle_t1 + p_y[spindle_check(spindle_fault, l0_i, p_y_len, 1u)];",
        "    p_y[spindle_check(spindle_fault, l0_i, p_y_len, 1u)] = spindle_t2;",
    ]
    .join("\n");
    assert!(c.contains(&body), "{c}");
    assert!(!c.contains("#include"), "{c}");
    assert!(!c.contains("#error"), "{c}");
    assert!(c.contains("#line 11 \"src/kernels.rs\""), "{c}");
}

#[test]
fn cuda_prelude_is_self_contained() {
    let c = code(&saxpy());
    assert!(c.contains("typedef unsigned long long uint64_t;"));
    assert!(c.contains("#define offsetof(T, m) ((uint64_t)__INTADDR__(&(((T*)0)->m)))"));
    assert!(c.contains(&crate::abi::fault_record_c_decl()));
    assert!(c.contains("asm volatile(\"exit;\" ::: \"memory\")"));
    assert!(c.contains("atomicCAS(p, expected, desired)"));
    assert!(NVRTC_FLAGS.contains(&"--fmad=false") && NVRTC_FLAGS.contains(&"-std=c++17"));
}

#[test]
fn cuda_no_bounds_checks_means_plain_indexing() {
    let mut k = saxpy();
    k.bounds_checks = false;
    let c = code(&k);
    assert!(
        c.contains("p_y[l0_i] = (p_a * p_x[l0_i]) + p_y[l0_i];"),
        "{c}"
    );
    assert!(!c.contains("spindle_check(spindle_fault"), "{c}");
}

#[test]
fn cuda_line_directives_are_optional() {
    let c = emit(
        &saxpy(),
        &EmitOptions {
            line_directives: false,
        },
    )
    .code;
    assert!(!c.contains("#line"), "{c}");
}
