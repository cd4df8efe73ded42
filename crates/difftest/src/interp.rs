//! The interpreter: runs one [`Program`] on a taskloop loop with paused time and records what
//! every task and callback saw, in the format `asyncio_interp.py` writes.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use taskloop::{
    Instant, ReturnWhen, Runtime, Task, TaskError, TaskRef, as_completed, call_later, call_soon, create_task,
    current_task, gather, gather_settled, set_exception_handler, shield, sleep, timeout, wait, wait_for,
};

use taskloop_difftest::program::{Op, Program};

use crate::exc::{Exc, catches};

/// What one program did: the line printed for it.
#[derive(Debug, Serialize)]
pub(crate) struct Outcome {
    /// The events of each task (`t<k>`) and callback (`cb<id>`): (virtual ms, text).
    traces: BTreeMap<String, Vec<(u64, String)>>,
    /// The final state of each task, by index.
    #[serde(rename = "final")]
    final_states: Vec<String>,
    /// Why the program could not be run to its end, if it could not.
    error: Option<String>,
    /// Always `None` here: only the asyncio side knows when an order is unspecified.
    skip: Option<String>,
}

/// Virtual time after which main gives up: far beyond any program's own timers, so reaching
/// it means that the tasks wait for each other forever.
const DEADLOCK_AFTER: Duration = Duration::from_secs(1000);

/// Runs `program` as `taskloop::run` would, on a current-thread loop with paused time.
pub(crate) fn run(program: Program) -> anyhow::Result<Outcome> {
    let interp = Arc::new(Interp {
        state: Mutex::new(State { tasks: vec![Slot::Unspawned; program.tasks.len()], traces: BTreeMap::new() }),
        program,
        start: OnceLock::new(),
    });
    let main = {
        let interp = interp.clone();
        async move {
            set_exception_handler(|_| {});
            interp.start.get_or_init(Instant::now);
            if let Some(me) = current_task() {
                interp.lock().tasks[0] = Slot::Main(me);
            }
            let body = std::pin::pin!(interp.body(0));
            let deadlock = std::pin::pin!(tokio::time::sleep(DEADLOCK_AFTER));
            match futures::future::select(body, deadlock).await {
                futures::future::Either::Left((outcome, _)) => outcome.map_err(|e| (e, false)),
                futures::future::Either::Right(_) => Err((anyhow::anyhow!("deadlock"), true)),
            }
        }
    };
    let outcome = Runtime::builder().start_paused(true).build()?.run(async move {
        match main.await {
            Ok(value) => Ok(Ok(value)),
            Err((_, true)) => Ok(Err(())),
            Err((error, false)) => Err(error),
        }
    });
    let state = interp.lock();
    let (main_state, error) = match outcome {
        Ok(Ok(value)) => (format!("value {value}"), None),
        Ok(Err(())) => ("pending".to_owned(), Some(format!("deadlock: nothing ran for {DEADLOCK_AFTER:?}"))),
        Err(error) => (final_of_error(&error), None),
    };
    let mut final_states: Vec<String> = state.tasks.iter().map(Slot::final_state).collect();
    final_states[0] = main_state;
    Ok(Outcome { traces: state.traces.clone(), final_states, error, skip: None })
}

/// A task's final state when it ended with `error`.
fn final_of_error(error: &TaskError) -> String {
    match error {
        TaskError::Cancelled(cancelled) => format!("cancelled {}", Exc::from(cancelled)),
        other => format!("failed {}", Exc::from_task_error(other)),
    }
}

/// A task's final state, as the trace writes it.
fn final_state(task: &Task<i64>) -> String {
    if !task.done() {
        return "pending".to_owned();
    }
    match task.result() {
        Ok(value) => format!("value {value}"),
        Err(error) => final_of_error(&error),
    }
}

/// A task of the program, as far as it got.
#[derive(Debug, Clone)]
enum Slot {
    /// No op has created it (yet).
    Unspawned,
    /// Main, which `run` created: only a `TaskRef` is to be had.
    Main(TaskRef),
    /// A task created by a `spawn` or `task_group` op.
    Task(Task<i64>),
}

impl Slot {
    fn final_state(&self) -> String {
        match self {
            Slot::Unspawned => "unspawned".to_owned(),
            Slot::Main(_) => "pending".to_owned(),
            Slot::Task(task) => final_state(task),
        }
    }
}

/// What every task and callback of one run shares.
#[derive(Debug)]
struct Interp {
    program: Program,
    /// The loop's start, read when main first runs.
    start: OnceLock<Instant>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    tasks: Vec<Slot>,
    traces: BTreeMap<String, Vec<(u64, String)>>,
}

