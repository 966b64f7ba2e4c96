//! Where `gpu`'s figures go: a table on stdout and one JSON object per line
//! in `$SPINDLE_BENCH_JSON` (else `$CARGO_MANIFEST_DIR/target/spindle-bench/gpu.jsonl`
//! under `cargo bench`, else `./gpu-bench.jsonl`). The file is rewritten per run.
//!
//! Every figure is either measured (median and p99 over timed repetitions
//! after warm-up) or skipped with the reason: never a made-up number.
//!
//! A run on an emulated GPU (the CUDA stand-in of `cuda-emu/`, whose
//! device name says "emulated") marks every line `[emulated]` and every
//! record `"emulated": true`: those timings are of the emulation on the
//! CPU, never GPU figures.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use crate::harness::{fmt, Stats};

/// Collects figures: prints each one and appends it as JSON.
pub struct Reporter {
    json: Option<File>,
    pub path: Option<PathBuf>,
    /// Divides repetition counts (`--quick`: 10), recorded in every record.
    pub quick: bool,
    /// The GPU is the CUDA stand-in: recorded in every record and line.
    pub emulated: bool,
    pub measured: usize,
    pub skipped: usize,
}

impl Reporter {
    /// Opens the JSON output named by the environment (see the module doc).
    pub fn from_env(quick: bool) -> Reporter {
        let path = match std::env::var_os("SPINDLE_BENCH_JSON").filter(|p| !p.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => match std::env::var_os("CARGO_MANIFEST_DIR") {
                Some(m) => PathBuf::from(m).join("target/spindle-bench/gpu.jsonl"),
                None => PathBuf::from("gpu-bench.jsonl"),
            },
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let json = match File::create(&path) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!(
                    "gpu bench: cannot write {}: {e}; figures go to stdout only",
                    path.display()
                );
                None
            }
        };
        Reporter {
            path: json.as_ref().map(|_| path),
            json,
            quick,
            emulated: false,
            measured: 0,
            skipped: 0,
        }
    }

    /// Repetitions to use: `n`, or a tenth of it (at least 5) with `--quick`;
    /// on an emulated GPU 3 (a functional check: its timings mean nothing).
    pub fn reps(&self, n: usize) -> usize {
        if self.emulated {
            n.min(3)
        } else if self.quick {
            (n / 10).max(5)
        } else {
            n
        }
    }

    /// Warm-up repetitions: `n`, or 1 on an emulated GPU.
    pub fn warmup(&self, n: usize) -> usize {
        if self.emulated {
            n.min(1)
        } else {
            n
        }
    }

    /// A heading on stdout.
    pub fn section(&self, title: &str) {
        println!("\n== {title}");
    }

    /// A first record describing the run (machine, device, NVRTC).
    pub fn meta(&mut self, fields: &[(&str, String)]) {
        let mut obj = Obj::new("meta", "meta", "run");
        for (k, v) in fields {
            obj.str(k, v);
        }
        obj.bool("quick", self.quick);
        self.write(obj);
    }

    /// A latency: median and p99 of one repetition.
    pub fn time(&mut self, group: &str, name: &str, s: Stats, note: &str) {
        println!(
            "  {name:<52} median {:>10}  p99 {:>10}  ({} reps) {note}{}",
            fmt(s.median),
            fmt(s.p99),
            s.reps,
            self.mark()
        );
        let mut obj = Obj::new("time", group, name);
        obj.stats(s).str("note", note);
        self.write(obj);
        self.measured += 1;
    }

    /// A throughput: each repetition handled `items` items; the figure is
    /// the time per item (median and p99 over repetitions) and items/s.
    pub fn throughput(&mut self, group: &str, name: &str, s: Stats, items: usize, note: &str) {
        let per = |d: std::time::Duration| d / items as u32;
        let per_sec = items as f64 / s.median.as_secs_f64();
        println!(
            "  {name:<52} median {:>10}  p99 {:>10}  per item, {} /s ({} reps of {items}) {note}{}",
            fmt(per(s.median)),
            fmt(per(s.p99)),
            si(per_sec),
            s.reps,
            self.mark()
        );
        let mut obj = Obj::new("throughput", group, name);
        obj.num("median_ns", per(s.median).as_nanos() as f64)
            .num("p99_ns", per(s.p99).as_nanos() as f64)
            .num("reps", s.reps as f64)
            .num("items_per_rep", items as f64)
            .num("per_sec", per_sec)
            .str("note", note);
        self.write(obj);
        self.measured += 1;
    }

    /// `num / den` of two medians (and of the p99s), with an optional goal
    /// (`ratio <= goal`).
    pub fn ratio(
        &mut self,
        group: &str,
        name: &str,
        num: Stats,
        den: Stats,
        goal: Option<f64>,
        note: &str,
    ) {
        let r = num.median.as_secs_f64() / den.median.as_secs_f64();
        let r99 = num.p99.as_secs_f64() / den.p99.as_secs_f64();
        let verdict = match goal {
            Some(g) if r <= g => format!("(goal <= {g:.2}: met)"),
            Some(g) => format!("(goal <= {g:.2}: NOT met)"),
            None => String::new(),
        };
        println!(
            "  {name:<52} ratio  {r:>10.3}  p99 ratio {r99:>6.3} {verdict} {note}{}",
            self.mark()
        );
        let mut obj = Obj::new("ratio", group, name);
        obj.num("ratio", r).num("p99_ratio", r99).str("note", note);
        if let Some(g) = goal {
            obj.num("goal_max", g).bool("goal_met", r <= g);
        }
        self.write(obj);
        self.measured += 1;
    }

    /// A figure that could not be measured in this run, and why.
    pub fn skip(&mut self, group: &str, name: &str, reason: &str) {
        let short: String = reason.chars().take(100).collect();
        let more = if short.len() < reason.len() {
            "…"
        } else {
            ""
        };
        println!("  {name:<52} skipped: {short}{more}");
        let mut obj = Obj::new("skipped", group, name);
        obj.str("reason", reason);
        self.write(obj);
        self.skipped += 1;
    }

    /// What every printed figure of an emulated run ends with.
    fn mark(&self) -> &'static str {
        if self.emulated {
            " [emulated]"
        } else {
            ""
        }
    }

    fn write(&mut self, mut obj: Obj) {
        if self.emulated {
            obj.bool("emulated", true);
        }
        let mut line = obj.finish(self.quick);
        line.push('\n');
        if let Some(f) = &mut self.json {
            if let Err(e) = f.write_all(line.as_bytes()) {
                eprintln!("gpu bench: writing JSON failed: {e}");
                self.json = None;
            }
        }
    }
}

