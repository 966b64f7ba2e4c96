//! The JIT pipeline's disk cache of compiled kernels.
//!
//! The CUDA backend compiles linked CUDA C to a CUBIN with NVRTC. Compiling
//! takes from tenths of a second to seconds, so each CUBIN is also kept on
//! disk under a [`CacheKey`] that names everything the CUBIN depends on:
//!
//! ```text
//! key = CacheKey::new(&KeyInputs { source, nvrtc_version, options, arch })
//! if let Some(cubin) = cache.get(&key) { load cubin }
//! else { compile; if let Err(e) = cache.put(&key, &cubin) { warn!(e) } }
//! ```
//!
//! - [`CacheKey`]: the key, a SHA-256 digest of the inputs and spindle's version;
//! - [`DiskCache`]: the folder of entries, robust to concurrent writers,
//!   corrupted files and growth; configured by `SPINDLE_CACHE`,
//!   `SPINDLE_CACHE_DIR` and `SPINDLE_CACHE_MAX_BYTES` (the README's "Compiled kernels, caches and machines without NVRTC");
//! - `entry`: the file format of one entry (magic, version, key echo,
//!   length, checksum, payload). Entries hold no paths, so a cache folder
//!   filled on one machine works when copied to another and named by
//!   `SPINDLE_CACHE_DIR`, where NVRTC version and arch match.
//!
//! The in-memory layer (loaded modules) lives in the CUDA backend.

mod config;
mod disk;
mod entry;
mod key;
mod precompile;
mod sha256;

#[cfg(test)]
mod disk_tests;

pub use config::DEFAULT_MAX_BYTES;
pub use disk::{CacheError, DiskCache};
pub use key::{CacheKey, KeyInputs, PORTABLE_NVRTC};
pub use precompile::{precompile, precompile_kernels, PrecompileReport};
