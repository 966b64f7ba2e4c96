//! [`RingConfig`]: how an actor's rings and waits are set up.

use std::time::Duration;

use spindle_codegen::ring::layout::{PayloadShape, RingLayout, MAX_CAPACITY};

use crate::types::DeviceType;
use crate::{Error, Result};

/// Settings for an actor (a ring kernel's `spawn_with`): ring size, how long
/// host waits and `shutdown` last, and how an idle executor waits.
///
/// ```
/// use std::time::Duration;
/// # use spindle_runtime as spindle;
/// use spindle::RingConfig;
/// let config = RingConfig::default()
///     .capacity(4096)
///     .timeout(Duration::from_secs(2))
///     .idle_sleep(Duration::from_micros(5));
/// assert_eq!(config.slots(), 4096);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingConfig {
    pub(crate) capacity: usize,
    pub(crate) timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) idle_sleep: Option<Duration>,
}

/// Default slots per ring.
pub const DEFAULT_CAPACITY: usize = 1024;
/// Default host wait timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default longest time `shutdown` waits for the drain to answer one more
/// message.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Default longest idle sleep of a GPU executor (`__nanosleep` cap).
pub const DEFAULT_GPU_IDLE_SLEEP: Duration = Duration::from_micros(1);
/// The longest single `__nanosleep` the GPU honours (about 1 ms).
const MAX_GPU_SLEEP_NS: u128 = 1_000_000;

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            capacity: DEFAULT_CAPACITY,
            timeout: DEFAULT_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            idle_sleep: None,
        }
    }
}

impl RingConfig {
    /// Slots per ring (request and reply rings alike): a power of two
    /// between 1 and 2²⁰. Checked when the actor spawns
    /// ([`Error::Config`]). Default 1024.
    pub fn capacity(mut self, slots: usize) -> Self {
        self.capacity = slots;
        self
    }

    /// How long a host wait lasts before [`Error::Timeout`]: `call` and
    /// `recv` waiting for a reply, `send` waiting for room in the request
    /// ring. Dropping an actor waits at most this long for its executor to
    /// stop. Default 10 s; zero is refused (poll with `try_send` /
    /// `try_recv` instead).
    ///
    /// Every wait checks for what it waits for at least once after it
    /// starts, so a timeout shorter than a round trip (≈ 0.3 µs on the CPU
    /// backend, a few µs on a GPU) — even 1 ns — is allowed and means
    /// "only if it is already there": `call` then returns
    /// [`Error::Timeout`] unless the reply was published by its first
    /// check; the message stays in flight and its reply comes with `recv`.
    /// Dropping such an actor returns at once and its executor stops on
    /// its own shortly after. `shutdown` has its own bound
    /// ([`shutdown_timeout`](RingConfig::shutdown_timeout)). On a GPU,
    /// spawning waits for the actor's kernel to start for this long, but
    /// at least 0.5 s and at most 2 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long `shutdown` waits for the drain to make progress. The drain
    /// takes as long as the messages sent before `shutdown` need: it fails
    /// only when the executor answers none of them (and does not exit) for
    /// this long — a handler stuck in a loop. Then the actor is stopped
    /// without its state ([`Error::ActorStopped`] says so). Independent of
    /// [`timeout`](RingConfig::timeout), so a short call timeout never
    /// costs a healthy actor its state. Default 10 s; zero is refused.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// How an idle executor waits for the next message.
    ///
    /// GPU: the cap of an exponential `__nanosleep` back-off from 32 ns
    /// between polls of the request ring (default 1 µs; at most 1 ms; zero
    /// spins).
    ///
    /// CPU backend: by default an idle executor thread spins briefly, then
    /// sleeps until a `send` (or a stop) wakes it, costing no CPU while
    /// idle. A non-zero value also wakes it at least this often (a
    /// periodic check, for nothing the protocol needs); zero never sleeps
    /// (it spins and yields, holding a core, for the lowest latency).
    pub fn idle_sleep(mut self, sleep: Duration) -> Self {
        self.idle_sleep = Some(sleep);
        self
    }

    /// The configured slots per ring.
    pub fn slots(&self) -> usize {
        self.capacity
    }

    /// The configured wait timeout.
    pub fn wait_timeout(&self) -> Duration {
        self.timeout
    }

