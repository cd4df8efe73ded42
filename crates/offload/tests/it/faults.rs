//! Faults in offloaded work seen from tasks: a panic in `to_thread` work ends the task that
//! passed it on with `?` `Panicked`, a task nobody reads is reported to the exception handler,
//! and the next offloaded call and the next task still work, on both loop flavours.

use std::sync::{Arc, Mutex};

use taskloop::{ReturnWhen, TaskError, create_task, set_exception_handler, to_thread, wait, yield_now};

use crate::quiet_deliberate_panics;

#[test]
fn a_panic_in_to_thread_work_ends_its_task_panicked_and_the_next_calls_still_work() -> anyhow::Result<()> {
    quiet_deliberate_panics();
    for (flavour, mut builder) in crate::flavours() {
        builder.build()?.run(async move {
            let reports = Arc::new(Mutex::new(Vec::new()));
            let sink = reports.clone();
            set_exception_handler(move |ctx| {
                sink.lock().unwrap().push((ctx.message().to_owned(), ctx.error().cloned()));
            });

            let read = create_task(async {
                to_thread(|| -> u32 { panic!("deliberate: read") }).await?;
                anyhow::Ok(())
            });
            match (&read).await {
                Err(TaskError::Panicked(message)) => assert_eq!(&*message, "deliberate: read", "{flavour}"),
                other => panic!("{flavour}: expected Panicked, got {other:?}"),
            }

            let unread = create_task(async {
                to_thread(|| -> u32 { panic!("deliberate: unread") }).await?;
                anyhow::Ok(())
            });
            wait([unread.as_task_ref()], ReturnWhen::AllCompleted, None).await?;
            drop(unread);
            // The report is made as the last handle goes; give the loop a step in case.
            yield_now().await?;
            {
                let reports = reports.lock().unwrap();
                assert_eq!(reports.len(), 1, "{flavour}: {reports:?}");
                let (message, error) = &reports[0];
                assert!(message.starts_with("Task exception was never retrieved"), "{flavour}: {message}");
                assert!(
                    matches!(error, Some(TaskError::Panicked(m)) if &**m == "deliberate: unread"),
                    "{flavour}: {error:?}"
                );
            }

            // The default executor and the loop go on.
            let sums: Vec<_> =
                (0..8u64).map(|i| create_task(async move { anyhow::Ok(to_thread(move || i * 2).await?) })).collect();
            let mut total = 0;
            for sum in sums {
                total += sum.await?;
            }
            assert_eq!(total, 56, "{flavour}");
            anyhow::Ok(())
        })?;
    }
    Ok(())
}
