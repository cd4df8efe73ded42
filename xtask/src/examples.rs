//! `cargo xtask examples`: run every example and compare its stdout with what it is
//! expected to print, byte for byte.
//!
//! The file conventions, for an example `examples/<name>.rs`:
//! - `examples/<name>.expected`: its exact stdout (`cargo xtask examples --bless` writes
//!   it; review the diff before committing);
//! - `examples/<name>.args`: optional extra command-line arguments, whitespace separated.
//!
//! All examples are built once, by `cargo test --workspace --no-run`: the build of
//! `cargo xtask test`'s test step, which compiles the examples too, so that after it this step
//! compiles nothing (a `cargo build --examples` resolves features for fewer packages and would
//! rebuild taskloop and every example). Each binary, found in cargo's JSON messages, then runs
//! from the workspace root with stdin null and a timeout; stderr is shown only when it fails.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::{Cmd, list_dir, rel, root, secs};

/// How long one example may run before it is killed.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The package whose examples these are (the root package).
const PACKAGE: &str = "taskloop-examples";

/// Diff lines printed per failing example before the rest is cut.
const MAX_DIFF_LINES: usize = 200;

/// Checks (or with `bless`, rewrites) the expected output of every example.
pub(crate) fn run(bless: bool) -> Result<()> {
    let names = example_names()?;
    if names.is_empty() {
        println!("examples: there are no examples/*.rs; nothing to check");
        return Ok(());
    }
    let binaries = build()?;

    let mut failures = Vec::new();
    let mut changed = Vec::new();
    for name in &names {
        let result = match binaries.get(name) {
            Some(binary) => check(name, binary, bless),
            None => Err(anyhow::anyhow!("`cargo test --workspace --no-run` built no example `{name}`")),
        };
        match result {
            Ok(Some(change)) => changed.push(change),
            Ok(None) => {}
            Err(err) => {
                eprintln!("examples: {name}: {err:#}");
                failures.push(name.as_str());
            }
        }
    }

    if bless {
        if changed.is_empty() {
            println!("examples: every .expected file was already up to date");
        }
        for change in &changed {
            println!("examples: {change}");
        }
    }
    if !failures.is_empty() {
        bail!("{} of {} example(s) failed: {}", failures.len(), names.len(), failures.join(", "));
    }
    println!("examples: all {} passed", names.len());
    Ok(())
}

/// One line of cargo's `--message-format=json` output, the parts read here.
#[derive(Debug, Deserialize)]
struct Message {
    /// `compiler-artifact` for a built target.
    reason: String,
    /// The package, e.g. `path+file:///…#taskloop-examples@0.1.0`.
    #[serde(default)]
    package_id: String,
    /// The target built.
    target: Option<Target>,
    /// The executable, for binaries, examples and tests.
    executable: Option<PathBuf>,
}

/// A target in cargo's JSON messages.
#[derive(Debug, Deserialize)]
struct Target {
    /// Its name (an example's file stem).
    name: String,
    /// `["example"]` for an example.
    kind: Vec<String>,
}

/// Builds what `cargo test --workspace` builds and returns the root package's example
/// binaries by name.
fn build() -> Result<BTreeMap<String, PathBuf>> {
    let stdout = Cmd::cargo(["test", "--workspace", "--no-run", "--message-format=json-render-diagnostics"])
        .stdout()
        .context("could not build the examples")?;
    let mut binaries = BTreeMap::new();
    for line in stdout.lines().filter(|line| line.starts_with('{')) {
        let message: Message = serde_json::from_str(line).with_context(|| format!("cargo printed `{line}`"))?;
        if let (Some(target), Some(executable)) = (message.target, message.executable)
            && message.reason == "compiler-artifact"
            && target.kind.iter().any(|kind| kind == "example")
            && message.package_id.contains(PACKAGE)
        {
            binaries.insert(target.name, executable);
        }
    }
    Ok(binaries)
}

/// The file stems of `examples/*.rs`, sorted.
fn example_names() -> Result<Vec<String>> {
    Ok(list_dir(&root().join("examples"))?
        .iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .filter_map(|path| path.file_stem()?.to_str().map(str::to_owned))
        .collect())
}

