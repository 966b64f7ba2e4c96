//! [`DiskCache`]: compiled CUBINs in a folder, one file per [`CacheKey`].
//!
//! Robustness rules, since the folder is shared by every process of every
//! program a user runs, and may be copied between machines:
//!
//! - **Atomic writes.** An entry is written to a uniquely named temporary file
//!   in the same folder and renamed over `<key>.entry`. Readers see the old
//!   file or the new one, never a partial one. Two threads or processes
//!   storing the same key both succeed; the last rename wins and either
//!   result is a complete, valid entry. There is no fsync: a file torn by a
//!   power cut fails its checksum and is treated as a miss.
//! - **Bad files are misses.** A truncated, corrupted (checksum mismatch),
//!   foreign (bad magic, other format version, other key) or unreadable file
//!   is logged with `tracing::warn!`, removed if possible, and reported as a
//!   miss. It is never loaded and never causes a panic.
//! - **Bounded size.** After each store, if the entries in the folder add up
//!   to more than `max_bytes`, the least recently used ones (oldest
//!   modification time; a hit refreshes it) are removed until the total fits.
//!   The entry just stored is kept. An entry larger than `max_bytes` on its
//!   own is not stored. Only files named like entries or like spindle's
//!   temporary files are ever removed, so other files in the folder are safe.
//! - **Never fatal.** `get` returns an `Option`; `put` returns a
//!   [`CacheError`] for the caller to log and ignore. A broken cache only
//!   costs a recompile.

use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use super::config::{self, DEFAULT_MAX_BYTES};
use super::entry::{self, HEADER_LEN};
use super::key::CacheKey;

/// File name extension of an entry: `<64 hex digits>.entry`.
const ENTRY_EXT: &str = "entry";
/// Temporary files: `.<64 hex digits>.<pid>-<counter>-<nanos>.tmp`.
const TEMP_EXT: &str = "tmp";
/// A temporary file older than this was left by a writer that died; the
/// eviction scan removes it.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// Why [`DiskCache::put`] did not store an entry. Log it and go on: the
/// kernel is compiled and usable either way.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// A file-system operation failed.
    #[error("disk cache: could not {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The entry alone is larger than the cache's size limit.
    #[error(
        "disk cache: an entry of {size} bytes exceeds the limit of {max_bytes} bytes \
         (SPINDLE_CACHE_MAX_BYTES); not stored"
    )]
    TooLarge { size: u64, max_bytes: u64 },
}

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CacheError + 'a {
    move |source| CacheError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// A folder of compiled kernels shared between processes.
///
/// ```
/// use spindle_runtime::cache::{CacheKey, DiskCache, KeyInputs};
///
/// let dir = std::env::temp_dir().join(format!("spindle-doc-{}", std::process::id()));
/// let cache = DiskCache::at(&dir);
/// let key = CacheKey::new(&KeyInputs {
///     source: "extern \"C\" __global__ void k() {}",
///     nvrtc_version: (13, 0),
///     options: &[],
///     arch: "sm_90",
/// });
/// assert_eq!(cache.get(&key), None);
/// if let Err(e) = cache.put(&key, b"cubin bytes") {
///     eprintln!("{e}"); // a cache failure never fails a launch
/// }
/// assert_eq!(cache.get(&key).as_deref(), Some(&b"cubin bytes"[..]));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct DiskCache {
    dir: PathBuf,
    max_bytes: u64,
}

/// What reading an entry file found.
enum Lookup {
    Hit(Vec<u8>),
    Absent,
    /// A file that must not be used; `file` identifies what was opened (if
    /// anything) so that only that file is removed.
    Bad {
        problem: String,
        file: Option<Metadata>,
    },
}

impl DiskCache {
    /// The cache the environment asks for (the README's "Compiled kernels, caches and machines without NVRTC"), or `None` when it
    /// is off:
    ///
    /// - `SPINDLE_CACHE=off` (or `0`, `false`, `no`): no disk cache;
    /// - the folder: `SPINDLE_CACHE_DIR`, else `$XDG_CACHE_HOME/spindle`, else
    ///   `~/.cache/spindle` (`None` if none of these can be found);
    /// - `SPINDLE_CACHE_MAX_BYTES`: the size limit, in bytes or with a unit
    ///   (`512MiB`, `2G`); default 256 MiB.
    ///
    /// Bad values are logged and replaced by defaults. The folder is created
    /// on the first store.
    pub fn from_env() -> Option<DiskCache> {
        DiskCache::from_env_with(|name| std::env::var(name).ok())
    }

