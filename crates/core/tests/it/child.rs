//! Behaviour seen from outside the process: Ctrl-C (SIGINT) during `run`, and the default
//! exception handler's report on stderr. Each test re-runs this test binary as a child
//! process running one `#[ignore]`d `child_*` helper below (so it runs only when a test asks
//! for it), and checks what the child printed and how it ended.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use taskloop::{Runtime, TaskError, create_task, sleep};
use taskloop_test_support::within;

/// Starts this test binary running the ignored test `child::name` alone, output piped.
fn spawn_child(name: &str, env: &[(&str, &str)]) -> Child {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new(exe);
    command
        .args(["--ignored", "--exact", &format!("child::{name}"), "--nocapture", "--test-threads=1"])
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().expect("could not start the child test process")
}

/// Reads the child's stdout until a line equal to `line`, returning the lines read.
fn read_until(reader: &mut impl BufRead, line: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let mut buf = String::new();
        let n = reader.read_line(&mut buf).expect("reading the child's stdout");
        assert!(n > 0, "the child ended before printing {line:?}; it printed {seen:?}");
        // libtest prints `test child::name ... ` before the test's first line.
        let got = ours_in(buf.trim_end()).unwrap_or(buf.trim_end()).to_owned();
        let done = got == line;
        seen.push(got);
        if done {
            return seen;
        }
    }
}

fn sigint(child: &Child) {
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("running kill");
    assert!(status.success(), "kill -INT failed");
}

/// The part of a line the child test printed, from `child: ` on.
fn ours_in(line: &str) -> Option<&str> {
    line.find("child: ").map(|at| &line[at..])
}

/// The lines the child printed that are ours (libtest's own text left out).
fn ours(lines: impl IntoIterator<Item = String>) -> Vec<String> {
    lines.into_iter().filter_map(|l| ours_in(&l).map(str::to_owned)).collect()
}

fn finish(mut child: Child, mut stdout: impl BufRead) -> (ExitStatus, Vec<String>, String) {
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("reading the child's stdout");
    let mut stderr = String::new();
    child.stderr.take().expect("piped").read_to_string(&mut stderr).expect("reading the child's stderr");
    let status = child.wait().expect("waiting for the child");
    (status, rest.lines().map(str::to_owned).collect(), stderr)
}

// asyncio 3.13, sent SIGINT while main sleeps (the same program as `examples/ctrl_c.rs`):
//
//     async def worker():
//         try: await asyncio.sleep(3600)
//         finally: print("worker cleaned up")
//     async def main():
//         asyncio.create_task(worker())
//         print("ready")
//         try: await asyncio.sleep(3600)
//         except asyncio.CancelledError:
//             print("main cancelled"); await asyncio.sleep(0.05); print("main cleaned up"); raise
//     try: asyncio.run(main())
//     except KeyboardInterrupt: print("run: KeyboardInterrupt")
//
// prints ready, main cancelled, main cleaned up, worker cleaned up, run: KeyboardInterrupt.
#[test]
fn ctrl_c_cancels_main_lets_it_and_the_leftovers_clean_up_and_run_returns_interrupted() {
    within(60, || {
        let mut child = spawn_child("child_ctrl_c", &[]);
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut lines = read_until(&mut stdout, "child: ready");
        sigint(&child);
        let (status, rest, stderr) = finish(child, stdout);
        lines.extend(rest);
        assert!(status.success(), "child failed ({status}): {stderr}");
        assert_eq!(
            ours(lines),
            [
                "child: ready",
                "child: main cancelled: cancelled: interrupted",
                "child: main cleaned up",
                "child: worker cleaned up",
                "child: run returned Err(Cancelled(\"interrupted\"))",
            ]
        );
    });
}

