//! CUDA C → CUBIN with NVRTC, for one exact GPU architecture.
//!
//! CUBIN, not PTX: the driver loads a CUBIN for its own `sm_XY` directly,
//! while PTX from an NVRTC newer than the driver fails to load
//! (`CUDA_ERROR_UNSUPPORTED_PTX_VERSION`). Compiling needs no GPU.

use std::time::Instant;

use super::excerpt::error_excerpt;
use super::nvrtc::{nvrtc, Program, NVRTC_ERROR_COMPILATION, NVRTC_SUCCESS};
use super::resources::Resources;
use crate::{Error, Result};

/// Flags every compile gets after `-arch`, `-lineinfo` and `-Xptxas=-v`:
/// what the IR's semantics need from the C compiler (no implicit FMA
/// contraction; see `spindle_codegen::ir`).
/// The flags the generated code's semantics need (no FMA contraction, IEEE
/// division and square root, no flush-to-zero), owned by the emitter.
pub const EXTRA_FLAGS: &[&str] = spindle_codegen::cuda::NVRTC_FLAGS;

/// A kernel compiled by [`compile_cubin`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledModule {
    /// The CUBIN (an ELF image) for the requested architecture.
    pub cubin: Vec<u8>,
    /// NVRTC's program log: warnings and the `-Xptxas=-v` resource report.
    pub log: String,
    /// Registers, spills and shared memory, parsed from `log`.
    pub resources: Resources,
}

/// Compiles `source` (one CUDA C translation unit) to a CUBIN for `arch`
/// (`"sm_90"`, `"sm_86"`, …) with NVRTC. Needs NVRTC, not a GPU.
///
/// Errors: [`Error::NvrtcUnavailable`] when libnvrtc cannot be found (the
/// message says how to install it), [`Error::Config`] for a malformed
/// `arch`, and [`Error::Compile`] when NVRTC rejects the source; its
/// `excerpt` shows the numbered source around the first error.
///
/// With `SPINDLE_DUMP_DIR` set, the source, the log and the parsed resource
/// report are also written there as `<kernel>.cu`, `<kernel>.<arch>.log`
/// and `<kernel>.<arch>.resources.txt`.
///
/// ```
/// use spindle_runtime::cuda::compile_cubin;
/// let src = r#"extern "C" __global__ void twice(float* x) { x[threadIdx.x] *= 2.0f; }"#;
/// match compile_cubin("twice", src, "sm_80") {
///     Ok(m) => assert_eq!(&m.cubin[..4], b"\x7fELF"),
///     Err(e @ spindle_runtime::Error::NvrtcUnavailable { .. }) => println!("skipped: {e}"),
///     Err(e) => panic!("{e}"),
/// }
/// ```
pub fn compile_cubin(kernel_name: &str, source: &str, arch: &str) -> Result<CompiledModule> {
    check_arch(arch)?;
    let api = nvrtc()?;
    let started = Instant::now();
    let compile_error = |log: String, excerpt: String| Error::Compile {
        kernel: kernel_name.to_string(),
        log,
        excerpt,
    };
    let program_name = format!("{kernel_name}.cu");
    let mut program =
        Program::new(api, source, &program_name).map_err(|m| compile_error(m, String::new()))?;
    let options = options(arch);
    let rc = program
        .compile(&options)
        .map_err(|m| compile_error(m, String::new()))?;
    let log = program.log();
    dump(kernel_name, arch, source, &log);
    if rc != NVRTC_SUCCESS {
        tracing::debug!(
            kernel = kernel_name,
            arch,
            elapsed_us = started.elapsed().as_micros() as u64,
            "NVRTC rejected the kernel"
        );
        let excerpt = error_excerpt(source, &program_name, &log);
        let log = if rc == NVRTC_ERROR_COMPILATION {
            log
        } else {
            format!("{} (options {options:?})\n{log}", api.error_string(rc))
        };
        return Err(compile_error(log, excerpt));
    }
    let cubin = program
        .cubin()
        .map_err(|m| compile_error(format!("{m}\n{log}"), String::new()))?;
    if cubin.is_empty() {
        return Err(compile_error(
            format!("NVRTC produced no CUBIN for {arch}\n{log}"),
            String::new(),
        ));
    }
    let resources = Resources::parse(&log);
    dump_resources(kernel_name, arch, &resources);
    tracing::debug!(
        kernel = kernel_name,
        arch,
        elapsed_us = started.elapsed().as_micros() as u64,
        cubin_bytes = cubin.len(),
        registers = resources.registers,
        spill_stores = resources.spill_stores,
        spill_loads = resources.spill_loads,
        "compiled with NVRTC"
    );
    Ok(CompiledModule {
        cubin,
        log,
        resources,
    })
}

