//! Where the disk cache lives and how big it may grow, from the environment
//! (the README's "Compiled kernels, caches and machines without NVRTC").
//!
//! Parsing takes an injected `lookup` rather than reading the process
//! environment, so tests never mutate the environment other tests read.

use std::path::PathBuf;

/// Default bound on the total size of the entries in a cache folder.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// The settled configuration of an enabled disk cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CacheConfig {
    pub(crate) dir: PathBuf,
    pub(crate) max_bytes: u64,
}

/// Reads `SPINDLE_CACHE`, `SPINDLE_CACHE_DIR`, `XDG_CACHE_HOME`, `HOME`
/// (`USERPROFILE` where `HOME` is unset) and `SPINDLE_CACHE_MAX_BYTES`
/// through `lookup`. `None` when the cache is off or there is no folder to
/// use. Bad values are logged and replaced by the default, never an error:
/// the cache is an optimisation and must not stop a program.
pub(crate) fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Option<CacheConfig> {
    // Empty values count as unset, as the XDG spec asks for its variables.
    let var = |name: &str| lookup(name).filter(|v| !v.is_empty());

    if let Some(v) = var("SPINDLE_CACHE") {
        match v.trim().to_ascii_lowercase().as_str() {
            "off" | "0" | "false" | "no" => {
                tracing::debug!("disk cache disabled by SPINDLE_CACHE={v}");
                return None;
            }
            "on" | "1" | "true" | "yes" => {}
            _ => tracing::warn!(
                "SPINDLE_CACHE={v:?} is not one of on/off; keeping the disk cache on \
                 (set SPINDLE_CACHE=off to disable it)"
            ),
        }
    }

    let dir = if let Some(dir) = var("SPINDLE_CACHE_DIR") {
        PathBuf::from(dir)
    } else if let Some(xdg) = var("XDG_CACHE_HOME").filter(|x| PathBuf::from(x).is_absolute()) {
        // A relative XDG_CACHE_HOME is invalid per the spec and ignored.
        PathBuf::from(xdg).join("spindle")
    } else if let Some(home) = var("HOME").or_else(|| var("USERPROFILE")) {
        PathBuf::from(home).join(".cache").join("spindle")
    } else {
        tracing::debug!(
            "disk cache disabled: none of SPINDLE_CACHE_DIR, XDG_CACHE_HOME, HOME is set"
        );
        return None;
    };

    let max_bytes = match var("SPINDLE_CACHE_MAX_BYTES") {
        None => DEFAULT_MAX_BYTES,
        Some(v) => parse_size(&v).unwrap_or_else(|| {
            tracing::warn!(
                "SPINDLE_CACHE_MAX_BYTES={v:?} is not a positive size such as 268435456 \
                 or 256MiB; using the default of {DEFAULT_MAX_BYTES} bytes"
            );
            DEFAULT_MAX_BYTES
        }),
    };

    Some(CacheConfig { dir, max_bytes })
}

/// A positive byte count: digits with an optional binary unit, `K`/`KiB`,
/// `M`/`MiB`, `G`/`GiB` (case-insensitive, a trailing `B` allowed).
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(digits_end);
    let n: u64 = digits.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    let bytes = n.checked_mul(1u64 << shift)?;
    (bytes > 0).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Option<CacheConfig> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        from_lookup(&move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn jit_config_off_disables_the_cache() {
        for off in ["off", "OFF", "0", "false", " no "] {
            assert_eq!(
                with(&[("SPINDLE_CACHE", off), ("SPINDLE_CACHE_DIR", "/c")]),
                None,
                "SPINDLE_CACHE={off:?}"
            );
        }
        assert!(with(&[("SPINDLE_CACHE", "on"), ("HOME", "/h")]).is_some());
        // An unknown value keeps the cache on (and warns).
        assert!(with(&[("SPINDLE_CACHE", "maybe"), ("HOME", "/h")]).is_some());
    }

    #[test]
    fn jit_config_folder_precedence() {
        let dir = |vars: &[(&str, &str)]| with(vars).map(|c| c.dir);
        assert_eq!(
            dir(&[
                ("SPINDLE_CACHE_DIR", "/explicit"),
                ("XDG_CACHE_HOME", "/xdg"),
                ("HOME", "/home/u"),
            ]),
            Some(PathBuf::from("/explicit"))
        );
        assert_eq!(
            dir(&[("XDG_CACHE_HOME", "/xdg"), ("HOME", "/home/u")]),
            Some(PathBuf::from("/xdg/spindle"))
        );
        assert_eq!(
            dir(&[("HOME", "/home/u")]),
            Some(PathBuf::from("/home/u/.cache/spindle"))
        );
        // Empty and relative XDG_CACHE_HOME are ignored; empty DIR too.
        assert_eq!(
            dir(&[
                ("SPINDLE_CACHE_DIR", ""),
                ("XDG_CACHE_HOME", "rel"),
                ("HOME", "/home/u")
            ]),
            Some(PathBuf::from("/home/u/.cache/spindle"))
        );
        assert_eq!(dir(&[]), None);
    }

    #[test]
    fn jit_config_max_bytes() {
        let max = |v: &str| {
            with(&[("HOME", "/h"), ("SPINDLE_CACHE_MAX_BYTES", v)])
                .unwrap()
                .max_bytes
        };
        assert_eq!(
            with(&[("HOME", "/h")]).unwrap().max_bytes,
            DEFAULT_MAX_BYTES
        );
        assert_eq!(max("1000"), 1000);
        assert_eq!(max("64MiB"), 64 << 20);
        assert_eq!(max("2g"), 2 << 30);
        assert_eq!(max("0"), DEFAULT_MAX_BYTES);
        assert_eq!(max("lots"), DEFAULT_MAX_BYTES);
        assert_eq!(max("-5"), DEFAULT_MAX_BYTES);
    }

    #[test]
    fn jit_config_parse_size() {
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size(" 3 KiB "), Some(3 << 10));
        assert_eq!(parse_size("5mb"), Some(5 << 20));
        assert_eq!(parse_size("1.5G"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("99999999999999999999"), None);
        assert_eq!(parse_size("18446744073709551615G"), None);
    }
}
