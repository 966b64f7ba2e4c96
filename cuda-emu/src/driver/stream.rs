//! Streams: each one a worker thread running its operations in order,
//! truly asynchronously to the host (a persistent kernel runs while the
//! host goes on), and the waits on them.
//!
//! Modelled rules ("Stream synchronization behavior" in the Driver API
//! reference): work in one stream runs in submission order; the legacy
//! default stream (`NULL`, `CU_STREAM_LEGACY`) "first waits on all blocking
//! streams, the action is queued in the legacy stream, and then all
//! blocking streams wait on the legacy stream"; streams created with
//! `CU_STREAM_NON_BLOCKING` take no part in that.
//!
//! Every host-side wait is bounded: waiting for a kernel that polls memory
//! (a persistent kernel, which only the host can stop) fails after
//! `SPINDLE_EMU_HANG_MS`, waiting for anything else after
//! `SPINDLE_EMU_WAIT_LIMIT_S`. The call then returns
//! `CUDA_ERROR_LAUNCH_TIMEOUT` (without making the context unusable; the
//! kernel keeps running) and the stand-in says which call waited for which
//! kernel. On a GPU that call would never return.

use std::collections::VecDeque;
use std::ffi::c_void;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use cudarc::driver::sys::CUresult;

use super::context::Context;
use super::memory::Alloc;
use super::{driver, lock};

/// How a stream synchronises with the legacy default stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// The legacy default stream itself.
    Legacy,
    /// A blocking stream (`CU_STREAM_DEFAULT`).
    Blocking,
    /// `CU_STREAM_NON_BLOCKING`.
    NonBlocking,
}

/// One stream operation.
pub(crate) enum Work {
    /// A kernel launch.
    Kernel(Box<super::kernel::Launch>),
    /// `len` bytes from `src` to `dst` (both addresses checked when queued).
    Copy { dst: usize, src: usize, len: usize },
    /// Staged bytes (copied from pageable host memory when queued) to `dst`.
    Upload { dst: usize, data: Vec<u8> },
    /// `count` elements of `width` bytes, each `value`, at `dst`.
    Fill {
        dst: usize,
        value: u32,
        width: usize,
        count: usize,
    },
    /// A stream-ordered free (`cuMemFreeAsync`).
    Release(Alloc),
    /// An event's time stamp.
    Stamp(Arc<Event>),
    /// A host function (`cuLaunchHostFunc`).
    Host {
        f: unsafe extern "C" fn(*mut c_void),
        data: usize,
    },
    /// Nothing (a wait for another stream, carried by the dependencies).
    Nothing,
}

/// What a stream is doing now, for waits and messages.
#[derive(Clone)]
pub(crate) enum Now {
    Idle,
    /// Waiting for another stream's work before its next operation.
    Waiting(Arc<Stream>),
    /// Waiting for one of the device's resident-grid slots.
    WaitingForSlot,
    /// Running a kernel (its description), `persistent` when it polls.
    Kernel {
        what: String,
        persistent: bool,
        since: Instant,
    },
    /// Running something short.
    Busy,
}

struct Op {
    deps: Vec<(Arc<Stream>, u64)>,
    work: Work,
}

struct Inner {
    queue: VecDeque<Op>,
    submitted: u64,
    completed: u64,
    now: Now,
    worker: bool,
    closed: bool,
}

/// A stream.
pub struct Stream {
    /// The `CUstream` value (0 for the legacy stream).
    pub handle: u64,
    pub ctx: Arc<Context>,
    pub generation: u64,
    pub kind: StreamKind,
    pub priority: i32,
    inner: Mutex<Inner>,
    changed: Condvar,
}