/// Runs one example and compares (or blesses) its output. Returns a note when `bless`
/// changed its `.expected` file.
fn check(name: &str, binary: &Path, bless: bool) -> Result<Option<String>> {
    let examples = root().join("examples");
    let expected_path = examples.join(format!("{name}.expected"));
    let expected = fs::read(&expected_path).ok();
    if expected.is_none() && !bless {
        bail!("{} is missing: create it with `cargo xtask examples --bless`, then review it", rel(&expected_path));
    }

    let args = match fs::read_to_string(examples.join(format!("{name}.args"))) {
        Ok(text) => text.split_whitespace().map(str::to_owned).collect(),
        Err(_) => Vec::new(),
    };
    let mut shown = rel(binary);
    for arg in &args {
        shown.push(' ');
        shown.push_str(arg);
    }
    println!("$ {shown}");

    let mut command = Command::new(binary);
    command.args(&args).current_dir(root());
    let run = run_with_timeout(command, TIMEOUT).with_context(|| format!("could not run {}", rel(binary)))?;
    if !run.status.success() {
        eprint!("{}", String::from_utf8_lossy(&run.stderr));
        bail!("failed ({}) after {}", run.status, secs(run.elapsed));
    }

    if bless {
        if expected.as_deref() == Some(&run.stdout[..]) {
            return Ok(None);
        }
        fs::write(&expected_path, &run.stdout).with_context(|| format!("could not write {}", rel(&expected_path)))?;
        let verb = if expected.is_some() { "updated" } else { "created" };
        return Ok(Some(format!("{verb} {}", rel(&expected_path))));
    }

    let expected = expected.unwrap_or_default();
    if expected != run.stdout {
        let expected = String::from_utf8_lossy(&expected);
        let actual = String::from_utf8_lossy(&run.stdout);
        eprint!("{}", unified_diff(&rel(&expected_path), &format!("stdout of {name}"), &expected, &actual));
        bail!(
            "stdout differs from {} (if the new output is right: `cargo xtask examples --bless`)",
            rel(&expected_path)
        );
    }
    println!("    ok: {name} ({})", secs(run.elapsed));
    Ok(None)
}

/// What a finished child left behind.
#[derive(Debug)]
struct Finished {
    /// Its exit status.
    status: ExitStatus,
    /// Everything it wrote to stdout.
    stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    stderr: Vec<u8>,
    /// How long it ran.
    elapsed: Duration,
}

/// Runs `command` with stdin null and stdout/stderr captured; kills it and fails if it
/// is still running after `timeout`.
fn run_with_timeout(mut command: Command, timeout: Duration) -> Result<Finished> {
    let start = Instant::now();
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());

    let mut pause = Duration::from_millis(1);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() >= timeout {
            // Kill errors only mean it exited meanwhile; it is reaped either way.
            let _ = child.kill();
            let _ = child.wait();
            bail!("timed out: still running after {} s, killed", timeout.as_secs());
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    };
    let join = |reader: thread::JoinHandle<Vec<u8>>| reader.join().unwrap_or_default();
    Ok(Finished { status, stdout: join(stdout), stderr: join(stderr), elapsed: start.elapsed() })
}

