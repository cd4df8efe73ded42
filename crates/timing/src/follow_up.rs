//! The [`FollowUp`] extension trait: a task that starts when another is done (seed question
//! 24.9).

use std::future::Future;

use taskloop_core::{ReturnWhen, Task, TaskError, TaskRef, create_task, wait};

/// Follow-up tasks: `task.then(f)` and `task.and_then(f)` start a new task with the outcome of
/// `task` once it is done. In [`taskloop::prelude`](../taskloop/prelude/index.html).
///
/// asyncio has no combinator for this; the seed shows three ways to write it by hand (the task
/// creating its own follow-up, the caller creating it after awaiting, a done callback creating
/// it). `then` is the done-callback way packaged, with a handle to the follow-up returned at
/// once:
///
/// - the follow-up task is created immediately (it is in `all_tasks()` and can be awaited,
///   named or cancelled), waits for the first task *without* passing a cancellation on to it,
///   then runs `f`;
/// - `f` is a closure called once with the outcome (`then`) or the value (`and_then`), that
///   returns the follow-up's body: a future resolving to `Result<U, E>` with
///   `E: Into<anyhow::Error>`, as for [`create_task`] — typically
///   `|outcome| async move { …; anyhow::Ok(u) }`;
/// - reading the first task's outcome counts as retrieving it, so its failure is not also
///   reported as never retrieved.
///
/// # Cancellation
///
/// Cancelling the follow-up before the first task is done ends the follow-up cancelled
/// without running `f`, and cancels neither the first task nor anything else. Once `f` runs,
/// the follow-up is an ordinary task whose body is `f`'s future. A first task that ends
/// cancelled is an outcome like any other: `then` passes `Err(TaskError::Cancelled)` to `f`;
/// `and_then` ends the follow-up cancelled.
///
/// # Panics
///
/// Outside a running loop, as [`create_task`].
///
/// # Examples
///
/// ```
/// use taskloop::prelude::*;
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let download = create_task(async { anyhow::Ok(vec![1, 2, 3]) });
///     let total = download.and_then(|bytes| async move { anyhow::Ok(bytes.iter().sum::<i32>()) });
///     let report = download.then(|outcome| async move {
///         anyhow::Ok(match outcome {
///             Ok(bytes) => format!("downloaded {} bytes", bytes.len()),
///             Err(e) => format!("download failed: {e}"),
///         })
///     });
///     assert_eq!(total.await?, 6);
///     assert_eq!(report.await?, "downloaded 3 bytes");
///
///     let failing = create_task(async { anyhow::bail!("no route to host") as anyhow::Result<u8> });
///     let never = failing.and_then(|_| async { anyhow::Ok("unreachable") });
///     assert_eq!(never.await.unwrap_err().to_string(), "no route to host");
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub trait FollowUp {
    /// What the first task gives on success: `T` for a `Task<T>`, `()` for a `TaskRef`.
    type Output;

    /// Starts a task that, once this one is done, runs `f(outcome)` as its body; returns the
    /// follow-up's handle at once.
    ///
    /// `outcome` is `Ok(value)` or the `TaskError` the first task ended with (a cancellation
    /// included), as awaiting it would give.
    ///
    /// # Cancellation
    ///
    /// See the [trait docs](FollowUp#cancellation): cancelling the follow-up before the first
    /// task is done never runs `f` and cancels nothing else.
    ///
    /// # Examples
    ///
    /// ```
    /// use taskloop::prelude::*;
    ///
    /// # fn main() -> Result<(), taskloop::TaskError> {
    /// taskloop::run(async {
    ///     let work = create_task(async { anyhow::Ok(21) });
    ///     let follow_up = work.then(|outcome| async move { anyhow::Ok(outcome? * 2) });
    ///     assert_eq!(follow_up.await?, 42);
    ///     anyhow::Ok(())
    /// })
    /// # }
    /// ```
    #[must_use = "the follow-up runs even if its handle is dropped; bind it (`let _task = ...`) to make that explicit"]
    fn then<F, Fut, U, E>(&self, f: F) -> Task<U>
    where
        F: FnOnce(Result<Self::Output, TaskError>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
        U: Send + 'static,
        E: Into<anyhow::Error> + 'static;

    /// Starts a task that, once this one is done, runs `f(value)` if it succeeded; if it did
    /// not, the follow-up ends with the same error (cancelled if it was cancelled, with the
    /// same message) without running `f`. Returns the follow-up's handle at once.
    ///
    /// # Cancellation
    ///
    /// See the [trait docs](FollowUp#cancellation).
    ///
    /// # Examples
    ///
    /// ```
    /// use taskloop::prelude::*;
    ///
    /// # fn main() -> Result<(), taskloop::TaskError> {
    /// taskloop::run(async {
    ///     let first = create_task(async { anyhow::Ok("config.toml") });
    ///     let second = first.and_then(|path| async move { anyhow::Ok(format!("loaded {path}")) });
    ///     assert_eq!(second.await?, "loaded config.toml");
    ///
    ///     let cancelled = create_task(async { sleep(std::time::Duration::from_secs(1)).await?; anyhow::Ok(()) });
    ///     let skipped = cancelled.and_then(|()| async { anyhow::Ok("not run") });
    ///     cancelled.cancel_with("stop");
    ///     assert_eq!((&skipped).await.unwrap_err().cancel_message(), Some("stop"));
    ///     assert!(skipped.cancelled());
    ///     anyhow::Ok(())
    /// })
    /// # }
    /// ```
    #[must_use = "the follow-up runs even if its handle is dropped; bind it (`let _task = ...`) to make that explicit"]
    fn and_then<F, Fut, U, E>(&self, f: F) -> Task<U>
    where
        F: FnOnce(Self::Output) -> Fut + Send + 'static,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
        U: Send + 'static,
        E: Into<anyhow::Error> + 'static;
}

impl<T: Clone + Send + 'static> FollowUp for Task<T> {
    type Output = T;

    #[track_caller]
    fn then<F, Fut, U, E>(&self, f: F) -> Task<U>
    where
        F: FnOnce(Result<T, TaskError>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
        U: Send + 'static,
        E: Into<anyhow::Error> + 'static,
    {
        follow(self.clone(), Task::result, f)
    }

    #[track_caller]
    fn and_then<F, Fut, U, E>(&self, f: F) -> Task<U>
    where
        F: FnOnce(T) -> Fut + Send + 'static,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
        U: Send + 'static,
        E: Into<anyhow::Error> + 'static,
    {
        follow_ok(self.clone(), Task::result, f)
    }
}

impl FollowUp for TaskRef {
    type Output = ();

    #[track_caller]
    fn then<F, Fut, U, E>(&self, f: F) -> Task<U>
    where
        F: FnOnce(Result<(), TaskError>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
        U: Send + 'static,
        E: Into<anyhow::Error> + 'static,
    {
        follow(self.clone(), outcome_of_ref, f)
    }

    #[track_caller]
    fn and_then<F, Fut, U, E>(&self, f: F) -> Task<U>
    where
        F: FnOnce(()) -> Fut + Send + 'static,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
        U: Send + 'static,
        E: Into<anyhow::Error> + 'static,
    {
        follow_ok(self.clone(), outcome_of_ref, f)
    }
}

/// The outcome of a done task seen through its `TaskRef`: `exception()` turned around.
fn outcome_of_ref(task: &TaskRef) -> Result<(), TaskError> {
    match task.exception() {
        Ok(None) => Ok(()),
        Ok(Some(error)) | Err(error) => Err(error),
    }
}

/// Creates the follow-up task of `then`: it waits for `first` (without passing its own
/// cancellation on), reads the outcome with `read`, and runs `f`'s future as the rest of its
/// body.
#[track_caller]
fn follow<H, O, F, Fut, U, E>(first: H, read: fn(&H) -> Result<O, TaskError>, f: F) -> Task<U>
where
    H: Clone + Into<TaskRef> + Send + 'static,
    O: 'static,
    F: FnOnce(Result<O, TaskError>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<U, E>> + Send + 'static,
    U: Send + 'static,
    E: Into<anyhow::Error> + 'static,
{
    create_task(async move {
        done(first.clone().into()).await?;
        let body = f(read(&first));
        drop(first);
        body.await.map_err(Into::<anyhow::Error>::into)
    })
}

/// Creates the follow-up task of `and_then`: as [`follow`], but an error outcome ends the
/// follow-up with that same error (`?` wraps the `TaskError` in `anyhow`, and the task harness
/// finds the same `TaskError` in it again) and `f` only runs on a value.
#[track_caller]
fn follow_ok<H, O, F, Fut, U, E>(first: H, read: fn(&H) -> Result<O, TaskError>, f: F) -> Task<U>
where
    H: Clone + Into<TaskRef> + Send + 'static,
    O: 'static,
    F: FnOnce(O) -> Fut + Send + 'static,
    Fut: Future<Output = Result<U, E>> + Send + 'static,
    U: Send + 'static,
    E: Into<anyhow::Error> + 'static,
{
    create_task(async move {
        done(first.clone().into()).await?;
        let value = read(&first)?;
        drop(first);
        f(value).await.map_err(Into::<anyhow::Error>::into)
    })
}

/// Waits for `task` to be done. `wait` never cancels the tasks it waits for; it fails only
/// when the follow-up itself is cancelled, which then ends before `f` runs.
async fn done(task: TaskRef) -> Result<(), TaskError> {
    wait([task], ReturnWhen::AllCompleted, None).await?;
    Ok(())
}
