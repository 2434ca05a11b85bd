//! Giving freed memory back to the system between the exporter's big steps.
//!
//! A refresh replaces every app's data with new data of about the same
//! size, and a mapping builds and drops a family model of ~100 bytes a
//! series: glibc keeps what is freed in its heaps for reuse, scattered
//! among the live data, so without a trim each step's leftovers stay
//! resident and the next step's peak comes on top of them (`bench/rss.sh`,
//! `bench/RESULTS.md`). Other C libraries are left alone.

/// Returns the free pages of the C allocator's heaps to the system
/// (glibc's `malloc_trim`); costs a walk of the heap, a few milliseconds.
pub fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
