//! An HTTP service started with `#[tokio::main]` that runs its background jobs as taskloop
//! tasks: taskloop inside an existing tokio application.
//!
//! The axum server runs inside the main task of a loop embedded in the application's runtime
//! (`run_embedded`); its handlers are plain tokio tasks, outside the loop, and reach it through
//! a `LoopHandle`, as asyncio code on another thread uses `run_coroutine_threadsafe`:
//!
//! - `POST /jobs?name=N&steps=S` starts job `N`: a task that awaits its worker `N/work`, which
//!   sleeps `S` steps of 100 ms (reporting progress), then computes a checksum with
//!   `to_thread`;
//! - `GET /jobs` lists the loop's live tasks from `dump()`: name, state, the task each awaits,
//!   age, progress (tab-separated);
//! - `GET /jobs/N` gives the job's result, its failure, its cancellation, or "still running";
//! - `DELETE /jobs/N?msg=M` cancels it with the message `M`.
//!
//! Ctrl-C or SIGTERM (or the end of the demo) stops the server; main then returns and the loop cancels
//! the jobs that are left, as `asyncio.run()` does.
//!
//! `cargo run --example jobs_service -- --serve 127.0.0.1:3000` serves until Ctrl-C. Without
//! arguments it serves on a free loopback port and drives itself with a blocking HTTP client
//! (ureq) on a plain thread, printing the session. The client prints the columns of the answers
//! that do not change from run to run: ages and the step a running job has reached do.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use signal_hook::consts::{SIGINT, SIGTERM};
use taskloop::{LoopHandle, Runtime, Task, TaskBuilder, TaskError, TaskId, current_task, dump, sleep, to_thread};

/// What the handlers share: the loop's handle and the jobs they started.
#[derive(Clone)]
struct App {
    taskloop: LoopHandle,
    main: TaskId,
    jobs: Arc<Mutex<HashMap<String, Job>>>,
}

#[derive(Clone)]
struct Job {
    task: Task<String>,
    steps: usize,
    progress: Arc<AtomicUsize>,
}

#[derive(serde::Deserialize)]
struct Start {
    name: String,
    steps: usize,
}

#[derive(serde::Deserialize)]
struct Stop {
    msg: Option<String>,
}

type Reply = (StatusCode, String);

/// `POST /jobs?name=N&steps=S`.
async fn start_job(State(app): State<App>, Query(Start { name, steps }): Query<Start>) -> Reply {
    if app.jobs.lock().unwrap().get(&name).is_some_and(|job| !job.task.done()) {
        return (StatusCode::CONFLICT, format!("{name} is already running\n"));
    }
    let progress = Arc::new(AtomicUsize::new(0));
    let job = job(name.clone(), steps, progress.clone());
    let job_name = name.clone();
    // The task is created on the loop: a handler is a plain tokio task, outside it.
    let created =
        app.taskloop.spawn_threadsafe(async move { anyhow::Ok(TaskBuilder::new().name(job_name).spawn(job)) });
    match created {
        Ok(created) => match created.await {
            Ok(task) => {
                app.jobs.lock().unwrap().insert(name.clone(), Job { task, steps, progress });
                (StatusCode::CREATED, format!("started {name}\n"))
            }
            Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
        },
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    }
}

/// The job: a task awaiting its worker, so `GET /jobs` shows what it awaits, and a cancel of the
/// job goes down to the worker (asyncio cancels the future a task awaits).
async fn job(name: String, steps: usize, progress: Arc<AtomicUsize>) -> anyhow::Result<String> {
    anyhow::ensure!(steps > 0, "steps must be at least 1, got {steps}");
    let work_name = format!("{name}/work");
    let work = TaskBuilder::new().name(work_name.clone()).spawn(async move {
        for step in 1..=steps {
            if let Err(cancelled) = sleep(Duration::from_millis(100)).await {
                // stderr: the moment it prints is not ordered with the demo client's output.
                eprintln!("[server] {work_name} stopped: {cancelled}");
                return Err(cancelled.into());
            }
            progress.store(step, Ordering::Relaxed);
        }
        let checksum = to_thread(move || (1..=steps as u64).map(|i| i * i).sum::<u64>()).await?;
        anyhow::Ok(checksum)
    });
    let checksum = work.await?;
    Ok(format!("{steps} steps, checksum {checksum}"))
}

