//! `cargo xtask difftest [--seed S] [--count N] [--strict]`: a differential test of taskloop
//! against CPython's asyncio (issue 13).
//!
//! Generates `N` small random task programs from the seed (2–5 tasks, each a few ops: spawn,
//! sleep and yield, await, cancel with a message, try/except around a block, uncancel,
//! cancelling, result and exception, raise, return, shield, wait_for, timeout, gather with and
//! without `return_exceptions`, wait, TaskGroup, as_completed, done callbacks, call_soon and
//! call_later), runs them all on both sides, one process a side —
//!
//! - asyncio: `crates/difftest/asyncio_interp.py`, on a selector loop with a virtual clock,
//!   under CPython 3.13 if `PYENV_VERSION=3.13.0 python3` is one, else `python3` (3.11 or
//!   later) emulating 3.13 where they differ (the interpreter's header line says what);
//! - taskloop: the `taskloop-difftest` binary, on a current-thread loop with paused time —
//!
//! and compares, for each program, every task's and callback's own events in order with their
//! virtual times, and every task's final state. Programs whose outcome depends on an order
//! asyncio leaves unspecified (timers of different tasks due at the same instant, the set a
//! `TaskGroup` or `asyncio.run` cancels in) are detected on the asyncio side, by running them
//! again with the opposite choices and with random orders of same-instant timers (6 runs in
//! all), and skipped if any two runs differ. Divergences are grouped by the first event
//! that differs (its kind and both outcomes), one example of each group is minimised (drop
//! tasks, ops and blocks while the same divergence persists), and each group is printed as
//! asyncio code with the two traces' diff.
//!
//! It exits non-zero on a divergence only with `--strict`. `cargo xtask test` runs the first
//! 500 programs of seed 1 with `--strict`; a longer run (`--count 20000`) still finds a few
//! programs per thousand that differ in ways the README's "Differences from asyncio" lists
//! (timers of different tasks due at the same instant, loop steps around `run`'s stop). Files of
//! the last run (programs and both sides' output) are kept in `target/difftest/`.

mod program;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::{Cmd, rel, root, secs, target_dir};
use program::{Generator, Program, ProgramExt};

/// The options of one run.
#[derive(Debug)]
pub(crate) struct Options {
    /// Seeds the generator: the same seed gives the same programs.
    pub(crate) seed: u64,
    /// How many programs.
    pub(crate) count: usize,
    /// Fail if any program's traces differ.
    pub(crate) strict: bool,
}

/// Minimisation stops after this many rounds (each removes at least one op per group).
const MAX_ROUNDS: usize = 40;

