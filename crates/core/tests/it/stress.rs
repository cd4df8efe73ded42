//! Stress: many tasks with a random mix of endings — complete, fail, panic, cancel,
//! cancel-and-catch, abort — on a two-worker loop, each watched by several awaiters, `result()`
//! reads and two done callbacks. Every observer must see the same outcome, the one the body and
//! `cancel()`'s answer call for; every callback runs exactly once; and when the loop is gone no
//! body, value or task state is left alive.
//!
//! `stress_short_*` run in `cargo xtask test` (20,000 tasks on two workers, 5,000 on one thread;
//! 100,000 and 20,000 under `cargo xtask stress`, which sets `TASKLOOP_STRESS_FULL`);
//! `stress_soak` is `#[ignore]`d and repeats rounds of 100,000 until `TASKLOOP_STRESS_SECS` have
//! passed (`cargo xtask stress --secs N`).

use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use taskloop::{
    Runtime, Task, TaskError, all_tasks, create_task, current_task, set_exception_handler, sleep, yield_now,
};

/// Tasks created together; the next wave starts when this one is checked.
const WAVE: usize = 1_000;
/// What a body that caught its cancellation returns.
const CAUGHT: u64 = u64::MAX;

/// Serialises the memory-heavy tests of this binary (stress and leaks), so that one does not
/// disturb the resident-memory figures of another.
pub(crate) fn heavy() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) use taskloop_test_support::quiet_deliberate_panics;

/// A line of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`), if the platform has one.
pub(crate) fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field) && line[field.len()..].starts_with(':'))?;
    let kib: u64 = line[field.len() + 1..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// xorshift64: enough randomness to mix endings and timings, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so that nearby seeds give unrelated streams (and never 0).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// How a task's body ends, and what is done to it from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Complete,
    Fail,
    Panic,
    /// Cancelled with a message; the body passes the `Cancelled` on with `?`.
    Cancel,
    /// Cancelled with a message; the body catches the `Cancelled` and returns `CAUGHT`.
    CancelAndCatch,
    Abort,
}

const KINDS: [Kind; 6] = [Kind::Complete, Kind::Fail, Kind::Panic, Kind::Cancel, Kind::CancelAndCatch, Kind::Abort];

/// An outcome in a form that compares whole, a `Cancelled`'s message included.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Value(u64),
    Failed(String),
    Panicked(String),
    Cancelled(Option<String>),
    Other(String),
}

fn seen(outcome: &Result<Value, TaskError>) -> Seen {
    match outcome {
        Ok(value) => Seen::Value(value.n),
        Err(TaskError::Failed(err)) => Seen::Failed(err.to_string()),
        Err(TaskError::Panicked(message)) => Seen::Panicked(message.to_string()),
        Err(TaskError::Cancelled(c)) => Seen::Cancelled(c.message().map(str::to_owned)),
        Err(other) => Seen::Other(format!("{other:?}")),
    }
}

/// What one round counts; every object the tasks own reports here.
#[derive(Default)]
struct Counters {
    bodies_created: AtomicUsize,
    bodies_dropped: AtomicUsize,
    /// Live `Value`s, clones included: all of them live in task states or in our hands.
    values_live: AtomicIsize,
    callbacks_run: AtomicUsize,
    reports: Mutex<Vec<String>>,
}

/// A task's value; counts itself live in `Counters::values_live`, so a task state that
/// outlives the loop shows up as a value still live.
struct Value {
    n: u64,
    counters: Arc<Counters>,
}

impl Value {
    fn new(n: u64, counters: &Arc<Counters>) -> Self {
        counters.values_live.fetch_add(1, SeqCst);
        Value { n, counters: counters.clone() }
    }
}

impl Clone for Value {
    fn clone(&self) -> Self {
        Value::new(self.n, &self.counters)
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        self.counters.values_live.fetch_sub(1, SeqCst);
    }
}

/// Owned by each body: its drop is counted, and a `Weak` to it tells whether it is gone.
struct BodyToken(Arc<Counters>);

impl BodyToken {
    fn new(counters: &Arc<Counters>) -> Arc<Self> {
        counters.bodies_created.fetch_add(1, SeqCst);
        Arc::new(BodyToken(counters.clone()))
    }
}

