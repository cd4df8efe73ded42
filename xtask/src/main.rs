//! `cargo xtask`: the project's automation, written in Rust instead of shell scripts.
//!
//! Run `cargo xtask --help` for the commands. Every external command is printed
//! (`$ cargo ...`) before it runs, always from the workspace root, and a failing step ends
//! the process with a non-zero exit code and a message naming the step.
//!
//! The idea follows matklad's cargo-xtask; the `tidy` checks follow rust-analyzer's
//! `tidy.rs`.

mod bench;
mod difftest;
mod examples;
mod icount;
mod tidy;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The text printed by `cargo xtask`, `cargo xtask --help` and `cargo xtask help`.
const USAGE: &str = "\
usage: cargo xtask <command> [flags]

commands:
  test [--loom] [--no-examples]
      tidy, fmt --check, clippy -D warnings, cargo test, the facade's feature matrix
      (cargo check), cargo doc with warnings denied, the difftest sample, examples, the
      instruction-count guard (bench --icount --check), loom models (this is what CI runs)
      --loom         run only the loom model tests (release, --cfg taskloop_loom, target/loom)
      --no-examples  skip the examples check
  tidy
      repo-shape checks: lib.rs opens with //!, crates named in ARCHITECTURE.md,
      no todo/unimplemented/dbg macros, every example has its .expected file
  examples [--bless]
      build and run examples/<name>.rs (args from examples/<name>.args), compare stdout
      with examples/<name>.expected byte for byte
      --bless        write the actual outputs into the .expected files instead
  bench [--quick] [--asyncio] [--icount [--check | --update]]
      cargo bench, then one markdown table from target/criterion (also written to
      target/bench-table.md)
      --quick        short runs (criterion: 0.5 s warm-up, 1 s measurement, 10 samples;
                     memory bench: 1 warm round; Python: smaller counts, 1 run)
      --asyncio      add asyncio/uvloop columns from benches/python/bench_asyncio.py
      --icount       instructions per op under valgrind, via examples/icount.rs
      --check        only the CI guard (no criterion): each workload's taskloop/tokio
                     instruction ratio at a small n, against benches/icount-baseline.json;
                     fails if one grew by more than 3% (valgrind missing: skipped with a
                     note, an error under CI=true)
      --update       like --check, but rewrite benches/icount-baseline.json
  stress [--secs N]
      every stress test in release: the ignored soaks, with TASKLOOP_STRESS_SECS=N
      (default 60), and the ones cargo test runs small at full size (TASKLOOP_STRESS_FULL=1)
  difftest [--seed S] [--count N] [--strict]
      differential test against CPython's asyncio: N random task programs (default 500)
      from seed S (default 1), run on asyncio (virtual clock) and on taskloop (paused
      time); divergences grouped, minimised and printed (kept in target/difftest/)
      --strict       exit non-zero if any program differs
  help, --help
      this text
";

