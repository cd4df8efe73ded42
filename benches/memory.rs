//! Memory and scale: what an idle task costs in resident memory, and whether spawning,
//! `all_tasks()` and cancelling stay flat per task from 1,000 to 1,000,000 tasks.
//!
//! Every measurement runs in a fresh process (this binary re-run as
//! `memory --child <impl> <flavor> <tasks>`), so each implementation starts from a clean
//! allocator. A child, inside the loop's main task:
//!
//! 1. reads `VmRSS` from `/proc/self/status`;
//! 2. creates `tasks` tasks that each note that they started and then sleep for a day, keeps
//!    their handles, and waits until every one is asleep — the time per task is **spawn**;
//! 3. reads `VmRSS` again: the difference over `tasks` is **bytes per idle task** (the task,
//!    its sleep timer, its handle in a `Vec`, and whatever the loop keeps per task);
//! 4. times one `all_tasks()` call (taskloop only; tokio has no such list) — **all_tasks**;
//! 5. cancels every task (tokio: `abort`) and awaits each — **cancel**.
//!
//! Steps 2, 4 and 5 are then repeated (`WARM_ROUNDS` more rounds, one with
//! `TASKLOOP_BENCH_QUICK=1`, with a warm allocator) and the timings reported are the medians
//! of those warm rounds; the memory figure is the first, cold round's. The parent prints a
//! table of bytes per idle task at 100,000 tasks and the growth curve (per-task ns at every
//! size) on the current-thread loop and on a multi-thread loop with 2 workers.
//!
//! Run with `cargo bench --bench memory` (or through `cargo xtask bench`, which sets
//! `TASKLOOP_BENCH_JSON` to a file this binary writes its results to, as JSON). Criterion's
//! flags are accepted and ignored; a filter argument selects this bench if `memory`
//! contains it; `--test` (as `cargo test --benches` passes) runs one small size only.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use common::{
    FLAVORS, taskloop_builder, taskloop_cancel_all, taskloop_sleepers, tokio_abort_all, tokio_runtime, tokio_sleepers,
};

mod common;

/// The task counts of the growth curve.
const SIZES: [u64; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// The task count of the bytes-per-idle-task figure.
const MEMORY_TASKS: u64 = 100_000;

/// Rounds after the cold one; their median timings are reported. One with
/// `TASKLOOP_BENCH_QUICK=1` (`cargo xtask bench --quick` sets it).
const WARM_ROUNDS: usize = 3;

/// Longer than any run: the tasks only end by cancellation.
const NAP: Duration = Duration::from_secs(24 * 3600);

/// The implementations compared.
const IMPLS: [&str; 2] = ["taskloop", "tokio"];

/// Criterion flags that take no value (every other `--flag` is followed by one).
const BOOLEAN_FLAGS: &[&str] = &[
    "--bench",
    "--test",
    "--list",
    "--verbose",
    "-v",
    "--quiet",
    "--noplot",
    "-n",
    "--discard-baseline",
    "--quick",
    "--exact",
    "--ignored",
    "--nocapture",
    "--show-output",
    "--include-ignored",
    "--export",
];

/// What one child measured: per task, in bytes and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    bytes: f64,
    spawn_ns: f64,
    all_tasks_ns: Option<f64>,
    cancel_ns: f64,
}

impl Sample {
    /// The one line a child prints.
    fn to_line(self) -> String {
        let all_tasks = self.all_tasks_ns.map_or_else(|| "-".to_owned(), |ns| format!("{ns:.3}"));
        format!("sample {:.3} {:.3} {all_tasks} {:.3}", self.bytes, self.spawn_ns, self.cancel_ns)
    }

    /// Reads the line back.
    fn from_line(line: &str) -> Option<Sample> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let ["sample", bytes, spawn, all_tasks, cancel] = words[..] else {
            return None;
        };
        Some(Sample {
            bytes: bytes.parse().ok()?,
            spawn_ns: spawn.parse().ok()?,
            all_tasks_ns: if all_tasks == "-" { None } else { Some(all_tasks.parse().ok()?) },
            cancel_ns: cancel.parse().ok()?,
        })
    }
}

