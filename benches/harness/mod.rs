//! A small measurement harness shared by the benchmarks: warm-up, many
//! timed repetitions, median and p99, a table on stdout and JSON lines in
//! `target/spindle-bench/<bench>.jsonl`.
#![allow(dead_code)]

pub mod async_calls;

use std::time::{Duration, Instant};

/// Median and tail of one measurement, per repetition.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub median: Duration,
    pub p99: Duration,
    pub reps: usize,
}

/// Runs `f` `warmup` times, then `reps` timed times.
pub fn measure(warmup: usize, reps: usize, mut f: impl FnMut()) -> Stats {
    for _ in 0..warmup {
        f();
    }
    let mut times: Vec<Duration> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort_unstable();
    Stats {
        median: times[times.len() / 2],
        p99: times[((times.len() * 99) / 100).min(times.len() - 1)],
        reps,
    }
}

/// Prints a row and appends it as JSON to `target/spindle-bench/<bench>.jsonl`.
pub fn report(bench: &str, name: &str, stats: Stats, extra: &str) {
    println!(
        "{name:<44} median {:>12} p99 {:>12} ({} reps) {extra}",
        fmt(stats.median),
        fmt(stats.p99),
        stats.reps
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/spindle-bench");
    let _ = std::fs::create_dir_all(&dir);
    let line = format!(
        "{{\"bench\":\"{bench}\",\"name\":\"{name}\",\"median_ns\":{},\"p99_ns\":{},\"reps\":{},\"note\":\"{}\"}}\n",
        stats.median.as_nanos(),
        stats.p99.as_nanos(),
        stats.reps,
        extra.replace('"', "'")
    );
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{bench}.jsonl")))
    {
        let _ = f.write_all(line.as_bytes());
    }
}

/// `1.23 µs`-style formatting.
pub fn fmt(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// The groups of a bench run: the command line's words that do not start
/// with `-` (`cargo bench` passes `--bench`), each one of `all`; none
/// chosen means every group.
pub struct Chosen(Vec<String>);

impl Chosen {
    /// Reads the groups from `args`; an error names an unknown one and
    /// lists `all`.
    pub fn from_args(bench: &str, args: &[String], all: &[&str]) -> Result<Chosen, String> {
        let words: Vec<String> = args
            .iter()
            .filter(|a| !a.starts_with('-'))
            .cloned()
            .collect();
        match words.iter().find(|w| !all.contains(&w.as_str())) {
            Some(bad) => Err(format!(
                "{bench} bench: unknown group {bad:?}; choose from {all:?}"
            )),
            None => Ok(Chosen(words)),
        }
    }

    /// Whether group `g` runs.
    pub fn wants(&self, g: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|w| w == g)
    }
}
