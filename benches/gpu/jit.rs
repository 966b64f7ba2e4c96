//! JIT: what a kernel's first use costs.
//!
//! - Here (no GPU needed): NVRTC compile of the emitted CUDA C to a CUBIN
//!   (cold), and a disk-cache hit (key digest + reading and checking the
//!   entry) with the runtime's own `DiskCache`.
//! - On a GPU: the first launch in a fresh process with an empty cache
//!   folder (cold: link, emit, NVRTC, load, launch), with a warm folder
//!   (disk hit), and the second launch (memory hit: module already loaded).
//!   Each sample is a child process (`gpu --jit-child`), so no process-wide
//!   state (loaded NVRTC, linked IR, cache settings) carries over.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use spindle::prelude::*;
use spindle_runtime::cache::{CacheKey, DiskCache, KeyInputs};
use spindle_runtime::cuda::{compile_cubin, cubin_for, nvrtc_options, nvrtc_version};

use crate::harness::{measure, Stats};
use crate::kernels::touch;
use crate::particles;
use crate::report::Reporter;

const GROUP: &str = "jit";
/// The arch compiled for when there is no GPU to ask (H100/H200).
const DEFAULT_ARCH: &str = "sm_90";

pub fn run(r: &mut Reporter, gpu: Result<&Device, &str>, gpu_arch: Option<&str>) {
    r.section("JIT: cold compile, disk hit, memory hit");
    let arch = gpu_arch.unwrap_or(DEFAULT_ARCH);
    match nvrtc_version() {
        Ok((major, minor)) => {
            println!("  NVRTC {major}.{minor}, compiling for {arch}");
            for (name, source) in [
                ("touch", touch::try_cuda_source()),
                ("particles::step", particles::step::try_cuda_source()),
            ] {
                match source {
                    Ok(src) => {
                        compile_and_disk(r, name, &src, arch, (major, minor));
                        runtime_disk_hit(r, name, arch);
                    }
                    Err(e) => r.skip(
                        GROUP,
                        &format!("{name}: NVRTC cold compile"),
                        &format!("the kernel does not link: {e}"),
                    ),
                }
            }
        }
        Err(e) => {
            let why = format!("NVRTC not found: {e}");
            r.skip(GROUP, "NVRTC cold compile", &why);
            r.skip(GROUP, "disk cache hit (key + read)", &why);
        }
    }
    link_cache_hit(r);
    match gpu {
        Ok(_) => first_launches(r),
        Err(why) => {
            for name in FIRST_LAUNCH_FIGURES {
                r.skip(GROUP, name, why);
            }
        }
    }
}

const FIRST_LAUNCH_FIGURES: [&str; 3] = [
    "touch: first launch, empty cache folder (cold)",
    "touch: first launch, warm cache folder (disk hit)",
    "touch: second launch (memory hit)",
];

/// The in-process lookup every launch starts with on any backend: the
/// kernel's linked IR, kept in its `KernelInfo` after the first use (a
/// `OnceLock` read; no lock). The per-device module lookup that follows on
/// a GPU is the "second launch" figure.
fn link_cache_hit(r: &mut Reporter) {
    let figure = "touch: in-process link cache hit (KernelInfo::linked)";
    let Some(info) = spindle_runtime::kernel_infos().find(|k| k.name == "touch") else {
        return r.skip(GROUP, figure, "the kernel is not registered (bench bug)");
    };
    if let Err(e) = info.linked() {
        return r.skip(GROUP, figure, &format!("the kernel does not link: {e}"));
    }
    let hit = measure(r.warmup(1000), r.reps(100_000), || {
        std::hint::black_box(info.linked().unwrap());
    });
    r.time(
        GROUP,
        figure,
        hit,
        "includes the timer's own cost per repetition",
    );
}

