//! `cargo xtask bench`: run the criterion benches and print one markdown table of what a
//! taskloop operation costs next to its tokio baseline.
//!
//! The convention the benches follow: a criterion group per workload, named like
//! `spawn_await/current_thread`, with the function `tokio` as the baseline and
//! `taskloop` (or variants such as `taskloop_eager`) as the contenders. Every
//! non-`tokio` function becomes one row; ns/op is criterion's median divided by the
//! group's `Throughput::Elements`, if it set one.
//!
//! - `--asyncio` adds the columns printed by `benches/python/bench_asyncio.py --json`:
//!   `{"<workload>": {"asyncio": ns, "uvloop": ns or null}}`, keyed by the group id's
//!   first segment (`spawn_await`).
//!   The script's `memory` key (bytes per idle task) goes into the memory rows.
//! - `--icount` adds a table of instructions per op under valgrind (see `icount.rs`);
//!   with `--check` or `--update`, only the instruction-count guard runs, no criterion.
//!
//! The `memory` bench (`benches/memory.rs`, no criterion) writes its results to the file
//! named by `TASKLOOP_BENCH_JSON`: `{"<flavor>/<tasks>/<impl>": {"bytes_per_task": …,
//! "spawn_ns": …, "all_tasks_ns": … or null, "cancel_ns": …}}`. They become the memory rows
//! of the main table (bytes per idle task at `MEMORY_TASKS` tasks) and the growth-curve table.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use serde::Deserialize;

use crate::{Cmd, icount, list_dir, rel, root, target_dir};

/// The flags of `cargo xtask bench`.
#[derive(Debug, Default)]
pub(crate) struct Options {
    /// Short criterion runs.
    pub(crate) quick: bool,
    /// Add asyncio/uvloop columns.
    pub(crate) asyncio: bool,
    /// Add the instruction-count table.
    pub(crate) icount: bool,
    /// Only the instruction-count guard: compare the ratios with the baseline file.
    pub(crate) check: bool,
    /// Only the instruction-count guard, rewriting the baseline file.
    pub(crate) update: bool,
}

/// The function id of the baseline in every group.
pub(crate) const BASELINE: &str = "tokio";

/// The task count of the memory rows (the memory bench measures it among others).
const MEMORY_TASKS: u64 = 100_000;

/// The file name, under the target directory, of the memory bench's results.
const MEMORY_JSON: &str = "bench-memory.json";

/// Runs the benches and prints (and saves) the tables.
pub(crate) fn run(options: &Options) -> Result<()> {
    if options.check || options.update {
        return icount::check(options.update);
    }
    let started = SystemTime::now();
    // `--bench '*'` selects the bench targets only: the libraries' libtest harness would
    // reject criterion's flags.
    // With RUST_BACKTRACE=1 in the environment, anyhow captures a backtrace for every error,
    // cancellations carried by `?` included (~59,000 instructions each): that would measure
    // the backtrace, not the library. Panic backtraces stay on.
    let memory_json = target_dir().join(MEMORY_JSON);
    let mut bench = Cmd::cargo(["bench", "--workspace", "--bench", "*"])
        .env("RUST_LIB_BACKTRACE", "0")
        .env("TASKLOOP_BENCH_JSON", memory_json.display().to_string());
    if options.quick {
        bench = bench.env("TASKLOOP_BENCH_QUICK", "1").args([
            "--",
            "--warm-up-time",
            "0.5",
            "--measurement-time",
            "1",
            "--sample-size",
            "10",
            "--nresamples",
            "10000",
        ]);
    }
    bench.run().context("step `bench` failed")?;

    let rows = criterion_results(&target_dir().join("criterion"), started)?;
    let memory = memory_results(&memory_json, started)?;
    let asyncio = if options.asyncio { asyncio_results(options.quick)? } else { BTreeMap::new() };

    let mut report = String::new();
    if rows.is_empty() && memory.is_empty() {
        println!("bench: no fresh results under {}", rel(&target_dir().join("criterion")));
    } else {
        report.push_str(&criterion_table(&rows, &memory, options.asyncio.then_some(&asyncio)));
    }
    if !memory.is_empty() {
        report.push('\n');
        report.push_str(&scale_table(&memory));
    }
    if options.icount {
        if !report.is_empty() {
            report.push('\n');
        }
        report.push_str(&icount::table()?);
    }
    if !report.is_empty() {
        println!("\n{report}");
        let path = target_dir().join("bench-table.md");
        fs::write(&path, &report).with_context(|| format!("could not write {}", rel(&path)))?;
        println!("bench: table written to {}", rel(&path));
    }
    Ok(())
}