    /// The configured shutdown bound.
    pub fn shutdown_bound(&self) -> Duration {
        self.shutdown_timeout
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        check_waits(
            "RingConfig",
            self.capacity,
            self.timeout,
            self.shutdown_timeout,
        )
    }

    /// The region layout for state `S`, messages `M` and replies `R`.
    pub(crate) fn layout<S: DeviceType, M: DeviceType, R: DeviceType>(&self) -> Result<RingLayout> {
        self.validate()?;
        RingLayout::new(self.capacity, shape::<M>(), shape::<R>(), shape::<S>())
            .map_err(|e| Error::Config(format!("ring layout: {e}")))
    }

    /// The CPU executor's longest park: `None` parks until woken.
    pub(crate) fn cpu_idle(&self) -> Option<Duration> {
        self.idle_sleep
    }

    /// The GPU executor's `__nanosleep` cap, in ns.
    pub(crate) fn gpu_idle_ns(&self) -> u32 {
        let ns = self.idle_sleep.unwrap_or(DEFAULT_GPU_IDLE_SLEEP).as_nanos();
        ns.min(MAX_GPU_SLEEP_NS) as u32
    }

    /// How long the host sleeps at most between checks in a long wait (of
    /// its deadline, and whether the executor is alive): a hundredth of
    /// the timeout, between 10 µs and 10 ms.
    pub(crate) fn host_max_sleep(&self) -> Duration {
        (self.timeout / 100).clamp(Duration::from_micros(10), Duration::from_millis(10))
    }
}

/// Size and alignment of a kernel type.
pub(crate) fn shape<T: DeviceType>() -> PayloadShape {
    PayloadShape {
        size: size_of::<T>(),
        align: align_of::<T>(),
    }
}

/// The checks a ring configuration and a group configuration share, with
/// `owner` (`RingConfig`, `GroupConfig`) naming the setter in the error:
/// a capacity that is a power of two up to [`MAX_CAPACITY`], and non-zero
/// timeouts.
pub(crate) fn check_waits(
    owner: &str,
    capacity: usize,
    timeout: Duration,
    shutdown_timeout: Duration,
) -> Result<()> {
    if capacity == 0 || !capacity.is_power_of_two() || capacity > MAX_CAPACITY as usize {
        return Err(Error::Config(format!(
            "{owner}::capacity({capacity}): the ring capacity must be a power of two between 1 and {MAX_CAPACITY}"
        )));
    }
    if timeout.is_zero() {
        return Err(Error::Config(format!(
            "{owner}::timeout(0): a zero timeout makes every wait fail; use try_send / try_recv to poll"
        )));
    }
    if shutdown_timeout.is_zero() {
        return Err(Error::Config(format!(
            "{owner}::shutdown_timeout(0): shutdown could never wait for the drain it promises"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_validated() {
        for bad in [0usize, 3, 100, (MAX_CAPACITY as usize) << 1] {
            let e = RingConfig::default().capacity(bad).validate().unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{bad}: {e}");
            assert!(e.to_string().contains("power of two"), "{e}");
        }
        for good in [1usize, 2, 64, 1 << 20] {
            RingConfig::default().capacity(good).validate().unwrap();
        }
        assert!(RingConfig::default()
            .timeout(Duration::ZERO)
            .validate()
            .is_err());
        assert!(RingConfig::default()
            .shutdown_timeout(Duration::ZERO)
            .validate()
            .is_err());
        // A timeout shorter than any round trip is allowed (see `timeout`).
        RingConfig::default()
            .timeout(Duration::from_nanos(1))
            .validate()
            .unwrap();
    }

    #[test]
    fn idle_settings() {
        let c = RingConfig::default();
        assert_eq!(c.gpu_idle_ns(), 1000);
        assert_eq!(c.cpu_idle(), None);
        let c = c.idle_sleep(Duration::from_secs(5));
        assert_eq!(c.gpu_idle_ns(), 1_000_000);
        assert_eq!(c.cpu_idle(), Some(Duration::from_secs(5)));
    }

    #[test]
    fn layout_for_types() {
        let l = RingConfig::default()
            .capacity(8)
            .layout::<[f32; 3], u8, u64>()
            .unwrap();
        assert_eq!(l.capacity, 8);
        assert_eq!(l.request.payload_size, 1);
        assert_eq!(l.reply.payload_size, 8);
        assert_eq!(l.state_size, 12);
    }
}