/// `cubin_for`: what a launch does before loading, when the disk cache
/// holds the kernel (emit the CUDA C, derive the key, read the entry).
fn runtime_disk_hit(r: &mut Reporter, name: &str, arch: &str) {
    let figure = format!("{name}: runtime cubin_for, disk hit (emit + key + read)");
    let short = name.rsplit("::").next().unwrap_or(name);
    let Some(info) = spindle_runtime::kernel_infos().find(|k| k.name == short) else {
        return r.skip(GROUP, &figure, "the kernel is not registered (bench bug)");
    };
    let Some(cache) = DiskCache::from_env() else {
        return r.skip(
            GROUP,
            &figure,
            "the disk cache is off (SPINDLE_CACHE=off, or no folder for it)",
        );
    };
    // The first call compiles and stores, unless the entry is there already;
    // the second must then find it and store nothing new.
    let first = match cubin_for(info, arch) {
        Ok(c) => c,
        Err(e) => return r.skip(GROUP, &figure, &format!("cubin_for failed: {e}")),
    };
    let stored = entries(cache.dir());
    let again = cubin_for(info, arch);
    if again.as_deref().ok() != Some(&first[..]) || stored == 0 || entries(cache.dir()) != stored {
        return r.skip(
            GROUP,
            &figure,
            "a second cubin_for was not an identical disk hit",
        );
    }
    let hit = measure(r.warmup(20), r.reps(1000), || {
        std::hint::black_box(cubin_for(info, arch).unwrap());
    });
    r.time(GROUP, &figure, hit, "");
}

fn compile_and_disk(r: &mut Reporter, name: &str, source: &str, arch: &str, version: (i32, i32)) {
    let first = match compile_cubin(name, source, arch) {
        Ok(m) => m,
        Err(e) => {
            r.skip(
                GROUP,
                &format!("{name}: NVRTC cold compile"),
                &format!("NVRTC rejected it: {e}"),
            );
            return;
        }
    };
    let cold = measure(r.warmup(1), r.reps(21), || {
        compile_cubin(name, source, arch).unwrap();
    });
    r.time(
        GROUP,
        &format!("{name}: NVRTC cold compile to CUBIN ({arch})"),
        cold,
        &format!("{} bytes", first.cubin.len()),
    );

    let dir = scratch_dir("disk");
    let cache = DiskCache::at(&dir);
    let options = nvrtc_options(arch);
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let key_of = || {
        CacheKey::new(&KeyInputs {
            source,
            nvrtc_version: version,
            options: &options,
            arch,
        })
    };
    if let Err(e) = cache.put(&key_of(), &first.cubin) {
        r.skip(
            GROUP,
            &format!("{name}: disk cache hit"),
            &format!("could not store the entry: {e}"),
        );
        return;
    }
    if cache.get(&key_of()).as_deref() != Some(&first.cubin[..]) {
        r.skip(
            GROUP,
            &format!("{name}: disk cache hit"),
            "the stored entry did not read back",
        );
    } else {
        let hit = measure(r.warmup(50), r.reps(2000), || {
            let bytes = cache.get(&key_of()).unwrap();
            std::hint::black_box(bytes);
        });
        r.time(
            GROUP,
            &format!("{name}: disk cache hit (key digest + read + check)"),
            hit,
            "",
        );
        r.ratio(
            GROUP,
            &format!("{name}: cold compile / disk hit"),
            cold,
            hit,
            None,
            "speed-up of the disk cache",
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh folder under the system's temporary folder.
fn scratch_dir(what: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "spindle-bench-{what}-{}-{nanos}",
        std::process::id()
    ))
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).count())
        .unwrap_or(0)
}