/// Measurements of one workload (a group id, plus the parameter if any): ns/op by
/// function id.
pub(crate) type Results = BTreeMap<String, BTreeMap<String, f64>>;

/// The asyncio and uvloop ns/op by workload (the first segment of a group id).
type Asyncio = BTreeMap<String, (Option<f64>, Option<f64>)>;

/// What the memory bench measured for one implementation at one task count, per task.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scale {
    /// Resident bytes per idle task.
    bytes: f64,
    /// Spawn until asleep, ns.
    spawn_ns: f64,
    /// One `all_tasks()` call, ns per task (taskloop only).
    all_tasks_ns: Option<f64>,
    /// Cancel (or abort) and await, ns.
    cancel_ns: f64,
}

/// The memory bench's results by `(flavor, tasks, implementation)`.
type Memory = BTreeMap<(String, u64, String), Scale>;

/// Reads the memory bench's results, if it wrote them since `since`.
fn memory_results(path: &Path, since: SystemTime) -> Result<Memory> {
    let fresh = fs::metadata(path).and_then(|meta| meta.modified()).is_ok_and(|modified| modified >= since);
    if !fresh {
        return Ok(Memory::new());
    }
    let text = fs::read_to_string(path).with_context(|| format!("could not read {}", rel(path)))?;
    parse_memory(&text).with_context(|| format!("could not parse {}", rel(path)))
}

/// One entry of the memory bench's results.
#[derive(Debug, Deserialize)]
struct MemoryEntry {
    /// Resident bytes per idle task.
    bytes_per_task: f64,
    /// Spawn until asleep, ns per task.
    spawn_ns: f64,
    /// One `all_tasks()` call, ns per task (null for tokio).
    all_tasks_ns: Option<f64>,
    /// Cancel (or abort) and await, ns per task.
    cancel_ns: f64,
}

/// Parses `{"<flavor>/<tasks>/<impl>": {"bytes_per_task": …, …}}`.
fn parse_memory(text: &str) -> Result<Memory> {
    let entries: BTreeMap<String, MemoryEntry> = serde_json::from_str(text)?;
    let mut memory = Memory::new();
    for (key, entry) in entries {
        let parts: Vec<&str> = key.split('/').collect();
        let [flavor, tasks, implementation] = parts[..] else {
            bail!("key `{key}` is not `<flavor>/<tasks>/<impl>`");
        };
        let tasks: u64 = tasks.parse().with_context(|| format!("key `{key}`: `{tasks}` is not a task count"))?;
        let scale = Scale {
            bytes: entry.bytes_per_task,
            spawn_ns: entry.spawn_ns,
            all_tasks_ns: entry.all_tasks_ns,
            cancel_ns: entry.cancel_ns,
        };
        memory.insert((flavor.to_owned(), tasks, implementation.to_owned()), scale);
    }
    Ok(memory)
}

/// What xtask reads of criterion's `new/benchmark.json`.
#[derive(Debug, Deserialize)]
struct Benchmark {
    /// The group, e.g. `spawn_await/current_thread`.
    group_id: String,
    /// The function, e.g. `tokio` or `taskloop`.
    function_id: Option<String>,
    /// The parameter, if the benchmark has one.
    value_str: Option<String>,
    /// `{"Elements": n}`, `{"ElementsAndBytes": {"elements": n, …}}` or another kind.
    throughput: Option<serde_json::Value>,
}

impl Benchmark {
    /// The element count of the throughput, if it declares one.
    fn elements(&self) -> Option<f64> {
        let throughput = self.throughput.as_ref()?;
        throughput
            .get("Elements")
            .or_else(|| throughput.get("ElementsAndBytes").and_then(|t| t.get("elements")))
            .and_then(serde_json::Value::as_f64)
    }
}