/// The full NVRTC option list for `arch`.
pub fn options(arch: &str) -> Vec<String> {
    let mut o = vec![
        format!("-arch={arch}"),
        "-lineinfo".to_string(),
        "-Xptxas=-v".to_string(),
    ];
    o.extend(EXTRA_FLAGS.iter().map(|f| f.to_string()));
    o
}

/// `sm_` followed by digits and an optional letter (`sm_90a`).
fn check_arch(arch: &str) -> Result<()> {
    let ok = arch.strip_prefix("sm_").is_some_and(|rest| {
        let digits = rest.trim_end_matches(|c: char| c.is_ascii_lowercase());
        digits.len() >= 2
            && digits.len() + 1 >= rest.len()
            && digits.bytes().all(|b| b.is_ascii_digit())
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "GPU architecture {arch:?}: expected `sm_` and the compute capability, e.g. \"sm_90\""
        )))
    }
}

/// `SPINDLE_DUMP_DIR` when it is set and not empty.
fn dump_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("SPINDLE_DUMP_DIR")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
}

/// Writes the source and log to `SPINDLE_DUMP_DIR` when it is set; a failure
/// to write is logged, never fatal.
fn dump(kernel_name: &str, arch: &str, source: &str, log: &str) {
    let Some(dir) = dump_dir() else {
        return;
    };
    let result = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join(format!("{kernel_name}.cu")), source))
        .and_then(|()| std::fs::write(dir.join(format!("{kernel_name}.{arch}.log")), log));
    if let Err(e) = result {
        tracing::warn!(dir = %dir.display(), error = %e, "could not write SPINDLE_DUMP_DIR files");
    }
}

