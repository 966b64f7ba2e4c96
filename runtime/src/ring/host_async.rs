//! The async half of [`HostSession`]: `send`, `recv` and `call` as futures
//! that need no particular async runtime. How a future waits — a spin,
//! then the doorbell or the ring watcher, a deadline and re-checks — is
//! `super::super::task_wait` (shared with actor groups); here is what one
//! actor's waits look at.
//!
//! # Cancellation
//!
//! A future can be dropped at any `Pending`. Nothing is lost: between two
//! polls every reply taken off the ring is either returned by the poll that
//! took it or kept in the host-side queue, in order. A `send` dropped
//! before its message went out sent nothing; a `call` dropped after its
//! message went out leaves that message in flight, and its reply is
//! received by a later `recv` (or `try_recv`) in send order, like the reply
//! of a `send`.

use std::sync::Arc;
use std::time::Duration;

use super::super::task_wait::{wait_async, AsyncWaits};
use super::super::wait::{Doorbell, Spin};
use super::super::watcher::Probe;
use super::{published, HostSession, RingMemory};
use crate::types::DeviceType;
use crate::{Error, Result};

/// A wait of one actor needs a reply (`false`) or room in its request
/// ring (`true`).
impl<Mem, M, R> AsyncWaits for HostSession<Mem, M, R>
where
    Mem: RingMemory + ?Sized + 'static,
    M: DeviceType,
    R: DeviceType,
{
    type Need = bool;

    fn task_spin(&mut self) -> &mut Spin {
        &mut self.tasks
    }

    fn recheck(&mut self, _room: bool) -> Result<()> {
        self.check_slow()
    }

    fn published(&self, room: bool) -> bool {
        published(&*self.mem, &self.replies, &self.requests, room)
    }

    fn probe(&self, room: bool) -> Probe {
        let (mem, replies, requests) = (
            Arc::clone(&self.mem),
            self.replies.clone(),
            self.requests.clone(),
        );
        Box::new(move || published(&*mem, &replies, &requests, room))
    }

    fn bell(&self) -> Option<&Arc<Doorbell>> {
        self.waiter.bell()
    }

    fn timed_out(&self, after: Duration) -> Error {
        Error::Timeout {
            kernel: self.kernel.clone(),
            after,
        }
    }
}

impl<Mem, M, R> HostSession<Mem, M, R>
where
    Mem: RingMemory + ?Sized + 'static,
    M: DeviceType,
    R: DeviceType,
{
    /// `send`, as a future: waits for room without blocking the thread.
    pub(crate) async fn send_async(&mut self, msg: &M) -> Result<()> {
        self.check()?;
        if self.try_publish(msg) {
            return Ok(());
        }
        let timeout = self.timeout;
        wait_async(self, true, timeout, |s| {
            s.drain_replies();
            Ok(s.try_publish(msg).then_some(()))
        })
        .await
    }

    /// `recv_timeout` with the configured timeout, as a future.
    pub(crate) async fn recv_async(&mut self) -> Result<R> {
        if let Some(r) = self.try_recv()? {
            return Ok(r);
        }
        if self.in_flight == 0 {
            return Err(Error::NothingInFlight {
                kernel: self.kernel.clone(),
            });
        }
        let timeout = self.timeout;
        let r = self.wait_reply_async(timeout, 0).await?;
        self.in_flight -= 1;
        Ok(r)
    }

    /// `call`, as a future. Dropped after its message went out, it leaves
    /// the message in flight: its reply goes to a later `recv`.
    pub(crate) async fn call_async(&mut self, msg: &M) -> Result<R> {
        self.send_async(msg).await?;
        let earlier = self.in_flight - 1;
        if earlier == 0 {
            if let Some(r) = self.take_reply() {
                self.in_flight -= 1;
                return Ok(r);
            }
        }
        let timeout = self.timeout;
        let r = self.wait_reply_async(timeout, earlier).await?;
        self.in_flight -= 1;
        Ok(r)
    }

    /// `wait_reply`, as a future.
    async fn wait_reply_async(&mut self, timeout: Duration, earlier: u64) -> Result<R> {
        let waited = if earlier == 0 && self.pending.is_empty() {
            wait_async(self, false, timeout, |s| Ok(s.take_reply())).await
        } else {
            wait_async(self, false, timeout, |s| {
                s.drain_replies();
                Ok((s.pending.len() as u64 > earlier)
                    .then(|| s.pending.remove(earlier as usize))
                    .flatten())
            })
            .await
        };
        match waited {
            Ok(r) => Ok(r),
            Err(_) if self.pending.len() as u64 > earlier => Ok(self
                .pending
                .remove(earlier as usize)
                .expect("the queue is longer than `earlier`")),
            Err(e) => Err(e),
        }
    }
}