/// A boxed body, for the recursion through nested blocks.
type Block<'a> = Pin<Box<dyn Future<Output = Result<Option<i64>, Exc>> + Send + 'a>>;

impl Interp {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; a poisoned state is still whole.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records `text` in the trace of `key` at the current virtual time (whole ms).
    fn log(&self, key: &str, text: String) {
        let start = *self.start.get_or_init(Instant::now);
        // Rounded to whole milliseconds: every timer of a program is a whole number of them.
        let elapsed = (Instant::now() - start + Duration::from_micros(500)).as_millis();
        let ms = u64::try_from(elapsed).unwrap_or(u64::MAX);
        self.lock().traces.entry(key.to_owned()).or_default().push((ms, text));
    }

    /// Logs `label: ok <shown>` or `label: raise <exception>`, and passes the outcome on.
    fn logged<T>(
        &self,
        k: usize,
        label: &str,
        outcome: Result<T, Exc>,
        show: impl FnOnce(&T) -> String,
    ) -> Result<T, Exc> {
        match &outcome {
            Ok(value) => {
                let shown = show(value);
                let text = if shown.is_empty() { format!("{label}: ok") } else { format!("{label}: ok {shown}") };
                self.log(&task_key(k), text);
            }
            Err(exc) => self.log(&task_key(k), format!("{label}: raise {exc}")),
        }
        outcome
    }

    fn slot(&self, j: usize) -> Slot {
        self.lock().tasks[j].clone()
    }

    /// The spawned tasks among `ks` (main excluded), with their indices.
    fn spawned(&self, ks: &[usize]) -> Vec<(usize, Task<i64>)> {
        let state = self.lock();
        ks.iter()
            .filter_map(|&j| match &state.tasks[j] {
                Slot::Task(task) => Some((j, task.clone())),
                _ => None,
            })
            .collect()
    }

