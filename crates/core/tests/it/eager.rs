//! Eager tasks (asyncio 3.12 `eager_task_factory`; CPython test_eager_task_factory.py).

use std::time::Duration;

use taskloop::{Runtime, TaskBuilder, all_tasks, create_eager_task, create_task, current_task, sleep, yield_now};

use crate::on_both_flavours;
use crate::support::{Log, Probe, paused};

on_both_flavours! {
    fn an_eager_task_that_finishes_without_suspending_is_done_when_create_returns() {
        let probe = Probe::default();
        let p = probe.clone();
        let task = create_eager_task(async move {
            p.polled();
            anyhow::Ok(42)
        });
        assert!(task.done());
        assert_eq!(probe.polls(), 1);
        assert_eq!(task.result()?, 42);
        assert_eq!((&task).await?, 42);
        assert!(!task.cancel(), "cancel of an eagerly finished task returns false");
        assert!(!task.cancelled());
        anyhow::Ok(())
    }
}

#[test]
fn during_the_eager_step_the_new_task_is_current_and_listed_in_all_tasks() {
    paused(async {
        let creator = current_task().unwrap();
        let outside = creator.clone();
        let task = create_eager_task(async move {
            let me = current_task().expect("a current task during the eager step");
            anyhow::Ok((me.id(), all_tasks().contains(&me), me != outside))
        });
        let (seen_id, listed, not_creator) = task.result()?;
        assert_eq!(seen_id, task.id());
        assert!(listed && not_creator);
        assert!(!all_tasks().contains(&task.as_task_ref()), "done tasks leave all_tasks");
        assert_eq!(current_task().unwrap(), creator, "the creator is current again after the step");
        anyhow::Ok(())
    })
    .unwrap();
}

// An eager task that finishes in its first step never enters the loop's registry; during the
// step `all_tasks()` and `dump()` still list it, and its eager creator too when steps nest.
// asyncio 3.13:
//
//     async def main():
//         asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
//         seen = {}
//         async def inner():
//             seen['inner'] = sorted(t.get_name() for t in asyncio.all_tasks())
//         async def outer():
//             asyncio.create_task(inner())
//             seen['outer_after'] = sorted(t.get_name() for t in asyncio.all_tasks())
//             await asyncio.sleep(0)
//         o = asyncio.create_task(outer())
//         seen['main'] = sorted(t.get_name() for t in asyncio.all_tasks())
//         await o
//         print(seen['inner'], seen['outer_after'], seen['main'])
//
// prints `['Task-1', 'Task-2', 'Task-3'] ['Task-1', 'Task-2'] ['None', 'Task-1']`: the same
// tasks, main and outer, in the last list (3.13 names the eager task that suspended `None`).
on_both_flavours! {
    fn nested_eager_steps_list_every_task_in_its_first_step_in_all_tasks_and_dump() {
        let ids = |tasks: Vec<taskloop::TaskRef>| {
            let mut ids: Vec<u64> = tasks.iter().map(|t| t.id().as_u64()).collect();
            ids.sort_unstable();
            ids
        };
        let main = current_task().unwrap().id().as_u64();
        let outer = create_eager_task(async move {
            let outer = current_task().unwrap().id().as_u64();
            let inner = create_eager_task(async move {
                let inner = current_task().unwrap().id().as_u64();
                let dumped: Vec<u64> = taskloop::dump().tasks.iter().map(|t| t.id.as_u64()).collect();
                anyhow::Ok((inner, ids(all_tasks()), dumped))
            });
            let (inner_id, seen_in_inner, dumped_in_inner) = inner.result()?;
            let after_inner = ids(all_tasks());
            yield_now().await?;
            anyhow::Ok((outer, inner_id, seen_in_inner, dumped_in_inner, after_inner))
        });
        let seen_by_main = ids(all_tasks());
        let (outer_id, inner_id, seen_in_inner, dumped_in_inner, after_inner) = (&outer).await?;
        assert_eq!(seen_in_inner, [main, outer_id, inner_id], "both steps are listed, and main");
        assert_eq!(dumped_in_inner, [main, outer_id, inner_id], "dump() lists them too, by id");
        assert_eq!(after_inner, [main, outer_id], "the inner task finished in its step");
        assert_eq!(seen_by_main, [main, outer_id], "the outer task suspended, so it is registered");
        assert!(!all_tasks().iter().any(|t| t.id().as_u64() == outer_id), "done tasks leave all_tasks");
        anyhow::Ok(())
    }
}