impl Drop for BodyToken {
    fn drop(&mut self) {
        self.0.bodies_dropped.fetch_add(1, SeqCst);
    }
}

/// What a task's body and callbacks record about it.
#[derive(Default)]
struct Watch {
    caught: AtomicBool,
    /// (callback number, outcome it read), in the order the callbacks ran.
    calls: Mutex<Vec<(usize, Seen)>>,
}

/// One task under test and everything that watches it.
struct Subject {
    index: usize,
    kind: Kind,
    value: u64,
    task: Task<Value>,
    token: Weak<BodyToken>,
    watch: Arc<Watch>,
    /// What `cancel_with` answered, for the kinds that are cancelled.
    accepted: Option<bool>,
    /// Acted on (cancel or abort) before main first suspended: before the first poll.
    before_first_poll: bool,
    /// Tasks awaiting clones of `task`: what each saw, and whether the body was already gone.
    awaiters: Vec<Task<(Seen, bool)>>,
}

impl Subject {
    fn message(&self) -> String {
        format!("stop {}", self.index)
    }

    /// The one outcome every observer must see, given what the body did and what `cancel()`
    /// answered. `None` when either of two outcomes is right (an abort racing completion); the
    /// first observer's then fixes it.
    fn expected(&self) -> Option<Seen> {
        let i = self.index;
        Some(match self.kind {
            Kind::Complete => Seen::Value(self.value),
            Kind::Fail => Seen::Failed(format!("deliberate failure {i}")),
            Kind::Panic => Seen::Panicked(format!("deliberate panic {i}")),
            Kind::Cancel => match self.accepted {
                Some(true) => Seen::Cancelled(Some(self.message())),
                _ => Seen::Value(self.value),
            },
            Kind::CancelAndCatch => match (self.accepted, self.watch.caught.load(SeqCst)) {
                (Some(true), true) => Seen::Value(CAUGHT),
                (Some(true), false) => Seen::Cancelled(Some(self.message())),
                _ => Seen::Value(self.value),
            },
            Kind::Abort if self.before_first_poll => Seen::Cancelled(None),
            Kind::Abort => return None,
        })
    }
}

/// What a round did.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    tasks: usize,
    outcomes_checked: usize,
}

/// Runs `tasks` subject tasks (in waves of `WAVE`) on a fresh loop with `workers` worker
/// threads (0: the current-thread loop), checks every observation, and after the loop is gone
/// checks that nothing the tasks owned is still alive.
fn round(seed: u64, workers: usize, tasks: usize) -> Tally {
    let counters = Arc::new(Counters::default());
    let c = counters.clone();
    let mut builder = Runtime::builder();
    if workers > 0 {
        builder.worker_threads(workers);
    }
    let tally = builder
        .build()
        .expect("runtime")
        .run(async move {
            let sink = c.clone();
            set_exception_handler(move |ctx| sink.reports.lock().unwrap().push(ctx.message().to_owned()));
            let mut rng = Rng::new(seed);
            let mut tally = Tally::default();
            let mut first = 0;
            while first < tasks {
                let n = WAVE.min(tasks - first);
                tally.outcomes_checked += wave(&mut rng, &c, first, n, seed).await;
                tally.tasks += n;
                first += n;
            }
            let me = current_task().expect("main is a task");
            let left: Vec<_> = all_tasks().into_iter().filter(|t| *t != me).collect();
            assert!(left.is_empty(), "seed {seed}: tasks still registered after all were awaited: {left:?}");
            anyhow::Ok(tally)
        })
        .unwrap_or_else(|err| panic!("seed {seed}: main failed: {err}"));

    // The loop is gone: every body, every value and every task state must be too.
    let created = counters.bodies_created.load(SeqCst);
    assert_eq!(created, tally.tasks, "seed {seed}: one body per task");
    assert_eq!(counters.bodies_dropped.load(SeqCst), created, "seed {seed}: bodies leaked");
    assert_eq!(counters.values_live.load(SeqCst), 0, "seed {seed}: values (so task states) leaked");
    assert_eq!(counters.callbacks_run.load(SeqCst), 2 * tally.tasks, "seed {seed}: callbacks run");
    let reports = counters.reports.lock().unwrap();
    assert!(
        reports.is_empty(),
        "seed {seed}: the exception handler heard {} reports, first {:?}",
        reports.len(),
        reports.first()
    );
    tally
}

