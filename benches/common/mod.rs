//! Helpers the benchmarks share (`mod common;` in each). Not every bench
//! uses every helper, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::time::Duration;

/// A size from the environment, or `default` when unset or not a number.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time of a clock (`clock_gettime`): the scheduler's run time, to the
/// nanosecond. `getrusage` here counts in scheduler ticks (4 ms on the
/// bench host), too coarse for steps of 30-100 ms.
fn cpu_clock(clock: libc::clockid_t) -> Duration {
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: clock_gettime writes into the struct we own.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time of the calling thread.
pub fn thread_cpu() -> Duration {
    cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time of the whole process, all its threads.
pub fn process_cpu() -> Duration {
    cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}
