//! `CpuPool`: CPU-bound work on rayon.

use rayon::prelude::*;
use taskloop::{CpuPool, TaskError, run_in_executor};

#[test]
fn cpu_pool_work_runs_inside_the_pool_so_par_iter_uses_it() -> anyhow::Result<()> {
    taskloop::run(async {
        let pool = CpuPool::new(3);
        let (threads, inside, names) = run_in_executor(Some(&pool), || {
            let names: Vec<String> = (0..1000)
                .into_par_iter()
                .map(|_| std::thread::current().name().unwrap_or("unnamed").to_owned())
                .collect();
            (rayon::current_num_threads(), rayon::current_thread_index().is_some(), names)
        })
        .await?;
        assert_eq!(threads, 3);
        assert!(inside);
        assert!(names.iter().all(|n| n.starts_with("taskloop-cpu-")), "{names:?}");
        anyhow::Ok(())
    })?;
    Ok(())
}

#[test]
fn cpu_pool_panics_become_panicked_and_the_pool_keeps_working() -> anyhow::Result<()> {
    crate::quiet_deliberate_panics();
    taskloop::run(async {
        let pool = CpuPool::new(1);
        for i in 0..10 {
            match run_in_executor(Some(&pool), move || -> u8 { panic!("deliberate cpu {i}") }).await {
                Err(TaskError::Panicked(message)) => assert_eq!(*message, *format!("deliberate cpu {i}")),
                other => panic!("expected Panicked, got {other:?}"),
            }
        }
        assert_eq!(pool.num_threads(), 1);
        assert_eq!(run_in_executor(Some(&pool), || 2 + 2).await?, 4);
        anyhow::Ok(())
    })?;
    Ok(())
}

#[test]
fn the_global_cpu_pool_runs_on_rayon_global_pool() -> anyhow::Result<()> {
    taskloop::run(async {
        let global = CpuPool::global();
        let sum = run_in_executor(Some(global), || (1..=10_000u64).into_par_iter().sum::<u64>()).await?;
        assert_eq!(sum, 50_005_000);
        let threads = run_in_executor(Some(global), rayon::current_num_threads).await?;
        assert_eq!(threads, global.num_threads());
        anyhow::Ok(())
    })?;
    Ok(())
}