/// Timings of one round, per task.
#[derive(Debug, Clone, Copy)]
struct Round {
    spawn_ns: f64,
    all_tasks_ns: Option<f64>,
    cancel_ns: f64,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let [_, implementation, flavor, tasks] = &args[..] else {
            bail!("usage: memory --child <taskloop|tokio> <current_thread|multi_thread> <tasks>");
        };
        let tasks: u64 = tasks.parse().with_context(|| format!("<tasks> is a whole number, not `{tasks}`"))?;
        let Some(&(_, workers)) = FLAVORS.iter().find(|(name, _)| name == flavor) else {
            bail!("unknown flavor `{flavor}`");
        };
        let sample = match implementation.as_str() {
            "taskloop" => taskloop_child(workers, tasks)?,
            "tokio" => tokio_child(workers, tasks)?,
            other => bail!("unknown implementation `{other}`"),
        };
        println!("{}", sample.to_line());
        return Ok(());
    }

    let mut filters = Vec::new();
    let mut test_mode = false;
    let mut list = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--test" => test_mode = true,
            "--list" => list = true,
            flag if BOOLEAN_FLAGS.contains(&flag) => {}
            flag if flag.starts_with('-') => {
                if !flag.contains('=') {
                    rest.next();
                }
            }
            filter => filters.push(filter),
        }
    }
    if list {
        println!("memory: benchmark");
        return Ok(());
    }
    if !filters.is_empty() && !filters.iter().any(|filter| "memory".contains(filter)) {
        return Ok(());
    }

    let sizes: &[u64] = if test_mode { &[1_000] } else { &SIZES };
    let mut samples = BTreeMap::new();
    for (flavor, _) in FLAVORS {
        for &tasks in sizes {
            for implementation in IMPLS {
                let sample = run_child(implementation, flavor, tasks)?;
                eprintln!(
                    "memory: {flavor:<14} {implementation:<8} {tasks:>9} tasks: {:>7.0} B/task, spawn {:>6.0} ns, \
                     all_tasks {:>6} ns, cancel {:>6.0} ns",
                    sample.bytes,
                    sample.spawn_ns,
                    sample.all_tasks_ns.map_or_else(|| "-".to_owned(), |ns| format!("{ns:.1}")),
                    sample.cancel_ns,
                );
                samples.insert((flavor, tasks, implementation), sample);
            }
        }
    }
    if test_mode {
        println!("memory: ok");
        return Ok(());
    }
    println!("\n{}", report(&samples));
    if let Some(path) = std::env::var_os("TASKLOOP_BENCH_JSON") {
        std::fs::write(&path, json(&samples)).with_context(|| format!("could not write {}", path.display()))?;
    }
    Ok(())
}

/// The warm rounds per child.
fn warm_rounds() -> usize {
    if std::env::var_os("TASKLOOP_BENCH_QUICK").is_some_and(|v| v == "1") { 1 } else { WARM_ROUNDS }
}

/// Runs one measurement in a fresh process.
fn run_child(implementation: &str, flavor: &str, tasks: u64) -> Result<Sample> {
    let exe = std::env::current_exe().context("could not find this binary")?;
    let output = Command::new(exe)
        .args(["--child", implementation, flavor, &tasks.to_string()])
        .output()
        .context("could not start a child")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        bail!("memory --child {implementation} {flavor} {tasks} failed ({})", output.status);
    }
    stdout
        .lines()
        .find_map(Sample::from_line)
        .with_context(|| format!("memory --child {implementation} {flavor} {tasks} printed no sample:\n{stdout}"))
}

/// The resident set size of this process, in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux only)");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line in /proc/self/status");
    kib * 1024
}

/// Per-task nanoseconds of `elapsed` over `tasks`.
fn per_task(elapsed: Duration, tasks: u64) -> f64 {
    elapsed.as_nanos() as f64 / tasks as f64
}

/// The median of some values (the upper one of an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Folds the cold round's memory figure and the warm rounds' timings into one sample.
fn summarize(bytes: f64, warm: &[Round]) -> Sample {
    Sample {
        bytes,
        spawn_ns: median(warm.iter().map(|r| r.spawn_ns).collect()),
        all_tasks_ns: warm.iter().map(|r| r.all_tasks_ns).collect::<Option<Vec<f64>>>().map(median),
        cancel_ns: median(warm.iter().map(|r| r.cancel_ns).collect()),
    }
}

fn taskloop_child(workers: Option<usize>, tasks: u64) -> Result<Sample> {
    let sample = taskloop_builder(workers).build()?.run(async move {
        /// One round; `rss` is called once every task is asleep.
        async fn round(tasks: u64, rss: impl FnOnce()) -> anyhow::Result<Round> {
            let start = Instant::now();
            let handles = taskloop_sleepers(tasks, NAP).await?;
            let spawn = start.elapsed();
            rss();

            let start = Instant::now();
            let all = taskloop::all_tasks();
            let all_tasks = start.elapsed();
            assert!(all.len() as u64 > tasks, "all_tasks() saw {} of {tasks} tasks", all.len());
            drop(all);

            let start = Instant::now();
            taskloop_cancel_all(handles).await;
            let cancel = start.elapsed();
            Ok(Round {
                spawn_ns: per_task(spawn, tasks),
                all_tasks_ns: Some(per_task(all_tasks, tasks)),
                cancel_ns: per_task(cancel, tasks),
            })
        }

        let before = resident_bytes();
        let mut after = before;
        round(tasks, || after = resident_bytes()).await?;
        let mut warm = Vec::new();
        for _ in 0..warm_rounds() {
            warm.push(round(tasks, || {}).await?);
        }
        anyhow::Ok(summarize(after.saturating_sub(before) as f64 / tasks as f64, &warm))
    })?;
    Ok(sample)
}

