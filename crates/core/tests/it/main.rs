//! Behaviour tests of taskloop-core, one binary with a module per feature.

mod support;

use taskloop_test_support::on_both_flavours;

mod asyncio_order;
mod auto_traits;
mod callbacks;
mod cancel;
#[cfg(unix)]
mod child;
mod eager;
mod embed;
mod faults;
mod foreign;
mod gather;
mod group;
mod group_scope;
mod interop;
mod leaks;
mod loop_run;
mod races;
mod registry;
mod result;
mod stress;
