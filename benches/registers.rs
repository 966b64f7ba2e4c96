//! Registers per thread, spills and static shared memory that ptxas gives
//! every kernel of `examples/`, and each classic port of
//! `examples/classic_ports.rs` next to its CUDA original
//! (`tests/classic/originals.rs`): compiled by NVRTC for `sm_90` with the
//! options spindle uses. No GPU needed. Prints the tables of BENCHMARKS.md.
//!
//! ```text
//! . scripts/nvrtc-env.sh && cargo bench --bench registers
//! ```

#[allow(dead_code)]
#[path = "../examples/bitonic_sort.rs"]
mod bitonic_sort;
#[allow(dead_code)]
#[path = "../examples/blur_2d.rs"]
mod blur_2d;
#[allow(dead_code)]
#[path = "../examples/classic_ports.rs"]
mod classic_ports;
#[allow(dead_code)]
#[path = "../examples/histogram.rs"]
mod histogram;
#[allow(dead_code)]
#[path = "../tests/classic/originals.rs"]
mod originals;
#[allow(dead_code)]
#[path = "../examples/particles.rs"]
mod particles;
#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;
#[allow(dead_code)]
#[path = "../examples/ring_anomaly.rs"]
mod ring_anomaly;
#[allow(dead_code)]
#[path = "../examples/ring_bank.rs"]
mod ring_bank;
#[allow(dead_code)]
#[path = "../examples/ring_block.rs"]
mod ring_block;
#[allow(dead_code)]
#[path = "../examples/ring_window.rs"]
mod ring_window;

use std::process::ExitCode;

use spindle_runtime::cuda::{compile_cubin, nvrtc_version, Resources};

const ARCH: &str = "sm_90";

/// One kernel's figures: registers of its entry function, spill bytes
/// (stores/loads, all functions), static shared bytes.
struct Row {
    registers: u32,
    spills: (u32, u32),
    shared: u32,
}

fn row(entry: Option<&str>, r: &Resources) -> Row {
    let registers = entry
        .and_then(|e| r.function(e))
        .map_or(r.registers, |f| f.registers);
    Row {
        registers,
        spills: (r.spill_stores, r.spill_loads),
        shared: r.shared_bytes,
    }
}

fn main() -> ExitCode {
    let version = match nvrtc_version() {
        Ok((major, minor)) => format!("{major}.{minor}"),
        Err(e) => {
            eprintln!("registers bench: skipped, NVRTC is not available: {e}");
            return ExitCode::SUCCESS;
        }
    };
    println!(
        "NVRTC {version}, {ARCH}, options {:?}\n",
        spindle_runtime::cuda::nvrtc_options(ARCH)
    );
    let mut kernels: Vec<_> = spindle_runtime::kernel_infos().collect();
    kernels.sort_by_key(|k| (k.file, k.name));
    let mut ours = std::collections::HashMap::new();
    println!("| example | kernel | mode | registers | spill stores / loads (bytes) | static shared (bytes) |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for info in kernels {
        let source = match info.cuda_source() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{}: no CUDA source: {e}", info.name);
                return ExitCode::FAILURE;
            }
        };
        let module = match compile_cubin(info.name, &source, ARCH) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{}: {e}", info.name);
                return ExitCode::FAILURE;
            }
        };
        let entry = spindle_codegen::abi::entry_symbol(info.name);
        let r = row(Some(&entry), &module.resources);
        let example = info
            .file
            .rsplit('/')
            .next()
            .unwrap_or(info.file)
            .trim_end_matches(".rs");
        println!(
            "| {example} | `{}` | {} | {} | {} / {} | {} |",
            info.name,
            info.mode.as_str(),
            r.registers,
            r.spills.0,
            r.spills.1,
            r.shared
        );
        ours.insert(info.name, r);
    }
    println!("\n| classic port | spindle registers | CUDA original registers | ratio | spindle / original static shared (bytes) |");
    println!("| --- | --- | --- | --- | --- |");
    for o in originals::ORIGINALS {
        let theirs = match compile_cubin(&format!("{}_original", o.port), o.source, ARCH) {
            Ok(m) => row(None, &m.resources),
            Err(e) => {
                eprintln!("{} original: {e}", o.port);
                return ExitCode::FAILURE;
            }
        };
        let Some(port) = ours.get(o.port) else {
            eprintln!("no kernel `{}` registered", o.port);
            return ExitCode::FAILURE;
        };
        println!(
            "| `{}` | {} | {} | {:.2}× | {} / {} |",
            o.port,
            port.registers,
            theirs.registers,
            port.registers as f64 / theirs.registers as f64,
            port.shared,
            theirs.shared
        );
    }
    ExitCode::SUCCESS
}
