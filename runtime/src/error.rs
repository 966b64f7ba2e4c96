//! The one error type of spindle.

use std::sync::Arc;
use std::time::Duration;

use crate::fault::Fault;

/// Everything that can go wrong in spindle, with variants a program can match.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No usable CUDA driver or device: `why` says which, `message` what
    /// was probed and what to do.
    #[error("CUDA is not available: {message}")]
    CudaUnavailable {
        /// Why, for a program to match on.
        why: Unavailable,
        /// What was probed, and what to do.
        message: String,
        /// The driver's error, when a driver call failed.
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },

    /// libnvrtc could not be found or loaded (or is turned off), so a kernel
    /// that is not precompiled cannot be compiled: `why` says which,
    /// `message` where spindle looked and how to install it.
    #[error("NVRTC is not available: {message}")]
    NvrtcUnavailable {
        /// Why, for a program to match on.
        why: Unavailable,
        /// Where spindle looked, and how to install NVRTC.
        message: String,
    },

    /// A CUDA driver call failed.
    #[error("CUDA error during {context}: {message}")]
    Cuda {
        /// What spindle was doing, e.g. `"launching kernel `saxpy`"`.
        context: String,
        /// The driver's `CUresult` number when a driver call returned one
        /// (e.g. 2 for `CUDA_ERROR_OUT_OF_MEMORY`, 700 for
        /// `CUDA_ERROR_ILLEGAL_ADDRESS`); `None` for a check of spindle's own.
        code: Option<u32>,
        /// The code's name and the driver's description of it, and what
        /// it means for the process.
        message: String,
        /// The driver's error, when there is one.
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },

    /// The kernel's Rust could not be linked (a struct layout or `#[device]`
    /// function did not fit).
    #[error("kernel `{kernel}` could not be linked: {message}")]
    Link { kernel: String, message: String },

    /// NVRTC rejected the generated CUDA C. `log` is NVRTC's log; `excerpt`
    /// the numbered generated source around the first error.
    #[error("kernel `{kernel}` failed to compile with NVRTC:\n{log}\n{excerpt}")]
    Compile {
        kernel: String,
        log: String,
        excerpt: String,
    },

    /// A thread faulted inside a kernel: an index out of bounds, an
    /// integer division by zero or `MIN / -1`, a barrier or warp operation
    /// reached by only some threads, an invalid shuffle width. The
    /// faulting thread stopped; the launch (or actor) reports the first
    /// such fault. [`Error::fault`] borrows it.
    #[error("{0}")]
    Fault(Box<Fault>),

    /// A failed `assert!`, `assert_eq!`, `assert_ne!`, `debug_assert!` (in
    /// a build with debug assertions), `panic!` or `unreachable!` inside a
    /// kernel: that thread stopped there, and the launch (or actor) reports
    /// the first such failure. Its [`Fault`] has the kind
    /// [`FaultKind::Assertion`](crate::FaultKind::Assertion), the message
    /// as `what`, the line, block and thread. [`Error::fault`] borrows it.
    #[error("{0}")]
    Assertion(Box<Fault>),

    /// An argument does not fit the kernel's parameter.
    #[error("kernel `{kernel}`, parameter `{param}`: {message}")]
    Argument {
        kernel: String,
        param: String,
        message: String,
    },

    /// A launch configuration is invalid (zero or too large sizes).
    #[error("kernel `{kernel}`: invalid launch: {message}")]
    InvalidLaunch { kernel: String, message: String },

    /// A buffer operation was invalid (size mismatch, wrong device).
    #[error("buffer: {0}")]
    Buffer(String),

    /// A configuration value is invalid (environment variable, `RingConfig`).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// `try_send`: the request ring has no free slot.
    #[error("actor `{kernel}`: the request ring is full ({capacity} slots)")]
    Full { kernel: String, capacity: usize },

    /// A wait ran past its timeout: `call` or `recv` for a reply, `send`
    /// for room in the request ring. The actor keeps running; a message
    /// already sent stays in flight.
    #[error("actor `{kernel}`: timed out after {after:?} waiting for the executor")]
    Timeout { kernel: String, after: Duration },

    /// The actor has stopped (after a fault, a shutdown, or a dead kernel);
    /// the message says why.
    #[error("actor `{kernel}` is not running: {reason}")]
    ActorStopped { kernel: String, reason: String },

    /// One actor of an [`ActorGroup`](crate::ActorGroup) failed (its
    /// handler faulted or panicked): `error` says how, naming the kernel;
    /// `index` is the actor. The group's other actors keep running.
    #[error("actor {index} of group `{kernel}`: {error}")]
    GroupActor {
        kernel: String,
        index: usize,
        error: Box<Error>,
    },

    /// `recv` (or `recv_timeout`) with no message in flight: every reply
    /// has been received, so none can come. Returned at once.
    #[error(
        "actor `{kernel}`: nothing in flight: every reply has been received, so there is \
         nothing to wait for (send a message first)"
    )]
    NothingInFlight { kernel: String },

    /// Memory for `what` could not be allocated: `bytes` were asked for.
    /// Nothing was changed; smaller sizes may still work.
    #[error("out of memory: {bytes} bytes for {what} could not be allocated")]
    OutOfMemory { what: String, bytes: u64 },

    /// A queue or graph was used in a way it cannot be: a graph launched on
    /// a queue of another device, `sync` inside `Queue::record`. The
    /// message says which and what to do instead.
    #[error("queue: {0}")]
    Queue(String),

    /// A feature this build or backend does not provide yet.
    #[error("not supported: {0}")]
    Unsupported(String),
}

