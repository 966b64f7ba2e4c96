//! A queue of the CPU backend: one worker thread running its launches in
//! order.
//!
//! The worker takes jobs from a channel in the order they were queued
//! (under `order::order_lock`), waits for each job's dependencies on other
//! queues, runs it (the launch itself spreads over the backend's host
//! threads as a synchronous launch does), records its fault on the queue's
//! timeline and marks it finished. A job owns what it uses — the program,
//! the arguments and a share of every buffer's memory — and drops it before
//! it is marked finished, so a buffer dropped with work pending is freed
//! by the worker after that work. When the queue is dropped the channel
//! closes: the worker runs what is left, then ends.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;

use super::order::{Deps, Timeline};
use crate::{Error, Result};

/// One queued launch, ready to run.
pub(crate) struct Job {
    pub(crate) seq: u64,
    pub(crate) deps: Deps,
    /// Runs the launch; returns its fault (or failure), if any.
    pub(crate) run: Box<dyn FnOnce() -> Option<Error> + Send>,
    /// The kernel's name, for the error when `run` panics.
    pub(crate) kernel: String,
}

/// The sending side of a CPU queue's worker.
pub(crate) struct Worker {
    jobs: Sender<Job>,
    line: Arc<Timeline>,
}

impl Worker {
    /// Starts the worker of a queue whose progress `line` records.
    pub(crate) fn start(line: Arc<Timeline>) -> Result<Worker> {
        let (jobs, rx) = channel::<Job>();
        let worker = Worker {
            jobs,
            line: line.clone(),
        };
        std::thread::Builder::new()
            .name("spindle-queue".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    for d in &job.deps {
                        // A CPU queue's dependencies are CPU queues, whose
                        // waits cannot fail.
                        let _ = d.line.wait_done(d.seq);
                    }
                    let (seq, kernel) = (job.seq, job.kernel);
                    let outcome = catch_unwind(AssertUnwindSafe(job.run));
                    match outcome {
                        Ok(None) => {}
                        Ok(Some(e)) => line.record_fault(seq, e),
                        Err(_) => line.record_fault(
                            seq,
                            Error::Unsupported(format!(
                                "the CPU backend panicked running kernel `{kernel}` \
                                 (queued launch {seq}); this is a bug in spindle"
                            )),
                        ),
                    }
                    line.finish(seq);
                }
            })
            .map_err(|e| Error::Config(format!("could not start a queue's worker thread: {e}")))?;
        Ok(worker)
    }

    /// Hands `job` to the worker. Called under `order::order_lock`, so
    /// jobs arrive in the order their dependencies were computed.
    pub(crate) fn send(&self, job: Job) {
        // The worker ends only when this sender is dropped (its loop has no
        // other exit, and panics of a launch are caught), so it is alive.
        if let Err(e) = self.jobs.send(job) {
            // Unreachable by the above; finish the job's number anyway so
            // nothing waits for it forever.
            let job = e.0;
            self.line.record_fault(
                job.seq,
                Error::Unsupported(format!(
                    "kernel `{}` did not run: the queue's worker thread is gone",
                    job.kernel
                )),
            );
            self.line.finish(job.seq);
        }
    }
}