fn main() -> ExitCode {
    let result = parse(std::env::args_os().skip(1)).and_then(run);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// One parsed command line.
#[derive(Debug)]
enum Task {
    /// `help`, `--help`, `-h` or nothing: print [`USAGE`].
    Help,
    /// `test`: with `--loom`, only the loom models; `examples` is false with `--no-examples`.
    Test { loom: bool, examples: bool },
    /// `tidy`.
    Tidy,
    /// `examples`, rewriting the `.expected` files with `--bless`.
    Examples { bless: bool },
    /// `bench`.
    Bench(bench::Options),
    /// `stress --secs N`.
    Stress { secs: u64 },
    /// `difftest`.
    Difftest(difftest::Options),
}

/// Parses the command line after the program name. Errors name the command and the
/// argument at fault.
fn parse(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Task> {
    use lexopt::prelude::*;

    let mut parser = lexopt::Parser::from_args(args);
    let command = match parser.next()? {
        None | Some(Long("help") | Short('h')) => return Ok(Task::Help),
        Some(Value(command)) => command.string()?,
        Some(arg) => bail!("{}; a command comes first: run `cargo xtask --help`", arg.unexpected()),
    };
    // Every flag of `command` is handled in the loop of its arm; anything else ends here.
    let unexpected = |arg: lexopt::Arg<'_>| -> anyhow::Error {
        anyhow::anyhow!("`cargo xtask {command}`: {}; run `cargo xtask --help`", arg.unexpected())
    };
    // The value of `--name`, parsed as a whole number.
    let number = |parser: &mut lexopt::Parser, name: &str| -> Result<u64> {
        let value = parser.value().with_context(|| format!("`cargo xtask {command}`"))?;
        let text = value.to_string_lossy().into_owned();
        text.parse()
            .map_err(|_| anyhow::anyhow!("`cargo xtask {command}`: --{name} wants a whole number, not `{text}`"))
    };
    let task = match command.as_str() {
        "help" => Task::Help,
        "test" => {
            let (mut loom, mut examples) = (false, true);
            while let Some(arg) = parser.next()? {
                match arg {
                    Long("loom") => loom = true,
                    Long("no-examples") => examples = false,
                    arg => return Err(unexpected(arg)),
                }
            }
            Task::Test { loom, examples }
        }
        "tidy" => {
            if let Some(arg) = parser.next()? {
                return Err(unexpected(arg));
            }
            Task::Tidy
        }
        "examples" => {
            let mut bless = false;
            while let Some(arg) = parser.next()? {
                match arg {
                    Long("bless") => bless = true,
                    arg => return Err(unexpected(arg)),
                }
            }
            Task::Examples { bless }
        }
        "bench" => {
            let mut options = bench::Options::default();
            while let Some(arg) = parser.next()? {
                match arg {
                    Long("quick") => options.quick = true,
                    Long("asyncio") => options.asyncio = true,
                    Long("icount") => options.icount = true,
                    Long("check") => options.check = true,
                    Long("update") => options.update = true,
                    arg => return Err(unexpected(arg)),
                }
            }
            if (options.check || options.update) && !options.icount {
                bail!("`cargo xtask bench`: --check and --update compare instruction counts: add --icount");
            }
            if options.check && options.update {
                bail!("`cargo xtask bench`: --check compares with the baseline, --update rewrites it: choose one");
            }
            Task::Bench(options)
        }
        "stress" => {
            let mut secs = 60;
            while let Some(arg) = parser.next()? {
                match arg {
                    Long("secs") => secs = number(&mut parser, "secs")?,
                    arg => return Err(unexpected(arg)),
                }
            }
            Task::Stress { secs }
        }
        "difftest" => {
            let mut options = difftest::Options { seed: 1, count: 500, strict: false };
            while let Some(arg) = parser.next()? {
                match arg {
                    Long("seed") => options.seed = number(&mut parser, "seed")?,
                    Long("count") => options.count = usize::try_from(number(&mut parser, "count")?)?,
                    Long("strict") => options.strict = true,
                    arg => return Err(unexpected(arg)),
                }
            }
            Task::Difftest(options)
        }
        other => bail!("unknown command `{other}`; run `cargo xtask --help`"),
    };
    Ok(task)
}

/// Runs one parsed command line.
fn run(task: Task) -> Result<()> {
    match task {
        Task::Help => {
            print!("{USAGE}");
            Ok(())
        }
        Task::Test { loom: true, .. } => test_loom(),
        Task::Test { loom: false, examples } => test(examples),
        Task::Tidy => tidy::run(),
        Task::Examples { bless } => examples::run(bless),
        Task::Bench(options) => bench::run(&options),
        Task::Stress { secs } => stress(secs),
        Task::Difftest(options) => difftest::run(&options),
    }
}

/// How many programs `cargo xtask test` runs through the differential test (seed 1).
const DIFFTEST_SAMPLE: usize = 500;

/// `cargo xtask test`: every check CI runs, in order, each timed.
fn test(with_examples: bool) -> Result<()> {
    let mut steps = Steps::default();
    let result = (|| {
        steps.run("tidy", tidy::run)?;
        steps.run("fmt", || Cmd::cargo(["fmt", "--all", "--", "--check"]).run())?;
        steps.run("clippy", || Cmd::cargo(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]).run())?;
        steps.run("test", || Cmd::cargo(["test", "--workspace"]).run())?;
        steps.run("features", features)?;
        steps
            .run("docs", || Cmd::cargo(["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-D warnings").run())?;
        // A fixed sample of the differential test against asyncio: any divergence fails.
        steps
            .run("difftest", || difftest::run(&difftest::Options { seed: 1, count: DIFFTEST_SAMPLE, strict: true }))?;
        if with_examples {
            steps.run("examples", || examples::run(false))?;
        } else {
            println!("\n==> examples: skipped (--no-examples)");
        }
        // The instruction-count guard: taskloop/tokio ratios against benches/icount-baseline.json.
        steps.run("icount", || icount::check(false))?;
        // About a minute from a clean target directory, so CI model-checks every run.
        steps.run("loom", loom_models)?;
        Ok(())
    })();
    steps.summary(result.is_ok());
    result
}

/// The `features` step: the facade checked with no default features, with each feature
/// alone, and with all, so that every feature stays additive and builds on its own; then
/// under `--cfg tokio_unstable` (the tokio-console build), in a target directory of its own
/// so the main build's cache stays valid.
fn features() -> Result<()> {
    let check = || Cmd::cargo(["check", "--package", "taskloop"]);
    check().arg("--no-default-features").run()?;
    for feature in facade_features()? {
        check().args(["--no-default-features", "--features", &feature]).run()?;
    }
    check().arg("--all-features").run()?;
    Cmd::cargo(["check", "--package", "taskloop"])
        .env("RUSTFLAGS", "--cfg tokio_unstable")
        .env("CARGO_TARGET_DIR", "target/tokio-unstable")
        .run()
}

/// The features the facade declares (its `[features]` table, less `default`), read from
/// `crates/taskloop/Cargo.toml` so that a new feature joins the matrix by itself.
fn facade_features() -> Result<Vec<String>> {
    let manifest = root().join("crates/taskloop/Cargo.toml");
    let text = fs::read_to_string(&manifest).with_context(|| format!("could not read {}", rel(&manifest)))?;
    let features = feature_names(&text);
    if features.is_empty() {
        bail!("{} declares no features", rel(&manifest));
    }
    Ok(features)
}

/// The keys of the `[features]` table of a manifest, less `default`, in order.
fn feature_names(manifest: &str) -> Vec<String> {
    let mut in_features = false;
    let mut names = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_features = line == "[features]";
        } else if in_features
            && let Some((key, _)) = line.split_once('=')
            && !line.starts_with('#')
        {
            let key = key.trim();
            if key != "default" {
                names.push(key.to_owned());
            }
        }
    }
    names
}

