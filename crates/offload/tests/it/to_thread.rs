//! `to_thread` and `run_in_executor` through the loop's default executor.

use std::sync::Arc;

use taskloop::{Runtime, ThreadPool, create_task, run_in_executor, set_default_executor, to_thread, yield_now};

use crate::blocker;

#[test]
fn ten_thousand_to_thread_calls_from_100_tasks_all_return_their_values() -> anyhow::Result<()> {
    for (flavour, mut builder) in crate::flavours() {
        let total = builder.build()?.run(async move {
            let tasks: Vec<_> = (0..100u64)
                .map(|i| {
                    create_task(async move {
                        let mut sum = 0;
                        for j in 0..100u64 {
                            let value = to_thread(move || i * 1000 + j).await?;
                            assert_eq!(value, i * 1000 + j, "{flavour}");
                            sum += value;
                        }
                        anyhow::Ok(sum)
                    })
                })
                .collect();
            let mut total = 0;
            for task in tasks {
                total += task.await?;
            }
            anyhow::Ok(total)
        })?;
        let expected: u64 = (0..100u64).flat_map(|i| (0..100u64).map(move |j| i * 1000 + j)).sum();
        assert_eq!(total, expected, "{flavour}");
    }
    Ok(())
}

#[test]
fn to_thread_submits_nothing_until_first_polled() -> anyhow::Result<()> {
    taskloop::run(async {
        let pool = Arc::new(ThreadPool::new(1));
        set_default_executor(pool.clone());
        let (job, started, release) = blocker(());
        let running = to_thread(job);
        assert_eq!(pool.num_workers(), 0, "not submitted by the call");
        let running = create_task(running);
        yield_now().await?; // the task polls it
        started.await?;

        let lazy = to_thread(|| "lazy");
        assert_eq!(pool.queued(), 0, "lazy: not queued yet");
        let lazy = create_task(lazy);
        yield_now().await?;
        assert_eq!(pool.queued(), 1, "queued once polled");

        let eager = run_in_executor(None, || "eager");
        assert_eq!(pool.queued(), 2, "run_in_executor submits at the call");

        release.send(())?;
        running.await?;
        assert_eq!(lazy.await?, "lazy");
        assert_eq!(eager.await?, "eager");
        anyhow::Ok(())
    })?;
    Ok(())
}

#[test]
fn the_default_executor_is_a_thread_pool_created_on_first_use() -> anyhow::Result<()> {
    taskloop::run(async {
        let name = to_thread(|| std::thread::current().name().map(str::to_owned)).await?;
        assert!(name.unwrap_or_default().starts_with("taskloop-default"));
        let name = run_in_executor(None, || std::thread::current().name().map(str::to_owned)).await?;
        assert!(name.unwrap_or_default().starts_with("taskloop-default"));
        anyhow::Ok(())
    })?;
    Ok(())
}

#[test]
fn builder_default_executor_is_used_and_shut_down_when_run_ends() -> anyhow::Result<()> {
    let pool = Arc::new(ThreadPool::builder().thread_name_prefix("given").build()?);
    let name = Runtime::builder().default_executor(pool.clone()).build()?.run(async {
        let name = to_thread(|| std::thread::current().name().map(str::to_owned)).await?;
        anyhow::Ok(name.unwrap_or_default())
    })?;
    assert!(name.starts_with("given"));
    assert!(pool.is_shutdown(), "run shut the default executor down");
    Ok(())
}

#[test]
fn set_default_executor_replaces_the_default_and_shuts_the_old_one_down() -> anyhow::Result<()> {
    taskloop::run(async {
        let first = Arc::new(ThreadPool::builder().thread_name_prefix("first").build()?);
        let second = Arc::new(ThreadPool::builder().thread_name_prefix("second").build()?);
        set_default_executor(first.clone());
        let name = to_thread(|| std::thread::current().name().map(str::to_owned)).await?;
        assert!(name.unwrap_or_default().starts_with("first"));
        set_default_executor(second.clone());
        assert!(first.is_shutdown(), "the replaced executor accepts no more work");
        let name = to_thread(|| std::thread::current().name().map(str::to_owned)).await?;
        assert!(name.unwrap_or_default().starts_with("second"));
        anyhow::Ok(())
    })?;
    Ok(())
}

/// `default_executor_or_init`'s `init` is the caller's code, so it runs outside the loop's
/// executor slot: an `init` that sets the default executor itself does not deadlock, the
/// executor it set is the one returned and used, and the one `init` made is shut down.
#[test]
fn an_init_that_sets_the_default_executor_does_not_deadlock() -> anyhow::Result<()> {
    taskloop_test_support::within(30, || {
        taskloop::run(async {
            let inside = Arc::new(ThreadPool::builder().thread_name_prefix("inside").build()?);
            let made = Arc::new(ThreadPool::builder().thread_name_prefix("made").build()?);
            let (set, unused) = (inside.clone(), made.clone());
            let got = taskloop_core::rt::default_executor_or_init(move || {
                set_default_executor(set);
                unused
            })?;
            let name = run_in_executor(Some(&*got), || std::thread::current().name().map(str::to_owned)).await?;
            assert!(name.unwrap_or_default().starts_with("inside"), "the executor init set is returned");
            let name = to_thread(|| std::thread::current().name().map(str::to_owned)).await?;
            assert!(name.unwrap_or_default().starts_with("inside"), "and is the loop's default");
            assert!(made.is_shutdown(), "the executor init made, unused, is shut down");
            assert!(!inside.is_shutdown());
            anyhow::Ok(())
        })
    })?;
    Ok(())
}