    /// The body of task `k`: its ops, then its value (`100 * k` unless it returns one).
    fn body(self: &Arc<Self>, k: usize) -> impl Future<Output = anyhow::Result<i64>> + Send + 'static {
        let interp = self.clone();
        async move {
            interp.log(&task_key(k), "start".to_owned());
            match interp.block(k, &interp.program.tasks[k]).await {
                Ok(value) => Ok(value.unwrap_or(100 * i64::try_from(k).unwrap_or(i64::MAX))),
                Err(exc) => Err(exc.into_anyhow()),
            }
        }
    }

    /// Creates task `j`, by `create`, and records it.
    fn create(
        self: &Arc<Self>,
        j: usize,
        create: impl FnOnce(Pin<Box<dyn Future<Output = anyhow::Result<i64>> + Send>>) -> Task<i64>,
    ) {
        let task = create(Box::pin(self.body(j)));
        self.lock().tasks[j] = Slot::Task(task);
    }

    fn block<'a>(self: &'a Arc<Self>, k: usize, ops: &'a [Op]) -> Block<'a> {
        Box::pin(async move {
            for op in ops {
                if let Some(value) = self.op(k, op).await? {
                    return Ok(Some(value));
                }
            }
            Ok(None)
        })
    }

    /// Runs one op of task `k`; `Some(value)` when it returns from the task.
    async fn op(self: &Arc<Self>, k: usize, op: &Op) -> Result<Option<i64>, Exc> {
        let key = task_key(k);
        // The task the op acts on (a `spawn` creates it instead).
        let target = if matches!(op, Op::Spawn { .. }) { None } else { op.clone().task_mut().copied() };
        let slot = target.map(|j| self.slot(j));
        if let (Some(j), Some(Slot::Unspawned)) = (target, &slot) {
            self.log(&key, format!("{} {j}: unspawned", op_name(op)));
            return Ok(None);
        }
        let task = || match &slot {
            Some(Slot::Task(task)) => Ok(task.clone()),
            _ => Err(Exc::Other(format!("{} of main is not supported", op_name(op)))),
        };
        let task_ref = || match &slot {
            Some(Slot::Task(task)) => task.as_task_ref(),
            Some(Slot::Main(main)) => main.clone(),
            _ => unreachable!("an unspawned target returned above"),
        };
        match op {
            Op::Spawn { task: j } => {
                self.create(*j, create_task);
                self.log(&key, format!("spawn {j}"));
            }
            Op::Sleep { ms } => {
                let outcome = sleep(Duration::from_millis(*ms)).await.map_err(|c| Exc::from(&c));
                self.logged(k, &format!("sleep {ms}"), outcome, |()| String::new())?;
            }
            Op::Await { task: j } => {
                let outcome = (&task()?).await.map_err(|e| Exc::from_task_error(&e));
                self.logged(k, &format!("await {j}"), outcome, i64::to_string)?;
            }
            Op::Cancel { task: j, msg } => {
                let accepted = match msg {
                    Some(msg) => task_ref().cancel_with(msg.as_str()),
                    None => task_ref().cancel(),
                };
                self.log(&key, format!("cancel {j} {}: {accepted}", msg.as_deref().unwrap_or("")));
            }
            Op::Try { body, catch, reraise } => match self.block(k, body).await {
                Ok(value) => return Ok(value),
                Err(exc) if catches(*catch, &exc) => {
                    self.log(&key, format!("caught {exc}"));
                    if *reraise {
                        return Err(exc);
                    }
                }
                Err(exc) => return Err(exc),
            },
            Op::Uncancel { task: j } => self.log(&key, format!("uncancel {j}: {}", task_ref().uncancel())),
            Op::Cancelling { task: j } => self.log(&key, format!("cancelling {j}: {}", task_ref().cancelling())),
            Op::Result { task: j } => {
                let text = match task()?.result() {
                    Ok(value) => format!("ok {value}"),
                    Err(error) => format!("raise {}", Exc::from_task_error(&error)),
                };
                self.log(&key, format!("result {j}: {text}"));
            }
            Op::Exception { task: j } => {
                let text = match task()?.exception() {
                    Ok(None) => "none".to_owned(),
                    Ok(Some(error)) => Exc::from_task_error(&error).to_string(),
                    Err(error) => format!("raise {}", Exc::from_task_error(&error)),
                };
                self.log(&key, format!("exception {j}: {text}"));
            }
            Op::Raise { error } => {
                self.log(&key, format!("raise {error}"));
                return Err(Exc::Error(error.clone()));
            }
            Op::Return { value } => {
                self.log(&key, format!("return {value}"));
                return Ok(Some(*value));
            }
            Op::Shield { task: j } => {
                let outcome = match shield(&task()?).await {
                    Ok(inner) => inner.map_err(|e| Exc::from_task_error(&e)),
                    Err(cancelled) => Err(Exc::from(&cancelled)),
                };
                self.logged(k, &format!("shield {j}"), outcome, i64::to_string)?;
            }
            Op::WaitFor { task: j, ms } => {
                let outcome =
                    wait_for(&task()?, Duration::from_millis(*ms)).await.map_err(|e| Exc::from_task_error(&e));
                self.logged(k, &format!("wait_for {j} {ms}"), outcome, i64::to_string)?;
            }
            Op::Timeout { ms, body } => {
                let block = async { self.block(k, body).await.map_err(Exc::into_anyhow) };
                let outcome = timeout(Duration::from_millis(*ms), block).await.map_err(|e| Exc::from_task_error(&e));
                return self.logged(k, &format!("timeout {ms}"), outcome, |_| String::new());
            }
            Op::Gather { tasks } => {
                let (ks, tasks): (Vec<usize>, Vec<Task<i64>>) = self.spawned(tasks).into_iter().unzip();
                let outcome = gather(&tasks).await.map_err(|e| Exc::from_task_error(&e));
                self.logged(k, &format!("gather {}", list(&ks)), outcome, |values| list(values))?;
            }
            Op::GatherSettled { tasks } => {
                let (ks, tasks): (Vec<usize>, Vec<Task<i64>>) = self.spawned(tasks).into_iter().unzip();
                let outcome = gather_settled(&tasks).await.map_err(|e| Exc::from_task_error(&e));
                let show = |outcomes: &Vec<Result<i64, TaskError>>| {
                    let shown: Vec<String> = outcomes
                        .iter()
                        .map(|outcome| match outcome {
                            Ok(value) => format!("ok {value}"),
                            Err(error) => Exc::from_task_error(error).to_string(),
                        })
                        .collect();
                    format!("[{}]", shown.join(", "))
                };
                self.logged(k, &format!("gather_settled {}", list(&ks)), outcome, show)?;
            }
            Op::Wait { tasks, first, timeout_ms } => {
                let tasks = self.spawned(tasks);
                let ks: Vec<usize> = tasks.iter().map(|(j, _)| *j).collect();
                let label = format!("wait {}", list(&ks));
                if tasks.is_empty() {
                    self.log(&key, format!("{label}: empty"));
                    return Ok(None);
                }
                let handles: Vec<Task<i64>> = tasks.iter().map(|(_, task)| task.clone()).collect();
                let when = if *first { ReturnWhen::FirstCompleted } else { ReturnWhen::AllCompleted };
                let outcome = wait(handles, when, timeout_ms.map(Duration::from_millis))
                    .await
                    .map_err(|e| Exc::from_task_error(&e));
                let show = |(done, _): &(Vec<Task<i64>>, Vec<Task<i64>>)| {
                    let done: Vec<usize> = tasks
                        .iter()
                        .filter(|(_, task)| done.iter().any(|d| d.id() == task.id()))
                        .map(|(j, _)| *j)
                        .collect();
                    format!("done {}", list(&done))
                };
                self.logged(k, &label, outcome, show)?;
            }
            Op::TaskGroup { tasks } => {
                let group = taskloop::TaskGroup::new();
                for &j in tasks {
                    self.create(j, |body| group.create_task(body));
                    self.log(&key, format!("spawn {j}"));
                }
                let outcome = match group.join().await {
                    Ok(()) => Ok(()),
                    Err(errors) => Err(group_error(errors.errors())),
                };
                self.logged(k, &format!("task_group {}", list(tasks)), outcome, |()| String::new())?;
            }
            Op::AsCompleted { tasks } => {
                let (ks, tasks): (Vec<usize>, Vec<Task<i64>>) = self.spawned(tasks).into_iter().unzip();
                let label = format!("as_completed {} item", list(&ks));
                let mut outcomes = as_completed(&tasks);
                while let Some(outcome) = outcomes.next().await {
                    self.logged(k, &label, outcome.map_err(|e| Exc::from_task_error(&e)), i64::to_string)?;
                }
            }
            Op::DoneCallback { task: j, id } => {
                let interp = self.clone();
                let j = *j;
                let id = *id;
                task()?.add_done_callback(move |task| {
                    interp.log(&format!("cb{id}"), format!("ran: task {j} {}", final_state(task)));
                });
                self.log(&key, format!("done_callback {j}"));
            }
            Op::CallSoon { id } => {
                let interp = self.clone();
                let cb = format!("cb{id}");
                let _ = call_soon(move || interp.log(&cb, "ran".to_owned()));
                self.log(&key, format!("call_soon {id}"));
            }
            Op::CallLater { ms, id } => {
                let interp = self.clone();
                let cb = format!("cb{id}");
                let _ = call_later(Duration::from_millis(*ms), move || interp.log(&cb, "ran".to_owned()));
                self.log(&key, format!("call_later {id} {ms}"));
            }
        }
        Ok(None)
    }
}

