//! The `asc-perf-exporter` binary: the CLI (`serve`, `simulate`, the API
//! commands) in [`asc_perf_exporter::cli`].

fn main() -> std::process::ExitCode {
    tune_allocator();
    asc_perf_exporter::cli::main()
}

/// glibc's allocator, tuned for a process whose big allocations are
/// transient (a refresh's response bodies and decoded documents, an
/// exposition being written while the previous one is served): a fixed
/// mmap threshold of 256 KiB, so every buffer above it goes back to the
/// system when freed (glibc otherwise raises the threshold after each such
/// free, up to 32 MiB, and keeps the memory in its heaps), and at most two
/// arenas, so memory freed by one tokio worker is reused by the next rather
/// than held in a per-thread arena. Measured by `bench/rss.sh`
/// (`bench/RESULTS.md`). Other C libraries are left as they are.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before
    // any thread is started.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
