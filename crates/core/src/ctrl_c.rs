//! Ctrl-C: `run` cancels its main task on SIGINT, as `asyncio.run` (Python 3.11+) does.
//!
//! asyncio's `Runner` installs a SIGINT handler for the length of `run`: the first Ctrl-C
//! cancels the main task (so `finally:` blocks and the usual shutdown run) and `run` then
//! raises `KeyboardInterrupt`; a second one raises at once. Here, with the `ctrl-c` feature
//! (Unix):
//!
//! - Each running loop that handles Ctrl-C listens with tokio's signal driver (part of its I/O
//!   driver: no thread of its own, so a current-thread program stays single-threaded, which
//!   glibc's `malloc` has a faster path for) in a plain tokio task that
//!   cancels the main task with the message `interrupted`; the loop then shuts down as for any
//!   cancelled main (leftovers cancelled and awaited, the executor shut down) and `run`
//!   returns `Err(TaskError::Cancelled)` with that message.
//! - Once per process, `signal-hook`'s *conditional default* action makes SIGINT do what it
//!   did before (terminate the process) whenever `terminate` is set: while no loop listens
//!   (so outside `run` Ctrl-C kills the process as usual), and once a Ctrl-C has been
//!   delivered (so the second one exits at once, without waiting for a stuck shutdown).
//!
//! Signal handlers cannot be removed once installed (tokio's cannot either); the conditional
//! default is what keeps Ctrl-C working outside a loop.

use taskloop_cancel::Cancelled;

use crate::error::TaskError;

/// The loop's Ctrl-C setting (`Builder::handle_ctrl_c`). The default handles it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CtrlCConfig {
    pub(crate) ignore: bool,
}

#[cfg(all(unix, feature = "ctrl-c"))]
pub(crate) use watcher::{Listener, listen};

#[cfg(not(all(unix, feature = "ctrl-c")))]
pub(crate) use inert::{Listener, listen};

/// The message of the cancellation a Ctrl-C delivers to the main task.
pub(crate) const INTERRUPTED: &str = "interrupted";

/// `run`'s outcome after a Ctrl-C: a main task that ended cancelled ends with the Ctrl-C's
/// cancellation (asyncio's `KeyboardInterrupt`), whatever request reached it first; a value
/// or a failure is kept.
pub(crate) fn outcome<T>(listener: Option<&Listener>, outcome: Result<T, TaskError>) -> Result<T, TaskError> {
    match outcome {
        Err(TaskError::Cancelled(_)) if listener.is_some_and(Listener::interrupted) => {
            Err(TaskError::Cancelled(Cancelled::with_message(INTERRUPTED)))
        }
        other => other,
    }
}

#[cfg(all(unix, feature = "ctrl-c"))]
mod watcher {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, OnceLock};

    use signal_hook::consts::SIGINT;
    use tokio::signal::unix::{SignalKind, signal};

    use super::{CtrlCConfig, INTERRUPTED};
    use crate::task::TaskRef;

    /// SIGINT does its default action (terminates) while this is set; `None` if the fallback
    /// could not be registered (the loop then runs without Ctrl-C handling).
    static TERMINATE: OnceLock<Option<Arc<AtomicBool>>> = OnceLock::new();
    /// How many running loops listen.
    static LISTENING: AtomicUsize = AtomicUsize::new(0);

    fn terminate() -> Option<&'static Arc<AtomicBool>> {
        TERMINATE
            .get_or_init(|| {
                let terminate = Arc::new(AtomicBool::new(true));
                match signal_hook::flag::register_conditional_default(SIGINT, terminate.clone()) {
                    Ok(_) => Some(terminate),
                    Err(error) => {
                        tracing::warn!(target: "taskloop", "Ctrl-C will not cancel the main task: {error}");
                        None
                    }
                }
            })
            .as_ref()
    }

    /// A loop listening for Ctrl-C while `run` runs; stops listening when dropped.
    #[derive(Debug)]
    pub(crate) struct Listener {
        /// The tokio task awaiting the signal (tokio's signal driver: no thread of its own).
        watch: tokio::task::JoinHandle<()>,
        interrupted: Arc<AtomicBool>,
    }

    impl Listener {
        /// Whether a Ctrl-C reached this loop.
        pub(crate) fn interrupted(&self) -> bool {
            self.interrupted.load(Ordering::SeqCst)
        }
    }

    /// Listens for Ctrl-C on the running loop until the listener is dropped, cancelling `main`
    /// at the first; `None` if the loop opted out or the signal could not be hooked. Called
    /// inside the loop's tokio runtime.
    pub(crate) fn listen(config: CtrlCConfig, main: TaskRef) -> Option<Listener> {
        if config.ignore {
            return None;
        }
        let terminate = terminate()?;
        let mut sigint = match signal(SignalKind::interrupt()) {
            Ok(sigint) => sigint,
            Err(error) => {
                tracing::warn!(target: "taskloop", "Ctrl-C will not cancel the main task: {error}");
                return None;
            }
        };
        LISTENING.fetch_add(1, Ordering::SeqCst);
        terminate.store(false, Ordering::SeqCst);
        let interrupted = Arc::new(AtomicBool::new(false));
        let seen = interrupted.clone();
        let watch = tokio::spawn(async move {
            if sigint.recv().await.is_some() {
                // From now on SIGINT terminates: the second Ctrl-C exits at once.
                terminate.store(true, Ordering::SeqCst);
                seen.store(true, Ordering::SeqCst);
                main.cancel_with(INTERRUPTED);
            }
        });
        Some(Listener { watch, interrupted })
    }

    impl Drop for Listener {
        fn drop(&mut self) {
            self.watch.abort();
            if LISTENING.fetch_sub(1, Ordering::SeqCst) == 1
                && let Some(Some(terminate)) = TERMINATE.get()
            {
                terminate.store(true, Ordering::SeqCst);
            }
        }
    }
}

#[cfg(not(all(unix, feature = "ctrl-c")))]
mod inert {
    use super::CtrlCConfig;
    use crate::task::TaskRef;

    /// Without the `ctrl-c` feature (or off Unix), no loop listens.
    #[derive(Debug)]
    pub(crate) enum Listener {}

    impl Listener {
        pub(crate) fn interrupted(&self) -> bool {
            match *self {}
        }
    }

    pub(crate) fn listen(_config: CtrlCConfig, _main: TaskRef) -> Option<Listener> {
        None
    }
}