/// `GET /jobs`: the loop's live tasks, read on the loop with `dump()`.
async fn list_jobs(State(app): State<App>) -> Reply {
    let main = app.main;
    let progress: HashMap<String, (usize, usize)> = app
        .jobs
        .lock()
        .unwrap()
        .iter()
        .map(|(name, job)| (format!("{name}/work"), (job.progress.load(Ordering::Relaxed), job.steps)))
        .collect();
    let listed = app.taskloop.spawn_threadsafe(async move {
        let me = current_task().map(|t| t.id());
        let table = dump();
        let names: HashMap<TaskId, String> = table.tasks.iter().map(|t| (t.id, t.name.to_string())).collect();
        let mut lines = String::new();
        for task in table.tasks.iter().filter(|t| Some(t.id) != me && t.id != main) {
            let awaiting = task.awaiting.and_then(|id| names.get(&id).cloned()).unwrap_or_else(|| "-".to_owned());
            let age = task.age.map_or_else(|| "-".to_owned(), |age| format!("{:.1}s", age.as_secs_f64()));
            let step = progress.get(&*task.name).map_or_else(|| "-".to_owned(), |(done, of)| format!("{done}/{of}"));
            lines.push_str(&format!("{}\t{}\t{awaiting}\t{age}\t{step}\n", task.name, task.state));
        }
        anyhow::Ok(lines)
    });
    match listed {
        Ok(listed) => match listed.await {
            Ok(lines) => (StatusCode::OK, lines),
            Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
        },
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    }
}

/// `GET /jobs/N`: a `Task` handle is read from any thread, no loop needed.
async fn job_status(State(app): State<App>, Path(name): Path<String>) -> Reply {
    let Some(job) = app.jobs.lock().unwrap().get(&name).cloned() else {
        return (StatusCode::NOT_FOUND, format!("no job {name}\n"));
    };
    match job.task.result() {
        Ok(value) => (StatusCode::OK, format!("done: {value}\n")),
        Err(TaskError::InvalidState) => (
            StatusCode::ACCEPTED,
            format!("still running\nstep {} of {}\n", job.progress.load(Ordering::Relaxed), job.steps),
        ),
        Err(e) if e.is_cancelled() => (StatusCode::OK, format!("cancelled: {}\n", e.cancel_message().unwrap_or("-"))),
        Err(e) => (StatusCode::OK, format!("failed: {e}\n")),
    }
}

/// `DELETE /jobs/N?msg=M`: `cancel_with` is thread-safe; the request is delivered at the
/// job's current await, on the loop.
async fn cancel_job(State(app): State<App>, Path(name): Path<String>, Query(Stop { msg }): Query<Stop>) -> Reply {
    let Some(job) = app.jobs.lock().unwrap().get(&name).cloned() else {
        return (StatusCode::NOT_FOUND, format!("no job {name}\n"));
    };
    let accepted = match msg {
        Some(msg) => job.task.cancel_with(msg),
        None => job.task.cancel(),
    };
    if accepted {
        (StatusCode::ACCEPTED, "cancel requested\n".to_owned())
    } else {
        (StatusCode::CONFLICT, format!("{name} is already done\n"))
    }
}

fn router(app: App) -> Router {
    Router::new()
        .route("/jobs", get(list_jobs).post(start_job))
        .route("/jobs/{name}", get(job_status).delete(cancel_job))
        .with_state(app)
}