fn tokio_child(workers: Option<usize>, tasks: u64) -> Result<Sample> {
    async fn round(tasks: u64, rss: impl FnOnce()) -> Round {
        let start = Instant::now();
        let handles = tokio_sleepers(tasks, NAP).await;
        let spawn = start.elapsed();
        rss();

        let start = Instant::now();
        tokio_abort_all(handles).await;
        let cancel = start.elapsed();
        Round { spawn_ns: per_task(spawn, tasks), all_tasks_ns: None, cancel_ns: per_task(cancel, tasks) }
    }

    let rt = tokio_runtime(workers)?;
    // The main task runs as a spawned task, as taskloop's main does.
    let sample = rt.block_on(spawned(async move {
        let before = resident_bytes();
        let mut after = before;
        round(tasks, || after = resident_bytes()).await;
        let mut warm = Vec::new();
        for _ in 0..warm_rounds() {
            warm.push(round(tasks, || {}).await);
        }
        summarize(after.saturating_sub(before) as f64 / tasks as f64, &warm)
    }))?;
    Ok(sample)
}

/// Runs `fut` as a tokio task and awaits it.
async fn spawned<F>(fut: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Ok(tokio::spawn(fut).await?)
}

type Samples = BTreeMap<(&'static str, u64, &'static str), Sample>;

/// The memory table and the growth curve, as markdown.
fn report(samples: &Samples) -> String {
    let get = |flavor, tasks, implementation| samples.get(&(flavor, tasks, implementation));
    let ratio = |ours: f64, theirs: f64| if theirs > 0.0 { format!("{:.2}", ours / theirs) } else { String::new() };
    let mut out = String::new();
    let _ =
        writeln!(out, "Resident bytes per idle task ({MEMORY_TASKS} tasks asleep, VmRSS delta, fresh process each):\n");
    let _ = writeln!(out, "| flavor | taskloop B/task | tokio B/task | ratio |");
    let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
    for (flavor, _) in FLAVORS {
        if let (Some(ours), Some(theirs)) = (get(flavor, MEMORY_TASKS, "taskloop"), get(flavor, MEMORY_TASKS, "tokio"))
        {
            let _ = writeln!(
                out,
                "| {flavor} | {:.0} | {:.0} | {} |",
                ours.bytes,
                theirs.bytes,
                ratio(ours.bytes, theirs.bytes)
            );
        }
    }
    let rounds = warm_rounds();
    let _ = writeln!(out, "\nGrowth curve, ns per task (median of {rounds} warm rounds; B/task from the cold one):\n");
    let _ = writeln!(
        out,
        "| flavor | tasks | spawn taskloop | spawn tokio | ratio | all_tasks taskloop | cancel taskloop | cancel tokio | ratio | B/task taskloop | B/task tokio |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (flavor, _) in FLAVORS {
        for tasks in SIZES {
            let (Some(ours), Some(theirs)) = (get(flavor, tasks, "taskloop"), get(flavor, tasks, "tokio")) else {
                continue;
            };
            let _ = writeln!(
                out,
                "| {flavor} | {tasks} | {:.0} | {:.0} | {} | {} | {:.0} | {:.0} | {} | {:.0} | {:.0} |",
                ours.spawn_ns,
                theirs.spawn_ns,
                ratio(ours.spawn_ns, theirs.spawn_ns),
                ours.all_tasks_ns.map_or_else(String::new, |ns| format!("{ns:.1}")),
                ours.cancel_ns,
                theirs.cancel_ns,
                ratio(ours.cancel_ns, theirs.cancel_ns),
                ours.bytes,
                theirs.bytes,
            );
        }
    }
    out
}

/// The samples as JSON: `{"<flavor>/<tasks>/<impl>": {"bytes_per_task": …, "spawn_ns": …,
/// "all_tasks_ns": … or null, "cancel_ns": …}}`.
fn json(samples: &Samples) -> String {
    let members: Vec<String> = samples
        .iter()
        .map(|((flavor, tasks, implementation), s)| {
            let all_tasks = s.all_tasks_ns.map_or_else(|| "null".to_owned(), |ns| format!("{ns:.3}"));
            format!(
                "  \"{flavor}/{tasks}/{implementation}\": {{\"bytes_per_task\": {:.3}, \"spawn_ns\": {:.3}, \
                 \"all_tasks_ns\": {all_tasks}, \"cancel_ns\": {:.3}}}",
                s.bytes, s.spawn_ns, s.cancel_ns
            )
        })
        .collect();
    format!("{{\n{}\n}}\n", members.join(",\n"))
}
