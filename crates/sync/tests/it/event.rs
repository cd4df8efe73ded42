//! `Event`: CPython's `EventTests`.

use taskloop::sync::Event;
use taskloop::{create_task, yield_now};

use super::on_both_flavours;
use crate::support::{current_thread, until};

fn waiting(ev: &Event, n: usize) -> bool {
    format!("{ev:?}").contains(&format!("waiters: {n}"))
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_wait` and `test_wait_on_set`: every waiter returns once set; a wait
    /// on a set event returns at once.
    fn asyncio_test_wait() {
        let ev = Event::new();
        assert!(!ev.is_set());
        let waiters: Vec<_> = (0..3)
            .map(|i| {
                let ev = ev.clone();
                create_task(async move {
                    ev.wait().await?;
                    anyhow::Ok(i)
                })
            })
            .collect();
        until("three waiters", || waiting(&ev, 3)).await;
        ev.set();
        assert!(ev.is_set());
        assert_eq!(taskloop::gather(waiters).await?, [0, 1, 2]);
        ev.wait().await?;
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_wait_cancel`: a cancelled wait leaves no waiter.
    fn asyncio_test_wait_cancel() {
        let ev = Event::new();
        let task = create_task({
            let ev = ev.clone();
            async move { anyhow::Ok(ev.wait().await?) }
        });
        until("one waiter", || waiting(&ev, 1)).await;
        task.cancel();
        assert!((&task).await.unwrap_err().is_cancelled());
        assert!(waiting(&ev, 0));
        anyhow::Ok(())
    }
}

/// asyncio's `test_clear` and `test_clear_with_waiters`: waiters woken by `set` return even
/// if the flag is cleared (and set and cleared again) before they run.
///
/// ```python
/// ev.set(); ev.clear(); ev.set(); ev.clear()   # with one waiter
/// await asyncio.sleep(0); t.done()  # True, t.result() True; len(ev._waiters) == 0
/// ```
#[test]
fn asyncio_test_clear_with_waiters() {
    current_thread(async {
        let ev = Event::new();
        ev.set();
        ev.clear();
        assert!(!ev.is_set());
        let task = create_task({
            let ev = ev.clone();
            async move { anyhow::Ok(ev.wait().await?) }
        });
        yield_now().await?;
        assert!(waiting(&ev, 1));
        ev.set();
        ev.clear();
        ev.set();
        ev.clear();
        yield_now().await?;
        assert!(task.done());
        task.await?;
        assert!(waiting(&ev, 0));
        anyhow::Ok(())
    });
}
