//! The benchmarks' common record and `hack/bench.sh`'s report.
//!
//! Each benchmark keeps printing its own detailed output, and also records its headline
//! figures with [`Figure::record`]: one JSON line each, appended to the file named by
//! `$OQTO_BENCH_RECORD` (nothing happens without it, so `cargo bench` alone is unchanged).
//! `hack/bench.sh` collects those lines into one [`Run`] (with the commit, the machine and the
//! date), prints [`table::render`], draws [`plot::draw`] and compares two runs with
//! [`compare::render`]. A figure names its reference, measured in the same run (a bare
//! `podman run`, nginx, plain rusqlite, ...), so the table can give their ratio.

pub mod compare;
pub mod figure;
pub mod plot;
pub mod run;
pub mod table;

pub use figure::{Better, Figure, Unit};

/// The environment variable `hack/bench.sh --quick` sets: benches use their smaller counts.
pub const QUICK_ENV: &str = "OQTO_BENCH_QUICK";

/// Whether this is a quick run (`$OQTO_BENCH_QUICK` set and not empty).
pub fn quick() -> bool {
    std::env::var_os(QUICK_ENV).is_some_and(|v| !v.is_empty())
}

/// A count a bench uses: `$name` if it is set to a number, else `quick` in a quick run and
/// `full` otherwise.
pub fn count(name: &str, full: usize, quick: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if self::quick() { quick } else { full })
}
pub use run::{Machine, Run};