/// A JSON object built field by field (the root package has no serde_json).
struct Obj(String);

impl Obj {
    fn new(kind: &str, group: &str, name: &str) -> Obj {
        let mut o = Obj(String::from("{"));
        o.str("kind", kind).str("group", group).str("name", name);
        o
    }

    fn key(&mut self, k: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push_str(&quote(k));
        self.0.push(':');
    }

    fn str(&mut self, k: &str, v: &str) -> &mut Obj {
        self.key(k);
        self.0.push_str(&quote(v));
        self
    }

    fn num(&mut self, k: &str, v: f64) -> &mut Obj {
        self.key(k);
        if v.is_finite() {
            if v.fract() == 0.0 && v.abs() < 9.0e15 {
                self.0.push_str(&format!("{}", v as i64));
            } else {
                self.0.push_str(&format!("{v}"));
            }
        } else {
            self.0.push_str("null");
        }
        self
    }

    fn bool(&mut self, k: &str, v: bool) -> &mut Obj {
        self.key(k);
        self.0.push_str(if v { "true" } else { "false" });
        self
    }

    fn stats(&mut self, s: Stats) -> &mut Obj {
        self.num("median_ns", s.median.as_nanos() as f64)
            .num("p99_ns", s.p99.as_nanos() as f64)
            .num("reps", s.reps as f64)
    }

    fn finish(mut self, quick: bool) -> String {
        if quick {
            self.bool("quick", true);
        }
        self.0.push('}');
        self.0
    }
}

/// A JSON string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `1.23 M`-style formatting of a rate.
fn si(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2} G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.2} k", v / 1e3)
    } else {
        format!("{v:.1}")
    }
}
