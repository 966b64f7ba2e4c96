//! The emitted CUDA C compiled as host C++ against `host-shims/host_shim.h`
//! (ARCHITECTURE.md, "How spindle checks itself"), with UBSan, and run: every operator, cast and
//! intrinsic on every scalar type gives Rust's result bit for bit, faults
//! are recorded as the ABI says, and loops stop where Rust's do; atomics,
//! shared arrays, dynamic shared views, barriers and warp operations run with the threads of a
//! block as concurrent OS threads (`atomics.rs`, `shared.rs`, `dynamic_shared.rs`, `warps.rs`). Needs
//! `g++`; skipped (with a message) without it.

#[path = "cuda_host/harness.rs"]
mod harness;

/// Returns from the test, saying why, when g++ is missing.
macro_rules! require_gxx {
    () => {
        if $crate::harness::gxx().is_none() {
            eprintln!("skipped: g++ not found, the host-compiled CUDA tests need it");
            return;
        }
    };
}

/// Rust's `x as to`, as the result's bits.
macro_rules! rust_cast {
    ($x:expr, $to:expr) => {{
        let x = $x;
        match $to {
            I8 => x as i8 as u8 as u64,
            I16 => x as i16 as u16 as u64,
            I32 => x as i32 as u32 as u64,
            I64 | Isize => x as i64 as u64,
            U8 => x as u8 as u64,
            U16 => x as u16 as u64,
            U32 => x as u32 as u64,
            U64 | Usize => x as u64,
            F32 => (x as f32).to_bits() as u64,
            F64 => (x as f64).to_bits(),
            Bool => unreachable!(),
        }
    }};
}

#[path = "cuda_host/atomics.rs"]
mod atomics;
#[path = "cuda_host/control.rs"]
mod control;
#[path = "cuda_host/dynamic_shared.rs"]
mod dynamic_shared;
#[path = "cuda_host/floats.rs"]
mod floats;
#[macro_use]
#[path = "cuda_host/idioms.rs"]
mod idioms;
#[path = "cuda_host/idioms_iter.rs"]
mod idioms_iter;
#[path = "cuda_host/ints.rs"]
mod ints;
#[path = "cuda_host/ranges.rs"]
mod ranges;
#[path = "cuda_host/shared.rs"]
mod shared;
#[path = "cuda_host/warps.rs"]
mod warps;
