//! The CPU backend's ring handler allocates nothing per message: it keeps
//! its lane storage between messages (`InterpretedHandler`'s contract). A
//! counting global allocator checks it over thousands of messages, for a
//! one-thread and a block-wide (32-thread) handler, and a 64-thread
//! handler with a shared array, barriers and atomics.
//!
//! This binary holds one test, so no other test thread allocates while it
//! counts; the counter is per thread anyway.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use spindle_codegen::ring::samples;
use spindle_codegen::{link, ItemSource, KernelMode, KernelOptions};
use spindle_runtime::cpu::InterpretedHandler;
use spindle_runtime::ring::RingHandler;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is a thread-local `Cell` of a `const` initialiser, which needs no
// allocation to access.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract is forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract is forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Runs `messages` messages through the handler of `kernel` after two
/// warm-up messages, and returns how many allocations they made.
fn allocations_per_run(kernel: spindle_codegen::ir::Kernel, messages: u32) -> u64 {
    let mut handler = InterpretedHandler::compile(&Arc::new(kernel)).expect("the sample compiles");
    let mut state = vec![0u8; handler.state_size()];
    let mut msg = vec![0u8; handler.msg_size()];
    let mut reply = vec![0u8; handler.reply_size()];
    for i in 0..2u32 {
        msg[..4].copy_from_slice(&i.to_le_bytes());
        handler
            .handle(&mut state, &msg, &mut reply)
            .expect("no fault");
    }
    let before = allocations();
    for i in 0..messages {
        msg[..4].copy_from_slice(&i.to_le_bytes());
        handler
            .handle(&mut state, &msg, &mut reply)
            .expect("no fault");
    }
    allocations() - before
}

/// A 64-thread handler with a shared array, barriers, a loop and an
/// atomic on the state: the interpreter's collective bookkeeping must not
/// allocate per message either.
fn reducing_handler() -> spindle_codegen::ir::Kernel {
    const SRC: &str = "fn reduce(state: &mut [u32; 2], msg: u32) -> u32 {
        let partial = shared_array::<u32, 64>();
        let t = thread_idx().x as usize;
        partial[t] = msg + t as u32;
        sync_threads();
        let mut stride = 32;
        while stride > 0 {
            if t < stride {
                partial[t] += partial[t + stride];
            }
            sync_threads();
            stride /= 2;
        }
        atomic_add(&mut state[1], 1);
        if t == 0 {
            state[0] += partial[0];
        }
        partial[0]
    }";
    let item = ItemSource {
        name: "reduce",
        source: SRC,
        file: "runtime/tests/ring_no_alloc.rs",
        line: 1,
        consts: &[],
    };
    let options = KernelOptions {
        threads: 64,
        ..KernelOptions::new(KernelMode::Ring)
    };
    link(&item, &options, &[], &[]).expect("the reducing handler links")
}

#[test]
fn a_ring_message_allocates_nothing_on_the_cpu_backend() {
    // The counter works: a box is one allocation.
    let before = allocations();
    drop(std::hint::black_box(Box::new(7u64)));
    assert_eq!(allocations() - before, 1, "the counting allocator counts");

    assert_eq!(allocations_per_run(samples::tally(), 10_000), 0, "tally");
    assert_eq!(
        allocations_per_run(samples::lanes(32), 10_000),
        0,
        "lanes(32)"
    );
    assert_eq!(
        allocations_per_run(reducing_handler(), 2_000),
        0,
        "reduce (64 threads, shared array, barriers, atomics)"
    );
}