impl Stream {
    pub(crate) fn new(
        handle: u64,
        ctx: Arc<Context>,
        generation: u64,
        kind: StreamKind,
        priority: i32,
    ) -> Stream {
        Stream {
            handle,
            ctx,
            generation,
            kind,
            priority,
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                submitted: 0,
                completed: 0,
                now: Now::Idle,
                worker: false,
                closed: false,
            }),
            changed: Condvar::new(),
        }
    }

    /// "stream 0x…" or "the legacy default stream", for messages.
    pub fn describe(&self) -> String {
        match self.kind {
            StreamKind::Legacy => "the legacy default stream".into(),
            _ => format!("stream {:#x}", self.handle),
        }
    }

    /// Operations submitted so far.
    pub fn submitted(&self) -> u64 {
        lock(&self.inner).submitted
    }

    /// `true` when every submitted operation has completed.
    pub fn idle(&self) -> bool {
        let i = lock(&self.inner);
        i.completed >= i.submitted
    }

    /// `true` once operation number `seq` has completed.
    pub fn reached(&self, seq: u64) -> bool {
        lock(&self.inner).completed >= seq
    }

    /// What the legacy-stream rule makes an operation queued now wait for.
    fn implicit_deps(&self) -> Vec<(Arc<Stream>, u64)> {
        let pending = |s: Arc<Stream>| {
            let i = lock(&s.inner);
            let seq = i.submitted;
            let pending = i.completed < seq;
            drop(i);
            pending.then_some((s, seq))
        };
        match self.kind {
            StreamKind::NonBlocking => Vec::new(),
            StreamKind::Blocking => pending(self.ctx.legacy_stream()).into_iter().collect(),
            StreamKind::Legacy => self
                .ctx
                .streams()
                .into_iter()
                .filter(|s| s.kind == StreamKind::Blocking)
                .filter_map(pending)
                .collect(),
        }
    }

    /// Queues `work` after `extra` dependencies; returns its number.
    pub(crate) fn enqueue(self: &Arc<Self>, work: Work, extra: Vec<(Arc<Stream>, u64)>) -> u64 {
        let mut deps = self.implicit_deps();
        deps.extend(extra);
        let mut i = lock(&self.inner);
        if !i.worker {
            i.worker = true;
            let me = self.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("cuda-emu {}", self.describe()))
                .spawn(move || me.work());
            if let Err(e) = spawned {
                crate::log::warn(format!(
                    "cannot start the worker of {}: {e}",
                    self.describe()
                ));
                std::process::abort();
            }
        }
        i.submitted += 1;
        i.queue.push_back(Op { deps, work });
        self.changed.notify_all();
        i.submitted
    }

    /// No more work will come: the worker ends once the queue is empty.
    pub(crate) fn close(&self) {
        lock(&self.inner).closed = true;
        self.changed.notify_all();
    }

    fn set_now(&self, now: Now) {
        lock(&self.inner).now = now;
        self.changed.notify_all();
    }

    pub(crate) fn set_activity(&self, now: Now) {
        self.set_now(now);
    }

    fn work(self: Arc<Self>) {
        loop {
            let op = {
                let mut i = lock(&self.inner);
                loop {
                    if let Some(op) = i.queue.pop_front() {
                        break op;
                    }
                    if i.closed {
                        i.worker = false;
                        return;
                    }
                    i = self
                        .changed
                        .wait(i)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            };
            for (s, seq) in &op.deps {
                self.set_now(Now::Waiting(s.clone()));
                s.wait_unbounded(*seq);
            }
            let seq = lock(&self.inner).completed + 1;
            if self.ctx.sticky().is_none() {
                self.set_now(Now::Busy);
                if let Err(e) = self.execute(op.work, seq) {
                    self.ctx.set_sticky(e);
                }
            }
            let mut i = lock(&self.inner);
            i.completed += 1;
            i.now = Now::Idle;
            self.changed.notify_all();
        }
    }

    fn execute(&self, work: Work, seq: u64) -> Result<(), CUresult> {
        match work {
            Work::Kernel(launch) => super::kernel::execute(self, &launch),
            // SAFETY: both ranges were checked against the allocation table
            // (or are the caller's host memory, valid until this completes,
            // per the async copy's contract) when the copy was queued, and
            // stream order keeps them alive until now.
            Work::Copy { dst, src, len } => unsafe {
                std::ptr::copy(src as *const u8, dst as *mut u8, len);
                Ok(())
            },
            // SAFETY: `dst` was checked to hold `data.len()` bytes.
            Work::Upload { dst, data } => unsafe {
                std::ptr::copy_nonoverlapping(data.as_ptr(), dst as *mut u8, data.len());
                Ok(())
            },
            Work::Fill {
                dst,
                value,
                width,
                count,
            } => {
                // SAFETY: `dst` was checked to hold `width * count` bytes.
                unsafe { fill(dst, value, width, count) };
                Ok(())
            }
            Work::Release(a) => {
                driver()?.memory.release(&a);
                Ok(())
            }
            Work::Stamp(event) => {
                lock(&event.state).stamp = Some((seq, Instant::now()));
                Ok(())
            }
            // SAFETY: the caller of cuLaunchHostFunc gave this function and
            // its argument to be called once, in stream order.
            Work::Host { f, data } => unsafe {
                f(data as *mut c_void);
                Ok(())
            },
            Work::Nothing => Ok(()),
        }
    }

    /// Waits for operation `seq` with no bound (a stream waiting for
    /// another; the host-side wait that led here is the bounded one).
    fn wait_unbounded(&self, seq: u64) {
        let mut i = lock(&self.inner);
        while i.completed < seq {
            i = self
                .changed
                .wait(i)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// What keeps this stream from finishing: a description, and whether
    /// it is a persistent kernel (which only the host can stop).
    pub(crate) fn blocker(&self, depth: u32) -> (String, bool) {
        let now = lock(&self.inner).now.clone();
        match now {
            Now::Kernel {
                what,
                persistent,
                since,
            } => (
                format!(
                    "{} runs {what}{} (for {:.1} s)",
                    self.describe(),
                    if persistent {
                        ", a persistent kernel that polls memory for work"
                    } else {
                        ""
                    },
                    since.elapsed().as_secs_f64()
                ),
                persistent,
            ),
            Now::Waiting(other) if depth < 8 => {
                let (why, persistent) = other.blocker(depth + 1);
                (
                    format!("{} waits for {}: {why}", self.describe(), other.describe()),
                    persistent,
                )
            }
            Now::WaitingForSlot => driver().map_or_else(
                |_| ("no driver".into(), false),
                |d| d.slots.describe_full(&self.describe()),
            ),
            _ => (format!("{} is busy", self.describe()), false),
        }
    }

    /// The host waits for operation `seq`; bounded (see the module doc).
    /// `call` names the synchronising call in the message.
    pub fn wait(&self, seq: u64, call: &str) -> Result<(), CUresult> {
        let config = crate::config::get();
        let started = Instant::now();
        loop {
            {
                let i = lock(&self.inner);
                if i.completed >= seq {
                    return Ok(());
                }
                let _ = self
                    .changed
                    .wait_timeout(i, Duration::from_millis(20))
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            if self.reached(seq) {
                return Ok(());
            }
            let (why, persistent) = self.blocker(0);
            let limit = if persistent {
                config.hang_limit
            } else {
                config.wait_limit
            };
            if started.elapsed() >= limit {
                crate::log::warn(if persistent {
                    format!(
                        "{call} would wait forever: {why}. On a GPU this call blocks until that kernel \
                         ends, which only the host can make it do. Returning CUDA_ERROR_LAUNCH_TIMEOUT \
                         after {} ms (SPINDLE_EMU_HANG_MS)",
                        limit.as_millis()
                    )
                } else {
                    format!(
                        "{call} waited {} s: {why}. Returning CUDA_ERROR_LAUNCH_TIMEOUT \
                         (SPINDLE_EMU_WAIT_LIMIT_S)",
                        limit.as_secs()
                    )
                });
                return Err(CUresult::CUDA_ERROR_LAUNCH_TIMEOUT);
            }
        }
    }
}

/// Writes `count` elements of `width` (1, 2 or 4) bytes holding `value`.
///
/// # Safety
///
/// `dst` is valid for writing `width * count` bytes.
unsafe fn fill(dst: usize, value: u32, width: usize, count: usize) {
    match width {
        // SAFETY: per this function's contract.
        1 => unsafe { std::ptr::write_bytes(dst as *mut u8, value as u8, count) },
        _ => {
            let bytes = value.to_ne_bytes();
            for k in 0..count {
                // SAFETY: element k lies within the `width * count` bytes.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        bytes.as_ptr(),
                        (dst as *mut u8).add(k * width),
                        width,
                    )
                };
            }
        }
    }
}

/// An event.
pub struct Event {
    pub handle: u64,
    pub ctx: Arc<Context>,
    pub generation: u64,
    /// `CU_EVENT_*` flags.
    pub flags: u32,
    pub(crate) state: Mutex<EventState>,
}

/// Where an event was last recorded, and when the stream got there.
#[derive(Default)]
pub(crate) struct EventState {
    pub(crate) recorded: Option<(Arc<Stream>, u64)>,
    pub(crate) stamp: Option<(u64, Instant)>,
}

impl Event {
    /// `true` when the work recorded last has completed (or nothing was).
    pub fn complete(&self) -> bool {
        match &lock(&self.state).recorded {
            Some((s, seq)) => s.reached(*seq),
            None => true,
        }
    }

    /// When the recorded work completed, once it has.
    pub fn time(&self) -> Option<Instant> {
        let st = lock(&self.state);
        match (&st.recorded, st.stamp) {
            (Some((_, seq)), Some((stamped, t))) if *seq == stamped => Some(t),
            _ => None,
        }
    }
}