    /// [`DiskCache::from_env`] reading variables through `lookup` (tests,
    /// embedders with their own configuration source).
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Option<DiskCache> {
        config::from_lookup(&lookup).map(|c| DiskCache {
            dir: c.dir,
            max_bytes: c.max_bytes,
        })
    }

    /// A cache in `dir` with the default size limit (256 MiB).
    pub fn at(dir: impl Into<PathBuf>) -> DiskCache {
        DiskCache {
            dir: dir.into(),
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    /// The same cache with another size limit, in bytes (at least 1).
    pub fn with_max_bytes(mut self, max_bytes: u64) -> DiskCache {
        self.max_bytes = max_bytes.max(1);
        self
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The size limit in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The file that holds (or would hold) `key`'s entry.
    pub fn entry_path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.{ENTRY_EXT}", key.to_hex()))
    }

    /// The stored bytes for `key`, or `None` on a miss. A bad entry is
    /// logged, removed and reported as a miss. A hit marks the entry as
    /// recently used.
    pub fn get(&self, key: &CacheKey) -> Option<Vec<u8>> {
        let start = Instant::now();
        let path = self.entry_path(key);
        match self.read_entry(&path, key) {
            Lookup::Hit(payload) => {
                touch(&path);
                tracing::debug!(
                    key = %key,
                    bytes = payload.len(),
                    elapsed_us = elapsed_us(start),
                    "disk cache hit"
                );
                Some(payload)
            }
            Lookup::Absent => {
                tracing::debug!(key = %key, elapsed_us = elapsed_us(start), "disk cache miss");
                None
            }
            Lookup::Bad { problem, file } => {
                let removed = remove_if_same(&path, file.as_ref());
                tracing::warn!(
                    key = %key,
                    path = %path.display(),
                    problem = %problem,
                    removed,
                    "disk cache: ignoring a bad entry (it will be recompiled)"
                );
                tracing::debug!(key = %key, elapsed_us = elapsed_us(start), "disk cache miss");
                None
            }
        }
    }

    /// Stores `payload` under `key`, replacing any entry there, then trims
    /// the folder to the size limit. Safe to call from several threads and
    /// processes at once. On error nothing is left behind; log the error and
    /// go on.
    pub fn put(&self, key: &CacheKey, payload: &[u8]) -> Result<(), CacheError> {
        let start = Instant::now();
        let size = (HEADER_LEN + payload.len()) as u64;
        if size > self.max_bytes {
            return Err(CacheError::TooLarge {
                size,
                max_bytes: self.max_bytes,
            });
        }
        fs::create_dir_all(&self.dir).map_err(io_error("create the cache folder", &self.dir))?;
        let path = self.entry_path(key);
        let (mut file, temp) = self.create_temp(key)?;
        let written = file
            .write_all(&entry::encode_header(key, payload))
            .and_then(|()| file.write_all(payload))
            .map_err(io_error("write", &temp));
        drop(file);
        let stored = written.and_then(|()| {
            fs::rename(&temp, &path).map_err(io_error("rename a new entry to", &path))
        });
        if let Err(e) = stored {
            let _ = fs::remove_file(&temp);
            // Where rename cannot replace a file another process holds open
            // (Windows), a concurrent writer of the same key has won: fine.
            if matches!(self.read_entry(&path, key), Lookup::Hit(p) if p == payload) {
                tracing::debug!(key = %key, "disk cache: entry stored by another writer");
            } else {
                return Err(e);
            }
        }
        tracing::debug!(
            key = %key,
            bytes = payload.len(),
            elapsed_us = elapsed_us(start),
            "disk cache: stored entry"
        );
        self.trim(Some(&path));
        Ok(())
    }

    /// Removes least recently used entries until the folder's entries add up
    /// to at most the size limit, never removing `keep`; also removes
    /// temporary files left by writers that died. Failures are logged.
    fn trim(&self, keep: Option<&Path>) {
        let Ok(dir) = fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        let mut entries = Vec::new();
        let mut total: u64 = 0;
        for item in dir.flatten() {
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            let Ok(meta) = item.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if is_entry_name(name) {
                total += meta.len();
                entries.push((mtime, item.path(), meta.len()));
            } else if is_temp_name(name)
                && now.duration_since(mtime).unwrap_or_default() > STALE_TEMP_AGE
            {
                let _ = fs::remove_file(item.path());
            }
        }
        if total <= self.max_bytes {
            return;
        }
        entries.sort();
        let (mut removed, mut freed) = (0usize, 0u64);
        for (_, path, len) in entries {
            if total <= self.max_bytes {
                break;
            }
            if Some(path.as_path()) == keep {
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => {
                    removed += 1;
                    freed += len;
                    total -= len;
                }
                // Another process trimmed it first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => total -= len,
                Err(e) => tracing::warn!(
                    path = %path.display(),
                    error = %e,
                    "disk cache: could not remove an old entry"
                ),
            }
        }
        tracing::debug!(
            removed,
            freed_bytes = freed,
            total_bytes = total,
            max_bytes = self.max_bytes,
            "disk cache: trimmed to its size limit"
        );
    }

    /// A new, uniquely named temporary file next to the entries.
    fn create_temp(&self, key: &CacheKey) -> Result<(File, PathBuf), CacheError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut attempt = 0;
        loop {
            let nanos = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos();
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let temp = self.dir.join(format!(
                ".{}.{}-{n}-{nanos}.{TEMP_EXT}",
                key.to_hex(),
                std::process::id()
            ));
            match File::options().write(true).create_new(true).open(&temp) {
                Ok(file) => return Ok((file, temp)),
                // Only a stale file of a dead process with our pid can clash.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 3 => attempt += 1,
                Err(e) => return Err(io_error("create a temporary file", &temp)(e)),
            }
        }
    }

    /// Reads and checks the entry file at `path` for `key`.
    fn read_entry(&self, path: &Path, key: &CacheKey) -> Lookup {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Lookup::Absent,
            Err(e) => {
                return Lookup::Bad {
                    problem: format!("unreadable: {e}"),
                    file: None,
                }
            }
        };
        let meta = match file.metadata() {
            Ok(m) => m,
            Err(e) => {
                return Lookup::Bad {
                    problem: format!("unreadable: {e}"),
                    file: None,
                }
            }
        };
        let bad = |problem: String| Lookup::Bad {
            problem,
            file: Some(meta.clone()),
        };
        if !meta.is_file() {
            return bad("not a regular file".into());
        }
        // Never read a huge foreign file into memory: no valid entry is
        // larger than the limit.
        if meta.len() > self.max_bytes.max(HEADER_LEN as u64) {
            return bad(format!(
                "{} bytes, larger than the cache limit of {} bytes",
                meta.len(),
                self.max_bytes
            ));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        if let Err(e) = file.read_to_end(&mut bytes) {
            return bad(format!("unreadable: {e}"));
        }
        match entry::decode(&bytes, key) {
            Ok(_) => {
                bytes.drain(..HEADER_LEN);
                Lookup::Hit(bytes)
            }
            Err(problem) => bad(problem.to_string()),
        }
    }
}

/// Marks an entry as recently used for eviction. Best effort: in a read-only
/// (e.g. exported, shared) folder the entry simply keeps its old time.
fn touch(path: &Path) {
    let now = SystemTime::now();
    let touched = File::open(path)
        .and_then(|f| f.set_modified(now))
        .or_else(|_| File::options().write(true).open(path)?.set_modified(now));
    if let Err(e) = touched {
        tracing::debug!(path = %path.display(), error = %e, "disk cache: could not touch entry");
    }
}

/// Removes the bad file at `path`, but only if it is still the file that was
/// read (a concurrent writer may have just renamed a good entry there).
/// Returns whether it was removed.
fn remove_if_same(path: &Path, read: Option<&Metadata>) -> bool {
    let Ok(now) = fs::symlink_metadata(path) else {
        return false;
    };
    if !now.is_file() {
        return false;
    }
    if let Some(read) = read {
        if !same_file(read, &now) {
            return false;
        }
    }
    fs::remove_file(path).is_ok()
}

#[cfg(unix)]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    a.len() == b.len() && a.modified().ok() == b.modified().ok()
}

fn is_hex_key(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

pub(crate) fn is_entry_name(name: &str) -> bool {
    name.strip_suffix(ENTRY_EXT)
        .and_then(|s| s.strip_suffix('.'))
        .is_some_and(is_hex_key)
}

pub(crate) fn is_temp_name(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|s| s.strip_suffix(TEMP_EXT))
        .and_then(|s| s.get(..65))
        .is_some_and(|s| s.ends_with('.') && is_hex_key(&s[..64]))
}

fn elapsed_us(start: Instant) -> u64 {
    start.elapsed().as_micros().min(u64::MAX as u128) as u64
}