/// What `async with TaskGroup()` raises for the failures `join` returned: the joining task's
/// own cancellation if that is all there is (asyncio re-raises it), else the group of the
/// children's failures (which asyncio gives priority over the cancellation).
fn group_error(errors: &[TaskError]) -> Exc {
    let failures: Vec<Exc> = errors.iter().filter(|e| !e.is_cancelled()).map(Exc::from_task_error).collect();
    match (failures.is_empty(), errors.iter().find(|e| e.is_cancelled())) {
        (true, Some(cancelled)) => Exc::from_task_error(cancelled),
        _ => Exc::Group(failures),
    }
}

fn task_key(k: usize) -> String {
    format!("t{k}")
}

/// `[a, b]`, as Python prints a list of numbers.
fn list<T: ToString>(values: &[T]) -> String {
    let values: Vec<String> = values.iter().map(ToString::to_string).collect();
    format!("[{}]", values.join(", "))
}

/// The op's name in the JSON (and the trace).
fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Spawn { .. } => "spawn",
        Op::Sleep { .. } => "sleep",
        Op::Await { .. } => "await",
        Op::Cancel { .. } => "cancel",
        Op::Try { .. } => "try",
        Op::Uncancel { .. } => "uncancel",
        Op::Cancelling { .. } => "cancelling",
        Op::Result { .. } => "result",
        Op::Exception { .. } => "exception",
        Op::Raise { .. } => "raise",
        Op::Return { .. } => "return",
        Op::Shield { .. } => "shield",
        Op::WaitFor { .. } => "wait_for",
        Op::Timeout { .. } => "timeout",
        Op::Gather { .. } => "gather",
        Op::GatherSettled { .. } => "gather_settled",
        Op::Wait { .. } => "wait",
        Op::TaskGroup { .. } => "task_group",
        Op::AsCompleted { .. } => "as_completed",
        Op::DoneCallback { .. } => "done_callback",
        Op::CallSoon { .. } => "call_soon",
        Op::CallLater { .. } => "call_later",
    }
}