#[test]
#[ignore = "a child process of ctrl_c_cancels_main_*"]
fn child_ctrl_c() {
    struct Print(&'static str);
    impl Drop for Print {
        fn drop(&mut self) {
            println!("child: {}", self.0);
        }
    }
    let outcome = Runtime::new().unwrap().run(async {
        let _worker = create_task(async {
            let _cleanup = Print("worker cleaned up");
            sleep(Duration::from_secs(3600)).await?;
            anyhow::Ok(())
        });
        println!("child: ready");
        if let Err(cancelled) = sleep(Duration::from_secs(3600)).await {
            println!("child: main cancelled: {cancelled}");
            sleep(Duration::from_millis(50)).await?;
            println!("child: main cleaned up");
            return Err(cancelled.into());
        }
        anyhow::Ok(())
    });
    println!("child: run returned {:?}", outcome);
}

// asyncio's Runner: a second Ctrl-C while main is still cleaning up ends the program at once.
#[test]
fn a_second_ctrl_c_ends_the_process_at_once() {
    use std::os::unix::process::ExitStatusExt;
    within(60, || {
        let mut child = spawn_child("child_stuck_clean_up", &[]);
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        read_until(&mut stdout, "child: ready");
        sigint(&child);
        read_until(&mut stdout, "child: cleaning up forever");
        sigint(&child);
        let (status, rest, _) = finish(child, stdout);
        assert_eq!(status.signal(), Some(2), "ended by SIGINT's default action: {status}");
        assert_eq!(ours(rest), Vec::<String>::new());
    });
}

#[test]
#[ignore = "a child process of a_second_ctrl_c_ends_the_process_at_once"]
fn child_stuck_clean_up() {
    let _ = Runtime::new().unwrap().run(async {
        println!("child: ready");
        if sleep(Duration::from_secs(3600)).await.is_err() {
            println!("child: cleaning up forever");
            // A clean-up stuck on a foreign await: nothing cancels it again.
            std::future::pending::<()>().await;
        }
        anyhow::Ok(())
    });
    println!("child: run returned");
}

// Opted out, and outside any loop, SIGINT does what it did before: it ends the process.
#[test]
fn with_handle_ctrl_c_false_or_after_run_ctrl_c_ends_the_process() {
    use std::os::unix::process::ExitStatusExt;
    within(60, || {
        for name in ["child_opted_out", "child_after_run"] {
            let mut child = spawn_child(name, &[]);
            let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
            read_until(&mut stdout, "child: ready");
            sigint(&child);
            let (status, rest, _) = finish(child, stdout);
            assert_eq!(status.signal(), Some(2), "{name}: ended by SIGINT's default action: {status}");
            assert_eq!(ours(rest), Vec::<String>::new(), "{name}");
        }
    });
}

#[test]
#[ignore = "a child process of with_handle_ctrl_c_false_*"]
fn child_opted_out() {
    let _ = Runtime::builder().handle_ctrl_c(false).build().unwrap().run(async {
        println!("child: ready");
        sleep(Duration::from_secs(3600)).await?;
        anyhow::Ok(())
    });
    println!("child: run returned");
}

#[test]
#[ignore = "a child process of with_handle_ctrl_c_false_*"]
fn child_after_run() {
    Runtime::new().unwrap().run(async { anyhow::Ok(()) }).unwrap();
    println!("child: ready");
    std::thread::sleep(Duration::from_secs(3600));
    println!("child: slept");
}

// asyncio 3.13, a failed task nobody awaits, no logging configured:
//
//     async def fail(): raise ValueError("disk full")
//     async def main():
//         t = asyncio.create_task(fail()); await asyncio.sleep(0.01); del t
//     asyncio.run(main())
//
// writes to stderr: "Task exception was never retrieved", "future: <Task finished
// name='Task-2' coro=<fail() ...> exception=ValueError('disk full')>", and the traceback.
#[test]
fn a_failure_nobody_retrieved_is_written_to_stderr_when_no_tracing_subscriber_is_set() {
    within(60, || {
        let mut child = spawn_child("child_unretrieved", &[]);
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let (status, _, stderr) = finish(child, stdout);
        assert!(status.success(), "child failed ({status}): {stderr}");
        // Each report is written whole (the panic hook's own lines may come between them).
        for report in [
            "Task exception was never retrieved (task loader, id 2)\nerror: while loading config.toml\n\nCaused by:\n    disk full\n",
            "Task exception was never retrieved (task Task-3, id 3)\nerror: task panicked: boom\n",
        ] {
            assert!(stderr.contains(report), "no {report:?} in the child's stderr:\n{stderr}");
        }
    });
}

#[test]
#[ignore = "a child process of a_failure_nobody_retrieved_is_written_to_stderr_*"]
fn child_unretrieved() {
    use anyhow::Context as _;
    Runtime::new()
        .unwrap()
        .run(async {
            let loader = taskloop::TaskBuilder::new()
                .name("loader")
                .spawn(async { Err::<(), _>(anyhow::anyhow!("disk full")).context("while loading config.toml") });
            drop(loader);
            let panicking = create_task(async {
                if true {
                    panic!("boom");
                }
                anyhow::Ok(())
            });
            drop(panicking);
            sleep(Duration::from_millis(10)).await?;
            anyhow::Ok(())
        })
        .unwrap();
}

/// The same failure goes through `tracing` when a subscriber is set, not to stderr.
#[test]
fn with_a_tracing_subscriber_the_report_goes_through_tracing() {
    use std::sync::{Arc, Mutex};
    // A subscriber that records the events it sees (only their count matters here).
    struct Count(Arc<Mutex<usize>>);
    impl tracing::Subscriber for Count {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            if event.metadata().target() == "taskloop" && *event.metadata().level() == tracing::Level::ERROR {
                *self.0.lock().unwrap() += 1;
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }
    let count = Arc::new(Mutex::new(0));
    let subscriber = Count(count.clone());
    tracing::subscriber::with_default(subscriber, || {
        let outcome: Result<(), TaskError> = Runtime::new().unwrap().run(async {
            drop(create_task(async { Err::<(), _>(anyhow::anyhow!("disk full")) }));
            sleep(Duration::from_millis(10)).await?;
            anyhow::Ok(())
        });
        outcome.unwrap();
    });
    assert_eq!(*count.lock().unwrap(), 1);
}
