//! Leaks and memory: tasks that are created and finished give their memory back, and a `Task`
//! handle kept after completion keeps only the outcome alive, never the body.

use std::sync::Arc;
use std::time::Duration;

use taskloop::{Runtime, create_task, sleep, yield_now};

use crate::on_both_flavours;
use crate::stress::{heavy, proc_status_bytes, quiet_deliberate_panics};

/// Tasks alive at once while churning.
const WAVE: usize = 1_000;
/// What resident memory may grow by, besides 10%: the allocator keeps some freed pages and
/// the loop's queues keep their high-water capacity, neither of which grows with the task count.
const SLACK: u64 = 8 * 1024 * 1024;

/// Creates and finishes `count` tasks in waves of `WAVE` on a two-worker loop (each with a
/// done callback, an awaiter task and a 256-byte value), and checks that resident memory after
/// them is within 10% + `SLACK` of where it was after a warm-up wave of the same shape.
///
/// The baseline is taken after the warm-up because the first wave grows the allocator's
/// arenas and the loop's queues once; a leak shows as growth proportional to `count` (a task
/// state is a few hundred bytes, so even a leak of only the value is 25 MiB per 100,000).
fn memory_returns_after(count: usize) {
    let _heavy = heavy();
    quiet_deliberate_panics();
    let Some(_) = proc_status_bytes("VmRSS") else {
        eprintln!("no /proc/self/status here: resident memory not checked");
        return;
    };
    let (baseline, after) = Runtime::builder()
        .worker_threads(2)
        .build()
        .expect("runtime")
        .run(async move {
            churn(WAVE).await?;
            let baseline = proc_status_bytes("VmRSS").expect("VmRSS");
            churn(count).await?;
            let after = proc_status_bytes("VmRSS").expect("VmRSS");
            anyhow::Ok((baseline, after))
        })
        .expect("main");
    let bound = baseline + baseline / 10 + SLACK;
    let mib = |b: u64| b as f64 / 1048576.0;
    println!("{count} tasks: VmRSS {:.1} MiB -> {:.1} MiB (bound {:.1} MiB)", mib(baseline), mib(after), mib(bound));
    assert!(
        after <= bound,
        "resident memory grew from {:.1} MiB to {:.1} MiB over {count} tasks (bound {:.1} MiB)",
        mib(baseline),
        mib(after),
        mib(bound)
    );
}

/// `count` tasks, `WAVE` at a time, each awaited by another task and watched by a callback.
async fn churn(count: usize) -> anyhow::Result<()> {
    let mut done = 0;
    while done < count {
        let n = WAVE.min(count - done);
        let mut awaiters = Vec::with_capacity(n);
        for i in 0..n {
            let task = create_task(async move {
                if i % 2 == 0 {
                    yield_now().await?;
                }
                if i % 7 == 0 {
                    anyhow::bail!("failure {i}");
                }
                anyhow::Ok(vec![i as u8; 256])
            });
            task.add_done_callback(|t| drop(t.result()));
            awaiters.push(create_task(async move { anyhow::Ok((&task).await.is_ok()) }));
        }
        for (i, awaiter) in awaiters.into_iter().enumerate() {
            assert_eq!(awaiter.await?, i % 7 != 0);
        }
        done += n;
    }
    Ok(())
}

#[test]
fn resident_memory_returns_to_where_it_started_after_100_000_tasks() {
    memory_returns_after(100_000);
}

#[test]
#[ignore = "slow in debug builds; run by `cargo xtask stress` (release)"]
fn stress_resident_memory_returns_to_where_it_started_after_1_000_000_tasks() {
    memory_returns_after(1_000_000);
}

on_both_flavours! {
    fn a_kept_task_handle_keeps_its_outcome_but_not_its_body() {
        quiet_deliberate_panics();
        // One body per way of ending; each owns a 1 MiB buffer we hold a `Weak` to.
        let buffer = || -> Arc<[u8]> { vec![0u8; 1 << 20].into() };
        let (ok_token, ok_weak) = { let t = buffer(); let w = Arc::downgrade(&t); (t, w) };
        let (fail_token, fail_weak) = { let t = buffer(); let w = Arc::downgrade(&t); (t, w) };
        let (panic_token, panic_weak) = { let t = buffer(); let w = Arc::downgrade(&t); (t, w) };
        let (cancel_token, cancel_weak) = { let t = buffer(); let w = Arc::downgrade(&t); (t, w) };
        let (early_token, early_weak) = { let t = buffer(); let w = Arc::downgrade(&t); (t, w) };
        let (abort_token, abort_weak) = { let t = buffer(); let w = Arc::downgrade(&t); (t, w) };

        let ok = create_task(async move {
            let token = ok_token;
            yield_now().await?;
            anyhow::Ok(token.len())
        });
        let failed = create_task(async move {
            let _token = fail_token;
            yield_now().await?;
            Err::<usize, _>(anyhow::anyhow!("failed"))
        });
        let panicked = create_task(async move {
            let _token = panic_token;
            yield_now().await?;
            if true {
                panic!("deliberate: body holding a buffer");
            }
            anyhow::Ok(0)
        });
        let cancelled = create_task(async move {
            let _token = cancel_token;
            sleep(Duration::from_secs(3600)).await?;
            anyhow::Ok(0)
        });
        let early = create_task(async move {
            let _token = early_token;
            anyhow::Ok(0)
        });
        let aborted = create_task(async move {
            let _token = abort_token;
            sleep(Duration::from_secs(3600)).await?;
            anyhow::Ok(0)
        });
        assert!(early.cancel(), "cancelled before its first poll");
        yield_now().await?;
        assert!(cancelled.cancel());
        aborted.abort();

        // Wait through clones, so the handles we keep are never the ones awaited.
        for task in [&ok, &failed, &panicked, &cancelled, &early, &aborted] {
            let _ = task.clone().await;
        }
        for (name, weak) in [
            ("completed", &ok_weak),
            ("failed", &fail_weak),
            ("panicked", &panic_weak),
            ("cancelled", &cancel_weak),
            ("cancelled before its first poll", &early_weak),
            ("aborted", &abort_weak),
        ] {
            assert_eq!(weak.strong_count(), 0, "the {name} task's handle keeps its body alive");
        }
        // The outcomes are still there.
        assert_eq!(ok.result()?, 1 << 20);
        assert!(failed.result().unwrap_err().is_failed());
        assert!(panicked.result().unwrap_err().is_panic());
        assert!(cancelled.result().unwrap_err().is_cancelled());
        assert!(early.result().unwrap_err().is_cancelled());
        assert!(aborted.result().unwrap_err().is_cancelled());
        anyhow::Ok(())
    }
}
