//! [`KernelMode`]: how a kernel runs (one launch per call, or a resident actor).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a `#[kernel]` runs.
///
/// ```
/// use spindle_codegen::KernelMode;
/// let m: KernelMode = "ring".parse().unwrap();
/// assert!(m.is_ring());
/// assert_eq!(m.to_string(), "ring");
/// assert!("stream".parse::<KernelMode>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelMode {
    /// One launch per call: the grid runs the body once per thread and returns.
    Batch,
    /// A persistent actor: one launch, then messages over lock-free rings.
    Ring,
}

impl KernelMode {
    /// Every mode, in declaration order.
    pub const ALL: [KernelMode; 2] = [KernelMode::Batch, KernelMode::Ring];

    /// `true` for [`KernelMode::Batch`].
    pub const fn is_batch(&self) -> bool {
        matches!(self, KernelMode::Batch)
    }

    /// `true` for [`KernelMode::Ring`].
    pub const fn is_ring(&self) -> bool {
        matches!(self, KernelMode::Ring)
    }

    /// Typical host-side cost of one unit of work, in microseconds, on a
    /// current data-centre GPU, as the hardware path allows it (measured on
    /// an NVIDIA H200, PCIe host, 2026-12-04, with `scripts/gpu/floor.cu`):
    ///
    /// - `Batch`: one launch plus stream synchronisation of a small kernel,
    ///   about 10 µs — an empty kernel through the CUDA runtime API took
    ///   8.5 µs, a small one through raw cudarc 9.7 µs.
    /// - `Ring`: one message round trip through a resident actor, about
    ///   3 µs — a host↔GPU ping-pong over mapped pinned memory took 2.7 µs
    ///   (p50), plus the handler and the reply poll.
    ///
    /// These are planning figures for what a unit of work costs at best.
    /// spindle's own are the rows "touch launch+sync, spindle" and "call
    /// round trip" of `cargo bench --bench gpu` (`benches/gpu.rs`), recorded
    /// with the card's name, date and commit in BENCHMARKS.md.
    pub const fn typical_overhead_us(&self) -> f64 {
        match self {
            KernelMode::Batch => 10.0,
            KernelMode::Ring => 3.0,
        }
    }

    /// The name used in `#[kernel(mode = "...")]`: `"batch"` or `"ring"`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            KernelMode::Batch => "batch",
            KernelMode::Ring => "ring",
        }
    }
}

impl fmt::Display for KernelMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`KernelMode`] from text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownMode(pub String);

impl fmt::Display for UnknownMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown kernel mode `{}`: valid modes are \"batch\" and \"ring\"",
            self.0
        )
    }
}

impl std::error::Error for UnknownMode {}

impl FromStr for KernelMode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KernelMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownMode(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        for m in KernelMode::ALL {
            assert_eq!(m.as_str().parse::<KernelMode>(), Ok(m));
            assert_eq!(m.to_string(), m.as_str());
        }
        assert!(KernelMode::Batch.is_batch() && !KernelMode::Batch.is_ring());
        assert!(KernelMode::Ring.is_ring() && !KernelMode::Ring.is_batch());
        assert!(KernelMode::Ring.typical_overhead_us() < KernelMode::Batch.typical_overhead_us());
    }

    #[test]
    fn unknown_mode_lists_the_valid_ones() {
        let err = "persistent".parse::<KernelMode>().unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("persistent") && text.contains("\"batch\"") && text.contains("\"ring\"")
        );
    }
}