/// `cargo xtask test --loom`: only the loom model tests.
fn test_loom() -> Result<()> {
    let start = Instant::now();
    loom_models().context("step `loom` failed")?;
    println!("\nloom: passed in {}", secs(start.elapsed()));
    Ok(())
}

/// The loom model tests (`--cfg taskloop_loom`, release), in their own target directory so
/// the main build's cache stays valid. Only the packages that have models are tested, so the
/// release build leaves out what no model needs (the examples' axum, ureq, criterion...).
fn loom_models() -> Result<()> {
    let packages = loom_packages()?;
    if packages.is_empty() {
        bail!("no crate under crates/ mentions `taskloop_loom` in its src/: where did the loom models go?");
    }
    Cmd::cargo(["test", "--release"])
        .args(packages.iter().flat_map(|package| ["--package", package.as_str()]))
        .args(["--lib", "loom"])
        .env("RUSTFLAGS", "--cfg taskloop_loom")
        .env("CARGO_TARGET_DIR", "target/loom")
        .run()
}

/// The packages under `crates/` whose `src/` holds loom models (mentions `taskloop_loom`).
fn loom_packages() -> Result<Vec<String>> {
    let mut packages = Vec::new();
    for dir in list_dir(&root().join("crates"))? {
        let manifest = dir.join("Cargo.toml");
        if !manifest.exists() || !mentions(&dir.join("src"), "taskloop_loom")? {
            continue;
        }
        let text = fs::read_to_string(&manifest).with_context(|| format!("could not read {}", rel(&manifest)))?;
        match tidy::package_name(&text) {
            Some(name) => packages.push(name),
            None => bail!("{} names no package", rel(&manifest)),
        }
    }
    Ok(packages)
}