impl Error {
    /// The kernel fault this error reports, if it is one.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            Error::Fault(f) | Error::Assertion(f) => Some(f),
            _ => None,
        }
    }
}

/// Why CUDA or NVRTC is not available ([`Error::CudaUnavailable`],
/// [`Error::NvrtcUnavailable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unavailable {
    /// No CUDA driver library (`libcuda.so`) was found.
    NoDriver,
    /// The driver library lacks a function spindle needs: it is older than
    /// CUDA 13.0.
    DriverTooOld,
    /// A driver call failed while opening the GPU; `code` is its `CUresult`
    /// (100: `CUDA_ERROR_NO_DEVICE`).
    DriverCall {
        /// The `CUresult` number.
        code: u32,
    },
    /// GPU `ordinal` was asked for; the driver reports `count` devices.
    NoSuchDevice {
        /// The GPU number asked for.
        ordinal: usize,
        /// How many the driver reports.
        count: usize,
    },
    /// NVRTC is turned off (`SPINDLE_NVRTC=off`).
    NvrtcOff,
    /// No NVRTC library was found where spindle looks.
    NvrtcNotFound,
    /// An NVRTC library was found but could not be loaded or used (a
    /// missing function, a failing `nvrtcVersion`).
    NvrtcUnusable,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// An error can be kept, cloned and sent across threads, and a
    /// fault's payload matched without reading its text.
    #[test]
    fn errors_are_clone_send_sync_and_matchable() {
        fn assert_traits<T: Clone + Send + Sync + std::error::Error + 'static>() {}
        assert_traits::<Error>();
        let driver: Arc<dyn std::error::Error + Send + Sync> =
            Arc::new(std::io::Error::other("the driver said no"));
        let e = Error::Cuda {
            context: "allocating".into(),
            code: Some(2),
            message: "CUDA_ERROR_OUT_OF_MEMORY".into(),
            source: Some(driver),
        };
        let copy = e.clone();
        assert_eq!(
            copy.to_string(),
            "CUDA error during allocating: CUDA_ERROR_OUT_OF_MEMORY"
        );
        let source = std::error::Error::source(&copy).expect("the cause is chained");
        assert_eq!(source.to_string(), "the driver said no");
        assert!(matches!(copy, Error::Cuda { code: Some(2), .. }));
        assert!(copy.fault().is_none());
    }
}