/// `cargo xtask difftest`.
pub(crate) fn run(options: &Options) -> Result<()> {
    let start = Instant::now();
    let dir = target_dir().join("difftest");
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", rel(&dir)))?;
    Cmd::cargo(["build", "--package", "taskloop-difftest"]).run()?;
    let sides = Sides::find()?;

    let mut generator = Generator::new(options.seed);
    let programs: Vec<Program> = (0..options.count).map(|_| generator.program()).collect();
    println!("$ {} {}", sides.python_shown(), rel(&dir.join("programs.jsonl")));
    println!("$ {} {}", rel(&sides.taskloop), rel(&dir.join("programs.jsonl")));
    let batch = sides.run(&dir, "programs", &programs)?;
    println!("{}", batch.asyncio_header);
    println!("{}", batch.taskloop_header);
    println!("asyncio side: {}, taskloop side: {}", secs(batch.asyncio_time), secs(batch.taskloop_time));

    let mut same = 0;
    let mut skipped = 0;
    let mut skip_reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, (asyncio, taskloop)) in batch.runs.iter().enumerate() {
        match Verdict::of(asyncio, taskloop) {
            Verdict::Same => same += 1,
            Verdict::Skipped(reason) => {
                skipped += 1;
                *skip_reasons.entry(reason).or_default() += 1;
            }
            Verdict::Differ(signature) => groups.entry(signature).or_default().push(i),
        }
    }
    let differ: usize = groups.values().map(Vec::len).sum();

    let mut groups: Vec<Group> = groups
        .into_iter()
        .map(|(signature, members)| {
            // Start from the smallest member: fewer rounds to minimise.
            let first = *members.iter().min_by_key(|&&i| programs[i].size()).expect("a group has a member");
            Group { signature, count: members.len(), example: first, minimal: programs[first].clone() }
        })
        .collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.signature.cmp(&b.signature)));
    let rounds = minimise(&sides, &dir, &mut groups)?;

    let mut report = String::new();
    for (n, group) in groups.iter().enumerate() {
        let runs = sides.run(&dir, "minimal", std::slice::from_ref(&group.minimal))?;
        let (asyncio, taskloop) = &runs.runs[0];
        let _ = writeln!(
            report,
            "\n=== group {}: {} ({} program{}, e.g. #{}) ===",
            n + 1,
            group.signature,
            group.count,
            if group.count == 1 { "" } else { "s" },
            group.example
        );
        let _ = writeln!(report, "minimal program ({} ops):", group.minimal.size());
        for line in group.minimal.to_python().lines() {
            let _ = writeln!(report, "    {line}");
        }
        let _ = writeln!(report, "json: {}", serde_json::to_string(&group.minimal)?);
        let _ = writeln!(report, "traces (  same, - asyncio, + taskloop):");
        report.push_str(&trace_diff(asyncio, taskloop));
    }
    print!("{report}");
    fs::write(dir.join("report.txt"), &report).with_context(|| format!("could not write {}", rel(&dir)))?;

    let reasons: Vec<String> = skip_reasons.iter().map(|(reason, n)| format!("{n} {reason}")).collect();
    if !reasons.is_empty() {
        println!("\nskipped: {}", reasons.join("; "));
    }
    println!(
        "\ndifftest: {} programs, {same} same, {differ} differ ({} groups), {skipped} skipped (unspecified order) \
         [seed {}, {} minimising rounds, {}]",
        options.count,
        groups.len(),
        options.seed,
        rounds,
        secs(start.elapsed())
    );
    if options.strict && differ > 0 {
        bail!("{differ} program(s) differ from asyncio (--strict)");
    }
    Ok(())
}

/// The two interpreters.
#[derive(Debug)]
struct Sides {
    /// `python3`, with `PYENV_VERSION=3.13.0` when that selects CPython 3.13.
    python_env: Option<(&'static str, &'static str)>,
    script: PathBuf,
    taskloop: PathBuf,
}

/// What both sides printed for one batch of programs.
#[derive(Debug)]
struct Batch {
    asyncio_header: String,
    taskloop_header: String,
    asyncio_time: Duration,
    taskloop_time: Duration,
    /// Per program: (asyncio, taskloop).
    runs: Vec<(Run, Run)>,
}

/// What one interpreter printed for one program.
#[derive(Debug, Clone, Deserialize)]
struct Run {
    traces: BTreeMap<String, Vec<(u64, String)>>,
    #[serde(rename = "final")]
    final_states: Vec<String>,
    error: Option<String>,
    skip: Option<String>,
}

impl Sides {
    fn find() -> Result<Sides> {
        let version_at_least = |env: Option<(&str, &str)>, minor: u32| {
            let mut cmd = Command::new("python3");
            cmd.args(["-c", &format!("import sys; sys.exit(sys.version_info < (3, {minor}))")]);
            if let Some((key, value)) = env {
                cmd.env(key, value);
            }
            cmd.output().is_ok_and(|out| out.status.success())
        };
        let pyenv = Some(("PYENV_VERSION", "3.13.0"));
        let python_env = if version_at_least(pyenv, 13) {
            pyenv
        } else if version_at_least(None, 11) {
            None
        } else {
            bail!("difftest needs CPython 3.11 or later as `python3` (asyncio.timeout, TaskGroup)");
        };
        Ok(Sides {
            python_env,
            script: root().join("crates/difftest/asyncio_interp.py"),
            taskloop: target_dir().join("debug").join(format!("taskloop-difftest{}", std::env::consts::EXE_SUFFIX)),
        })
    }

