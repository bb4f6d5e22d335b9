//! What the benchmarks share: process figures from `/proc`, a tmpfs
//! directory, and DuckDB (from `.venv-bench`) timing a query.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `/proc/{pid}/…` of this process (`"self"`) or another.
fn proc_file(pid: &str, file: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/{file}: {e}"))
}

/// Peak resident set size of `pid` (`"self"` for this process) in MiB.
pub fn peak_rss_mib(pid: &str) -> f64 {
    let kb: f64 = proc_file(pid, "status")
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM for {pid}"));
    kb / 1024.0
}

/// User and system CPU seconds of `pid` (`"self"` for this process) so far.
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = proc_file(pid, "stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // Fields 14 and 15 of stat (utime, stime) are 12 and 13 after the name.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A directory on a tmpfs when there is one, so figures measure the code,
/// not the disk.
pub fn fast_tempdir() -> tempfile::TempDir {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    tempfile::tempdir_in(base).unwrap_or_else(|e| panic!("a temporary directory: {e}"))
}

/// The Python of `.venv-bench`, which has DuckDB, when it is installed.
pub fn duckdb_python() -> Option<PathBuf> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-bench/bin/python");
    python.exists().then_some(python)
}

/// The best of three times DuckDB takes to answer `sql` (a count), in
/// seconds, and the count.
pub fn duckdb_count(python: &Path, sql: &str) -> (f64, u64) {
    let (secs, count) = duckdb_value(python, sql);
    (
        secs,
        count
            .parse()
            .unwrap_or_else(|_| panic!("duckdb answered {count:?}")),
    )
}

/// The best of three times DuckDB takes to answer `sql` (one value), in
/// seconds, and the value as text (one line).
pub fn duckdb_value(python: &Path, sql: &str) -> (f64, String) {
    let script = format!(
        "import duckdb, time\ncon = duckdb.connect()\ncon.execute('SET enable_progress_bar = false')\nbest = None\nfor _ in range(3):\n    t = time.perf_counter()\n    n = con.execute({sql:?}).fetchone()[0]\n    d = time.perf_counter() - t\n    best = d if best is None else min(best, d)\nprint(best, str(n).replace(chr(10), ' '))\n"
    );
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "duckdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let (secs, value) = text.trim_end().split_once(' ').unwrap_or((&text, ""));
    (
        secs.parse()
            .unwrap_or_else(|_| panic!("duckdb printed {text:?}")),
        value.to_owned(),
    )
}
