//! Tests of [`DiskCache`] against a real folder.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

use super::disk::{is_entry_name, is_temp_name};
use super::entry::HEADER_LEN;
use super::*;

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "spindle-jit-{name}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn key(source: &str) -> CacheKey {
    CacheKey::new(&KeyInputs {
        source,
        nvrtc_version: (13, 0),
        options: &["--std=c++17"],
        arch: "sm_90",
    })
}

/// Deterministic pseudo-CUBIN bytes.
fn payload(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn set_age(path: &Path, age_secs: u64) {
    let t = SystemTime::now() - Duration::from_secs(age_secs);
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn jit_cache_hit_after_put() {
    let dir = TempDir::new("hit");
    let cache = DiskCache::at(dir.path());
    let k = key("a");
    assert_eq!(cache.get(&k), None);
    let bytes = payload(1, 5000);
    cache.put(&k, &bytes).unwrap();
    assert_eq!(cache.get(&k), Some(bytes.clone()));
    // A second handle on the folder (another process, later) sees it too.
    assert_eq!(DiskCache::at(dir.path()).get(&k), Some(bytes));
    // Empty payloads are entries too.
    cache.put(&key("empty"), b"").unwrap();
    assert_eq!(cache.get(&key("empty")), Some(Vec::new()));
    // One file per key, no temporary files left behind.
    let names = file_names(dir.path());
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| is_entry_name(n)), "{names:?}");
}

#[test]
fn jit_cache_miss_for_a_different_key_and_missing_folder() {
    let dir = TempDir::new("miss");
    let cache = DiskCache::at(dir.path());
    cache.put(&key("a"), b"cubin a").unwrap();
    assert_eq!(cache.get(&key("b")), None);
    let missing = DiskCache::at(dir.path().join("not-there"));
    assert_eq!(missing.get(&key("a")), None);
    assert!(
        !dir.path().join("not-there").exists(),
        "get must not create"
    );
}

#[test]
fn jit_cache_put_replaces_an_entry() {
    let dir = TempDir::new("replace");
    let cache = DiskCache::at(dir.path());
    let k = key("a");
    cache.put(&k, b"first").unwrap();
    cache.put(&k, b"second, longer").unwrap();
    assert_eq!(cache.get(&k).as_deref(), Some(&b"second, longer"[..]));
}

#[test]
fn jit_cache_corrupted_payload_is_a_miss_and_removed() {
    let dir = TempDir::new("corrupt");
    let cache = DiskCache::at(dir.path());
    let k = key("a");
    cache.put(&k, &payload(2, 300)).unwrap();
    let path = cache.entry_path(&k);
    let mut file = fs::read(&path).unwrap();
    file[HEADER_LEN + 150] ^= 0x01;
    fs::write(&path, &file).unwrap();
    assert_eq!(cache.get(&k), None);
    assert!(!path.exists(), "the corrupted entry must be removed");
    // And the next store works as usual.
    cache.put(&k, b"fresh").unwrap();
    assert_eq!(cache.get(&k).as_deref(), Some(&b"fresh"[..]));
}

#[test]
fn jit_cache_truncated_file_is_a_miss_and_removed() {
    let dir = TempDir::new("truncated");
    let cache = DiskCache::at(dir.path());
    let k = key("a");
    let bytes = payload(3, 400);
    for cut in [0, 5, HEADER_LEN - 1, HEADER_LEN, HEADER_LEN + 399] {
        cache.put(&k, &bytes).unwrap();
        let path = cache.entry_path(&k);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(cut as u64)
            .unwrap();
        assert_eq!(cache.get(&k), None, "cut at {cut}");
        assert!(!path.exists(), "cut at {cut}: not removed");
    }
}

#[test]
fn jit_cache_foreign_files_are_misses() {
    let dir = TempDir::new("foreign");
    let cache = DiskCache::at(dir.path());
    let k = key("a");
    let path = cache.entry_path(&k);

    // Random bytes.
    let mut rng = fastrand::Rng::with_seed(7);
    let junk: Vec<u8> = (0..2000).map(|_| rng.u8(..)).collect();
    fs::write(&path, &junk).unwrap();
    assert_eq!(cache.get(&k), None);
    assert!(!path.exists());

    // A well-formed entry with another magic (say, a future incompatible
    // format) and one with another format version.
    cache.put(&k, b"cubin").unwrap();
    let good = fs::read(&path).unwrap();
    let mut other_magic = good.clone();
    other_magic[..8].copy_from_slice(b"NOTSPNDL");
    fs::write(&path, &other_magic).unwrap();
    assert_eq!(cache.get(&k), None);
    assert!(!path.exists());
    let mut other_version = good.clone();
    other_version[8] = 99;
    fs::write(&path, &other_version).unwrap();
    assert_eq!(cache.get(&k), None);
    assert!(!path.exists());

    // A valid entry of another key copied under this key's name.
    let other = key("b");
    cache.put(&other, b"cubin of b").unwrap();
    fs::copy(cache.entry_path(&other), &path).unwrap();
    assert_eq!(cache.get(&k), None);
    assert!(!path.exists());
    assert_eq!(cache.get(&other).as_deref(), Some(&b"cubin of b"[..]));
}