    fn python_shown(&self) -> String {
        let env = self.python_env.map(|(key, value)| format!("{key}={value} ")).unwrap_or_default();
        format!("{env}python3 {}", rel(&self.script))
    }

    /// Writes `programs` to `<dir>/<name>.jsonl` and runs both sides on it at once.
    fn run(&self, dir: &Path, name: &str, programs: &[Program]) -> Result<Batch> {
        let input = dir.join(format!("{name}.jsonl"));
        let mut text = String::new();
        for program in programs {
            text.push_str(&serde_json::to_string(program)?);
            text.push('\n');
        }
        fs::write(&input, text).with_context(|| format!("could not write {}", rel(&input)))?;

        let mut python = Command::new("python3");
        python.arg(&self.script).arg(&input).current_dir(root());
        if let Some((key, value)) = self.python_env {
            python.env(key, value);
        }
        let mut taskloop = Command::new(&self.taskloop);
        taskloop.arg(&input).current_dir(root());
        let ((asyncio, asyncio_time), (tl, taskloop_time)) = std::thread::scope(|scope| {
            let asyncio = scope.spawn(|| capture(python, "asyncio_interp.py"));
            let tl = capture(taskloop, "taskloop-difftest");
            let asyncio = asyncio.join().expect("the asyncio side's thread does not panic");
            Ok::<_, anyhow::Error>((asyncio?, tl?))
        })?;
        fs::write(dir.join(format!("{name}.asyncio.jsonl")), &asyncio)?;
        fs::write(dir.join(format!("{name}.taskloop.jsonl")), &tl)?;

        let (asyncio_header, asyncio_runs) = parse(&asyncio, "asyncio_interp.py")?;
        let (taskloop_header, taskloop_runs) = parse(&tl, "taskloop-difftest")?;
        if asyncio_runs.len() != programs.len() || taskloop_runs.len() != programs.len() {
            bail!(
                "{} programs, but asyncio_interp.py printed {} results and taskloop-difftest {}",
                programs.len(),
                asyncio_runs.len(),
                taskloop_runs.len()
            );
        }
        Ok(Batch {
            asyncio_header,
            taskloop_header,
            asyncio_time,
            taskloop_time,
            runs: asyncio_runs.into_iter().zip(taskloop_runs).collect(),
        })
    }
}