#[test]
fn done_callbacks_of_an_eagerly_finished_task_are_scheduled_not_run_inline() {
    paused(async {
        let log = Log::default();
        let task = create_eager_task(async { anyhow::Ok(()) });
        let l = log.clone();
        task.add_done_callback(move |_| l.push("callback"));
        log.push("after add_done_callback");
        yield_now().await?;
        log.check(&["after add_done_callback", "callback"]);
        anyhow::Ok(())
    })
    .unwrap();
}

on_both_flavours! {
    fn an_eager_task_that_suspends_resumes_with_every_waker_of_its_first_step_effective() {
        // The first step registers on a timer, a channel and another task, then suspends.
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let other = create_task(async {
            sleep(Duration::from_millis(3)).await?;
            anyhow::Ok(2)
        });
        let waited = other.clone();
        let log = Log::default();
        let l = log.clone();
        let task = create_eager_task(async move {
            l.push("first step");
            sleep(Duration::from_millis(1)).await?;
            l.push("timer fired");
            let from_channel = rx.await?;
            l.push("channel delivered");
            let from_task = waited.await?;
            anyhow::Ok(from_channel + from_task)
        });
        log.check(&["first step"]);
        assert!(!task.done());
        tx.send(40).unwrap();
        assert_eq!((&task).await?, 42);
        log.check(&["first step", "timer fired", "channel delivered"]);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn a_wake_during_the_eager_step_is_not_lost() {
        // The body wakes itself during its first step and returns Pending: the forwarding
        // waker must bring it back.
        let task = create_eager_task(async {
            let mut first = true;
            std::future::poll_fn(|cx| {
                if first {
                    first = false;
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                } else {
                    std::task::Poll::Ready(())
                }
            })
            .await;
            anyhow::Ok("woken")
        });
        assert_eq!(task.await?, "woken");
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn a_panic_or_error_in_the_eager_step_ends_the_task_as_it_would_later() {
        let failed = create_eager_task(async { Err::<(), _>(anyhow::anyhow!("eager failure")) });
        assert!(failed.done());
        assert_eq!(failed.exception()?.unwrap().to_string(), "eager failure");
        let panicked = create_eager_task(async {
            if true {
                panic!("eager panic");
            }
            anyhow::Ok(())
        });
        assert!(panicked.done());
        assert_eq!((&panicked).await.unwrap_err().to_string(), "task panicked: eager panic");
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn cancelling_an_eager_task_that_suspended_cancels_it() {
        let task = create_eager_task(async {
            sleep(Duration::from_secs(3600)).await?;
            anyhow::Ok(())
        });
        assert!(!task.done());
        assert!(task.cancel_with("stop"));
        assert_eq!((&task).await.unwrap_err().cancel_message(), Some("stop"));
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn tasks_created_in_an_eager_step_do_not_start_before_it_suspends() {
        let log = Log::default();
        let l = log.clone();
        let parent = create_eager_task(async move {
            let l2 = l.clone();
            let child = create_task(async move {
                l2.push("child runs");
                anyhow::Ok(())
            });
            std::thread::sleep(Duration::from_millis(5)); // give other workers a chance
            l.push("parent's first step ends");
            yield_now().await?;
            child.await?;
            anyhow::Ok(())
        });
        (&parent).await?;
        log.check(&["parent's first step ends", "child runs"]);
        anyhow::Ok(())
    }
}

#[test]
fn tasks_are_lazy_by_default_and_eager_tasks_true_makes_every_created_task_eager() {
    paused(async {
        assert!(!create_task(async { anyhow::Ok(()) }).done(), "asyncio's default: lazy");
        anyhow::Ok(())
    })
    .unwrap();
    Runtime::builder()
        .eager_tasks(true)
        .build()
        .unwrap()
        .run(async {
            assert!(create_task(async { anyhow::Ok(()) }).done());
            let opted_out = TaskBuilder::new().eager(false).spawn(async { anyhow::Ok(()) });
            assert!(!opted_out.done());
            opted_out.await?;
            anyhow::Ok(())
        })
        .unwrap();
}
