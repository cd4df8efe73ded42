//! A driver for instruction counting: `icount <workload> <impl> <n>` runs `n` operations of
//! one workload on one implementation, so `cargo xtask bench --icount` can count instructions
//! per operation under valgrind as (Ir(2n) - Ir(n)) / n. `icount --list` prints the pairs.
//!
//! Every workload has a raw-tokio counterpart (`tokio`) doing the same work, on a
//! current-thread runtime with `enable_all`, its body in a spawned task as taskloop's main
//! task is. An operation is one task (spawned, run and awaited) unless the workload says
//! otherwise:
//! - `spawn_await`: spawn one task and await it, one at a time;
//! - `chain`: each task spawns and awaits the next, in chains of `LINKS` tasks;
//! - `bulk_spawn`: `n` tasks created in one step, then awaited in order;
//! - `gather`: `gather` of `GATHERED` tasks, repeated (tokio: awaiting the `JoinHandle`s in
//!   order);
//! - `cancel_many`: `n` sleeping tasks, each cancelled (tokio: aborted) and awaited;
//! - `sleep_many`: `n` tasks sleeping 1 ms at once;
//! - `done_callbacks`: a task with a done callback (tokio: a watcher task on a oneshot);
//! - `queue_put_get`, `queue_handoff`, `semaphore`: one put+get, one handoff between two
//!   tasks, one acquire+release.
//!
//! `cargo xtask bench --icount --check` (run by `cargo xtask test`) compares each
//! taskloop/tokio ratio with `benches/icount-baseline.json`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Tasks per chain in `chain`: each spawns and awaits the next.
const LINKS: usize = 1_000;

/// Tasks per `gather` in `gather`.
const GATHERED: usize = 1_000;

