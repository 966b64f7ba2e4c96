//! Turning a recorded [`FaultRecord`] into an [`Error`].

use spindle_codegen::abi::FaultRecord;
use spindle_codegen::ir::{FaultKind, Kernel};

use crate::Error;

/// The error a launch reports for the first fault it recorded.
pub(crate) fn fault_error(kernel: &Kernel, rec: &FaultRecord) -> Error {
    let site = kernel.fault_sites.get(rec.site as usize);
    let location = match site {
        Some(s) => format!("{}:{} in `{}`", kernel.file, s.span.line, s.function),
        None => kernel.file.clone(),
    };
    let what = site.map(|s| s.what.clone()).unwrap_or_default();
    match FaultKind::from_code(rec.kind) {
        Some(FaultKind::OutOfBounds) => Error::OutOfBounds {
            kernel: kernel.name.clone(),
            what,
            index: rec.index,
            len: rec.len,
            block: rec.block,
            thread: rec.thread,
            location,
        },
        Some(FaultKind::DivideByZero) => Error::Arithmetic {
            kernel: kernel.name.clone(),
            what: "integer division or remainder by zero".into(),
            block: rec.block,
            thread: rec.thread,
            location,
        },
        Some(FaultKind::DivideOverflow) => Error::Arithmetic {
            kernel: kernel.name.clone(),
            what: "integer division overflow (MIN / -1)".into(),
            block: rec.block,
            thread: rec.thread,
            location,
        },
        Some(kind @ (FaultKind::DivergentBarrier | FaultKind::DivergentWarp)) => Error::Divergent {
            kernel: kernel.name.clone(),
            scope: if kind == FaultKind::DivergentBarrier {
                "block"
            } else {
                "warp"
            },
            what,
            block: rec.block,
            thread: rec.thread,
            location,
        },
        Some(FaultKind::ShuffleWidth) => Error::Arithmetic {
            kernel: kernel.name.clone(),
            what: format!(
                "`{what}` with width {}: a shuffle's width must be a power of two from 1 to 32",
                rec.index
            ),
            block: rec.block,
            thread: rec.thread,
            location,
        },
        None => Error::Arithmetic {
            kernel: kernel.name.clone(),
            what: format!("unknown fault kind {}", rec.kind),
            block: rec.block,
            thread: rec.thread,
            location,
        },
    }
}
