//! Instruction counts: `cargo xtask bench --icount` (a table) and its CI guard
//! `cargo xtask bench --icount --check` (run by `cargo xtask test`).
//!
//! The driver is `examples/icount.rs`, built alone as the `icount` binary of the
//! `taskloop-icount` package (`benches/icount/`) so that a release build compiles taskloop and
//! tokio only. It takes `<workload> <impl> <n>` and lists its pairs with `--list`; every
//! workload has a `tokio` implementation doing the same work with raw tokio. Each pair runs
//! under `valgrind --tool=cachegrind --cache-sim=no` at `n` and `2n` operations, with
//! `RUST_LIB_BACKTRACE=0`, and instructions per operation are `(Ir(2n) - Ir(n)) / n`, so
//! start-up costs cancel out.
//!
//! The guard compares each contender's ratio to its workload's tokio figure with the ratio
//! stored in [`BASELINE`] and fails when one grew by more than [`TOLERANCE`]. Ratios, not
//! counts, so a tokio upgrade that moves both sides does not trip it. `--update` rewrites the
//! baseline when a change is meant to move it (review the diff, as with `.expected` files).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Mutex;
use std::thread;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::bench::{BASELINE as TOKIO, Results, fmt_number, markdown_table, pairs, ratio};
use crate::{Cmd, rel, root, secs, target_dir};

/// The committed baseline of the guard, relative to the workspace root.
pub(crate) const BASELINE: &str = "benches/icount-baseline.json";

/// How much a ratio may grow over its baseline before the guard fails: 3%.
pub(crate) const TOLERANCE: f64 = 0.03;

/// The operation count `n` of the table (`2n` is run too).
pub(crate) const TABLE_N: u64 = 10_000;

/// The operation count `n` of the guard (`2n` is run too): small, since a run's cost under
/// valgrind is mostly start-up, yet large enough that every per-op figure repeats to well
/// under 1% between runs.
pub(crate) const CHECK_N: u64 = 5_000;

/// The baseline file: the guard's `n` and every contender's figures at the time of the last
/// `--update`.
#[derive(Debug, Serialize, Deserialize)]
struct Baseline {
    /// How to refresh the file (for a reader of the JSON).
    about: String,
    /// The operation count the figures were measured at.
    n: u64,
    /// By `<workload>/<impl>`, e.g. `spawn_await/taskloop`.
    ratios: BTreeMap<String, Entry>,
}

/// One contender's figures in the baseline.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
struct Entry {
    /// Its instructions per op over tokio's.
    ratio: f64,
    /// Its instructions per op.
    instructions: f64,
    /// tokio's instructions per op on the same workload.
    tokio: f64,
}

/// Instructions per operation as a markdown table (`cargo xtask bench --icount`).
pub(crate) fn table() -> Result<String> {
    let results = measure(TABLE_N)?;
    let header = ["workload", "taskloop instr/op", "tokio instr/op", "ratio"];
    let rows: Vec<Vec<String>> = pairs(&results)
        .into_iter()
        .map(|(_, label, ours, baseline)| {
            vec![label, fmt_number(Some(ours)), fmt_number(baseline), ratio(ours, baseline)]
        })
        .collect();
    Ok(markdown_table(&header, &rows))
}

/// The guard: measures at [`CHECK_N`] and compares with (or, with `update`, rewrites)
/// [`BASELINE`]. Without valgrind it is skipped with a note, except under `CI=true`, where
/// that is an error.
pub(crate) fn check(update: bool) -> Result<()> {
    if !valgrind_present() {
        if on_ci() {
            bail!("valgrind is not installed, and CI must run the instruction-count guard (apt-get install valgrind)");
        }
        println!("icount: note: valgrind is not installed; the instruction-count guard is skipped (CI fails here)");
        return Ok(());
    }
    let start = Instant::now();
    let current = entries(&measure(CHECK_N)?)?;
    let path = root().join(BASELINE);

    if update {
        let baseline = Baseline {
            about: "taskloop/tokio instruction ratios for `cargo xtask bench --icount --check`; \
                    rewrite with `cargo xtask bench --icount --update`"
                .to_owned(),
            n: CHECK_N,
            ratios: current,
        };
        let text = serde_json::to_string_pretty(&baseline)? + "\n";
        fs::write(&path, text).with_context(|| format!("could not write {}", rel(&path)))?;
        println!("icount: wrote {} ({} ratios, {})", rel(&path), baseline.ratios.len(), secs(start.elapsed()));
        return Ok(());
    }

    let baseline: Baseline = crate::bench::read_json(&path)
        .context("no usable baseline: create it with `cargo xtask bench --icount --update`")?;
    if baseline.n != CHECK_N {
        bail!(
            "{} was measured at n = {}, the guard runs n = {CHECK_N}: refresh it with `cargo xtask bench --icount --update`",
            rel(&path),
            baseline.n
        );
    }
    let verdict = compare(&baseline.ratios, &current);
    for line in &verdict.report {
        println!("icount: {line}");
    }
    if !verdict.failures.is_empty() {
        bail!(
            "{} instruction ratio(s) regressed by more than {:.0}% against {}:\n  {}\n(if the change is meant, \
             run `cargo xtask bench --icount --update` and commit the new baseline)",
            verdict.failures.len(),
            TOLERANCE * 100.0,
            rel(&path),
            verdict.failures.join("\n  ")
        );
    }
    println!(
        "icount: {} ratios within {:.0}% of {} ({})",
        current.len(),
        TOLERANCE * 100.0,
        rel(&path),
        secs(start.elapsed())
    );
    Ok(())
}

