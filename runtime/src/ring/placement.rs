//! Where a thread runs: the CPU it is on, and moving a CPU executor's own
//! thread off the core its host runs on. Linux only (`sched_getcpu`,
//! `sched_setaffinity`); elsewhere the CPU is unknown and nothing moves.
//!
//! Why a thread would move itself: some kernels place a woken thread on
//! its waker's CPU even when another CPU is idle (the 2-vCPU VMs spindle's
//! benchmarks ran on pack wake-ups onto busy vCPUs; `sched_vcpu_pack`).
//! A host and its executor that hand messages back and forth by waking
//! each other then share one core for good, and every call costs two
//! context switches (≈ 6 µs there) instead of a hand-off between two
//! spinning cores (≈ 0.3 µs). Only the executor moves — it is spindle's
//! own thread, the host thread is the user's — and it keeps every CPU it
//! was allowed: it leaves its current CPU out of its allowed set just long
//! enough to be moved, then restores the set.

/// A CPU number, or [`NO_CPU`] when unknown.
pub(crate) type Cpu = u32;

/// The CPU is unknown.
pub(crate) const NO_CPU: Cpu = u32::MAX;

/// The CPU the calling thread runs on now, if the OS says.
pub(crate) fn current_cpu() -> Cpu {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sched_getcpu takes no arguments and only returns a number
        // (-1 on failure); glibc answers it from the thread's rseq area.
        let cpu = unsafe { libc::sched_getcpu() };
        Cpu::try_from(cpu).unwrap_or(NO_CPU)
    }
    #[cfg(not(target_os = "linux"))]
    {
        NO_CPU
    }
}

/// Whether the calling thread may run on more than one CPU (so
/// [`move_off`] can move it).
pub(crate) fn can_move() -> bool {
    #[cfg(target_os = "linux")]
    {
        let size = size_of::<libc::cpu_set_t>();
        // SAFETY: as in `move_off`: one set, its size, the calling thread.
        unsafe {
            let mut allowed: libc::cpu_set_t = std::mem::zeroed();
            libc::sched_getaffinity(0, size, &mut allowed) == 0 && libc::CPU_COUNT(&allowed) >= 2
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Moves the calling thread off `cpu` to another CPU it is allowed to run
/// on, leaving its allowed set as it was. `false` when it may run nowhere
/// else (or the OS refused).
pub(crate) fn move_off(cpu: Cpu) -> bool {
    #[cfg(target_os = "linux")]
    {
        let size = size_of::<libc::cpu_set_t>();
        let cpu = cpu as usize;
        // SAFETY: `cpu_set_t` is a plain bit set (all zeroes is the empty
        // set); each call gets a pointer to one of the sets here and its
        // size, for the calling thread (pid 0); CPU_* only touch the set.
        unsafe {
            let mut allowed: libc::cpu_set_t = std::mem::zeroed();
            if cpu >= libc::CPU_SETSIZE as usize
                || libc::sched_getaffinity(0, size, &mut allowed) != 0
                || !libc::CPU_ISSET(cpu, &allowed)
                || libc::CPU_COUNT(&allowed) < 2
            {
                return false;
            }
            let mut others = allowed;
            libc::CPU_CLR(cpu, &mut others);
            // The kernel moves the calling thread before this returns.
            if libc::sched_setaffinity(0, size, &others) != 0 {
                return false;
            }
            // Allowed everywhere again: it stays where it was moved to
            // until the scheduler has a reason to move it.
            libc::sched_setaffinity(0, size, &allowed);
        }
        true
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = cpu;
        false
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_moves_off_its_cpu_and_keeps_its_allowed_set() {
        std::thread::spawn(|| {
            let size = size_of::<libc::cpu_set_t>();
            // SAFETY: as in `move_off`.
            let allowed = || unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                assert_eq!(libc::sched_getaffinity(0, size, &mut set), 0);
                set
            };
            let before = allowed();
            // SAFETY: reads the set filled above.
            let cpus = unsafe { libc::CPU_COUNT(&before) };
            let cpu = current_cpu();
            assert_ne!(cpu, NO_CPU);
            if cpus < 2 {
                assert!(!move_off(cpu), "one CPU: nowhere to go");
                return;
            }
            assert!(move_off(cpu));
            assert_ne!(current_cpu(), cpu, "moved to another CPU");
            let after = allowed();
            // SAFETY: plain reads of two sets.
            let same = (0..libc::CPU_SETSIZE as usize)
                .all(|c| unsafe { libc::CPU_ISSET(c, &before) == libc::CPU_ISSET(c, &after) });
            assert!(same, "the allowed set is restored");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_thread_pinned_to_one_cpu_cannot_move() {
        std::thread::spawn(|| {
            let size = size_of::<libc::cpu_set_t>();
            let cpu = current_cpu() as usize;
            // SAFETY: as in `move_off`: a set of the calling thread and its
            // size; CPU_* only touch the set.
            unsafe {
                let mut all: libc::cpu_set_t = std::mem::zeroed();
                assert_eq!(libc::sched_getaffinity(0, size, &mut all), 0);
                assert_eq!(can_move(), libc::CPU_COUNT(&all) >= 2);
                let mut one: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu, &mut one);
                assert_eq!(libc::sched_setaffinity(0, size, &one), 0);
            }
            assert!(!can_move(), "one allowed CPU");
            assert!(!move_off(cpu as Cpu), "nowhere to go");
        })
        .join()
        .unwrap();
    }
}