#[test]
fn jit_cache_unreadable_entry_is_a_miss_not_a_panic() {
    let dir = TempDir::new("unreadable");
    let cache = DiskCache::at(dir.path());
    let k = key("a");
    // A folder where the entry file should be: unreadable as a file, and not
    // ours to delete.
    fs::create_dir(cache.entry_path(&k)).unwrap();
    assert_eq!(cache.get(&k), None);
    assert!(cache.entry_path(&k).is_dir());
    // Storing cannot replace a folder: an error to log, not a panic, and no
    // temporary file left behind.
    assert!(matches!(
        cache.put(&k, b"cubin"),
        Err(CacheError::Io { .. })
    ));
    assert!(file_names(dir.path()).iter().all(|n| !is_temp_name(n)));
}

#[test]
fn jit_cache_put_errors_are_reported_not_fatal() {
    let dir = TempDir::new("put-error");
    // The cache folder's place is taken by a file.
    let blocked = dir.path().join("blocked");
    fs::write(&blocked, b"not a folder").unwrap();
    let cache = DiskCache::at(&blocked);
    let err = cache.put(&key("a"), b"cubin").unwrap_err();
    assert!(matches!(err, CacheError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("blocked"), "{err}");
    assert_eq!(cache.get(&key("a")), None);

    // An entry larger than the limit is refused up front.
    let small = DiskCache::at(dir.path().join("small")).with_max_bytes(100);
    let err = small.put(&key("a"), &[0; 100]).unwrap_err();
    assert!(matches!(err, CacheError::TooLarge { .. }), "{err:?}");
    assert!(!dir.path().join("small").exists());
}

#[test]
fn jit_cache_concurrent_threads_put_the_same_key() {
    let dir = TempDir::new("threads");
    let cache = DiskCache::at(dir.path());
    let k = key("shared");
    let bytes = Arc::new(payload(9, 64 * 1024));
    const THREADS: usize = 8;
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (cache, bytes, barrier) = (cache.clone(), bytes.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut results = Vec::new();
                for _ in 0..10 {
                    results.push(cache.put(&k, &bytes).map_err(|e| e.to_string()));
                    // Entries are only ever replaced whole, so once stored the
                    // key always reads back complete, even while others write.
                    assert_eq!(cache.get(&k).as_ref(), Some(&*bytes));
                }
                results
            })
        })
        .collect();
    for h in handles {
        for r in h.join().unwrap() {
            r.unwrap();
        }
    }
    assert_eq!(cache.get(&k), Some((*bytes).clone()));
    assert_eq!(file_names(dir.path()), vec![format!("{k}.entry")]);
}

const CHILD_DIR_VAR: &str = "SPINDLE_JIT_TEST_CHILD_CACHE_DIR";
const CHILD_TEST: &str = "cache::disk_tests::jit_cache_child_writer_role";

/// Not a test on its own: the writer process of
/// `jit_cache_concurrent_processes_put_the_same_key`.
#[test]
#[ignore = "child role of jit_cache_concurrent_processes_put_the_same_key"]
fn jit_cache_child_writer_role() {
    let Some(dir) = std::env::var_os(CHILD_DIR_VAR) else {
        eprintln!("{CHILD_DIR_VAR} is not set: nothing to do outside the parent test");
        return;
    };
    let cache = DiskCache::at(PathBuf::from(dir));
    let k = key("shared between processes");
    let bytes = payload(11, 128 * 1024);
    for _ in 0..25 {
        cache.put(&k, &bytes).unwrap();
        // Never a partial entry, never a miss once stored (see the thread test).
        assert_eq!(cache.get(&k).as_ref(), Some(&bytes));
    }
}

#[test]
fn jit_cache_concurrent_processes_put_the_same_key() {
    let dir = TempDir::new("processes");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(&exe)
                .args([CHILD_TEST, "--exact", "--ignored", "--test-threads=1"])
                .env(CHILD_DIR_VAR, dir.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "writer failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Make sure the child really ran the role (the filter matched).
        assert!(stdout.contains("1 passed"), "{stdout}");
    }
    let cache = DiskCache::at(dir.path());
    let k = key("shared between processes");
    assert_eq!(cache.get(&k), Some(payload(11, 128 * 1024)));
    assert_eq!(file_names(dir.path()), vec![format!("{k}.entry")]);
}

