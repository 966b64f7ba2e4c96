//! [`CacheKey`]: what identifies one compiled CUBIN.

use std::fmt;

use super::sha256::{to_hex, Sha256};

/// The version of spindle that is part of every key: a new spindle may emit
/// different code or use a different entry format, so it never reuses a CUBIN
/// of another version.
const SPINDLE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Separates this hash from any other SHA-256 use; bump the suffix if the
/// encoding in [`CacheKey::with_spindle_version`] ever changes.
const DOMAIN: &[u8] = b"spindle-cache-key/v1\0";

/// The `nvrtc_version` of a precompiled entry ([`crate::cache::precompile`]):
/// a CUBIN for an exact `sm_XY` runs whatever NVRTC the loading machine has,
/// or none, so precompiled entries are also stored under this version.
pub const PORTABLE_NVRTC: (i32, i32) = (0, 0);

/// Everything that decides the bytes NVRTC produces for a kernel.
///
/// ```
/// use spindle_runtime::cache::{CacheKey, KeyInputs};
///
/// let key = CacheKey::new(&KeyInputs {
///     source: "extern \"C\" __global__ void k() {}",
///     nvrtc_version: (13, 0),
///     options: &["--std=c++17", "-default-device"],
///     arch: "sm_90",
/// });
/// assert_eq!(key.to_hex().len(), 64);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct KeyInputs<'a> {
    /// The linked CUDA C source text, exactly as handed to NVRTC.
    pub source: &'a str,
    /// `nvrtcVersion()`: (major, minor).
    pub nvrtc_version: (i32, i32),
    /// The NVRTC options, in the order they are passed (order can matter).
    pub options: &'a [&'a str],
    /// The target architecture, e.g. `"sm_90"`.
    pub arch: &'a str,
}

/// A stable SHA-256 digest naming one compiled kernel in the disk cache.
///
/// The digest covers, without ambiguity (every field is length-prefixed), the
/// linked source text, the NVRTC version, the options list (each option and
/// their order), the target arch and spindle's own version. Any change to any
/// of these gives a different key, so a stale CUBIN is never found for a
/// changed kernel, compiler or GPU. Equal inputs give the same key in every
/// process and on every machine: the key depends on nothing else (no paths,
/// no time), which is what lets a cache folder be copied to another machine.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey {
    digest: [u8; 32],
}

impl CacheKey {
    /// The key of `inputs` for this version of spindle.
    pub fn new(inputs: &KeyInputs<'_>) -> CacheKey {
        CacheKey::with_spindle_version(inputs, SPINDLE_VERSION)
    }

    /// The key as if built by spindle `version` (tests, and tools that
    /// prepare a cache folder for another release).
    pub fn with_spindle_version(inputs: &KeyInputs<'_>, version: &str) -> CacheKey {
        let mut h = Sha256::new();
        h.update(DOMAIN);
        field(&mut h, version.as_bytes());
        field(&mut h, &inputs.nvrtc_version.0.to_le_bytes());
        field(&mut h, &inputs.nvrtc_version.1.to_le_bytes());
        field(&mut h, inputs.arch.as_bytes());
        h.update(&(inputs.options.len() as u64).to_le_bytes());
        for option in inputs.options {
            field(&mut h, option.as_bytes());
        }
        field(&mut h, inputs.source.as_bytes());
        CacheKey { digest: h.finish() }
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.digest
    }

    /// Rebuilds a key from its raw digest (as echoed in a cache entry).
    pub fn from_bytes(digest: [u8; 32]) -> CacheKey {
        CacheKey { digest }
    }

    /// 64 lowercase hex digits; also the entry's file name stem.
    pub fn to_hex(&self) -> String {
        to_hex(&self.digest)
    }
}