/// Whether any `.rs` file under `dir` contains `needle`.
fn mentions(dir: &Path, needle: &str) -> Result<bool> {
    for path in list_dir(dir)? {
        if path.is_dir() {
            if mentions(&path, needle)? {
                return Ok(true);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs")
            && fs::read_to_string(&path).with_context(|| format!("could not read {}", rel(&path)))?.contains(needle)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `cargo xtask stress`: every stress test of the integration test targets (a name with
/// `stress` in it), in release: the `#[ignore]`d soaks, and the ones `cargo test` runs small,
/// at their full size (`TASKLOOP_STRESS_FULL=1`, see `taskloop_test_support::stress_size`).
fn stress(secs: u64) -> Result<()> {
    let start = Instant::now();
    Cmd::cargo(["test", "--release", "--workspace", "--test", "*", "stress"])
        .args(["--", "--include-ignored", "--nocapture"])
        .env("TASKLOOP_STRESS_SECS", secs.to_string())
        .env("TASKLOOP_STRESS_FULL", "1")
        .run()
        .context("step `stress` failed")?;
    println!("\nstress: passed in {}", self::secs(start.elapsed()));
    Ok(())
}

/// Named steps run in order, each timed, for the summary line.
#[derive(Debug, Default)]
struct Steps {
    /// Each finished step's name, duration and whether it passed.
    done: Vec<(&'static str, Duration, bool)>,
}

impl Steps {
    /// Runs one step, printing its name and elapsed time; an error names the step.
    fn run(&mut self, name: &'static str, step: impl FnOnce() -> Result<()>) -> Result<()> {
        println!("\n==> {name}");
        let start = Instant::now();
        let result = step();
        let elapsed = start.elapsed();
        self.done.push((name, elapsed, result.is_ok()));
        match result {
            Ok(()) => {
                println!("==> {name}: ok ({})", secs(elapsed));
                Ok(())
            }
            Err(err) => {
                println!("==> {name}: FAILED ({})", secs(elapsed));
                Err(err.context(format!("step `{name}` failed")))
            }
        }
    }

    /// Prints the final line: every step with its time, and the verdict.
    fn summary(&self, passed: bool) {
        let total: Duration = self.done.iter().map(|(_, elapsed, _)| *elapsed).sum();
        let steps: Vec<String> = self
            .done
            .iter()
            .map(|(name, elapsed, ok)| {
                let mark = if *ok { "" } else { " FAILED" };
                format!("{name} {}{mark}", secs(*elapsed))
            })
            .collect();
        let verdict = if passed { "passed" } else { "FAILED" };
        println!("\ntest: {verdict} in {} [{}]", secs(total), steps.join(", "));
    }
}

/// Formats a duration as seconds with one decimal, e.g. `12.3s`.
pub(crate) fn secs(elapsed: Duration) -> String {
    format!("{:.1}s", elapsed.as_secs_f64())
}

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask/ lives in the workspace root")
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (relative to the root) or `target/`.
pub(crate) fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

/// `path` relative to the workspace root, for messages.
pub(crate) fn rel(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

/// The entries of `dir`, sorted; none if `dir` does not exist.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut paths = fs::read_dir(dir)
        .with_context(|| format!("could not list {}", rel(dir)))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("could not list {}", rel(dir)))?;
    paths.sort();
    Ok(paths)
}

/// An external command run from the workspace root, printed (`$ ...`) before it runs.
#[derive(Debug)]
pub(crate) struct Cmd {
    /// The program to run.
    program: PathBuf,
    /// How the program is shown when the command is printed.
    shown_as: String,
    /// Its arguments.
    args: Vec<String>,
    /// Environment variables set for it (and shown before it).
    envs: Vec<(String, String)>,
}

impl Cmd {
    /// A command running `program`.
    pub(crate) fn new(program: impl Into<PathBuf>) -> Cmd {
        let program = program.into();
        let shown_as = rel(&program);
        Cmd { program, shown_as, args: Vec::new(), envs: Vec::new() }
    }

    /// `cargo` (the one running xtask: `$CARGO`, else from `PATH`) with `args`.
    pub(crate) fn cargo<I: IntoIterator<Item: Into<String>>>(args: I) -> Cmd {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = Cmd::new(cargo).args(args);
        cmd.shown_as = "cargo".to_owned();
        cmd
    }

    /// Adds one argument.
    pub(crate) fn arg(mut self, arg: impl Into<String>) -> Cmd {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub(crate) fn args<I: IntoIterator<Item: Into<String>>>(mut self, args: I) -> Cmd {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the command.
    pub(crate) fn env(mut self, key: &str, value: impl Into<String>) -> Cmd {
        self.envs.push((key.to_owned(), value.into()));
        self
    }

    /// Prints the command and builds the `std` one, with the root as working directory.
    fn command(&self) -> Command {
        println!("$ {self}");
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).current_dir(root());
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs the command with inherited stdio; fails unless it exits successfully.
    pub(crate) fn run(&self) -> Result<()> {
        let status = self.command().status().with_context(|| format!("could not start `{}`", self.shown_as))?;
        if !status.success() {
            bail!("`{self}` failed ({status})");
        }
        Ok(())
    }

    /// Runs the command with stdout captured (stderr inherited) and returns its stdout;
    /// fails unless it exits successfully.
    pub(crate) fn stdout(&self) -> Result<String> {
        let output = self
            .command()
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("could not start `{}`", self.shown_as))?;
        if !output.status.success() {
            bail!("`{self}` failed ({})", output.status);
        }
        String::from_utf8(output.stdout).with_context(|| format!("`{self}` printed no UTF-8"))
    }

    /// Runs the command with stdin null and stdout and stderr captured; does not check
    /// the exit status.
    pub(crate) fn output(&self) -> Result<Output> {
        self.command().stdin(Stdio::null()).output().with_context(|| format!("could not start `{}`", self.shown_as))
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, value) in &self.envs {
            write!(f, "{key}={} ", shell_quote(value))?;
        }
        f.write_str(&self.shown_as)?;
        for arg in &self.args {
            write!(f, " {}", shell_quote(arg))?;
        }
        Ok(())
    }
}

/// Quotes `word` for display the way a shell would need it.
fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Task> {
        parse(args.iter().map(std::ffi::OsString::from))
    }

    #[test]
    fn every_flag_in_the_usage_parses() {
        assert!(matches!(parsed(&[]).unwrap(), Task::Help));
        assert!(matches!(parsed(&["--help"]).unwrap(), Task::Help));
        assert!(matches!(parsed(&["help"]).unwrap(), Task::Help));
        assert!(matches!(parsed(&["test", "--loom"]).unwrap(), Task::Test { loom: true, examples: true }));
        assert!(matches!(parsed(&["test", "--no-examples"]).unwrap(), Task::Test { loom: false, examples: false }));
        assert!(matches!(parsed(&["examples", "--bless"]).unwrap(), Task::Examples { bless: true }));
        assert!(matches!(parsed(&["stress", "--secs", "5"]).unwrap(), Task::Stress { secs: 5 }));
        assert!(matches!(parsed(&["stress", "--secs=7"]).unwrap(), Task::Stress { secs: 7 }));
        assert!(matches!(parsed(&["stress"]).unwrap(), Task::Stress { secs: 60 }));
        let Task::Bench(options) = parsed(&["bench", "--quick", "--asyncio", "--icount"]).unwrap() else {
            panic!("not a bench");
        };
        assert!(options.quick && options.asyncio && options.icount && !options.check && !options.update);
        let Task::Bench(options) = parsed(&["bench", "--icount", "--check"]).unwrap() else {
            panic!("not a bench");
        };
        assert!(options.check && !options.update);
        let Task::Bench(options) = parsed(&["bench", "--icount", "--update"]).unwrap() else {
            panic!("not a bench");
        };
        assert!(!options.check && options.update);
        let Task::Difftest(options) = parsed(&["difftest", "--seed", "3", "--count=9", "--strict"]).unwrap() else {
            panic!("not a difftest");
        };
        assert_eq!((options.seed, options.count, options.strict), (3, 9, true));
        // Each flag the parser knows is in the usage text.
        for flag in
            ["--loom", "--no-examples", "--bless", "--quick", "--asyncio", "--icount", "--check", "--update", "--secs"]
        {
            assert!(USAGE.contains(flag), "{flag} is not in USAGE");
        }
        for flag in ["--seed", "--count", "--strict"] {
            assert!(USAGE.contains(flag), "{flag} is not in USAGE");
        }
    }

    #[test]
    fn bad_input_is_named() {
        let says = |args: &[&str], expected: &str| {
            let message = format!("{:#}", parsed(args).unwrap_err());
            assert!(message.contains(expected), "{args:?} gave `{message}`, not `{expected}`");
        };
        says(&["tset"], "unknown command `tset`");
        says(&["test", "--lom"], "`cargo xtask test`: invalid option '--lom'");
        says(&["tidy", "x"], "`cargo xtask tidy`: unexpected argument \"x\"");
        says(&["stress", "--secs"], "`cargo xtask stress`: missing argument for option '--secs'");
        says(&["stress", "--secs", "ten"], "--secs wants a whole number, not `ten`");
        says(&["bench", "--check"], "add --icount");
        says(&["bench", "--icount", "--check", "--update"], "choose one");
        says(&["--loom"], "a command comes first");
    }

    #[test]
    fn loom_runs_where_the_models_are() {
        let packages = loom_packages().unwrap();
        assert!(packages.iter().any(|p| p == "taskloop-core"), "{packages:?}");
        assert!(!packages.iter().any(|p| p == "taskloop-examples" || p == "xtask"), "{packages:?}");
    }

    #[test]
    fn feature_names_come_from_the_features_table() {
        let manifest = "[package]\nname = \"x\"\n\n[features]\ndefault = [\"a\"]\n## doc\na = []\nb-c = [\"a\"]\n\n[dependencies]\nd = \"1\"\n";
        assert_eq!(feature_names(manifest), ["a", "b-c"]);
    }

    #[test]
    fn commands_print_like_a_shell() {
        let cmd = Cmd::cargo(["bench", "--bench", "*"]).env("RUSTFLAGS", "--cfg loom");
        assert_eq!(cmd.to_string(), "RUSTFLAGS='--cfg loom' cargo bench --bench '*'");
    }
}