#[test]
fn jit_cache_eviction_keeps_the_total_under_the_limit() {
    let dir = TempDir::new("evict");
    let entry_len = (HEADER_LEN + 1000) as u64;
    // Room for three entries, not four.
    let cache = DiskCache::at(dir.path()).with_max_bytes(3 * entry_len + 10);
    let keys: Vec<CacheKey> = (0..6).map(|i| key(&format!("k{i}"))).collect();
    for (i, k) in keys[..3].iter().enumerate() {
        cache.put(k, &payload(i as u8, 1000)).unwrap();
        // k0 oldest, k2 newest.
        set_age(&cache.entry_path(k), 1000 - 100 * i as u64);
    }
    let total = |c: &DiskCache| -> u64 {
        fs::read_dir(c.dir())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    assert_eq!(total(&cache), 3 * entry_len);

    cache.put(&keys[3], &payload(3, 1000)).unwrap();
    assert!(total(&cache) <= cache.max_bytes());
    assert_eq!(cache.get(&keys[0]), None, "the oldest entry is evicted");
    for k in &keys[1..4] {
        assert!(cache.get(k).is_some(), "{k} was evicted");
    }

    // A hit makes an entry recently used: k1 is now the newest, k2 the oldest.
    for (k, age) in [(&keys[1], 900), (&keys[2], 800), (&keys[3], 700)] {
        set_age(&cache.entry_path(k), age);
    }
    assert!(cache.get(&keys[1]).is_some());
    cache.put(&keys[4], &payload(4, 1000)).unwrap();
    assert!(total(&cache) <= cache.max_bytes());
    assert!(!cache.entry_path(&keys[2]).exists(), "k2 should be evicted");
    assert!(cache.entry_path(&keys[1]).exists(), "k1 was touched on hit");

    // A larger new entry evicts as many old ones as needed, never itself.
    cache.put(&keys[5], &payload(5, 2500)).unwrap();
    assert!(total(&cache) <= cache.max_bytes());
    assert!(cache.get(&keys[5]).is_some());
}

#[test]
fn jit_cache_trim_spares_other_files_and_fresh_temporaries() {
    let dir = TempDir::new("trim");
    let cache = DiskCache::at(dir.path()).with_max_bytes((HEADER_LEN + 10) as u64);
    let k = key("a");
    let stale = dir.path().join(format!(".{k}.1-0-0.tmp"));
    let fresh = dir.path().join(format!(".{k}.2-0-0.tmp"));
    let other = dir.path().join("README.txt");
    for p in [&stale, &fresh, &other] {
        fs::write(p, [0u8; 4096]).unwrap();
    }
    set_age(&stale, 2 * 3600);
    set_age(&other, 10 * 3600);
    cache.put(&k, b"0123456789").unwrap();
    cache.put(&key("b"), b"0123456789").unwrap();
    assert!(!stale.exists(), "a stale temporary file is cleaned up");
    assert!(fresh.exists(), "a writer may still be using a fresh one");
    assert!(
        other.exists(),
        "files that are not entries are never removed"
    );
    assert!(!cache.entry_path(&k).exists());
    assert!(cache.entry_path(&key("b")).exists());
}

#[test]
fn jit_cache_folder_can_be_copied_elsewhere() {
    let a = TempDir::new("export-a");
    let b = TempDir::new("export-b");
    let k = key("exported");
    DiskCache::at(a.path()).put(&k, b"precompiled").unwrap();
    for name in file_names(a.path()) {
        fs::copy(a.path().join(&name), b.path().join(&name)).unwrap();
    }
    let copy = DiskCache::from_env_with(|name| {
        (name == "SPINDLE_CACHE_DIR").then(|| b.path().to_string_lossy().into_owned())
    })
    .unwrap();
    assert_eq!(copy.dir(), b.path());
    assert_eq!(copy.get(&k).as_deref(), Some(&b"precompiled"[..]));
}

#[test]
fn jit_cache_from_env_off_is_none() {
    let off = DiskCache::from_env_with(|name| match name {
        "SPINDLE_CACHE" => Some("off".into()),
        "SPINDLE_CACHE_DIR" => Some("/somewhere".into()),
        _ => None,
    });
    assert!(off.is_none());
    let on = DiskCache::from_env_with(|name| match name {
        "SPINDLE_CACHE_DIR" => Some("/somewhere".into()),
        "SPINDLE_CACHE_MAX_BYTES" => Some("1MiB".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(on.dir(), Path::new("/somewhere"));
    assert_eq!(on.max_bytes(), 1 << 20);
}

#[test]
fn jit_cache_file_name_rules() {
    let k = key("a");
    assert!(is_entry_name(&format!("{k}.entry")));
    assert!(!is_entry_name(&format!("{k}.entry.bak")));
    assert!(!is_entry_name("README.entry"));
    assert!(!is_entry_name(&format!(
        "{}.entry",
        k.to_hex().to_uppercase()
    )));
    assert!(is_temp_name(&format!(".{k}.123-4-5.tmp")));
    assert!(!is_temp_name(&format!("{k}.123-4-5.tmp")));
    assert!(!is_temp_name(".notes.tmp"));
}