/// One length-prefixed field, so that ("ab", "c") and ("a", "bc") differ.
fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update(&(bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const BASE_OPTIONS: &[&str] = &["--std=c++17", "-default-device"];

    fn base() -> KeyInputs<'static> {
        KeyInputs {
            source: "extern \"C\" __global__ void k(int *p) { p[0] = 1; }",
            nvrtc_version: (13, 0),
            options: BASE_OPTIONS,
            arch: "sm_90",
        }
    }

    fn key(inputs: &KeyInputs<'_>) -> CacheKey {
        CacheKey::with_spindle_version(inputs, "0.1.0")
    }

    #[test]
    fn jit_key_is_deterministic_and_hex() {
        let a = CacheKey::new(&base());
        let b = CacheKey::new(&base());
        assert_eq!(a, b);
        let hex = a.to_hex();
        assert_eq!(hex.len(), 64);
        assert!(hex
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_eq!(CacheKey::from_bytes(*a.as_bytes()), a);
        assert_eq!(format!("{a}"), hex);
    }

    /// Pins the encoding: if this changes, every user's cache is silently
    /// invalidated, which must be a deliberate choice (bump `DOMAIN`).
    #[test]
    fn jit_key_encoding_is_stable() {
        let k = CacheKey::with_spindle_version(&base(), "0.0.0-test");
        assert_eq!(
            k.to_hex(),
            "0ca34c8e601c860d0124ce2161cb9f22474a93351075f592a19c332271e102d1",
            "the key encoding changed; if deliberate, bump DOMAIN and this value"
        );
    }

    #[test]
    fn jit_key_every_input_changes_the_key() {
        let b = base();
        let reordered = ["-default-device", "--std=c++17"];
        let one_more = ["--std=c++17", "-default-device", "-lineinfo"];
        let one_less = ["--std=c++17"];
        let split_a = ["--std=c++17-default-device"];
        let split_b = ["--std=c++1", "7-default-device"];
        let empty: [&str; 0] = [];
        let variants: Vec<(&str, CacheKey)> = vec![
            ("base", key(&b)),
            (
                "source",
                key(&KeyInputs {
                    source: "extern \"C\" __global__ void k(int *p) { p[0] = 2; }",
                    ..b
                }),
            ),
            (
                "source + trailing space",
                key(&KeyInputs {
                    source: &format!("{} ", b.source),
                    ..b
                }),
            ),
            (
                "nvrtc major",
                key(&KeyInputs {
                    nvrtc_version: (12, 0),
                    ..b
                }),
            ),
            (
                "nvrtc minor",
                key(&KeyInputs {
                    nvrtc_version: (13, 1),
                    ..b
                }),
            ),
            (
                "nvrtc swapped",
                key(&KeyInputs {
                    nvrtc_version: (0, 13),
                    ..b
                }),
            ),
            (
                "options reordered",
                key(&KeyInputs {
                    options: &reordered,
                    ..b
                }),
            ),
            (
                "option added",
                key(&KeyInputs {
                    options: &one_more,
                    ..b
                }),
            ),
            (
                "option removed",
                key(&KeyInputs {
                    options: &one_less,
                    ..b
                }),
            ),
            (
                "no options",
                key(&KeyInputs {
                    options: &empty,
                    ..b
                }),
            ),
            (
                "options joined",
                key(&KeyInputs {
                    options: &split_a,
                    ..b
                }),
            ),
            (
                "options split elsewhere",
                key(&KeyInputs {
                    options: &split_b,
                    ..b
                }),
            ),
            ("arch", key(&KeyInputs { arch: "sm_89", ..b })),
            (
                "spindle version",
                CacheKey::with_spindle_version(&b, "0.1.1"),
            ),
        ];
        let mut seen = HashSet::new();
        for (what, k) in &variants {
            assert!(seen.insert(*k), "changing `{what}` did not change the key");
        }
    }

    /// Moving text between adjacent fields must change the key (the fields are
    /// length-prefixed, not concatenated).
    #[test]
    fn jit_key_fields_do_not_run_together() {
        let opts_a = ["x"];
        let a = key(&KeyInputs {
            source: "ab",
            options: &opts_a,
            arch: "sm_90",
            nvrtc_version: (13, 0),
        });
        let opts_b = ["xa"];
        let b = key(&KeyInputs {
            source: "b",
            options: &opts_b,
            arch: "sm_90",
            nvrtc_version: (13, 0),
        });
        assert_ne!(a, b);
    }
}
