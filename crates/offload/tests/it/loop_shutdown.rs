//! The end of `run` shuts the default executor down, waiting at most `shutdown_timeout`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use taskloop::{Runtime, create_task, to_thread};

#[test]
fn run_returns_within_the_shutdown_timeout_when_a_job_blocks_forever() -> anyhow::Result<()> {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let start = Instant::now();
    Runtime::builder().shutdown_timeout(Duration::from_millis(100)).build()?.run(async move {
        let _stuck = create_task(async move {
            to_thread(move || {
                let _ = started_tx.send(());
                // Blocks until the test releases it, after `run` has returned.
                let _ = release_rx.recv();
            })
            .await?;
            anyhow::Ok(())
        });
        started_rx.await?;
        anyhow::Ok(())
    })?;
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(100), "run waited for the running job: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(60), "run returned within the bound: {elapsed:?}");
    release_tx.send(())?;
    Ok(())
}

#[test]
fn run_waits_for_running_default_executor_work_before_returning() -> anyhow::Result<()> {
    let finished = Arc::new(AtomicBool::new(false));
    let flag = finished.clone();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    taskloop::run(async move {
        let _background = create_task(async move {
            to_thread(move || {
                let _ = started_tx.send(());
                std::thread::sleep(Duration::from_millis(50));
                flag.store(true, Ordering::SeqCst);
            })
            .await?;
            anyhow::Ok(())
        });
        started_rx.await?;
        anyhow::Ok(())
    })?;
    assert!(finished.load(Ordering::SeqCst), "run returned only after the running job finished");
    Ok(())
}
