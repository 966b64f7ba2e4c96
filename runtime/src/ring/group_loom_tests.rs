//! loom model checks of an actor group's protocol where it differs from a
//! single actor's: the real group loop (`run_group_block`) serving two
//! actors from one block, and the real group host session, over a loom
//! model of the group region. Checked: the block's wake counter never
//! loses a wake-up, the drain rule (a pass that began after `stop` was
//! read and found nothing) handles every request sent before shutdown, a
//! fault fails only its actor with the replies before it delivered first,
//! and the state-out writes are ordered before `exited`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicU32;

use spindle_codegen::ring::group_layout::{group_offsets, GroupLayout};

use super::{model, FailsOnZero, LoomRegion, LoomWait, Summing, U32};
use crate::ring::executor::{ExecutorExit, RingHandler};
use crate::ring::group_executor::{run_group_block, write_group_config, BlockHandlers};
use crate::ring::group_host::{GroupExecutor, GroupSession};
use crate::{Error, Result};

/// A loom model of a group region (every word and payload the protocol
/// touches).
fn region(layout: &GroupLayout) -> LoomRegion {
    let mut words = HashMap::new();
    let mut bytes = HashMap::new();
    for i in 0..12 {
        words.insert(group_offsets::CONFIG + 4 * i, AtomicU32::new(0));
    }
    words.insert(group_offsets::STOP, AtomicU32::new(0));
    for b in 0..layout.blocks {
        let at = layout.block_status(b);
        for off in [
            group_offsets::BLOCK_RUNNING,
            group_offsets::BLOCK_EXITED,
            group_offsets::BLOCK_ERROR,
            group_offsets::BLOCK_FAULTS,
        ] {
            words.insert(at + off, AtomicU32::new(0));
        }
    }
    for a in 0..layout.actors {
        let at = layout.actor_offset(a);
        for off in [
            group_offsets::ACTOR_REQUEST_HEAD,
            group_offsets::ACTOR_ERROR,
            group_offsets::ACTOR_REPLY_HEAD,
        ] {
            words.insert(at + off, AtomicU32::new(0));
        }
        for (base, slot) in [
            (layout.request_offset, layout.request),
            (layout.reply_offset, layout.reply),
        ] {
            for i in 0..layout.capacity as usize {
                let seq = at + base + i * slot.stride;
                words.insert(seq, AtomicU32::new(0));
                bytes.insert(
                    seq + slot.payload_offset,
                    UnsafeCell::new(vec![0u8; slot.payload_size]),
                );
            }
        }
        bytes.insert(
            layout.state_out(a),
            UnsafeCell::new(vec![0u8; layout.state_size]),
        );
    }
    let region = LoomRegion { words, bytes };
    write_group_config(&region, layout, 0, 1);
    region
}

/// The block's wake counter and the host's writes to it.
struct LoomGroup {
    wake: Arc<AtomicU32>,
}

impl GroupExecutor for LoomGroup {
    fn check_alive(&mut self, _exited: &dyn Fn(u32) -> bool) -> std::result::Result<(), String> {
        Ok(())
    }
    fn failure(&mut self, actor: u32, code: u32) -> Error {
        Error::ActorStopped {
            kernel: "loom".into(),
            reason: format!("actor {actor}: error {code}"),
        }
    }
    fn notify(&self, _block: u32) {
        // The host is the counter's only writer.
        let next = self.wake.load(Ordering::Relaxed).wrapping_add(1);
        self.wake.store(next, Ordering::Release);
    }
    fn finish(&mut self, _exited: bool) -> bool {
        true
    }
}

struct Handlers<H>(H);

impl<H: RingHandler> BlockHandlers for Handlers<H> {
    fn handler(&mut self) -> Result<&mut dyn RingHandler> {
        Ok(&mut self.0)
    }
    fn failed(&mut self, _actor: u32, _e: Error) {}
}

/// Two actors (states 0 and 100) on one block running the real group
/// loop on a loom thread, and the host session on the current one.
fn group<H: RingHandler + Send + 'static>(
    capacity: usize,
    handler: H,
) -> (
    GroupSession<LoomRegion, u32, u32>,
    loom::thread::JoinHandle<(ExecutorExit, [u32; 2])>,
) {
    let layout = GroupLayout::new(2, 1, capacity, U32, U32, U32).unwrap();
    let mem = Arc::new(region(&layout));
    let wake = Arc::new(AtomicU32::new(0));
    let (mem2, wake2) = (mem.clone(), wake.clone());
    let exec = loom::thread::spawn(move || {
        let stride = layout.state_stride;
        let mut states = vec![0u8; 2 * stride];
        states[stride..stride + 4].copy_from_slice(&100u32.to_ne_bytes());
        let exit = run_group_block(
            &*mem2,
            &layout,
            0,
            &mut Handlers(handler),
            &mut states,
            &mut LoomWait,
            &|| wake2.load(Ordering::Acquire),
        );
        let at =
            |k: usize| u32::from_ne_bytes(states[k * stride..k * stride + 4].try_into().unwrap());
        (exit, [at(0), at(1)])
    });
    let session = GroupSession::new(
        mem,
        "loom".into(),
        layout,
        Box::new(LoomGroup { wake }),
        None,
        Box::new(LoomWait),
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    );
    (session, exec)
}

#[test]
fn group_calls_then_shutdown_drains_both_actors() {
    model(3, || {
        let (mut host, exec) = group(1, Summing);
        assert_eq!(host.call(1, &5).unwrap(), 105);
        host.send(0, &2).unwrap();
        host.send(1, &1).unwrap();
        // Shut down with both requests possibly still unhandled.
        assert_eq!(host.shutdown::<u32>().unwrap(), vec![2, 106]);
        let (exit, states) = exec.join().unwrap();
        assert!(matches!(exit, ExecutorExit::Drained));
        assert_eq!(states, [2, 106]);
    });
}

#[test]
fn group_recv_any_sees_every_reply_once() {
    model(3, || {
        let (mut host, exec) = group(2, Summing);
        host.send(0, &1).unwrap();
        host.send(1, &1).unwrap();
        let mut got = vec![host.recv_any_timeout(Duration::from_secs(3600)).unwrap()];
        got.push(host.recv_any_timeout(Duration::from_secs(3600)).unwrap());
        got.sort_unstable();
        assert_eq!(got, vec![(0, 1), (1, 101)]);
        assert_eq!(host.shutdown::<u32>().unwrap(), vec![1, 101]);
        exec.join().unwrap();
    });
}

#[test]
fn group_fault_fails_only_its_actor() {
    // Actor 0 answers 1, then fails on 0; actor 1 keeps answering.
    model(2, || {
        let (mut host, exec) = group(2, FailsOnZero);
        host.send(0, &1).unwrap();
        host.send(0, &0).unwrap();
        assert_eq!(host.call(1, &3).unwrap(), 103);
        assert_eq!(host.recv_timeout(0, Duration::from_secs(3600)).unwrap(), 1);
        let e = host.recv_timeout(0, Duration::from_secs(3600)).unwrap_err();
        assert!(matches!(e, Error::GroupActor { index: 0, .. }), "{e}");
        assert_eq!(host.call(1, &1).unwrap(), 104);
        assert_eq!(host.shutdown::<u32>().unwrap(), vec![1, 104]);
        let (exit, _) = exec.join().unwrap();
        assert!(matches!(exit, ExecutorExit::Drained));
    });
}
