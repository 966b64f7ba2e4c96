//! A fault inside a kernel as a value a program can match: [`Fault`],
//! [`FaultKind`], [`Location`]; and the turning of a recorded
//! [`FaultRecord`] (the fixed-size record a faulting thread writes on either
//! backend) into an [`Error::Fault`].

use std::fmt;

use spindle_codegen::abi::FaultRecord;
use spindle_codegen::ir::{self, Kernel};

use crate::{Dim3, Error};

/// The first fault a launch (or an actor's handler) recorded: what went
/// wrong, where in the kernel's Rust, and in which thread.
///
/// The faulting thread stopped at the fault; the launch ran its other
/// threads to the end. Reported as [`Error::Fault`]:
///
/// ```
/// # use spindle_runtime as spindle;
/// use spindle::{Error, FaultKind};
///
/// fn explain(err: &Error) -> String {
///     match err.fault().map(|f| (f, f.kind)) {
///         Some((f, FaultKind::OutOfBounds { index, len })) => {
///             format!("{}: {}[{index}] past {len}", f.kernel, f.what)
///         }
///         Some((f, FaultKind::DivideByZero)) => format!("{}: / 0 at {}", f.kernel, f.location),
///         _ => err.to_string(),
///     }
/// }
/// # let _ = explain;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fault {
    /// The kernel's name.
    pub kernel: String,
    /// What went wrong, with the values the fault was checked with.
    pub kind: FaultKind,
    /// What the faulting expression names: the parameter or local that was
    /// indexed (`"y"`, `"state.window"`), or the operation
    /// (`"sync_threads()"`); empty when the record named no site.
    pub what: String,
    /// `block_idx()` of the faulting thread.
    pub block: Dim3,
    /// `thread_idx()` of the faulting thread.
    pub thread: Dim3,
    /// Where in the kernel's Rust.
    pub location: Location,
}

/// The kind of a [`Fault`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultKind {
    /// An index at or past the length of what it indexed.
    OutOfBounds {
        /// The index used.
        index: u64,
        /// The length it was checked against.
        len: u64,
    },
    /// Integer division or remainder by zero.
    DivideByZero,
    /// Signed integer division or remainder overflow: `MIN / -1`.
    DivideOverflow,
    /// A barrier (`sync_threads()`) reached by only some of a block's
    /// running threads. Found by the CPU backend; on a GPU this is
    /// undefined behaviour that nothing detects (a hang or wrong values).
    DivergentBarrier,
    /// A warp operation called by only some of a warp's running threads;
    /// as [`FaultKind::DivergentBarrier`], for the warp.
    DivergentWarp,
    /// A warp shuffle's segment width that is not a power of two from 1
    /// to 32.
    ShuffleWidth {
        /// The width given.
        width: u64,
    },
    /// A failed assertion (`assert!`, `panic!`, …); the [`Fault`]'s `what`
    /// is its message. Reported as [`Error::Assertion`].
    Assertion,
    /// A fault code this version of spindle does not know (a kernel
    /// compiled by another version).
    Unknown {
        /// The code in the fault record.
        code: u32,
    },
}

/// A place in a kernel's Rust source.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Location {
    /// The source file, as `file!()` names it.
    pub file: String,
    /// The line, when the fault record named its site.
    pub line: Option<u32>,
    /// The function holding the site (the kernel or a `#[device]` fn),
    /// when the record named its site.
    pub function: Option<String>,
}

impl fmt::Display for Location {
    /// `file:line in `function``, or the file alone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(function) = &self.function {
            write!(f, " in `{function}`")?;
        }
        Ok(())
    }
}

/// `[x, y, z]`, as block and thread indices read in fault messages.
struct Idx(Dim3);

impl fmt::Display for Idx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {}, {}]", self.0.x, self.0.y, self.0.z)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Fault {
            kernel,
            kind,
            what,
            block,
            thread,
            location,
        } = self;
        let at = format!("block {}, thread {}, {location}", Idx(*block), Idx(*thread));
        match *kind {
            FaultKind::OutOfBounds { index, len } => write!(
                f,
                "kernel `{kernel}`: index out of bounds: `{what}[{index}]` with length {len} ({at})"
            ),
            FaultKind::DivideByZero => write!(
                f,
                "kernel `{kernel}`: integer division or remainder by zero ({at})"
            ),
            FaultKind::DivideOverflow => write!(
                f,
                "kernel `{kernel}`: integer division overflow (MIN / -1) ({at})"
            ),
            FaultKind::DivergentBarrier | FaultKind::DivergentWarp => {
                let scope = if *kind == FaultKind::DivergentBarrier {
                    "block"
                } else {
                    "warp"
                };
                write!(
                    f,
                    "kernel `{kernel}`: `{what}` was reached by only some threads of the \
                     {scope} (block {}, thread {} reached it, {location}); every thread of \
                     the {scope} that has not finished must reach it: move it out of code \
                     that only some threads run",
                    Idx(*block),
                    Idx(*thread)
                )
            }
            FaultKind::ShuffleWidth { width } => write!(
                f,
                "kernel `{kernel}`: `{what}` with width {width}: a shuffle's width must be a \
                 power of two from 1 to 32 ({at})"
            ),
            FaultKind::Assertion => write!(f, "kernel `{kernel}`: {what} ({at})"),
            FaultKind::Unknown { code } => {
                write!(f, "kernel `{kernel}`: unknown fault kind {code} ({at})")
            }
        }
    }
}