/// One wave: creates `n` subjects numbered from `first`, cancels or aborts some of them at
/// random moments (some before they first run), then checks everything. Returns the number
/// of observations checked.
async fn wave(rng: &mut Rng, counters: &Arc<Counters>, first: usize, n: usize, seed: u64) -> usize {
    let mut subjects = Vec::with_capacity(n);
    // (main's step at which to act, subject): step 0 is before main suspends, so before the
    // subject's first poll; later steps race with the body on the other worker.
    let mut actions = Vec::new();
    for index in first..first + n {
        let kind = KINDS[rng.below(KINDS.len() as u64) as usize];
        let value = rng.next() >> 1;
        let steps = rng.below(4);
        let sleepy = rng.below(8) == 0;
        let subject = spawn_subject(counters, index, kind, value, steps, sleepy);
        if matches!(kind, Kind::Cancel | Kind::CancelAndCatch | Kind::Abort) {
            actions.push((rng.below(5), subjects.len()));
        }
        subjects.push(subject);
    }
    actions.sort_by_key(|&(step, _)| step);
    let mut actions = actions.into_iter().peekable();
    for step in 0.. {
        while let Some((_, at)) = actions.next_if(|&(s, _)| s == step) {
            let subject: &mut Subject = &mut subjects[at];
            subject.before_first_poll = step == 0;
            if subject.kind == Kind::Abort {
                subject.task.abort();
            } else {
                let accepted = subject.task.cancel_with(subject.message());
                subject.accepted = Some(accepted);
            }
        }
        if actions.peek().is_none() {
            break;
        }
        yield_now().await.expect("main is never cancelled");
    }

    let mut checked = 0;
    for subject in &subjects {
        let i = subject.index;
        let from_main = seen(&(&subject.task).await);
        let expected = subject.expected().unwrap_or_else(|| from_main.clone());
        let context = || format!("seed {seed}, task {i} ({:?}, accepted {:?})", subject.kind, subject.accepted);
        if let Kind::Abort = subject.kind {
            assert!(
                matches!(&expected, Seen::Cancelled(None)) || expected == Seen::Value(subject.value),
                "{}: an abort ends cancelled without a message or, if late, leaves the value: {expected:?}",
                context()
            );
        }
        if subject.before_first_poll && subject.kind != Kind::Abort {
            assert_eq!(subject.accepted, Some(true), "{}: a task not yet run accepts a cancel", context());
        }
        if subject.kind == Kind::CancelAndCatch && subject.watch.caught.load(SeqCst) {
            assert!(!subject.before_first_poll, "{}: a task cancelled before it ran was polled", context());
        }
        assert_eq!(from_main, expected, "{}: main's await", context());
        assert!(subject.token.upgrade().is_none(), "{}: the body outlived its outcome", context());
        for awaiter in &subject.awaiters {
            let (saw, body_gone) = awaiter.await.expect("awaiters are never cancelled");
            assert_eq!(saw, expected, "{}: an awaiter", context());
            assert!(body_gone, "{}: an awaiter saw the outcome before the body was dropped", context());
        }
        assert_eq!(seen(&subject.task.result()), expected, "{}: result()", context());
        assert_eq!(seen(&subject.task.result()), expected, "{}: result() again", context());
        let exception = subject.task.exception();
        match (&expected, exception) {
            (Seen::Value(_), Ok(None)) => {}
            (Seen::Cancelled(_), Err(e)) if seen(&Err(e.clone())) == expected => {}
            (Seen::Failed(_) | Seen::Panicked(_), Ok(Some(e))) if seen(&Err(e.clone())) == expected => {}
            (_, other) => panic!("{}: exception() gave {other:?} for {expected:?}", context()),
        }
        assert!(!subject.task.cancel(), "{}: cancel() of a done task accepted", context());
        checked += 4 + subject.awaiters.len();
    }

    // Done callbacks go through the loop's callback queue: wait (bounded) until all of this
    // wave's have run, then check each ran once, in the order added, seeing the same outcome.
    let give_up = Instant::now() + Duration::from_secs(30);
    let target = 2 * (first + n);
    while counters.callbacks_run.load(SeqCst) < target {
        assert!(Instant::now() < give_up, "seed {seed}: done callbacks missing after 30 s");
        yield_now().await.expect("main is never cancelled");
    }
    for subject in &subjects {
        let expected = seen(&subject.task.result());
        let calls = subject.watch.calls.lock().unwrap();
        assert_eq!(
            *calls,
            [(0, expected.clone()), (1, expected)],
            "seed {seed}, task {}: each callback once, in order, seeing the outcome",
            subject.index
        );
        checked += calls.len();
    }
    checked
}

