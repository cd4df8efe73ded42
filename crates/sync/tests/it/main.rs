//! Behaviour tests of taskloop-sync, one binary with a module per primitive. Most are ports of
//! CPython 3.13's `Lib/test/test_asyncio/test_queues.py`, `test_locks.py` and
//! `test_pep492.py` (the test's name is kept after `asyncio_`); each "cancelled while
//! waiting" case checks that nothing is lost and that the next waiter is served. Tests that
//! pin asyncio's step-by-step order (`yield_now` for `asyncio.sleep(0)`) run on the
//! current-thread loop; the others run on both flavours and assert outcomes only.

mod support;

use taskloop_test_support::on_both_flavours;

mod auto_traits;
mod barrier;
mod condition;
mod event;
mod lock;
mod queue;
mod semaphore;
mod stress;