/// The error a launch reports for the first fault it recorded.
pub(crate) fn fault_error(kernel: &Kernel, rec: &FaultRecord) -> Error {
    let site = kernel.fault_sites.get(rec.site as usize);
    let kind = match ir::FaultKind::from_code(rec.kind) {
        Some(ir::FaultKind::OutOfBounds) => FaultKind::OutOfBounds {
            index: rec.index,
            len: rec.len,
        },
        Some(ir::FaultKind::DivideByZero) => FaultKind::DivideByZero,
        Some(ir::FaultKind::DivideOverflow) => FaultKind::DivideOverflow,
        Some(ir::FaultKind::DivergentBarrier) => FaultKind::DivergentBarrier,
        Some(ir::FaultKind::DivergentWarp) => FaultKind::DivergentWarp,
        Some(ir::FaultKind::ShuffleWidth) => FaultKind::ShuffleWidth { width: rec.index },
        Some(ir::FaultKind::Assertion) => FaultKind::Assertion,
        None => FaultKind::Unknown { code: rec.kind },
    };
    let [bx, by, bz] = rec.block;
    let [tx, ty, tz] = rec.thread;
    let fault = Box::new(Fault {
        kernel: kernel.name.clone(),
        kind,
        what: site.map(|s| s.what.clone()).unwrap_or_default(),
        block: Dim3::new(bx, by, bz),
        thread: Dim3::new(tx, ty, tz),
        location: Location {
            file: kernel.file.clone(),
            line: site.map(|s| s.span.line),
            function: site.map(|s| s.function.clone()),
        },
    });
    if kind == FaultKind::Assertion {
        Error::Assertion(fault)
    } else {
        Error::Fault(fault)
    }
}

/// The fault `e` reports; panics naming `e` when it reports none.
#[cfg(test)]
pub(crate) fn expect_fault(e: Error) -> Fault {
    match e {
        Error::Fault(f) => *f,
        other => panic!("expected a kernel fault, got {other:?}"),
    }
}

#[cfg(test)]
impl Fault {
    /// `(block, thread)` as arrays, for comparing in tests.
    pub(crate) fn at(&self) -> ([u32; 3], [u32; 3]) {
        let (b, t) = (self.block, self.thread);
        ([b.x, b.y, b.z], [t.x, t.y, t.z])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(kind: FaultKind, what: &str) -> Fault {
        Fault {
            kernel: "k".into(),
            kind,
            what: what.into(),
            block: Dim3::new(3, 0, 0),
            thread: Dim3::new(1, 2, 0),
            location: Location {
                file: "src/k.rs".into(),
                line: Some(42),
                function: Some("k".into()),
            },
        }
    }

    /// The sentences are the ones `Error` has always printed.
    #[test]
    fn display_texts() {
        let cases = [
            (
                fault(FaultKind::OutOfBounds { index: 10, len: 4 }, "y"),
                "kernel `k`: index out of bounds: `y[10]` with length 4 \
                 (block [3, 0, 0], thread [1, 2, 0], src/k.rs:42 in `k`)",
            ),
            (
                fault(FaultKind::DivideByZero, "x"),
                "kernel `k`: integer division or remainder by zero \
                 (block [3, 0, 0], thread [1, 2, 0], src/k.rs:42 in `k`)",
            ),
            (
                fault(FaultKind::DivideOverflow, "x"),
                "kernel `k`: integer division overflow (MIN / -1) \
                 (block [3, 0, 0], thread [1, 2, 0], src/k.rs:42 in `k`)",
            ),
            (
                fault(FaultKind::DivergentWarp, "warp_sum()"),
                "kernel `k`: `warp_sum()` was reached by only some threads of the warp \
                 (block [3, 0, 0], thread [1, 2, 0] reached it, src/k.rs:42 in `k`); every \
                 thread of the warp that has not finished must reach it: move it out of code \
                 that only some threads run",
            ),
            (
                fault(FaultKind::Assertion, "assertion failed: i < n"),
                "kernel `k`: assertion failed: i < n \
                 (block [3, 0, 0], thread [1, 2, 0], src/k.rs:42 in `k`)",
            ),
            (
                fault(FaultKind::ShuffleWidth { width: 3 }, "warp_shuffle_width()"),
                "kernel `k`: `warp_shuffle_width()` with width 3: a shuffle's width must be a \
                 power of two from 1 to 32 (block [3, 0, 0], thread [1, 2, 0], src/k.rs:42 in `k`)",
            ),
        ];
        for (fault, want) in cases {
            assert_eq!(Error::Fault(Box::new(fault)).to_string(), want);
        }
        let mut no_site = fault(FaultKind::Unknown { code: 99 }, "");
        no_site.location.line = None;
        no_site.location.function = None;
        assert_eq!(
            no_site.to_string(),
            "kernel `k`: unknown fault kind 99 (block [3, 0, 0], thread [1, 2, 0], src/k.rs)"
        );
    }
}
