//! The one error type of spindle.

use std::time::Duration;

/// Everything that can go wrong in spindle, with variants a program can match.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No usable CUDA driver or device. The message says what was probed.
    #[error("CUDA is not available: {0}")]
    CudaUnavailable(String),

    /// libnvrtc could not be found or loaded.
    #[error("NVRTC is not available: {0}")]
    NvrtcUnavailable(String),

    /// A CUDA driver call failed.
    #[error("CUDA error during {context}: {message}")]
    Cuda { context: String, message: String },

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

    /// An index was out of bounds inside a kernel; the faulting thread
    /// stopped and the launch (or actor) reports the first such fault.
    #[error(
        "kernel `{kernel}`: index out of bounds: `{what}[{index}]` with length {len} \
         (block {block:?}, thread {thread:?}, {location})"
    )]
    OutOfBounds {
        kernel: String,
        /// The parameter or local indexed.
        what: String,
        index: u64,
        len: u64,
        block: [u32; 3],
        thread: [u32; 3],
        /// `file:line` of the indexing expression.
        location: String,
    },

    /// Integer division or remainder by zero, or `MIN / -1`, inside a
    /// kernel; or another operand an operation cannot take (a warp
    /// shuffle's width that is not a power of two from 1 to 32).
    #[error("kernel `{kernel}`: {what} (block {block:?}, thread {thread:?}, {location})")]
    Arithmetic {
        kernel: String,
        what: String,
        block: [u32; 3],
        thread: [u32; 3],
        location: String,
    },

    /// A barrier (`sync_threads()`) reached by only some of a block's
    /// running threads, or a warp operation called by only some of a
    /// warp's. Found by the CPU backend; on a GPU this is undefined
    /// behaviour that nothing detects (a hang or wrong values).
    #[error(
        "kernel `{kernel}`: `{what}` was reached by only some threads of the {scope} \
         (block {block:?}, thread {thread:?} reached it, {location}); every thread of the \
         {scope} that has not finished must reach it: move it out of code that only some \
         threads run"
    )]
    Divergent {
        kernel: String,
        /// The operation, e.g. `sync_threads()`.
        what: String,
        /// `"block"` for `sync_threads()`, `"warp"` for warp operations.
        scope: &'static str,
        block: [u32; 3],
        /// A thread that reached it.
        thread: [u32; 3],
        location: String,
    },

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

    /// A feature this build or backend does not provide yet.
    #[error("not supported: {0}")]
    Unsupported(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