/// What xtask reads of criterion's `new/estimates.json`: the median's point estimate.
#[derive(Debug, Deserialize)]
struct Estimates {
    /// The median, ns per iteration.
    median: Estimate,
}

/// One of criterion's estimates.
#[derive(Debug, Deserialize)]
struct Estimate {
    /// The point estimate.
    point_estimate: f64,
}

/// Reads and parses a JSON file, naming the file in errors.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path).with_context(|| format!("could not read {}", rel(path)))?;
    serde_json::from_str(&text).with_context(|| format!("could not parse {}", rel(path)))
}

/// Reads every benchmark under `dir` whose estimates were written since `since`.
fn criterion_results(dir: &Path, since: SystemTime) -> Result<Results> {
    let mut files = Vec::new();
    benchmark_files(dir, &mut files)?;
    let mut results = Results::new();
    for benchmark_path in files {
        let estimates_path = benchmark_path.with_file_name("estimates.json");
        let fresh =
            fs::metadata(&estimates_path).and_then(|meta| meta.modified()).is_ok_and(|modified| modified >= since);
        if !fresh {
            continue;
        }
        let benchmark: Benchmark = read_json(&benchmark_path)?;
        let estimates: Estimates = read_json(&estimates_path)?;
        let Some(function) = benchmark.function_id.as_deref() else {
            continue;
        };
        let per_op = estimates.median.point_estimate / benchmark.elements().unwrap_or(1.0).max(1.0);
        let group = &benchmark.group_id;
        let workload = match &benchmark.value_str {
            Some(value) => format!("{group}/{value}"),
            None => group.clone(),
        };
        results.entry(workload).or_default().insert(function.to_owned(), per_op);
    }
    Ok(results)
}

/// Collects criterion's `<bench>/new/benchmark.json` files under `dir`, skipping the
/// `report` directories.
fn benchmark_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for path in list_dir(dir)? {
        if path.is_dir() {
            if !path.ends_with("report") {
                benchmark_files(&path, out)?;
            }
        } else if path.ends_with("new/benchmark.json") {
            out.push(path);
        }
    }
    Ok(())
}

/// The asyncio/uvloop columns from `benches/python/bench_asyncio.py --json`; empty
/// (with a note) if there is no such script.
fn asyncio_results(quick: bool) -> Result<Asyncio> {
    let script = root().join("benches/python/bench_asyncio.py");
    if !script.exists() {
        println!("bench: note: no {} yet; no asyncio columns", rel(&script));
        return Ok(BTreeMap::new());
    }
    let mut python = Cmd::new("python3").arg(rel(&script)).arg("--json");
    if quick {
        python = python.arg("--quick");
    }
    let output = python.output()?;
    if !output.status.success() {
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        bail!("step `asyncio bench` failed: {} ({})", rel(&script), output.status);
    }
    parse_asyncio(&output.stdout).with_context(|| format!("{} printed no valid JSON", rel(&script)))
}

/// One workload's row of `bench_asyncio.py --json`.
#[derive(Debug, Deserialize)]
struct AsyncioRow {
    /// ns per op on asyncio's own loop.
    asyncio: Option<f64>,
    /// ns per op on uvloop, null without it.
    #[serde(default)]
    uvloop: Option<f64>,
}

/// Parses `{"<workload>": {"asyncio": ns, "uvloop": ns or null}}`.
fn parse_asyncio(json: &[u8]) -> Result<Asyncio> {
    let rows: BTreeMap<String, AsyncioRow> = serde_json::from_slice(json)?;
    Ok(rows.into_iter().map(|(workload, row)| (workload, (row.asyncio, row.uvloop))).collect())
}