/// One child's figures: first launch, second launch, in nanoseconds.
fn child(cache_dir: &Path) -> Result<(Duration, Duration), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let out = std::process::Command::new(exe)
        .arg("--jit-child")
        .env("SPINDLE_CACHE_DIR", cache_dir)
        .env_remove("SPINDLE_CACHE")
        .output()
        .map_err(|e| format!("cannot run the child: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| l.strip_prefix("jit-child "));
    match line.map(|l| {
        l.split_whitespace()
            .map(str::parse::<u64>)
            .collect::<Vec<_>>()
    }) {
        Some(v) if out.status.success() && v.len() == 2 && v.iter().all(Result::is_ok) => {
            let v: Vec<u64> = v.into_iter().map(Result::unwrap).collect();
            Ok((Duration::from_nanos(v[0]), Duration::from_nanos(v[1])))
        }
        _ => Err(format!(
            "the child failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// The child side: open GPU 0, then time the first and second launch.
pub fn child_main() -> std::process::ExitCode {
    let dev = match Device::cuda(0) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let run = || -> spindle::Result<(Duration, Duration)> {
        let mut out = dev.zeros::<u32>(32)?;
        let t = Instant::now();
        touch::launch(&dev, Launch::new(1u32, 32u32), &mut out)?;
        let first = t.elapsed();
        let t = Instant::now();
        touch::launch(&dev, Launch::new(1u32, 32u32), &mut out)?;
        let second = t.elapsed();
        if out.to_vec()? != vec![2u32; 32] {
            return Err(spindle::Error::Config("touch gave a wrong result".into()));
        }
        Ok((first, second))
    };
    match run() {
        Ok((a, b)) => {
            println!("jit-child {} {}", a.as_nanos(), b.as_nanos());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn first_launches(r: &mut Reporter) {
    let reps = r.reps(21).max(5);
    let base = scratch_dir("first-launch");
    let result = first_launch_samples(&base, reps);
    let _ = std::fs::remove_dir_all(&base);
    let samples = match result {
        Ok(s) => s,
        Err(e) => {
            for name in FIRST_LAUNCH_FIGURES {
                r.skip(GROUP, name, &e);
            }
            return;
        }
    };
    let cold = stats(samples.cold);
    r.time(
        GROUP,
        FIRST_LAUNCH_FIGURES[0],
        cold,
        "fresh process per sample",
    );
    match samples.disk {
        Ok(disk) => {
            let disk = stats(disk);
            r.time(
                GROUP,
                FIRST_LAUNCH_FIGURES[1],
                disk,
                "fresh process per sample",
            );
            r.ratio(
                GROUP,
                "touch first launch: cold / disk hit",
                cold,
                disk,
                None,
                "",
            );
        }
        Err(why) => r.skip(GROUP, FIRST_LAUNCH_FIGURES[1], &why),
    }
    r.time(
        GROUP,
        FIRST_LAUNCH_FIGURES[2],
        stats(samples.memory),
        "same child, right after its first launch",
    );
}

struct FirstLaunches {
    cold: Vec<Duration>,
    /// Why there is no disk-hit figure, when there is none.
    disk: Result<Vec<Duration>, String>,
    memory: Vec<Duration>,
}

fn first_launch_samples(base: &Path, reps: usize) -> Result<FirstLaunches, String> {
    let (mut cold, mut memory) = (Vec::new(), Vec::new());
    let mut wrote = true;
    // Two unrecorded children first: file-system and driver caches.
    for i in 0..reps + 2 {
        let dir = base.join(format!("cold-{i}"));
        let (first, second) = child(&dir)?;
        wrote &= entries(&dir) > 0;
        if i >= 2 {
            cold.push(first);
            memory.push(second);
        }
    }
    if !wrote {
        let why = "the CUDA backend wrote nothing to SPINDLE_CACHE_DIR: \
                   the disk cache is not wired into launches in this build";
        return Ok(FirstLaunches {
            cold,
            disk: Err(why.into()),
            memory,
        });
    }
    let warm = base.join("cold-0");
    let before = entries(&warm);
    let mut disk = Vec::new();
    for i in 0..reps + 2 {
        let (first, _) = child(&warm)?;
        if i >= 2 {
            disk.push(first);
        }
    }
    let disk = if entries(&warm) == before {
        Ok(disk)
    } else {
        Err("a warm cache folder still got new entries: the launches were not disk hits".into())
    };
    Ok(FirstLaunches { cold, disk, memory })
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort_unstable();
    Stats {
        median: v[v.len() / 2],
        p99: v[(v.len() * 99 / 100).min(v.len() - 1)],
        reps: v.len(),
    }
}
