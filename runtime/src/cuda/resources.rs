//! Per-function resource use, parsed from the `-Xptxas=-v` report that
//! NVRTC puts into the program log:
//!
//! ```text
//! ptxas info    : Compiling entry function 'spindle_saxpy' for 'sm_80'
//! ptxas info    : Function properties for spindle_saxpy
//! ptxas         .     8 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
//! ptxas info    : Used 10 registers, used 1 barriers, 1024 bytes smem, 384 bytes cmem[0]
//! ```

/// What ptxas reported for one function.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FunctionResources {
    /// The (mangled for C++, plain for `extern "C"`) symbol name.
    pub name: String,
    /// Registers per thread.
    pub registers: u32,
    pub stack_frame_bytes: u32,
    pub spill_store_bytes: u32,
    pub spill_load_bytes: u32,
    /// Static shared memory per block.
    pub shared_bytes: u32,
    /// Named barriers (`__syncthreads` uses barrier 0).
    pub barriers: u32,
}

/// Resource use of a compiled module: totals over its functions, and each
/// function's own report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// The most registers any function uses.
    pub registers: u32,
    /// Bytes of spill stores, summed over functions.
    pub spill_stores: u32,
    /// Bytes of spill loads, summed over functions.
    pub spill_loads: u32,
    /// The largest stack frame.
    pub stack_frame_bytes: u32,
    /// The most static shared memory any function uses.
    pub shared_bytes: u32,
    /// Per function, in report order.
    pub functions: Vec<FunctionResources>,
}

impl Resources {
    /// Parses the ptxas report out of an NVRTC log; lines it does not
    /// recognise are ignored, so an empty report gives all zeros.
    pub fn parse(log: &str) -> Resources {
        let mut functions: Vec<FunctionResources> = Vec::new();
        let mut current: Option<usize> = None;
        for line in log.lines() {
            // "ptxas info    : …" and "ptxas         .     …" carry the report.
            let info = line.trim();
            let info = info
                .strip_prefix("ptxas")
                .map(|r| r.trim_start().trim_start_matches("info").trim_start())
                .map(|r| r.trim_start_matches([':', '.']).trim())
                .unwrap_or(info);
            if let Some(name) = function_named(info) {
                let idx = functions
                    .iter()
                    .position(|f| f.name == name)
                    .unwrap_or_else(|| {
                        functions.push(FunctionResources {
                            name: name.to_string(),
                            ..Default::default()
                        });
                        functions.len() - 1
                    });
                current = Some(idx);
                continue;
            }
            let Some(f) = current.map(|i| &mut functions[i]) else {
                continue;
            };
            if !(info.starts_with("Used ") || info.contains("bytes stack frame")) {
                continue;
            }
            for part in info.split(',') {
                let part = part.trim();
                let part = part
                    .strip_prefix("Used ")
                    .or_else(|| part.strip_prefix("used "))
                    .unwrap_or(part);
                let mut words = part.split_whitespace();
                let Some(Ok(n)) = words.next().map(str::parse::<u32>) else {
                    continue;
                };
                match words.collect::<Vec<_>>().as_slice() {
                    ["registers"] | ["register"] => f.registers = n,
                    ["barriers"] | ["barrier"] => f.barriers = n,
                    ["bytes", "stack", "frame"] => f.stack_frame_bytes = n,
                    ["bytes", "spill", "stores"] => f.spill_store_bytes = n,
                    ["bytes", "spill", "loads"] => f.spill_load_bytes = n,
                    ["bytes", "smem"] => f.shared_bytes = n,
                    _ => {}
                }
            }
        }
        Resources {
            registers: functions.iter().map(|f| f.registers).max().unwrap_or(0),
            spill_stores: functions.iter().map(|f| f.spill_store_bytes).sum(),
            spill_loads: functions.iter().map(|f| f.spill_load_bytes).sum(),
            stack_frame_bytes: functions
                .iter()
                .map(|f| f.stack_frame_bytes)
                .max()
                .unwrap_or(0),
            shared_bytes: functions.iter().map(|f| f.shared_bytes).max().unwrap_or(0),
            functions,
        }
    }

    /// The report of the function named `name`.
    pub fn function(&self, name: &str) -> Option<&FunctionResources> {
        self.functions.iter().find(|f| f.name == name)
    }
}

/// The function a report line introduces, if it introduces one.
fn function_named(info: &str) -> Option<&str> {
    if let Some(rest) = info
        .strip_prefix("Compiling entry function '")
        .or_else(|| info.strip_prefix("Compiling function '"))
    {
        return rest.split('\'').next();
    }
    info.strip_prefix("Function properties for ")
        .map(str::trim)
        .filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NVRTC 13's format for the first function, the older one (no
    /// `ptxas .` prefix, no barriers) for the second.
    const REPORT: &str = "\
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'spindle_a' for 'sm_80'
ptxas info    : Function properties for spindle_a
ptxas         .     8 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 10 registers, used 0 barriers, 384 bytes cmem[0]
ptxas info    : Compiling entry function 'spindle_b' for 'sm_80'
ptxas info    : Function properties for spindle_b
    16 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads
ptxas info    : Used 255 registers, 4096 bytes smem, 380 bytes cmem[0]
ptxas info    : Compile time = 3.062 ms
";

    #[test]
    fn parses_each_function_and_the_totals() {
        let r = Resources::parse(REPORT);
        assert_eq!(r.functions.len(), 2);
        let a = r.function("spindle_a").unwrap();
        assert_eq!(
            (
                a.registers,
                a.stack_frame_bytes,
                a.spill_store_bytes,
                a.shared_bytes
            ),
            (10, 8, 0, 0)
        );
        let b = r.function("spindle_b").unwrap();
        assert_eq!(
            (
                b.registers,
                b.stack_frame_bytes,
                b.spill_store_bytes,
                b.spill_load_bytes,
                b.shared_bytes
            ),
            (255, 16, 8, 4, 4096)
        );
        assert_eq!(r.registers, 255);
        assert_eq!((r.spill_stores, r.spill_loads), (8, 4));
        assert_eq!(r.shared_bytes, 4096);
        assert_eq!(r.stack_frame_bytes, 16);
    }

    #[test]
    fn empty_or_foreign_logs_give_zeros() {
        assert_eq!(Resources::parse(""), Resources::default());
        let r = Resources::parse("bad.cu(3): error: expected a \";\"\nUsed 5 registers\n");
        assert_eq!(r, Resources::default());
    }
}
