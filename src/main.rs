//! The `asc-perf-exporter` binary: everything lives in [`asc_perf_exporter::cli`].

fn main() -> std::process::ExitCode {
    asc_perf_exporter::cli::main()
}