/// Serves on `listener` inside a taskloop loop on this runtime until `shutdown` resolves; the
/// loop then cancels the jobs that are left.
async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), TaskError> {
    Runtime::builder()
        .track_task_ages(true)
        .run_embedded(async move {
            let app_main = current_task().context("main is a task")?.id();
            let app = App { taskloop: LoopHandle::current(), main: app_main, jobs: Arc::default() };
            axum::serve(listener, router(app)).with_graceful_shutdown(shutdown).await?;
            let mut left: Vec<String> = taskloop::all_tasks()
                .into_iter()
                .filter(|t| t.id() != app_main)
                .map(|t| t.name().to_string())
                .collect();
            left.sort();
            println!("[server] stopped; main returns and the loop cancels: {}", left.join(", "));
            anyhow::Ok(())
        })
        .await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, addr] = &args[..]
        && flag == "--serve"
    {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        println!("serving on http://{}", listener.local_addr()?);
        let (interrupted, interrupt) = tokio::sync::oneshot::channel::<()>();
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
        // A plain thread waits for Ctrl-C (or SIGTERM) and tells the server to stop.
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                let _ = interrupted.send(());
            }
        });
        serve(listener, async {
            let _ = interrupt.await;
        })
        .await?;
        return Ok(());
    }
    // The demo: serve on a free port, drive the service from a plain thread, then stop.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, async {
        let _ = stopped.await;
    }));
    tokio::task::spawn_blocking(move || client_session(&base)).await??;
    let _ = stop.send(());
    server.await??;
    Ok(())
}

/// The demo's client: one blocking request at a time, printed as a curl session.
fn client_session(base: &str) -> anyhow::Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let call = |method: &str, path: &str| -> anyhow::Result<(u16, String)> {
        let url = format!("{base}{path}");
        let mut response = match method {
            "GET" => agent.get(&url).call()?,
            "POST" => agent.post(&url).send_empty()?,
            "DELETE" => agent.delete(&url).call()?,
            other => anyhow::bail!("unexpected method {other}"),
        };
        Ok((response.status().as_u16(), response.body_mut().read_to_string()?))
    };
    let show = |method: &str, path: &str, first_columns: Option<usize>| -> anyhow::Result<String> {
        let (status, body) = call(method, path)?;
        println!("$ curl -X {method} 'localhost{path}'");
        for line in body.lines() {
            // Ages and the step reached vary from run to run; print the columns that do not.
            let line = match first_columns {
                Some(n) => line.split('\t').take(n).collect::<Vec<_>>().join("\t"),
                None => line.to_owned(),
            };
            if !line.starts_with("step ") {
                println!("  {status} {line}");
            }
        }
        Ok(body)
    };
    let wait_until_done = |name: &str| -> anyhow::Result<()> {
        for _ in 0..600 {
            if !call("GET", &format!("/jobs/{name}"))?.1.starts_with("still running") {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        anyhow::bail!("{name} did not finish in time")
    };

    show("POST", "/jobs?name=report&steps=2", None)?;
    show("POST", "/jobs?name=nightly&steps=600", None)?;
    show("POST", "/jobs?name=broken&steps=0", None)?;
    show("POST", "/jobs?name=nightly&steps=1", None)?;
    wait_until_done("report")?;
    wait_until_done("broken")?;
    show("GET", "/jobs/report", None)?;
    show("GET", "/jobs/broken", None)?;
    show("GET", "/jobs/nightly", None)?;
    let listing = show("GET", "/jobs", Some(3))?;
    anyhow::ensure!(listing.lines().all(|l| l.split('\t').count() == 5), "name, state, awaiting, age, progress");
    show("DELETE", "/jobs/nightly?msg=no%20longer%20needed", None)?;
    wait_until_done("nightly")?;
    show("GET", "/jobs/nightly", None)?;
    show("DELETE", "/jobs/nightly", None)?;
    show("POST", "/jobs?name=weekly&steps=600", None)?;
    show("GET", "/jobs/missing", None)?;
    println!("$ kill -INT <server>");
    Ok(())
}
