//! The stand-in's settings and injected faults, read from the environment
//! once, at `cuInit` (as the real driver reads `CUDA_MODULE_LOADING`).
//!
//! | variable | meaning |
//! | --- | --- |
//! | `CUDA_MODULE_LOADING` | `LAZY` (the default, as CUDA ≥ 12.2 on Linux) or `EAGER` |
//! | `SPINDLE_EMU_HANG_MS` | how long a synchronising call waits for a persistent kernel before it fails (default 2000) |
//! | `SPINDLE_EMU_WAIT_LIMIT_S` | how long it waits for any other work (default 300) |
//! | `SPINDLE_EMU_THREADS` | blocks run at once per launch (default: the CPU's threads, at most 8) |
//! | `SPINDLE_EMU_BLOCKS` | how a block's threads run when they can wait for each other: `fibers` (default; on one OS thread, switching at barriers and warp operations) or `threads` (one OS thread each) |
//! | `SPINDLE_EMU_FAIL_ALLOC=N` | the Nth memory allocation (device or pinned, counted from 1) fails with `CUDA_ERROR_OUT_OF_MEMORY` |
//! | `SPINDLE_EMU_FAIL_LAUNCH=S` | launch `S` fails at `cuLaunchKernel` with `CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES` |
//! | `SPINDLE_EMU_ILLEGAL_ADDRESS=S` | launch `S` ends in `CUDA_ERROR_ILLEGAL_ADDRESS` when it runs (sticky: the context is unusable afterwards) |
//! | `SPINDLE_EMU_HANG_KERNEL=S` | launch `S` never finishes |
//!
//! A launch selector `S` is a number N (the Nth `cuLaunchKernel` of the
//! process, from 1) or an entry point's name (every launch of it, e.g.
//! `spindle_ring_tally`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Which launches an injected fault hits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// The Nth launch (or allocation) of the process, counted from 1.
    Nth(u64),
    /// Every launch of the entry point with this name.
    Entry(String),
}

impl Selector {
    fn parse(text: &str) -> Option<Selector> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        Some(match text.parse::<u64>() {
            Ok(n) => Selector::Nth(n),
            Err(_) => Selector::Entry(text.to_string()),
        })
    }

    fn hits(&self, nth: u64, entry: &str) -> bool {
        match self {
            Selector::Nth(n) => *n == nth,
            Selector::Entry(e) => e == entry,
        }
    }
}

/// Faults injected by the environment.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// The allocation number that fails.
    pub fail_alloc: Option<u64>,
    /// Launches refused by `cuLaunchKernel`.
    pub fail_launch: Option<Selector>,
    /// Launches that end in an illegal address.
    pub illegal_address: Option<Selector>,
    /// Launches that never finish.
    pub hang_kernel: Option<Selector>,
}

/// What an injected fault does to one launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaunchFault {
    /// Refused at `cuLaunchKernel`.
    Refuse,
    /// Ends in `CUDA_ERROR_ILLEGAL_ADDRESS` when it runs.
    IllegalAddress,
    /// Runs forever.
    Hang,
}

/// The settings, read at `cuInit`.
#[derive(Clone, Debug)]
pub struct Config {
    /// `CUDA_MODULE_LOADING=LAZY` (the default).
    pub lazy_loading: bool,
    /// How long a synchronising call waits for a persistent kernel.
    pub hang_limit: Duration,
    /// How long a synchronising call waits for anything else.
    pub wait_limit: Duration,
    /// Blocks of one launch run at once.
    pub parallel_blocks: usize,
    /// A block's threads run as OS threads (else as fibers).
    pub blocks_as_threads: bool,
    /// Injected faults.
    pub faults: Faults,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn number(name: &str) -> Option<u64> {
    let v = var(name)?;
    match v.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => {
            crate::log::warn(format!("{name}={v:?} is not a number; ignored"));
            None
        }
    }
}

