//! `TimeoutHandle` (`when`, `reschedule`, `expired`), `timeout_with` and `timeout(None)`:
//! ports of CPython 3.13's `Lib/test/test_asyncio/test_timeouts.py` cases that use `cm`
//! (each names the case it ports; that file passes on
//! `PYENV_VERSION=3.13.0 python3 -m unittest test.test_asyncio.test_timeouts`).

use std::time::Duration;

use taskloop::{Instant, TaskError, create_task, current_task, sleep, timeout, timeout_at, timeout_with, wait_for};

use crate::on_both_flavours;
use crate::support::{MS, SEC, ms_since, paused};

#[test]
fn expired_and_when_report_a_deadline_that_passed() {
    paused(async {
        // test_timeout_basic, test_timeout_at_basic.
        let block = timeout(10 * MS, sleep(10 * SEC));
        let cm = block.handle();
        assert_eq!(cm.when(), None, "a duration's clock starts when the block first runs");
        let start = Instant::now();
        assert!(block.await.unwrap_err().is_timeout());
        assert!(cm.expired());
        assert_eq!(cm.when(), Some(start + 10 * MS));

        let deadline = Instant::now() + 10 * MS;
        let block = timeout_at(deadline, sleep(10 * SEC));
        let cm = block.handle();
        assert_eq!(cm.when(), Some(deadline));
        assert!(block.await.unwrap_err().is_timeout());
        assert!(cm.expired());
        assert_eq!(cm.when(), Some(deadline));
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_block_that_ends_in_time_has_not_expired() {
    paused(async {
        // test_timeout_not_called.
        let block = timeout(10 * SEC, sleep(10 * MS));
        let cm = block.handle();
        block.await?;
        assert!(!cm.expired());
        assert!(cm.when().unwrap() > Instant::now());
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn no_deadline_never_expires() {
    paused(async {
        // test_timeout_disabled and test_timeout_at_disabled: `timeout(None)`, `timeout_at(None)`.
        let start = Instant::now();
        let block = timeout(None, async {
            sleep(3600 * SEC).await?;
            anyhow::Ok(1)
        });
        let cm = block.handle();
        assert_eq!(block.await?, 1);
        assert!(!cm.expired());
        assert_eq!(cm.when(), None);
        assert_eq!(ms_since(start), 3_600_000);

        let block = timeout_at(None, sleep(10 * MS));
        let cm = block.handle();
        block.await?;
        assert!(!cm.expired() && cm.when().is_none());
        assert!(wait_for(sleep(20 * MS), None).await.is_ok(), "wait_for(None) waits as long as it takes");
        anyhow::Ok(())
    })
    .unwrap();
}

// The asyncio docs' `reschedule` example, run on paused time:
//
//     async def main():
//         try:
//             async with asyncio.timeout(None) as cm:
//                 new_deadline = get_running_loop().time() + 10
//                 cm.reschedule(new_deadline)
//                 await long_running_task()
//         except TimeoutError:
//             pass
//         if cm.expired():
//             print("Looks like we haven't finished on time.")
#[test]
fn the_block_sets_its_deadline_from_inside() {
    paused(async {
        let start = Instant::now();
        let block = timeout_with(None, |cm| async move {
            assert_eq!(cm.when(), None);
            cm.reschedule(Some(Instant::now() + 10 * SEC));
            sleep(3600 * SEC).await?;
            anyhow::Ok(())
        });
        let cm = block.handle();
        assert!(block.await.unwrap_err().is_timeout());
        assert!(cm.expired());
        assert_eq!(ms_since(start), 10_000);
        assert_eq!(current_task().unwrap().cancelling(), 0);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn rescheduling_from_inside_moves_shortens_or_removes_the_deadline() {
    paused(async {
        // Later: the block gets the extra time.
        let start = Instant::now();
        let value = timeout_with(Some(10 * MS), |cm| async move {
            cm.reschedule(cm.when().map(|w| w + 100 * MS));
            sleep(50 * MS).await?;
            anyhow::Ok("in time")
        })
        .await?;
        assert_eq!((value, ms_since(start)), ("in time", 50));

        // Into the past: expires at the block's next suspension.
        let start = Instant::now();
        let outcome = timeout_with(Some(10 * SEC), |cm| async move {
            sleep(5 * MS).await?;
            cm.reschedule(Some(Instant::now() - MS));
            sleep(10 * SEC).await?;
            anyhow::Ok(())
        })
        .await;
        assert!(outcome.unwrap_err().is_timeout());
        assert_eq!(ms_since(start), 5);

        // Removed: the block runs as long as it takes.
        let start = Instant::now();
        timeout_with(Some(10 * MS), |cm| async move {
            cm.reschedule(None);
            sleep(SEC).await?;
            anyhow::Ok(())
        })
        .await?;
        assert_eq!(ms_since(start), 1000);
        anyhow::Ok(())
    })
    .unwrap();
}

on_both_flavours! {
    within 60;
    // test_reschedule: another task reads and moves the deadline of a block that waits; the
    // block's task is then cancelled from outside, which is no expiry.
    fn another_task_moves_the_deadline_of_a_waiting_block() {
        let deadline1 = Instant::now() + 10 * SEC;
        let block = timeout_at(deadline1, sleep(50 * SEC));
        let cm = block.handle();
        let task = create_task(block);
        sleep(MS).await?;
        assert_eq!(cm.when(), Some(deadline1));
        let deadline2 = deadline1 + 20 * SEC;
        cm.reschedule(Some(deadline2));
        assert_eq!(cm.when(), Some(deadline2));
        cm.reschedule(None);
        assert_eq!(cm.when(), None);
        task.cancel();
        assert!((&task).await.unwrap_err().is_cancelled());
        assert!(!cm.expired());

        // Moved into the past from outside: the waiting block expires at once.
        let block = timeout(3600 * SEC, sleep(3600 * SEC));
        let cm = block.handle();
        let task = create_task(block);
        sleep(MS).await?;
        let start = Instant::now();
        cm.reschedule(Some(Instant::now()));
        assert!(matches!(task.await, Err(TaskError::Timeout)));
        assert!(cm.expired());
        assert!(start.elapsed() < 10 * SEC);
        anyhow::Ok(())
    }
}

#[test]
fn rescheduling_an_expired_or_finished_timeout_panics_as_asyncio_raises() {
    // test_timeout_finished, test_timeout_expired, test_timeout_expiring.
    let finished = paused(async {
        let block = timeout(10 * MS, async { anyhow::Ok(()) });
        let cm = block.handle();
        block.await?;
        cm.reschedule(Some(Instant::now()));
        anyhow::Ok(())
    });
    assert!(finished.unwrap_err().to_string().contains("finished Timeout"));

    let expired = paused(async {
        let block = timeout(10 * MS, sleep(SEC));
        let cm = block.handle();
        assert!(block.await.is_err());
        cm.reschedule(Some(Instant::now()));
        anyhow::Ok(())
    });
    assert!(expired.unwrap_err().to_string().contains("expired Timeout"));

    let expiring = paused(async {
        timeout_with(Some(10 * MS), |cm| async move {
            assert!(sleep(SEC).await.is_err());
            cm.reschedule(Some(Instant::now()));
            anyhow::Ok(())
        })
        .await?;
        anyhow::Ok(())
    });
    assert!(expiring.unwrap_err().to_string().contains("expiring Timeout"));
}

#[test]
fn a_duration_is_still_accepted_where_an_option_is() {
    paused(async {
        // `timeout(d, ..)` and `wait_for(.., d)` take a `Duration` as before, or an `Option`.
        let d: Duration = 10 * MS;
        assert!(timeout(d, sleep(SEC)).await.unwrap_err().is_timeout());
        assert!(timeout(Some(d), sleep(SEC)).await.unwrap_err().is_timeout());
        assert!(wait_for(sleep(SEC), d).await.unwrap_err().is_timeout());
        anyhow::Ok(())
    })
    .unwrap();
}
