//! current_task(), all_tasks(), create_task outside a loop, start order.

use std::collections::HashSet;
use std::time::Duration;

use taskloop::{SpawnError, all_tasks, call_soon, create_task, current_task, sleep, try_create_task, yield_now};

use crate::on_both_flavours;
use crate::support::{Log, paused};

#[test]
fn current_task_is_none_outside_a_loop_and_in_main_it_is_the_main_task() {
    assert!(current_task().is_none());
    paused(async {
        let me = current_task().expect("main runs as a task");
        assert!(all_tasks().contains(&me));
        anyhow::Ok(())
    })
    .unwrap();
}

on_both_flavours! {
    fn all_tasks_holds_every_unfinished_task_including_the_current_one() {
        let me = current_task().unwrap();
        let sleepers: Vec<_> =
            (0..5).map(|_| create_task(async { sleep(Duration::from_secs(60)).await?; anyhow::Ok(()) })).collect();
        let quick = create_task(async { anyhow::Ok(()) });
        (&quick).await?;
        let all: HashSet<_> = all_tasks().into_iter().collect();
        assert!(all.contains(&me));
        for s in &sleepers {
            assert!(all.contains(&s.as_task_ref()));
        }
        assert!(!all.contains(&quick.as_task_ref()), "done tasks are not listed");
        assert_eq!(all.len(), 6);
        for s in &sleepers {
            s.cancel();
        }
        anyhow::Ok(())
    }
}

#[test]
fn create_task_outside_a_loop_panics_saying_so_and_try_create_task_returns_err() {
    assert_eq!(try_create_task(async { anyhow::Ok(()) }).unwrap_err(), SpawnError::NoRunningLoop);
    let panic = std::panic::catch_unwind(|| create_task(async { anyhow::Ok(()) })).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("needs a running taskloop loop"), "{message}");
}

on_both_flavours! {
    fn a_task_does_not_start_before_its_creator_suspends() {
        let log = Log::default();
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let l = log.clone();
                create_task(async move {
                    l.push(format!("task {i} runs"));
                    anyhow::Ok(())
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(5)); // give other workers a chance
        log.push("creator continues");
        assert!(tasks.iter().all(|t| !t.done()));
        for t in tasks {
            t.await?;
        }
        assert_eq!(log.take()[0], "creator continues");
        anyhow::Ok(())
    }
}

#[test]
fn in_a_call_soon_callback_there_is_no_current_task() {
    paused(async {
        let log = Log::default();
        let l = log.clone();
        let _ = call_soon(move || l.push(format!("{:?}", current_task().map(|t| t.id()))));
        yield_now().await?;
        log.check(&["None"]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_task_awaiting_itself_fails_loudly_instead_of_hanging() {
    paused(async {
        let task = create_task(async {
            yield_now().await?;
            let me = current_task().unwrap();
            me.await?;
            anyhow::Ok(())
        });
        let err = (&task).await.unwrap_err();
        assert!(err.is_panic() && err.to_string().contains("cannot await itself"), "{err}");
        anyhow::Ok(())
    })
    .unwrap();
}

on_both_flavours! {
    fn dump_lists_live_tasks_with_their_state_cancel_requests_and_what_they_await() {
        let sleeper = taskloop::TaskBuilder::new().name("sleeper").spawn(async {
            let _ = sleep(Duration::from_secs(60)).await;
            sleep(Duration::from_secs(60)).await?;
            anyhow::Ok(())
        });
        let waiter = taskloop::TaskBuilder::new().name("waiter").spawn(sleeper.clone());
        sleep(Duration::from_millis(1)).await?;
        let before = taskloop::dump();
        let row = |d: &taskloop::TaskDump, name: &str| d.tasks.iter().find(|t| &*t.name == name).cloned();
        assert_eq!(row(&before, "waiter").unwrap().awaiting, Some(sleeper.id()));
        assert_eq!(row(&before, "sleeper").unwrap().awaiting, None, "it awaits a timer, not a task");
        assert!(before.to_string().contains("sleeper"));
        // The sleeper catches one cancel: it stays live with one request counted.
        sleeper.cancel();
        sleep(Duration::from_millis(1)).await?;
        let after = taskloop::dump();
        assert_eq!(row(&after, "sleeper").unwrap().cancel_requests, 1);
        assert!(after.to_string().ends_with(&format!("{} live task(s)", after.tasks.len())));
        waiter.cancel();
        let _ = waiter.await;
        assert!(row(&taskloop::dump(), "waiter").is_none(), "done tasks leave the dump");
        anyhow::Ok(())
    }
}

#[test]
fn dump_shows_each_task_s_age_on_the_loop_clock_when_the_loop_tracks_ages() {
    let mut builder = taskloop::Runtime::builder();
    builder.start_paused(true).track_task_ages(true);
    builder
        .build()
        .unwrap()
        .run(async {
            let old = taskloop::TaskBuilder::new().name("old").spawn(async {
                sleep(Duration::from_secs(3600)).await?;
                anyhow::Ok(())
            });
            sleep(Duration::from_secs(5)).await?;
            let young = taskloop::TaskBuilder::new().name("young").spawn(async {
                sleep(Duration::from_secs(3600)).await?;
                anyhow::Ok(())
            });
            sleep(Duration::from_secs(2)).await?;
            let snapshot = taskloop::dump();
            let age = |name: &str| snapshot.tasks.iter().find(|t| &*t.name == name).unwrap().age;
            assert_eq!(age("old"), Some(Duration::from_secs(7)));
            assert_eq!(age("young"), Some(Duration::from_secs(2)));
            assert!(snapshot.to_string().contains("7.000s"));
            old.cancel();
            young.cancel();
            anyhow::Ok(())
        })
        .unwrap();
    // Not tracked by default: no clock read per spawn, and no age to show.
    paused(async {
        assert_eq!(taskloop::dump().tasks[0].age, None);
        anyhow::Ok(())
    })
    .unwrap();
}