/// What [`compare`] found: a line per contender, and the failures.
#[derive(Debug, Default)]
struct Verdict {
    /// One line per contender, old and new.
    report: Vec<String>,
    /// What fails the guard: regressions over the tolerance, and contenders on one side only.
    failures: Vec<String>,
}

/// Compares the current figures with the baseline's.
fn compare(baseline: &BTreeMap<String, Entry>, current: &BTreeMap<String, Entry>) -> Verdict {
    let mut verdict = Verdict::default();
    for (key, new) in current {
        let Some(old) = baseline.get(key) else {
            verdict.failures.push(format!(
                "{key}: not in the baseline (ratio {:.3}, {} vs tokio {} instr/op): add it with --update",
                new.ratio,
                fmt_number(Some(new.instructions)),
                fmt_number(Some(new.tokio))
            ));
            continue;
        };
        let change = new.ratio / old.ratio - 1.0;
        let line = format!(
            "{key}: ratio {:.3} -> {:.3} ({:+.1}%); {} -> {} instr/op, tokio {} -> {}",
            old.ratio,
            new.ratio,
            change * 100.0,
            fmt_number(Some(old.instructions)),
            fmt_number(Some(new.instructions)),
            fmt_number(Some(old.tokio)),
            fmt_number(Some(new.tokio)),
        );
        if change > TOLERANCE {
            verdict.failures.push(line.clone());
        }
        let mark = if change > TOLERANCE {
            "REGRESSED "
        } else if change < -TOLERANCE {
            "improved (consider --update) "
        } else {
            ""
        };
        verdict.report.push(format!("{mark}{line}"));
    }
    for key in baseline.keys().filter(|key| !current.contains_key(*key)) {
        verdict.failures.push(format!("{key}: in the baseline but no longer measured: drop it with --update"));
    }
    verdict
}

/// The baseline entries of measured results: one per non-tokio implementation.
fn entries(results: &Results) -> Result<BTreeMap<String, Entry>> {
    let mut entries = BTreeMap::new();
    for (workload, implementations) in results {
        let Some(&tokio) = implementations.get(TOKIO) else {
            bail!("icount workload `{workload}` has no `{TOKIO}` implementation to compare with");
        };
        if tokio <= 0.0 {
            bail!("icount workload `{workload}`: tokio measured {tokio} instructions per op");
        }
        for (implementation, &instructions) in implementations.iter().filter(|(name, _)| *name != TOKIO) {
            let entry = Entry { ratio: instructions / tokio, instructions, tokio };
            entries.insert(format!("{workload}/{implementation}"), entry);
        }
    }
    Ok(entries)
}

/// Builds the driver and measures instructions per op of every pair it lists, at `n`.
fn measure(n: u64) -> Result<Results> {
    Cmd::cargo(["build", "--release", "--package", "taskloop-icount"]).run().context("could not build icount")?;
    let binary = target_dir().join("release").join(format!("icount{}", std::env::consts::EXE_SUFFIX));
    let list = Cmd::new(&binary).arg("--list").output()?;
    if !list.status.success() {
        eprint!("{}", String::from_utf8_lossy(&list.stderr));
        bail!("`icount --list` failed ({})", list.status);
    }
    let pairs = parse_list(&String::from_utf8_lossy(&list.stdout))?;

    // Every run is independent and mostly valgrind's start-up: one at a time per core.
    let runs: Vec<(usize, u64)> = (0..pairs.len()).flat_map(|pair| [(pair, n), (pair, 2 * n)]).collect();
    let queue = Mutex::new(runs.iter());
    let counts = Mutex::new(BTreeMap::new());
    let workers = thread::available_parallelism().map_or(1, usize::from).min(runs.len().max(1));
    thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let next = queue.lock().expect("no worker panics holding it").next().copied();
                        let Some((pair, ops)) = next else {
                            return Ok(());
                        };
                        let (workload, implementation) = &pairs[pair];
                        let ir = instructions(&binary, workload, implementation, ops)?;
                        counts.lock().expect("no worker panics holding it").insert((pair, ops), ir);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("an icount worker panicked")?;
        }
        Ok(())
    })?;

    let counts = counts.into_inner().expect("the workers are done");
    let mut results = Results::new();
    for (pair, (workload, implementation)) in pairs.iter().enumerate() {
        let per_op = (counts[&(pair, 2 * n)] as f64 - counts[&(pair, n)] as f64) / n as f64;
        results.entry(workload.clone()).or_default().insert(implementation.clone(), per_op);
    }
    Ok(results)
}

