//! The auto traits of every public type: what a user may move across threads.

use std::future::Ready;

use taskloop::{Delay, Task, Timeout, TimeoutHandle, TimerHandle};

fn is_send<T: Send>() {}
fn is_sync<T: Sync>() {}
fn is_unpin<T: Unpin>() {}

type Body = Ready<anyhow::Result<u8>>;

#[test]
fn public_types_are_send_and_sync_where_their_contents_are() {
    is_send::<TimerHandle>();
    is_sync::<TimerHandle>();
    is_unpin::<TimerHandle>();
    is_send::<Delay<Body>>();
    is_sync::<Delay<Body>>();
    is_send::<Timeout<Body>>();
    is_send::<TimeoutHandle>();
    is_sync::<TimeoutHandle>();
    is_sync::<Timeout<Body>>();
    is_send::<Timeout<Task<u8>>>();
    is_send::<Delay<Task<u8>>>();
}