/// Runs `cmd` to its end; its stdout, and how long it took.
fn capture(mut cmd: Command, name: &str) -> Result<(String, Duration)> {
    let start = Instant::now();
    let output = cmd.output().with_context(|| format!("could not start {name}"))?;
    if !output.status.success() {
        bail!("{name} failed ({}):\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    }
    Ok((String::from_utf8(output.stdout).with_context(|| format!("{name} printed non-UTF-8"))?, start.elapsed()))
}

/// The header line (as `interpreter: notes`) and the runs.
fn parse(output: &str, name: &str) -> Result<(String, Vec<Run>)> {
    let mut lines = output.lines();
    let header: serde_json::Value =
        serde_json::from_str(lines.next().unwrap_or_default()).with_context(|| format!("{name}: no header line"))?;
    let mut shown = format!("{name}: {}", header["interpreter"].as_str().unwrap_or("?"));
    if let Some(notes) = header["notes"].as_array().filter(|notes| !notes.is_empty()) {
        let notes: Vec<&str> = notes.iter().filter_map(serde_json::Value::as_str).collect();
        let _ = write!(shown, "; {}", notes.join("; "));
    }
    let runs = lines
        .enumerate()
        .map(|(i, line)| serde_json::from_str(line).with_context(|| format!("{name}: result {} is not valid", i + 1)))
        .collect::<Result<Vec<Run>>>()?;
    Ok((shown, runs))
}

/// How one program's two runs compare.
#[derive(Debug, PartialEq)]
enum Verdict {
    Same,
    /// asyncio's order is unspecified for this program: why.
    Skipped(String),
    /// They differ; the signature of the first difference.
    Differ(String),
}

impl Verdict {
    fn of(asyncio: &Run, taskloop: &Run) -> Verdict {
        if let Some(reason) = &asyncio.skip {
            return Verdict::Skipped(reason.clone());
        }
        if asyncio.error.is_some() || taskloop.error.is_some() {
            if asyncio.error == taskloop.error {
                return Verdict::Same;
            }
            let show = |e: &Option<String>| e.as_deref().map_or("ran", |e| e.split(':').next().unwrap_or(e)).to_owned();
            return Verdict::Differ(format!(
                "error: asyncio {} / taskloop {}",
                show(&asyncio.error),
                show(&taskloop.error)
            ));
        }
        // The first difference in virtual time, over every task's and callback's events.
        let mut first: Option<(u64, String)> = None;
        for key in keys(asyncio, taskloop) {
            let a = asyncio.traces.get(&key).map_or(&[][..], Vec::as_slice);
            let b = taskloop.traces.get(&key).map_or(&[][..], Vec::as_slice);
            let Some(at) = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)) else { continue };
            let time = [a.get(at), b.get(at)].into_iter().flatten().map(|(t, _)| *t).min().unwrap_or(0);
            let signature = match (a.get(at), b.get(at)) {
                (Some((_, x)), Some((_, y))) if x == y => format!("{}: at another time", event_kind(x).0),
                (x, y) => {
                    let (kind, _) = event_kind(x.or(y).map_or("", |(_, text)| text));
                    let outcome =
                        |e: Option<&(u64, String)>| e.map_or("(no event)".to_owned(), |(_, text)| event_kind(text).1);
                    let (a, b) = (outcome(x), outcome(y));
                    if a == b {
                        format!("{kind}: {a} on both, details differ")
                    } else {
                        format!("{kind}: asyncio {a} / taskloop {b}")
                    }
                }
            };
            if first.as_ref().is_none_or(|(t, _)| time < *t) {
                first = Some((time, signature));
            }
        }
        if let Some((_, signature)) = first {
            return Verdict::Differ(signature);
        }
        let finals = asyncio.final_states.iter().zip(&taskloop.final_states);
        match finals.into_iter().find(|(a, b)| a != b) {
            Some((a, b)) => {
                Verdict::Differ(format!("final state: asyncio {} / taskloop {}", state_kind(a), state_kind(b)))
            }
            None => Verdict::Same,
        }
    }
}

/// The keys of both runs' traces: tasks by index, then callbacks by id.
fn keys(a: &Run, b: &Run) -> Vec<String> {
    let mut keys: Vec<String> = a.traces.keys().chain(b.traces.keys()).cloned().collect();
    let order = |key: &String| {
        let digits = key.trim_start_matches(|c: char| !c.is_ascii_digit());
        (!key.starts_with('t'), digits.parse::<u64>().unwrap_or(0))
    };
    keys.sort_by_key(order);
    keys.dedup();
    keys
}

/// An event's op and its outcome with the specifics (indices, values, messages) left out:
/// `sleep 100: raise Cancelled(m1)` is (`sleep`, `raise Cancelled`).
fn event_kind(text: &str) -> (String, String) {
    let (head, tail) = text.split_once(": ").unwrap_or((text, ""));
    let op = head.split_whitespace().next().unwrap_or("").to_owned();
    let mut words = tail.split_whitespace();
    let outcome = match words.next() {
        None if op == "caught" => format!("caught {}", exception_kind(head.split_whitespace().nth(1).unwrap_or(""))),
        None => op.clone(),
        Some("raise") => format!("raise {}", exception_kind(words.next().unwrap_or(""))),
        Some("ok") => "ok".to_owned(),
        Some(word) if word.starts_with(|c: char| c.is_ascii_digit()) => word.to_owned(),
        Some(word) => exception_kind(word),
    };
    (op, outcome)
}

/// `Cancelled(m1)` → `Cancelled`; `Group(Error(E1),Error(E2))` → `Group(2)`.
fn exception_kind(text: &str) -> String {
    match text.split_once('(') {
        Some(("Group", inner)) => {
            format!("Group({})", inner.matches("Error(").count() + inner.matches("Timeout").count())
        }
        Some((kind, _)) => kind.to_owned(),
        None => text.to_owned(),
    }
}

