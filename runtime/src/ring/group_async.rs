//! The async half of [`GroupSession`]: `send`, `recv`, `call` and
//! `recv_any` as futures that need no particular async runtime, each the
//! blocking operation step for step with the waits of
//! `super::super::task_wait` (shared with single actors): a group's CPU
//! workers ring the host's doorbell after they publish, and a GPU group is
//! watched by the ring watcher with a probe of what the wait needs — actor
//! `a`'s reply ring, request room and block, or every busy actor's reply
//! ring for `recv_any`.
//!
//! # Cancellation
//!
//! As for one actor: between two polls every reply taken off a ring is
//! either returned by the poll that took it or kept in its actor's
//! host-side queue, in order, and `in_flight` counts every message whose
//! reply the user has not received. A `send` dropped before its message
//! went out sent nothing; a `call` dropped after leaves its message in
//! flight, and its reply is what a later `recv` of that actor (or
//! `recv_any`) returns after that actor's earlier replies.

use std::sync::Arc;
use std::time::Duration;

use super::super::protocol::Consumer;
use super::super::task_wait::{wait_async, AsyncWaits};
use super::super::wait::{Doorbell, Spin};
use super::super::watcher::Probe;
use super::{actor_ready, actor_wait_ready, wait_ready, GroupSession, RingMemory};
use crate::types::DeviceType;
use crate::{Error, Result};

/// A wait of a group needs, for actor `Some(a)`, a reply (or room in its
/// request ring when the flag is set); for `None`, any busy actor's reply.
impl<Mem, M, R> AsyncWaits for GroupSession<Mem, M, R>
where
    Mem: RingMemory + ?Sized + 'static,
    M: DeviceType,
    R: DeviceType,
{
    type Need = (Option<u32>, bool);

    fn task_spin(&mut self) -> &mut Spin {
        &mut self.tasks
    }

    fn recheck(&mut self, (a, _): (Option<u32>, bool)) -> Result<()> {
        self.check_slow(a)
    }

    fn published(&self, (a, room): (Option<u32>, bool)) -> bool {
        wait_ready(
            &*self.mem,
            &self.layout,
            &self.actors,
            &self.busy,
            &self.relaunched,
            a,
            room,
        )
    }

    fn probe(&self, (a, room): (Option<u32>, bool)) -> Probe {
        let (mem, layout) = (Arc::clone(&self.mem), self.layout);
        match a {
            Some(a) => {
                let end = &self.actors[a as usize];
                let replies = end.replies.clone();
                let requests = room.then(|| end.requests.clone());
                let relaunched = self.relaunched[layout.block_of(a) as usize];
                Box::new(move || {
                    actor_wait_ready(&*mem, &layout, a, &replies, requests.as_ref(), relaunched)
                })
            }
            None => {
                let busy: Vec<(u32, Consumer)> = self
                    .busy
                    .iter()
                    .map(|&a| (a, self.actors[a as usize].replies.clone()))
                    .collect();
                Box::new(move || {
                    busy.iter()
                        .any(|(a, replies)| actor_ready(&*mem, &layout, *a, replies))
                })
            }
        }
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

impl<Mem, M, R> GroupSession<Mem, M, R>
where
    Mem: RingMemory + ?Sized + 'static,
    M: DeviceType,
    R: DeviceType,
{
    /// `send`, as a future: waits for room in actor `a`'s request ring
    /// without blocking the thread, queueing `a`'s ready replies meanwhile.
    pub(crate) async fn send_async(&mut self, a: u32, msg: &M) -> Result<()> {
        self.check(a)?;
        if self.try_publish(a, msg) {
            return Ok(());
        }
        let timeout = self.timeout;
        wait_async(self, (Some(a), true), timeout, |s| {
            s.drain_replies(a);
            Ok(s.try_publish(a, msg).then_some(()))
        })
        .await
    }

    /// `recv_timeout` with the configured timeout, as a future.
    pub(crate) async fn recv_async(&mut self, a: u32) -> Result<R> {
        if let Some(r) = self.try_recv(a)? {
            return Ok(r);
        }
        if self.actors[a as usize].in_flight == 0 {
            return Err(Error::NothingInFlight {
                kernel: format!("{}[{a}]", self.kernel),
            });
        }
        let timeout = self.timeout;
        match wait_async(self, (Some(a), false), timeout, |s| s.try_recv(a)).await {
            Ok(r) => Ok(r),
            // A failure noticed by the wait queued the replies published
            // before it: they go first.
            Err(e) => self.pop_reply(a).ok_or(e),
        }
    }

    /// `call`, as a future. Dropped after its message went out, it leaves
    /// the message in flight: its reply goes to a later `recv`.
    pub(crate) async fn call_async(&mut self, a: u32, msg: &M) -> Result<R> {
        self.send_async(a, msg).await?;
        let earlier = self.actors[a as usize].in_flight - 1;
        let timeout = self.timeout;
        let waited = wait_async(self, (Some(a), false), timeout, |s| {
            Ok(s.take_reply_after(a, earlier))
        })
        .await;
        match waited {
            Ok(r) => Ok(r),
            // A failure queued the replies published before it: ours may
            // be among them.
            Err(e) => self.take_reply_after(a, earlier).ok_or(e),
        }
    }

    /// `recv_any_timeout` with the configured timeout, as a future.
    pub(crate) async fn recv_any_async(&mut self) -> Result<(usize, R)> {
        if let Some(r) = self.try_recv_any()? {
            return Ok(r);
        }
        if self.busy.is_empty() {
            return Err(Error::NothingInFlight {
                kernel: self.kernel.clone(),
            });
        }
        let timeout = self.timeout;
        wait_async(self, (None, false), timeout, |s| s.try_recv_any()).await
    }
}
