//! Seed 24.9 "How to run a follow-up task?": the three ways — the task schedules its own
//! follow-up, the caller schedules it, a done callback schedules it — then `then` and
//! `and_then` from the `FollowUp` trait, which package the third way.
//!
//! The seed draws its values with `random()`; fixed values keep the output the same every run.

use std::time::Duration;

use anyhow::bail;
use taskloop::prelude::*;
use tokio::sync::oneshot;

/// The follow-up: reports the value it was given.
async fn followup_task(value: f64) -> anyhow::Result<()> {
    println!(">follow-up task got {value}");
    sleep(Duration::from_millis(10)).await?;
    Ok(())
}

/// The first task: does some work and returns a value.
async fn work(value: f64) -> anyhow::Result<f64> {
    println!(">task running, value={value}");
    sleep(Duration::from_millis(10)).await?;
    Ok(value)
}

/// Way 1: the task checks its own state and issues its follow-up, then awaits it.
async fn task_with_its_own_follow_up(value: f64) -> anyhow::Result<f64> {
    let value = work(value).await?;
    if value > 0.5 {
        let follow_up = create_task(followup_task(value));
        follow_up.await?;
    }
    Ok(value)
}

fn main() -> anyhow::Result<()> {
    taskloop::run(async {
        println!("main coroutine started");

        println!("1. the task schedules its own follow-up");
        create_task(task_with_its_own_follow_up(0.8)).await?;

        println!("2. the caller schedules the follow-up");
        let task = create_task(work(0.7));
        (&task).await?;
        if task.result()? > 0.5 {
            create_task(followup_task(task.result()?)).await?;
        }

        println!("3. a done callback schedules the follow-up");
        let task = create_task(work(0.9));
        // A callback cannot await; it hands the follow-up to main, which waits for it.
        let (handover, follow_up) = oneshot::channel();
        task.add_done_callback(move |task| {
            if let Ok(value) = task.result() {
                let _ = handover.send(create_task(followup_task(value)));
            }
        });
        cancellable(follow_up).await??.await?;

        println!("4. then and and_then");
        let task = create_task(work(0.6));
        let follow_up = task.then(|outcome| async move {
            match outcome {
                Ok(value) => followup_task(value).await,
                Err(e) => bail!("no follow-up: {e}"),
            }
        });
        follow_up.await?;
        let task = create_task(work(0.3));
        let follow_up = task.and_then(|value| async move {
            println!(">and_then got {value}");
            anyhow::Ok(value * 2.0)
        });
        println!("and_then returned {}", follow_up.await?);
        let failing = create_task(async { bail!("the first task failed") as anyhow::Result<f64> });
        let skipped = failing.and_then(followup_task);
        println!("and_then after a failure ends with: {}", skipped.await.unwrap_err());

        println!("main coroutine done");
        anyhow::Ok(())
    })?;
    Ok(())
}