/// Reads `pipe` to its end on a thread of its own, so that a full pipe never blocks
/// the child.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            // A read error just ends the capture; the exit status tells the story.
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// One line of an edit script.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Edit<'a> {
    /// In both.
    Same(&'a str),
    /// Only in the old text.
    Removed(&'a str),
    /// Only in the new text.
    Added(&'a str),
}

/// A unified diff (3 lines of context) from `old` to `new`, or `""` if they are equal.
fn unified_diff(old_name: &str, new_name: &str, old: &str, new: &str) -> String {
    const CONTEXT: usize = 3;
    let old: Vec<&str> = old.split_inclusive('\n').collect();
    let new: Vec<&str> = new.split_inclusive('\n').collect();
    let edits = edit_script(&old, &new);

    // Hunks: ranges of `edits` around the changes, merged when their context touches.
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for (i, _) in edits.iter().enumerate().filter(|(_, e)| !matches!(e, Edit::Same(_))) {
        let (start, end) = (i.saturating_sub(CONTEXT), (i + 1 + CONTEXT).min(edits.len()));
        match hunks.last_mut() {
            Some(last) if start <= last.1 => last.1 = end,
            _ => hunks.push((start, end)),
        }
    }
    if hunks.is_empty() {
        return String::new();
    }

    let counts = |edits: &[Edit<'_>]| {
        let old = edits.iter().filter(|e| !matches!(e, Edit::Added(_))).count();
        let new = edits.iter().filter(|e| !matches!(e, Edit::Removed(_))).count();
        (old, new)
    };
    let mut lines = vec![format!("--- {old_name}"), format!("+++ {new_name}")];
    for (start, end) in hunks {
        let (old_at, new_at) = counts(&edits[..start]);
        let (old_len, new_len) = counts(&edits[start..end]);
        lines.push(format!("@@ -{},{old_len} +{},{new_len} @@", old_at + 1, new_at + 1));
        for edit in &edits[start..end] {
            let (mark, line) = match edit {
                Edit::Same(line) => (' ', line),
                Edit::Removed(line) => ('-', line),
                Edit::Added(line) => ('+', line),
            };
            lines.push(format!("{mark}{}", line.trim_end_matches('\n').replace('\r', "\\r")));
            if !line.ends_with('\n') {
                lines.push("\\ No newline at end of file".to_owned());
            }
        }
    }
    let total = lines.len();
    if total > MAX_DIFF_LINES {
        lines.truncate(MAX_DIFF_LINES);
        lines.push(format!("... ({} more diff lines)", total - MAX_DIFF_LINES));
    }
    lines.iter().map(|line| format!("{line}\n")).collect()
}

/// A shortest edit script from `old` to `new` by longest common subsequence, after
/// trimming the common prefix and suffix. Very large middles fall back to "remove all,
/// add all".
fn edit_script<'a>(old: &[&'a str], new: &[&'a str]) -> Vec<Edit<'a>> {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let (old_rest, new_rest) = (&old[prefix..], &new[prefix..]);
    let suffix = old_rest.iter().rev().zip(new_rest.iter().rev()).take_while(|(a, b)| a == b).count();
    let a = &old_rest[..old_rest.len() - suffix];
    let b = &new_rest[..new_rest.len() - suffix];

    let mut edits: Vec<Edit<'a>> = old[..prefix].iter().map(|l| Edit::Same(l)).collect();
    if a.len().saturating_mul(b.len()) > 4_000_000 {
        edits.extend(a.iter().map(|l| Edit::Removed(l)));
        edits.extend(b.iter().map(|l| Edit::Added(l)));
    } else {
        // lcs[i][j]: length of the LCS of a[i..] and b[j..].
        let width = b.len() + 1;
        let mut lcs = vec![0u32; (a.len() + 1) * width];
        for i in (0..a.len()).rev() {
            for j in (0..b.len()).rev() {
                lcs[i * width + j] = if a[i] == b[j] {
                    lcs[(i + 1) * width + j + 1] + 1
                } else {
                    lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            if i < a.len() && j < b.len() && a[i] == b[j] {
                edits.push(Edit::Same(a[i]));
                (i, j) = (i + 1, j + 1);
            } else if i < a.len() && (j == b.len() || lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) {
                edits.push(Edit::Removed(a[i]));
                i += 1;
            } else {
                edits.push(Edit::Added(b[j]));
                j += 1;
            }
        }
    }
    edits.extend(old_rest[old_rest.len() - suffix..].iter().map(|l| Edit::Same(l)));
    edits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_no_diff() {
        assert_eq!(unified_diff("a", "b", "x\ny\n", "x\ny\n"), "");
    }

    #[test]
    fn diff_shows_changes_with_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let new = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        let diff = unified_diff("expected", "actual", old, new);
        assert_eq!(diff, "--- expected\n+++ actual\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
    }

    #[test]
    fn diff_shows_a_missing_final_newline() {
        let diff = unified_diff("e", "a", "x\n", "x");
        assert!(diff.contains("-x\n+x\n\\ No newline at end of file\n"), "{diff}");
    }

    #[test]
    fn edit_script_is_minimal() {
        let old = ["a\n", "b\n", "c\n", "d\n"];
        let new = ["a\n", "c\n", "d\n", "e\n"];
        let edits = edit_script(&old, &new);
        let changes = edits.iter().filter(|e| !matches!(e, Edit::Same(_))).count();
        assert_eq!(changes, 2, "{edits:?}");
    }

    #[cfg(unix)]
    #[test]
    fn timeout_kills_the_child() {
        let mut command = Command::new("sleep");
        command.arg("5");
        let err = run_with_timeout(command, Duration::from_millis(100)).unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
    }
}
