//! Precompiled kernels: compile every kernel of a program for a list of GPU
//! architectures on a machine with NVRTC (no GPU needed), into a cache
//! folder that a GPU host without NVRTC can use through `SPINDLE_CACHE_DIR`.

use std::path::{Path, PathBuf};

use crate::cache::{DiskCache, PORTABLE_NVRTC};
use crate::cuda::{compile_cubin, module_source, nvrtc_version};
use crate::kernel::{kernel_infos, KernelInfo, RegisteredKernel};
use crate::{Error, Result};

/// What [`precompile`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrecompileReport {
    /// The folder written.
    pub dir: PathBuf,
    /// `(kernel, arch)` pairs compiled with NVRTC now.
    pub compiled: Vec<(String, String)>,
    /// `(kernel, arch)` pairs already in the folder (nothing compiled).
    pub cached: Vec<(String, String)>,
}

/// Compiles every `#[kernel]` of this program for each of `archs`
/// (e.g. `["sm_80", "sm_90"]`) into the cache folder `dir`.
///
/// Each CUBIN is stored under two keys: the one this NVRTC's runtime
/// compile would use, and a portable one that a machine without NVRTC (or
/// with another NVRTC version) looks up. Kernels already present are not
/// recompiled, so running it twice compiles nothing the second time.
///
/// # Errors
///
/// NVRTC unavailable, a kernel that does not link or compile, or a folder
/// that cannot be written.
///
/// A generic kernel is compiled for the instantiations made so far in this
/// process; [`precompile_kernels`] names instantiations to build.
pub fn precompile(dir: &Path, archs: &[&str]) -> Result<PrecompileReport> {
    let mut kernels: Vec<&'static KernelInfo> = kernel_infos().collect();
    kernels.sort_by_key(|k| k.name);
    precompile_infos(dir, archs, &kernels)
}

/// [`precompile`] for a chosen list of kernels: `name::kernel()` of a
/// kernel, and of a generic kernel one instantiation each,
/// `name::kernel::<f32>()`.
///
/// # Errors
///
/// As [`precompile`].
pub fn precompile_kernels(
    dir: &Path,
    archs: &[&str],
    kernels: &[RegisteredKernel],
) -> Result<PrecompileReport> {
    let infos: Vec<&'static KernelInfo> = kernels.iter().map(|k| k.0).collect();
    precompile_infos(dir, archs, &infos)
}

fn precompile_infos(
    dir: &Path,
    archs: &[&str],
    kernels: &[&'static KernelInfo],
) -> Result<PrecompileReport> {
    let version = nvrtc_version()?;
    let cache = DiskCache::at(dir);
    let mut report = PrecompileReport {
        dir: dir.to_path_buf(),
        ..Default::default()
    };
    for info in kernels {
        let kernel = info.linked()?;
        let source = module_source(&kernel)?;
        for arch in archs {
            let full = crate::cuda::cache_key(&source.code, arch, version);
            let portable = crate::cuda::cache_key(&source.code, arch, PORTABLE_NVRTC);
            let pair = (info.name.to_string(), arch.to_string());
            let cubin = match (cache.get(&full), cache.get(&portable)) {
                (Some(_), Some(_)) => {
                    tracing::debug!(
                        kernel = info.name,
                        arch,
                        "precompile: already in the folder"
                    );
                    report.cached.push(pair);
                    continue;
                }
                (Some(c), None) | (None, Some(c)) => c,
                (None, None) => {
                    let c = compile_cubin(info.name, &source.code, arch)?.cubin;
                    report.compiled.push(pair.clone());
                    c
                }
            };
            for key in [&full, &portable] {
                cache.put(key, &cubin).map_err(|e| {
                    Error::Config(format!(
                        "precompile: cannot write kernel `{}` for {arch} into {}: {e}",
                        info.name,
                        dir.display()
                    ))
                })?;
            }
            if !report.compiled.contains(&pair) {
                report.cached.push(pair);
            }
        }
    }
    Ok(report)
}
