//! Behaviour tests of taskloop-timing, one binary with a module per feature. Time-based tests
//! run on the paused clock; the multi-thread ones use short real durations and assert order
//! only, never timing.

mod support;

use taskloop_test_support::on_both_flavours;

mod auto_traits;
mod delay;
mod faults;
mod follow_up;
mod foreign;
mod regressions;
mod timeout;
mod timeout_handle;
mod timers;
mod wait_for;