/// The criterion table, with the memory rows (bytes per idle task) last, and
/// asyncio/uvloop columns when `asyncio` is given.
fn criterion_table(results: &Results, memory: &Memory, asyncio: Option<&Asyncio>) -> String {
    let mut header = vec!["workload", "taskloop ns/op", "tokio ns/op", "ratio"];
    if asyncio.is_some() {
        header.extend(["asyncio ns/op", "uvloop ns/op"]);
    }
    let mut rows = Vec::new();
    for (workload, label, ours, baseline) in pairs(results) {
        let mut row = vec![label, fmt_number(Some(ours)), fmt_number(baseline), ratio(ours, baseline)];
        if let Some(asyncio) = asyncio {
            let segment = workload.split('/').next().unwrap_or(workload);
            let (py, uv) = asyncio.get(segment).copied().unwrap_or_default();
            row.extend([fmt_number(py), fmt_number(uv)]);
        }
        rows.push(row);
    }
    let flavors: BTreeSet<&str> = memory.keys().map(|(flavor, _, _)| flavor.as_str()).collect();
    for flavor in flavors {
        let bytes = |implementation: &str| {
            memory.get(&(flavor.to_owned(), MEMORY_TASKS, implementation.to_owned())).map(|scale| scale.bytes)
        };
        let Some(ours) = bytes("taskloop") else {
            continue;
        };
        let baseline = bytes(BASELINE);
        let mut row = vec![
            format!("memory/{flavor} (bytes per idle task)"),
            fmt_number(Some(ours)),
            fmt_number(baseline),
            ratio(ours, baseline),
        ];
        if let Some(asyncio) = asyncio {
            let (py, uv) = asyncio.get("memory").copied().unwrap_or_default();
            row.extend([fmt_number(py), fmt_number(uv)]);
        }
        rows.push(row);
    }
    markdown_table(&header, &rows)
}

/// The growth curve: per-task ns of spawn, `all_tasks()` and cancel, and bytes per idle
/// task, at every task count, taskloop beside tokio.
fn scale_table(memory: &Memory) -> String {
    let header = [
        "scale (ns per task)",
        "spawn taskloop",
        "spawn tokio",
        "ratio",
        "all_tasks taskloop",
        "cancel taskloop",
        "cancel tokio",
        "ratio",
        "B/task taskloop",
        "B/task tokio",
    ];
    let mut rows = Vec::new();
    for ((flavor, tasks, implementation), ours) in memory {
        if implementation != "taskloop" {
            continue;
        }
        let theirs = memory.get(&(flavor.clone(), *tasks, BASELINE.to_owned()));
        rows.push(vec![
            format!("{flavor}/{tasks}"),
            fmt_number(Some(ours.spawn_ns)),
            fmt_number(theirs.map(|t| t.spawn_ns)),
            ratio(ours.spawn_ns, theirs.map(|t| t.spawn_ns)),
            fmt_number(ours.all_tasks_ns),
            fmt_number(Some(ours.cancel_ns)),
            fmt_number(theirs.map(|t| t.cancel_ns)),
            ratio(ours.cancel_ns, theirs.map(|t| t.cancel_ns)),
            fmt_number(Some(ours.bytes)),
            fmt_number(theirs.map(|t| t.bytes)),
        ]);
    }
    markdown_table(&header, &rows)
}

/// One `(workload, row label, contender, baseline)` per non-baseline function; the label
/// names the function unless it is plain `taskloop`.
pub(crate) fn pairs(results: &Results) -> Vec<(&str, String, f64, Option<f64>)> {
    let mut pairs = Vec::new();
    for (workload, functions) in results {
        let baseline = functions.get(BASELINE).copied();
        for (function, &value) in functions.iter().filter(|(f, _)| *f != BASELINE) {
            let label = if function == "taskloop" { workload.clone() } else { format!("{workload} ({function})") };
            pairs.push((workload.as_str(), label, value, baseline));
        }
    }
    pairs
}

/// `ours / baseline` with two decimals, or blank without a baseline.
pub(crate) fn ratio(ours: f64, baseline: Option<f64>) -> String {
    match baseline {
        Some(baseline) if baseline > 0.0 => format!("{:.2}", ours / baseline),
        _ => String::new(),
    }
}

