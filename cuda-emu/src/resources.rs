//! What a kernel needs from the device, read from ptxas's report in the
//! NVRTC log (`-Xptxas=-v`), which the driver's launch checks and
//! `cuFuncGetAttribute` answer from:
//!
//! ```text
//! ptxas info    : Compiling entry function 'k1' for 'sm_90'
//! ptxas info    : Function properties for k1
//! ptxas         .     4800 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
//! ptxas info    : Used 30 registers, used 1 barriers, 4800 bytes cumulative stack size, 512 bytes smem
//! ```
//!
//! "cumulative stack size" (the frame plus its callees') is reported for
//! entries that call functions; otherwise the frame is the whole stack.

/// Registers per SM and per block on compute capability 9.0.
pub const REGISTERS_PER_BLOCK: u32 = 65536;
/// Registers are allocated per warp in units of this many.
pub const REGISTER_ALLOCATION_UNIT: u32 = 256;

/// ptxas's report for one entry point.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryResources {
    /// The entry's symbol.
    pub name: String,
    /// Registers per thread.
    pub registers: u32,
    /// Per-thread stack (local memory) the entry needs, callees included.
    pub stack_bytes: u32,
    /// Static shared memory per block.
    pub shared_bytes: u32,
    /// `__launch_bounds__` maximum threads per block, 0 when none.
    pub launch_bound: u32,
}

impl EntryResources {
    /// The most threads a block may have: 1024, fewer when the registers
    /// of that many threads exceed the 64 K a block may use (or the
    /// entry's launch bound is lower).
    pub fn max_threads_per_block(&self) -> u32 {
        let per_warp = (self.registers.max(1) * 32).div_ceil(REGISTER_ALLOCATION_UNIT)
            * REGISTER_ALLOCATION_UNIT;
        let by_registers = (REGISTERS_PER_BLOCK / per_warp) * 32;
        let mut max = by_registers.min(1024);
        if self.launch_bound > 0 {
            max = max.min(self.launch_bound);
        }
        max
    }
}

/// The report of every function ptxas compiled (entries and device
/// functions), in log order.
pub fn parse(log: &str) -> Vec<EntryResources> {
    let mut out: Vec<EntryResources> = Vec::new();
    let mut current: Option<usize> = None;
    for line in log.lines() {
        let Some(rest) = line.trim().strip_prefix("ptxas") else {
            continue;
        };
        let info = rest
            .trim_start()
            .trim_start_matches("info")
            .trim_start()
            .trim_start_matches([':', '.'])
            .trim();
        if let Some(name) = info
            .strip_prefix("Function properties for ")
            .or_else(|| info.strip_prefix("Compiling entry function '"))
        {
            let name = name.split('\'').next().unwrap_or(name).trim().to_string();
            current = Some(match out.iter().position(|f| f.name == name) {
                Some(i) => i,
                None => {
                    out.push(EntryResources {
                        name,
                        ..Default::default()
                    });
                    out.len() - 1
                }
            });
            continue;
        }
        let Some(f) = current.map(|i| &mut out[i]) else {
            continue;
        };
        for part in info.split(',') {
            let words: Vec<&str> = part.split_whitespace().collect();
            let num = |i: usize| words.get(i).and_then(|w| w.parse::<u32>().ok());
            match words.as_slice() {
                ["Used", _, "registers", ..] => f.registers = num(1).unwrap_or(0),
                [_, "bytes", "stack", "frame", ..] => {
                    f.stack_bytes = f.stack_bytes.max(num(0).unwrap_or(0))
                }
                [_, "bytes", "cumulative", "stack", "size", ..] => {
                    f.stack_bytes = f.stack_bytes.max(num(0).unwrap_or(0))
                }
                [_, "bytes", "smem", ..] => f.shared_bytes = num(0).unwrap_or(0),
                _ => {}
            }
        }
    }
    out
}

/// `__launch_bounds__(N)` of entry `name` in `source`, if it has one.
pub fn launch_bound(source: &str, name: &str) -> Option<u32> {
    let at = crate::nvrtc::entries::find_entry(source, name)?;
    let head = &source[at.head_start..at.name_start];
    let bounds = head.split("__launch_bounds__").nth(1)?;
    let inner = bounds.trim_start().strip_prefix('(')?;
    let first = inner.split([',', ')']).next()?.trim();
    first.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'k2' for 'sm_90'
ptxas info    : Function properties for k2
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 8 registers, used 0 barriers
ptxas info    : Compiling entry function 'k1' for 'sm_90'
ptxas info    : Function properties for k1
ptxas         .     4800 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 30 registers, used 1 barriers, 4800 bytes cumulative stack size, 512 bytes smem
ptxas info    : Function properties for _Z6helperP3Bigi
ptxas         .     16 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
";

    #[test]
    fn reads_registers_stack_and_shared_memory() {
        let r = parse(LOG);
        let k1 = r.iter().find(|f| f.name == "k1").unwrap();
        assert_eq!(
            (k1.registers, k1.stack_bytes, k1.shared_bytes),
            (30, 4800, 512)
        );
        let k2 = r.iter().find(|f| f.name == "k2").unwrap();
        assert_eq!((k2.registers, k2.stack_bytes, k2.shared_bytes), (8, 0, 0));
        assert!(r
            .iter()
            .any(|f| f.name == "_Z6helperP3Bigi" && f.stack_bytes == 16));
    }

    #[test]
    fn registers_limit_threads_per_block() {
        let with = |registers| EntryResources {
            registers,
            ..Default::default()
        };
        assert_eq!(with(32).max_threads_per_block(), 1024);
        assert_eq!(with(64).max_threads_per_block(), 1024);
        // 72 registers: 2304 per warp, 28 warps in 64 K.
        assert_eq!(with(72).max_threads_per_block(), 896);
        assert_eq!(with(255).max_threads_per_block(), 256);
        let bounded = EntryResources {
            registers: 16,
            launch_bound: 128,
            ..Default::default()
        };
        assert_eq!(bounded.max_threads_per_block(), 128);
    }

    #[test]
    fn launch_bounds_come_from_the_source() {
        let src = "extern \"C\" __global__ void __launch_bounds__(128, 2) k1(float* x) {}\n\
                   extern \"C\" __global__ void k2(float* x) {}\n";
        assert_eq!(launch_bound(src, "k1"), Some(128));
        assert_eq!(launch_bound(src, "k2"), None);
    }
}
