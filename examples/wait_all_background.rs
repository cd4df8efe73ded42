//! Seed 24.5 "How to wait for all background tasks?": all tasks, minus the current one,
//! waited for with `wait`.

use std::time::Duration;

use taskloop::prelude::*;

async fn work(id: u64) -> anyhow::Result<()> {
    sleep(Duration::from_millis(50 * (4 - id))).await?;
    println!("task {id} done");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    taskloop::run(async {
        for id in 1..=3 {
            let _task = create_task(work(id));
        }
        // get a set of all running tasks
        let mut tasks = all_tasks();
        // get the current task, and remove it from the set
        let current = current_task().expect("main runs as a task");
        tasks.retain(|t| *t != current);
        println!("main: waiting for {} background tasks", tasks.len());
        // suspend until all tasks are completed
        let (done, pending) = wait(tasks, ReturnWhen::AllCompleted, None).await?;
        println!("main: {} done, {} pending", done.len(), pending.len());
        anyhow::Ok(())
    })?;
    Ok(())
}