const PAIRS: &[(&str, &str)] = &[
    ("spawn_await", "taskloop"),
    ("spawn_await", "taskloop_eager"),
    ("spawn_await", "tokio"),
    ("cancel_many", "taskloop"),
    ("cancel_many", "tokio"),
    ("done_callbacks", "taskloop"),
    ("done_callbacks", "tokio"),
    ("sleep_many", "taskloop"),
    ("sleep_many", "tokio"),
    ("bulk_spawn", "taskloop"),
    ("bulk_spawn", "taskloop_eager"),
    ("bulk_spawn", "tokio"),
    ("chain", "taskloop"),
    ("chain", "tokio"),
    ("gather", "taskloop"),
    ("gather", "tokio"),
    ("queue_put_get", "taskloop"),
    ("queue_put_get", "tokio"),
    ("queue_handoff", "taskloop"),
    ("queue_handoff", "tokio"),
    ("semaphore", "taskloop"),
    ("semaphore", "tokio"),
];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--list") {
        for (workload, imp) in PAIRS {
            println!("{workload} {imp}");
        }
        return Ok(());
    }
    let [workload, imp, n] = args.as_slice() else {
        anyhow::bail!("usage: icount <workload> <impl> <n> | icount --list");
    };
    let n: usize = n.parse()?;
    match (workload.as_str(), imp.as_str()) {
        ("spawn_await", "taskloop") => taskloop(async move {
            for _ in 0..n {
                taskloop::create_task(async { anyhow::Ok(()) }).await?;
            }
            anyhow::Ok(())
        }),
        ("spawn_await", "taskloop_eager") => taskloop(async move {
            for _ in 0..n {
                taskloop::create_eager_task(async { anyhow::Ok(()) }).await?;
            }
            anyhow::Ok(())
        }),
        ("spawn_await", "tokio") => tokio_main(async move {
            for _ in 0..n {
                tokio::spawn(async {}).await.expect("empty task");
            }
        }),
        ("cancel_many", "taskloop") => taskloop(async move {
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    taskloop::create_task(async {
                        taskloop::sleep(Duration::from_secs(3600)).await?;
                        anyhow::Ok(())
                    })
                })
                .collect();
            taskloop::yield_now().await?;
            for t in &tasks {
                t.cancel();
            }
            for t in tasks {
                let _ = t.await;
            }
            anyhow::Ok(())
        }),
        ("cancel_many", "tokio") => tokio_main(async move {
            let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(tokio::time::sleep(Duration::from_secs(3600)))).collect();
            tokio::task::yield_now().await;
            for t in &tasks {
                t.abort();
            }
            for t in tasks {
                let _ = t.await;
            }
        }),
        ("done_callbacks", "taskloop") => taskloop(async move {
            let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let t = taskloop::create_task(async { anyhow::Ok(()) });
                    let c = count.clone();
                    t.add_done_callback(move |_| {
                        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    });
                    t
                })
                .collect();
            for t in tasks {
                t.await?;
            }
            while count.load(std::sync::atomic::Ordering::Relaxed) < n {
                taskloop::yield_now().await?;
            }
            anyhow::Ok(())
        }),
        ("done_callbacks", "tokio") => tokio_main(async move {
            let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                    let c = count.clone();
                    let watcher = tokio::spawn(async move {
                        let _ = rx.await;
                        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    });
                    (
                        tokio::spawn(async move {
                            let _ = tx.send(());
                        }),
                        watcher,
                    )
                })
                .collect();
            for (t, w) in tasks {
                t.await.expect("task");
                w.await.expect("watcher");
            }
        }),
        ("sleep_many", "taskloop") => taskloop(async move {
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    taskloop::create_task(async {
                        taskloop::sleep(Duration::from_millis(1)).await?;
                        anyhow::Ok(())
                    })
                })
                .collect();
            for t in tasks {
                t.await?;
            }
            anyhow::Ok(())
        }),
        ("sleep_many", "tokio") => tokio_main(async move {
            let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(tokio::time::sleep(Duration::from_millis(1)))).collect();
            for t in tasks {
                t.await.expect("sleeper");
            }
        }),
        ("bulk_spawn", "taskloop" | "taskloop_eager") => {
            let eager = imp == "taskloop_eager";
            taskloop(async move {
                let tasks: Vec<_> = (0..n)
                    .map(|i| taskloop::TaskBuilder::new().eager(eager).spawn(async move { anyhow::Ok(i) }))
                    .collect();
                for t in tasks {
                    t.await?;
                }
                anyhow::Ok(())
            })
        }
        ("bulk_spawn", "tokio") => tokio_main(async move {
            let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(async move { i })).collect();
            for t in tasks {
                t.await.expect("task");
            }
        }),
        ("chain", "taskloop") => taskloop(async move {
            for links in batches(n, LINKS) {
                let ran = taskloop::create_task(taskloop_link(links)).await?;
                anyhow::ensure!(ran == links, "a chain of {links} ran {ran} links");
            }
            anyhow::Ok(())
        }),
        ("chain", "tokio") => tokio_main(async move {
            for links in batches(n, LINKS) {
                let ran = tokio::spawn(tokio_link(links)).await.expect("chain");
                assert_eq!(ran, links, "a chain of {links} ran {ran} links");
            }
        }),
        ("gather", "taskloop") => taskloop(async move {
            for size in batches(n, GATHERED) {
                let tasks: Vec<_> = (0..size).map(|i| taskloop::create_task(async move { anyhow::Ok(i) })).collect();
                let values = taskloop::gather(tasks).await?;
                anyhow::ensure!(values.len() == size, "gather gave {} of {size} values", values.len());
            }
            anyhow::Ok(())
        }),
        ("gather", "tokio") => tokio_main(async move {
            for size in batches(n, GATHERED) {
                let handles: Vec<_> = (0..size).map(|i| tokio::spawn(async move { i })).collect();
                let mut values = Vec::with_capacity(size);
                for handle in handles {
                    values.push(handle.await.expect("task"));
                }
                assert_eq!(values.len(), size);
            }
        }),
        ("queue_put_get", "taskloop") => taskloop(async move {
            let q = taskloop::sync::Queue::new(1024);
            for i in 0..n {
                q.put(i).await?;
                q.get().await?;
            }
            anyhow::Ok(())
        }),
        ("queue_put_get", "tokio") => tokio_main(async move {
            let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
            for i in 0..n {
                tx.send(i).await.expect("receiver alive");
                rx.recv().await.expect("sender alive");
            }
        }),
        ("queue_handoff", "taskloop") => taskloop(async move {
            let q = taskloop::sync::Queue::new(1);
            let consumer = taskloop::create_task({
                let q = q.clone();
                async move {
                    for _ in 0..n {
                        q.get().await?;
                    }
                    anyhow::Ok(())
                }
            });
            for i in 0..n {
                q.put(i).await?;
            }
            consumer.await?;
            anyhow::Ok(())
        }),
        ("queue_handoff", "tokio") => tokio_main(async move {
            let (tx, mut rx) = tokio::sync::mpsc::channel(1);
            let consumer = tokio::spawn(async move {
                for _ in 0..n {
                    rx.recv().await.expect("sender alive");
                }
            });
            for i in 0..n {
                tx.send(i).await.expect("receiver alive");
            }
            consumer.await.expect("consumer");
        }),
        ("semaphore", "taskloop") => taskloop(async move {
            let sem = taskloop::sync::Semaphore::new(1);
            for _ in 0..n {
                drop(sem.acquire().await?);
            }
            anyhow::Ok(())
        }),
        ("semaphore", "tokio") => tokio_main(async move {
            let sem = tokio::sync::Semaphore::new(1);
            for _ in 0..n {
                drop(sem.acquire().await.expect("open"));
            }
        }),
        _ => anyhow::bail!("unknown pair {workload} {imp}; see icount --list"),
    }
}

/// `n` split into batches of at most `size`: `size, size, ..., rest`.
fn batches(n: usize, size: usize) -> impl Iterator<Item = usize> {
    (0..n.div_ceil(size)).map(move |i| size.min(n - i * size))
}

/// One link of a taskloop chain: spawns and awaits the next `links - 1`; returns how many
/// links ran.
fn taskloop_link(links: usize) -> Pin<Box<dyn Future<Output = anyhow::Result<usize>> + Send>> {
    Box::pin(async move {
        if links <= 1 {
            return Ok(1);
        }
        Ok(taskloop::create_task(taskloop_link(links - 1)).await? + 1)
    })
}

/// One link of a tokio chain, the same with `tokio::spawn`.
fn tokio_link(links: usize) -> Pin<Box<dyn Future<Output = usize> + Send>> {
    Box::pin(async move {
        if links <= 1 {
            return 1;
        }
        tokio::spawn(tokio_link(links - 1)).await.expect("link") + 1
    })
}

fn taskloop<F>(body: F) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    taskloop::run(body)?;
    Ok(())
}

fn tokio_main<F>(body: F) -> anyhow::Result<()>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async { tokio::spawn(body).await })?;
    Ok(())
}