/// Writes the parsed resource report next to the dump's log.
fn dump_resources(kernel_name: &str, arch: &str, r: &Resources) {
    let Some(dir) = dump_dir() else {
        return;
    };
    let mut text = format!(
        "kernel {kernel_name} for {arch}\nregisters {} (max over functions)\nspill stores {} bytes, spill loads {} bytes\nstack frame {} bytes, static shared memory {} bytes\n",
        r.registers, r.spill_stores, r.spill_loads, r.stack_frame_bytes, r.shared_bytes
    );
    for f in &r.functions {
        text.push_str(&format!(
            "  {}: {} registers, {} bytes stack, {} / {} bytes spilled (stores / loads), {} bytes smem, {} barriers\n",
            f.name, f.registers, f.stack_frame_bytes, f.spill_store_bytes, f.spill_load_bytes, f.shared_bytes, f.barriers
        ));
    }
    let path = dir.join(format!("{kernel_name}.{arch}.resources.txt"));
    if let Err(e) = std::fs::write(&path, text) {
        tracing::warn!(path = %path.display(), error = %e, "could not write the resource report");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Skips (with the reason) when libnvrtc cannot be found.
    fn nvrtc_or_skip(test: &str) -> bool {
        match super::super::nvrtc_version() {
            Ok(_) => true,
            Err(e) => {
                eprintln!("SKIPPED {test}: {e}");
                false
            }
        }
    }

    const SAXPY: &str = r#"
extern "C" __global__ void spindle_saxpy(float a, const float* x, float* y, unsigned long long n) {
    unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (i < n) {
        y[i] = a * x[i] + y[i];
    }
}
"#;

    #[test]
    fn arch_must_be_sm_xy() {
        for good in ["sm_75", "sm_90", "sm_90a", "sm_100", "sm_120"] {
            assert!(check_arch(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "sm_",
            "sm_9",
            "compute_90",
            "sm_90ab",
            "90",
            "sm_x0",
            "-arch=sm_90",
        ] {
            assert!(
                matches!(check_arch(bad), Err(Error::Config(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn bad_arch_is_a_config_error_even_without_nvrtc() {
        assert!(matches!(
            compile_cubin("k", SAXPY, "compute_90"),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn options_always_name_the_arch() {
        let o = options("sm_86");
        assert_eq!(o[0], "-arch=sm_86");
        assert!(o.iter().any(|f| f == "-Xptxas=-v"));
        assert!(o.iter().any(|f| f == "--fmad=false"));
    }

    #[test]
    fn compiles_a_small_kernel_to_cubin() {
        if !nvrtc_or_skip("compiles_a_small_kernel_to_cubin") {
            return;
        }
        let m = compile_cubin("saxpy", SAXPY, "sm_80").unwrap();
        assert_eq!(&m.cubin[..4], b"\x7fELF", "not an ELF image");
        assert!(m.cubin.len() > 256);
        assert!(m.resources.registers > 0, "log: {}", m.log);
        assert_eq!(m.resources.spill_stores, 0);
        let f = m
            .resources
            .function("spindle_saxpy")
            .expect("entry in the ptxas report");
        assert_eq!(f.registers, m.resources.registers);
    }

    #[test]
    fn reports_shared_memory_and_barriers() {
        if !nvrtc_or_skip("reports_shared_memory_and_barriers") {
            return;
        }
        let src = r#"
extern "C" __global__ void spindle_rev(float* x) {
    __shared__ float tile[256];
    tile[threadIdx.x] = x[threadIdx.x];
    __syncthreads();
    x[threadIdx.x] = tile[255 - threadIdx.x];
}
"#;
        let m = compile_cubin("rev", src, "sm_90").unwrap();
        let f = m
            .resources
            .function("spindle_rev")
            .expect("entry in the ptxas report");
        assert_eq!(f.shared_bytes, 1024, "log: {}", m.log);
        assert_eq!(f.barriers, 1, "log: {}", m.log);
        assert_eq!(m.resources.shared_bytes, 1024);
    }

    #[test]
    fn cubin_differs_per_arch() {
        if !nvrtc_or_skip("cubin_differs_per_arch") {
            return;
        }
        let a = compile_cubin("saxpy", SAXPY, "sm_80").unwrap();
        let b = compile_cubin("saxpy", SAXPY, "sm_90").unwrap();
        assert_ne!(a.cubin, b.cubin);
    }

    #[test]
    fn unknown_arch_is_a_compile_error() {
        if !nvrtc_or_skip("unknown_arch_is_a_compile_error") {
            return;
        }
        match compile_cubin("saxpy", SAXPY, "sm_10") {
            Err(Error::Compile { kernel, log, .. }) => {
                assert_eq!(kernel, "saxpy");
                assert!(log.contains("sm_10"), "{log}");
            }
            other => panic!("expected a compile error, got {other:?}"),
        }
    }

    #[test]
    fn syntax_error_names_the_line() {
        if !nvrtc_or_skip("syntax_error_names_the_line") {
            return;
        }
        let src = "extern \"C\" __global__ void spindle_bad(float* x) {\n    float y = 1.0f\n    x[0] = y;\n}\n";
        match compile_cubin("bad", src, "sm_80") {
            Err(Error::Compile {
                kernel,
                log,
                excerpt,
            }) => {
                assert_eq!(kernel, "bad");
                assert!(log.contains("error"), "{log}");
                assert!(
                    excerpt.contains("x[0] = y;"),
                    "excerpt:\n{excerpt}\nlog:\n{log}"
                );
                let marked = excerpt
                    .lines()
                    .find(|l| l.starts_with('>'))
                    .expect("a marked line");
                assert!(marked.contains("    3 |"), "excerpt:\n{excerpt}");
            }
            other => panic!("expected a compile error, got {other:?}"),
        }
    }

    #[test]
    fn error_under_line_directive_shows_generated_text() {
        if !nvrtc_or_skip("error_under_line_directive_shows_generated_text") {
            return;
        }
        let src = "extern \"C\" __global__ void spindle_k(float* x) {\n#line 40 \"src/kernels.rs\"\n    x[0] = undefined_name;\n}\n";
        match compile_cubin("k", src, "sm_80") {
            Err(Error::Compile { excerpt, log, .. }) => {
                assert!(log.contains("kernels.rs"), "{log}");
                assert!(excerpt.contains("src/kernels.rs:40"), "excerpt:\n{excerpt}");
                assert!(
                    excerpt.contains("x[0] = undefined_name;"),
                    "excerpt:\n{excerpt}"
                );
            }
            other => panic!("expected a compile error, got {other:?}"),
        }
    }
}