/// Creates subject `index`: its body, two awaiter tasks and two done callbacks.
fn spawn_subject(counters: &Arc<Counters>, index: usize, kind: Kind, value: u64, steps: u64, sleepy: bool) -> Subject {
    let token = BodyToken::new(counters);
    let weak = Arc::downgrade(&token);
    let watch = Arc::new(Watch::default());
    let body_watch = watch.clone();
    let c = counters.clone();
    let task = create_task(async move {
        let _token = token;
        for _ in 0..steps {
            let point = if sleepy { sleep(Duration::from_millis(1)).await } else { yield_now().await };
            if let Err(cancelled) = point {
                if kind == Kind::CancelAndCatch {
                    body_watch.caught.store(true, SeqCst);
                    return Ok(Value::new(CAUGHT, &c));
                }
                return Err(anyhow::Error::from(cancelled));
            }
        }
        match kind {
            Kind::Fail => Err(anyhow::anyhow!("deliberate failure {index}")),
            Kind::Panic => panic!("deliberate panic {index}"),
            _ => Ok(Value::new(value, &c)),
        }
    });
    for number in 0..2 {
        let watch = watch.clone();
        let c = counters.clone();
        task.add_done_callback(move |task| {
            watch.calls.lock().unwrap().push((number, seen(&task.result())));
            c.callbacks_run.fetch_add(1, SeqCst);
        });
    }
    let awaiters = (0..2)
        .map(|_| {
            let task = task.clone();
            let weak = weak.clone();
            create_task(async move {
                let outcome = (&task).await;
                anyhow::Ok((seen(&outcome), weak.upgrade().is_none()))
            })
        })
        .collect();
    Subject { index, kind, value, task, token: weak, watch, accepted: None, before_first_poll: false, awaiters }
}

#[test]
fn stress_short_a_random_mix_on_two_workers_loses_no_outcome() {
    let _heavy = heavy();
    quiet_deliberate_panics();
    let tasks = taskloop_test_support::stress_size(20_000, 100_000) as usize;
    let tally = round(0x7A5C_100F, 2, tasks);
    assert_eq!(tally.tasks, tasks);
}

#[test]
fn stress_short_a_random_mix_on_the_current_thread_loses_no_outcome() {
    let _heavy = heavy();
    quiet_deliberate_panics();
    let tasks = taskloop_test_support::stress_size(5_000, 20_000) as usize;
    let tally = round(0x0C0F_FEE5, 0, tasks);
    assert_eq!(tally.tasks, tasks);
}

/// The soak: rounds of 100,000 tasks on two workers until `TASKLOOP_STRESS_SECS` (default 60)
/// have passed, at least one round.
#[test]
#[ignore = "soak run: `cargo xtask stress --secs N`"]
fn stress_soak() {
    let _heavy = heavy();
    quiet_deliberate_panics();
    let secs: u64 = std::env::var("TASKLOOP_STRESS_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut total = Tally::default();
    let mut rounds = 0u64;
    loop {
        let seed = 0x50AC_0000 + rounds;
        let tally = round(seed, 2, 100_000);
        total.tasks += tally.tasks;
        total.outcomes_checked += tally.outcomes_checked;
        rounds += 1;
        if Instant::now() >= deadline {
            break;
        }
    }
    let peak =
        proc_status_bytes("VmHWM").map_or_else(|| "unknown".to_owned(), |b| format!("{:.1} MiB", b as f64 / 1048576.0));
    println!(
        "stress_soak: {rounds} rounds, {} tasks run, {} outcomes checked, 0 failures, peak RSS {peak}, in {:.0} s",
        total.tasks,
        total.outcomes_checked,
        start.elapsed().as_secs_f64()
    );
}