impl Config {
    /// The settings the environment gives now.
    pub fn from_env() -> Config {
        let lazy_loading = match var("CUDA_MODULE_LOADING").as_deref().map(str::trim) {
            Some("EAGER") => false,
            Some("LAZY") | None => true,
            Some(other) => {
                crate::log::warn(format!(
                    "CUDA_MODULE_LOADING={other:?} is neither EAGER nor LAZY; using LAZY"
                ));
                true
            }
        };
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Config {
            lazy_loading,
            hang_limit: Duration::from_millis(number("SPINDLE_EMU_HANG_MS").unwrap_or(2000)),
            wait_limit: Duration::from_secs(number("SPINDLE_EMU_WAIT_LIMIT_S").unwrap_or(300)),
            parallel_blocks: number("SPINDLE_EMU_THREADS")
                .map_or(cpus.min(8), |n| n as usize)
                .max(1),
            blocks_as_threads: match var("SPINDLE_EMU_BLOCKS").as_deref().map(str::trim) {
                Some("threads") => true,
                Some("fibers") | None => false,
                Some(other) => {
                    crate::log::warn(format!(
                        "SPINDLE_EMU_BLOCKS={other:?} is neither fibers nor threads; using fibers"
                    ));
                    false
                }
            },
            faults: Faults {
                fail_alloc: number("SPINDLE_EMU_FAIL_ALLOC"),
                fail_launch: var("SPINDLE_EMU_FAIL_LAUNCH").and_then(|v| Selector::parse(&v)),
                illegal_address: var("SPINDLE_EMU_ILLEGAL_ADDRESS")
                    .and_then(|v| Selector::parse(&v)),
                hang_kernel: var("SPINDLE_EMU_HANG_KERNEL").and_then(|v| Selector::parse(&v)),
            },
        }
    }

    /// The injected fault (if any) for the `nth` launch, of `entry`.
    pub fn launch_fault(&self, nth: u64, entry: &str) -> Option<LaunchFault> {
        let f = &self.faults;
        if f.fail_launch.as_ref().is_some_and(|s| s.hits(nth, entry)) {
            Some(LaunchFault::Refuse)
        } else if f
            .illegal_address
            .as_ref()
            .is_some_and(|s| s.hits(nth, entry))
        {
            Some(LaunchFault::IllegalAddress)
        } else if f.hang_kernel.as_ref().is_some_and(|s| s.hits(nth, entry)) {
            Some(LaunchFault::Hang)
        } else {
            None
        }
    }

    /// Counts one allocation; `true` when it is the one that must fail.
    pub fn next_alloc_fails(&self) -> bool {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let nth = COUNT.fetch_add(1, Ordering::Relaxed) + 1;
        self.faults.fail_alloc == Some(nth)
    }
}

static CONFIG: OnceLock<Config> = OnceLock::new();

/// The settings: read from the environment by the first `cuInit` (or the
/// first call that needs them).
pub fn get() -> &'static Config {
    CONFIG.get_or_init(Config::from_env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_pick_a_number_or_an_entry() {
        assert_eq!(Selector::parse(" 3 "), Some(Selector::Nth(3)));
        assert_eq!(
            Selector::parse("spindle_ring_tally"),
            Some(Selector::Entry("spindle_ring_tally".into()))
        );
        assert_eq!(Selector::parse(""), None);
        let c = Config {
            lazy_loading: true,
            hang_limit: Duration::ZERO,
            wait_limit: Duration::ZERO,
            parallel_blocks: 1,
            blocks_as_threads: false,
            faults: Faults {
                fail_alloc: None,
                fail_launch: Some(Selector::Nth(2)),
                illegal_address: Some(Selector::Entry("k".into())),
                hang_kernel: None,
            },
        };
        assert_eq!(c.launch_fault(1, "j"), None);
        assert_eq!(c.launch_fault(2, "j"), Some(LaunchFault::Refuse));
        assert_eq!(c.launch_fault(3, "k"), Some(LaunchFault::IllegalAddress));
    }
}
