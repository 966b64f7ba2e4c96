//! Helpers shared by the integration tests.
#![allow(dead_code)]

use spindle::Device;

/// The CPU backend (every test runs there, GPU or not).
pub fn cpu() -> Device {
    Device::cpu()
}

/// GPU 0, or `None` after printing why the GPU part of a test is skipped.
pub fn gpu(test: &str) -> Option<Device> {
    match Device::cuda(0) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("skipping the GPU part of `{test}`: {e}");
            None
        }
    }
}

/// A seeded random generator; the seed is printed so a failure can be replayed
/// with `SPINDLE_TEST_SEED=<seed>`.
pub fn rng(test: &str) -> fastrand::Rng {
    let seed = std::env::var("SPINDLE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("{test}: SPINDLE_TEST_SEED={seed}");
    fastrand::Rng::with_seed(seed)
}

/// Compiles every kernel registered in this test binary with the real NVRTC
/// for `sm_90` (with `-Xptxas -v` resource checks). Skips with a printed
/// reason when libnvrtc is absent, unless `SPINDLE_REQUIRE_NVRTC=1` (CI).
pub fn compile_all_kernels_with_nvrtc(test: &str) {
    let required = std::env::var("SPINDLE_REQUIRE_NVRTC").is_ok_and(|v| v == "1");
    if let Err(e) = spindle_runtime::cuda::nvrtc_version() {
        assert!(
            !required,
            "SPINDLE_REQUIRE_NVRTC=1 but NVRTC is unavailable: {e}"
        );
        eprintln!("skipping `{test}`: {e}");
        return;
    }
    let mut names = Vec::new();
    for kernel in spindle::registered_kernels() {
        let name = kernel.name();
        let source = kernel
            .cuda_source()
            .unwrap_or_else(|e| panic!("kernel `{name}` has no CUDA source: {e}"));
        let module = spindle_runtime::cuda::compile_cubin(name, &source, "sm_90")
            .unwrap_or_else(|e| panic!("kernel `{name}` does not compile with NVRTC: {e}"));
        assert!(
            module.cubin.starts_with(b"\x7fELF"),
            "kernel `{name}`: NVRTC output is not a CUBIN"
        );
        names.push(name.to_string());
        if kernel.mode().is_ring() {
            // The same handler in an actor group's kernel.
            let source = kernel
                .group_cuda_source()
                .unwrap_or_else(|e| panic!("kernel `{name}` has no group source: {e}"));
            spindle_runtime::cuda::compile_cubin(name, &source, "sm_90").unwrap_or_else(|e| {
                panic!("the group kernel of `{name}` does not compile with NVRTC: {e}")
            });
            names.push(format!("{name} (group)"));
        }
    }
    assert!(
        !names.is_empty(),
        "no kernels registered in this test binary"
    );
    names.sort_unstable();
    eprintln!(
        "{test}: NVRTC compiled {} kernels: {}",
        names.len(),
        names.join(", ")
    );
}