/// A measurement with about three significant digits, or blank if missing.
pub(crate) fn fmt_number(value: Option<f64>) -> String {
    match value {
        None => String::new(),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

/// A markdown table with padded columns; all but the first are right-aligned.
pub(crate) fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len().max(3)).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut out = line(header.iter().zip(&widths).map(|(h, w)| format!("{h:<w$}")).collect());
    out += &line(
        widths
            .iter()
            .enumerate()
            .map(|(i, w)| if i == 0 { "-".repeat(*w) } else { format!("{}:", "-".repeat(w - 1)) })
            .collect(),
    );
    for row in rows {
        out += &line(
            row.iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (cell, w))| if i == 0 { format!("{cell:<w$}") } else { format!("{cell:>w$}") })
                .collect(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pairs_contenders_with_the_baseline() {
        let mut results = Results::new();
        let group = results.entry("spawn_await/current_thread".to_owned()).or_default();
        group.insert("taskloop".to_owned(), 150.0);
        group.insert("taskloop_eager".to_owned(), 90.0);
        group.insert("tokio".to_owned(), 100.0);
        results.entry("sleep".to_owned()).or_default().insert("taskloop".to_owned(), 5.0);

        let mut asyncio = BTreeMap::new();
        asyncio.insert("spawn_await".to_owned(), (Some(2500.0), None));
        let table = criterion_table(&results, &Memory::new(), Some(&asyncio));
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5, "{table}");
        assert!(lines[0].starts_with("| workload "), "{table}");
        assert!(lines[1].starts_with("| ---"), "{table}");
        let cells = |line: &str| -> Vec<String> {
            line.split('|').map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect()
        };
        assert_eq!(cells(lines[2]), ["sleep", "5.00"]);
        assert_eq!(cells(lines[3]), ["spawn_await/current_thread", "150", "100", "1.50", "2500"]);
        assert_eq!(cells(lines[4]), ["spawn_await/current_thread (taskloop_eager)", "90.0", "100", "0.90", "2500"]);
    }

    #[test]
    fn asyncio_columns_come_from_the_scripts_json() {
        let json =
            br#"{"spawn_await": {"asyncio": 4446.5, "uvloop": null}, "memory": {"asyncio": 1275.0, "uvloop": 1591.0}}"#;
        let asyncio = parse_asyncio(json).unwrap();
        assert_eq!(asyncio["spawn_await"], (Some(4446.5), None));
        assert_eq!(asyncio["memory"], (Some(1275.0), Some(1591.0)));
        assert!(parse_asyncio(br#"{"spawn_await": {"asyncio": "fast"}}"#).is_err());
    }

    #[test]
    fn memory_rows_and_scale_curve() {
        let text = r#"{
          "current_thread/100000/taskloop": {"bytes_per_task": 600.0, "spawn_ns": 500.0, "all_tasks_ns": 30.0, "cancel_ns": 400.0},
          "current_thread/100000/tokio": {"bytes_per_task": 400.0, "spawn_ns": 250.0, "all_tasks_ns": null, "cancel_ns": 200.0},
          "current_thread/1000/taskloop": {"bytes_per_task": 610.0, "spawn_ns": 450.0, "all_tasks_ns": 25.0, "cancel_ns": 380.0},
          "current_thread/1000/tokio": {"bytes_per_task": 410.0, "spawn_ns": 225.0, "all_tasks_ns": null, "cancel_ns": 190.0}
        }"#;
        let memory = parse_memory(text).expect("valid memory json");
        assert_eq!(memory.len(), 4);
        assert!(parse_memory(r#"{"current_thread/x/tokio": {}}"#).is_err());

        let mut asyncio = BTreeMap::new();
        asyncio.insert("memory".to_owned(), (Some(1300.0), Some(1800.0)));
        let table = criterion_table(&Results::new(), &memory, Some(&asyncio));
        let cells = |line: &str| -> Vec<String> { line.split('|').map(|c| c.trim().to_owned()).collect() };
        let row = cells(table.lines().nth(2).expect("a memory row"));
        assert_eq!(
            row[1..7],
            ["memory/current_thread (bytes per idle task)", "600", "400", "1.50", "1300", "1800"],
            "{table}"
        );

        let scale = scale_table(&memory);
        let lines: Vec<&str> = scale.lines().collect();
        assert_eq!(lines.len(), 4, "{scale}");
        assert_eq!(
            cells(lines[2])[1..11],
            ["current_thread/1000", "450", "225", "2.00", "25.0", "380", "190", "2.00", "610", "410"],
            "{scale}"
        );
        assert_eq!(cells(lines[3])[1..6], ["current_thread/100000", "500", "250", "2.00", "30.0"], "{scale}");
    }
}