/// `cancelled Cancelled(m1)` → `cancelled`; `failed Error(E3)` → `failed Error`.
fn state_kind(state: &str) -> String {
    match state.split_once(' ') {
        Some(("failed", exc)) => format!("failed {}", exception_kind(exc)),
        Some((kind, _)) => kind.to_owned(),
        None => state.to_owned(),
    }
}

/// Both traces of a program, task by task: common events, then what each side did instead.
fn trace_diff(asyncio: &Run, taskloop: &Run) -> String {
    let mut out = String::new();
    for key in keys(asyncio, taskloop) {
        let a = asyncio.traces.get(&key).map_or(&[][..], Vec::as_slice);
        let b = taskloop.traces.get(&key).map_or(&[][..], Vec::as_slice);
        let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let _ = writeln!(out, "  {key}:");
        for (time, text) in &a[..common] {
            let _ = writeln!(out, "      {time:>4} {text}");
        }
        for (time, text) in &a[common..] {
            let _ = writeln!(out, "    - {time:>4} {text}");
        }
        for (time, text) in &b[common..] {
            let _ = writeln!(out, "    + {time:>4} {text}");
        }
    }
    let _ = writeln!(out, "  final:");
    for (k, (a, b)) in asyncio.final_states.iter().zip(&taskloop.final_states).enumerate() {
        if a == b {
            let _ = writeln!(out, "      t{k} {a}");
        } else {
            let _ = writeln!(out, "    - t{k} {a}");
            let _ = writeln!(out, "    + t{k} {b}");
        }
    }
    for (side, error) in [("asyncio", &asyncio.error), ("taskloop", &taskloop.error)] {
        if let Some(error) = error {
            let _ = writeln!(out, "  {side} error: {error}");
        }
    }
    out
}

/// One group of programs that differ in the same way.
#[derive(Debug)]
struct Group {
    signature: String,
    count: usize,
    /// The index of the program the minimal one was cut from.
    example: usize,
    minimal: Program,
}

/// Shrinks each group's program while it still differs with the group's signature: every
/// round runs each group's one-edit-smaller candidates (in one batch for all groups) and keeps
/// the first that still does. Returns the number of rounds.
fn minimise(sides: &Sides, dir: &Path, groups: &mut [Group]) -> Result<usize> {
    let mut active: Vec<usize> = (0..groups.len()).collect();
    let mut rounds = 0;
    while !active.is_empty() && rounds < MAX_ROUNDS {
        rounds += 1;
        let mut batch = Vec::new();
        let mut owners = Vec::new();
        for &g in &active {
            for candidate in groups[g].minimal.smaller() {
                batch.push(candidate);
                owners.push(g);
            }
        }
        let runs = sides.run(dir, "minimise", &batch)?.runs;
        let mut improved = Vec::new();
        for ((candidate, g), (asyncio, taskloop)) in batch.into_iter().zip(owners).zip(&runs) {
            if improved.contains(&g) {
                continue;
            }
            if Verdict::of(asyncio, taskloop) == Verdict::Differ(groups[g].signature.clone()) {
                groups[g].minimal = candidate;
                improved.push(g);
            }
        }
        active = improved;
    }
    Ok(rounds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kinds_leave_out_the_specifics() {
        assert_eq!(event_kind("sleep 100: raise Cancelled(m1)"), ("sleep".into(), "raise Cancelled".into()));
        assert_eq!(event_kind("cancel 2 m3: true"), ("cancel".into(), "true".into()));
        assert_eq!(event_kind("caught Cancelled()"), ("caught".into(), "caught Cancelled".into()));
        assert_eq!(event_kind("exception 1: Error(E2)"), ("exception".into(), "Error".into()));
        assert_eq!(event_kind("task_group [1, 2]: raise Group(Error(E1),Error(E4))").1, "raise Group(2)");
        assert_eq!(event_kind("start"), ("start".into(), "start".into()));
        assert_eq!(event_kind("wait [1, 2]: ok done [1]"), ("wait".into(), "ok".into()));
    }
}
