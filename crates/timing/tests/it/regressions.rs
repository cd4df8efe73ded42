//! Regressions found by review: a `Timeout` wrapped in `shield` or `cancellable` ends in
//! `Timeout`, not `Cancelled` (the deadline's cancellation reaches the block alone, through
//! the block's own cancel scope).

use std::time::Duration;

use taskloop::{Instant, TaskError, cancellable, current_task, shield, sleep, timeout};

use crate::support::paused;

#[test]
fn a_timeout_inside_a_shield_ends_in_timeout_not_cancelled() {
    paused(async {
        let start = Instant::now();
        let outcome = shield(timeout(Duration::from_secs(1), async {
            sleep(Duration::from_secs(3600)).await?;
            anyhow::Ok("slept an hour")
        }))
        .await;
        let waited = Instant::now() - start;
        let cancelling = current_task().unwrap().cancelling();
        // Nobody but the deadline cancelled this task, so nothing may end up `Cancelled`.
        assert!(
            matches!(outcome, Ok(Err(TaskError::Timeout))),
            "{outcome:?} after {waited:?}, cancelling {cancelling}"
        );
        assert_eq!(waited, Duration::from_secs(1));
        assert_eq!(cancelling, 0);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_timeout_inside_cancellable_ends_in_timeout_not_cancelled() {
    paused(async {
        let outcome = cancellable(timeout(Duration::from_secs(1), async {
            sleep(Duration::from_secs(3600)).await?;
            anyhow::Ok("slept an hour")
        }))
        .await;
        let cancelling = current_task().unwrap().cancelling();
        assert!(matches!(outcome, Ok(Err(TaskError::Timeout))), "{outcome:?}, cancelling {cancelling}");
        assert_eq!(cancelling, 0);
        anyhow::Ok(())
    })
    .unwrap();
}