/// The `<workload> <impl>` lines of `icount --list`.
fn parse_list(text: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[..] {
            [] => {}
            [workload, implementation] => pairs.push((workload.to_owned(), implementation.to_owned())),
            _ => bail!("icount --list printed `{line}`, not `<workload> <impl>`"),
        }
    }
    Ok(pairs)
}

/// The instructions (`I refs`) of one run of the icount binary under cachegrind.
fn instructions(binary: &Path, workload: &str, implementation: &str, n: u64) -> Result<u64> {
    let output = Cmd::new("valgrind")
        .env("RUST_LIB_BACKTRACE", "0")
        .args(["--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"])
        .arg(rel(binary))
        .args([workload, implementation])
        .arg(n.to_string())
        .output()
        .context("is valgrind installed? (apt-get install valgrind)")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        eprint!("{stderr}");
        bail!("`icount {workload} {implementation} {n}` failed ({})", output.status);
    }
    match parse_ir(&stderr) {
        Some(ir) => Ok(ir),
        None => bail!("no `I refs:` line in valgrind's output:\n{stderr}"),
    }
}

/// The count of a `==PID== I   refs:      1,234,567` line.
fn parse_ir(stderr: &str) -> Option<u64> {
    stderr.lines().find_map(|line| {
        let line = line.trim_start_matches(|c: char| c == '=' || c.is_ascii_digit());
        let rest = line.trim_start().strip_prefix('I')?.trim_start().strip_prefix("refs:")?;
        rest.trim().replace(',', "").parse().ok()
    })
}

/// Whether `valgrind` runs.
fn valgrind_present() -> bool {
    std::process::Command::new("valgrind")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Whether this is a CI run (`CI` set to anything but empty, `0` or `false`).
fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|ci| !ci.is_empty() && ci != "0" && !ci.eq_ignore_ascii_case("false"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valgrind_ir() {
        let stderr = "==4242== Cachegrind, a cache and branch-prediction profiler\n\
                      ==4242== \n==4242== I   refs:      1,234,567\n";
        assert_eq!(parse_ir(stderr), Some(1_234_567));
        assert_eq!(parse_ir("==1== I refs: 12\n"), Some(12));
        assert_eq!(parse_ir("==1== D   refs: 12\n"), None);
    }

    #[test]
    fn list_lines_are_pairs() {
        let pairs = parse_list("spawn_await taskloop\nspawn_await tokio\n\n").unwrap();
        assert_eq!(pairs.len(), 2);
        assert!(parse_list("spawn_await\n").is_err());
    }

    fn entry(instructions: f64, tokio: f64) -> Entry {
        Entry { ratio: instructions / tokio, instructions, tokio }
    }

    #[test]
    fn a_ratio_over_the_tolerance_fails_and_names_the_numbers() {
        let mut results = Results::new();
        let spawn = results.entry("spawn_await".to_owned()).or_default();
        spawn.insert("taskloop".to_owned(), 4_000.0);
        spawn.insert("taskloop_eager".to_owned(), 1_500.0);
        spawn.insert("tokio".to_owned(), 2_000.0);
        let baseline = entries(&results).unwrap();
        assert_eq!(baseline["spawn_await/taskloop"].ratio, 2.0);
        assert_eq!(baseline["spawn_await/taskloop_eager"].ratio, 0.75);

        // Within 3% (both sides moved, or a 2.9% growth): passes.
        let mut current = baseline.clone();
        current.insert("spawn_await/taskloop".to_owned(), entry(4_116.0, 2_000.0));
        current.insert("spawn_await/taskloop_eager".to_owned(), entry(1_650.0, 2_200.0));
        assert!(compare(&baseline, &current).failures.is_empty());

        // 3.5% more instructions for the same tokio figure: fails, naming old and new.
        current.insert("spawn_await/taskloop".to_owned(), entry(4_140.0, 2_000.0));
        let verdict = compare(&baseline, &current);
        assert_eq!(verdict.failures.len(), 1, "{:?}", verdict.failures);
        let failure = &verdict.failures[0];
        assert!(failure.starts_with("spawn_await/taskloop: ratio 2.000 -> 2.070 (+3.5%)"), "{failure}");
        assert!(failure.contains("4000 -> 4140 instr/op, tokio 2000 -> 2000"), "{failure}");

        // A new workload, or one gone from the driver, fails too.
        let mut grown = baseline.clone();
        grown.insert("chain/taskloop".to_owned(), entry(3_000.0, 2_000.0));
        assert!(compare(&baseline, &grown).failures[0].contains("not in the baseline"));
        assert!(compare(&grown, &baseline).failures[0].contains("no longer measured"));
    }

    #[test]
    fn a_workload_without_tokio_is_an_error() {
        let mut results = Results::new();
        results.entry("lonely".to_owned()).or_default().insert("taskloop".to_owned(), 1.0);
        assert!(entries(&results).is_err());
    }
}
