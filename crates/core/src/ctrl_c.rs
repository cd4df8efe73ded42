//! Ctrl-C: `run` cancels its main task on SIGINT, as `asyncio.run` (Python 3.11+) does.
//!
//! asyncio's `Runner` installs a SIGINT handler for the length of `run`: the first Ctrl-C
//! cancels the main task (so `finally:` blocks and the usual shutdown run) and `run` then
//! raises `KeyboardInterrupt`; a second one raises at once. Here, with the `ctrl-c` feature
//! (Unix):
//!
//! - One process-wide SIGINT watcher, installed by the first loop that wants it: a thread
//!   reading `signal-hook`'s self-pipe, and a *conditional default* action that makes SIGINT
//!   do what it did before (terminate the process) whenever `terminate` is set.
//! - Every running loop that handles Ctrl-C is listed while it runs; `terminate` is set when
//!   none is (so outside `run` Ctrl-C kills the process as usual), and once a Ctrl-C has been
//!   delivered (so the second one exits at once, without waiting for a stuck shutdown).
//! - The watcher cancels each listed loop's main task with the message `interrupted`; the loop
//!   then shuts down as for any cancelled main (leftovers cancelled and awaited, the executor
//!   shut down) and `run` returns `Err(TaskError::Cancelled)` with that message.
//!
//! Signal handlers cannot be removed once installed (tokio's cannot either); the conditional
//! default is what keeps Ctrl-C working outside a loop.

use taskloop_cancel::Cancelled;

use crate::error::TaskError;
use crate::runtime::Builder;

/// The loop's Ctrl-C setting (`Builder::handle_ctrl_c`). The default handles it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CtrlCConfig {
    ignore: bool,
}

impl Builder {
    /// Whether Ctrl-C (SIGINT) cancels the main task, as in `asyncio.run`: on by default
    /// with the `ctrl-c` feature (Unix). `false` leaves SIGINT alone (its default action kills
    /// the process, unless the program handles it, e.g. with `tokio::signal::ctrl_c`).
    ///
    /// When on, the first Ctrl-C while [`run`](crate::Runtime::run) runs cancels the main
    /// task with the message `"interrupted"`; the loop then ends as for any cancelled main
    /// (the tasks left are cancelled and awaited, their `Drop` guards run, the default
    /// executor is shut down) and `run` returns `Err(TaskError::Cancelled)` whose message is
    /// `"interrupted"` (asyncio raises `KeyboardInterrupt`). A second Ctrl-C ends the process
    /// at once, as SIGINT's default action does. A main task that catches the cancellation
    /// and returns a value returns it, as in asyncio.
    pub fn handle_ctrl_c(&mut self, handle: bool) -> &mut Self {
        self.ctrl_c.ignore = !handle;
        self
    }
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
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

    use signal_hook::consts::SIGINT;
    use slab::Slab;

    use super::{CtrlCConfig, INTERRUPTED};
    use crate::task::TaskRef;

    /// The process-wide watcher.
    struct Watcher {
        /// SIGINT does its default action (terminates) while this is set.
        terminate: Arc<AtomicBool>,
        /// The running loops that handle Ctrl-C: their main tasks, and whether a Ctrl-C
        /// reached each.
        loops: Mutex<Slab<(TaskRef, Arc<AtomicBool>)>>,
    }

    type Loops = Slab<(TaskRef, Arc<AtomicBool>)>;

    fn lock(loops: &Mutex<Loops>) -> MutexGuard<'_, Loops> {
        // Nothing of the user's runs under this lock.
        loops.lock().unwrap_or_else(PoisonError::into_inner)
    }

    static WATCHER: OnceLock<Option<Watcher>> = OnceLock::new();

    /// Installs the watcher once per process; `None` if the signal could not be hooked (the
    /// loop then runs without Ctrl-C handling, as it would without the feature).
    fn watcher() -> Option<&'static Watcher> {
        WATCHER
            .get_or_init(|| match install() {
                Ok(watcher) => Some(watcher),
                Err(error) => {
                    tracing::warn!(target: "taskloop", "Ctrl-C will not cancel the main task: {error}");
                    None
                }
            })
            .as_ref()
    }

    fn install() -> std::io::Result<Watcher> {
        let terminate = Arc::new(AtomicBool::new(true));
        signal_hook::flag::register_conditional_default(SIGINT, terminate.clone())?;
        let mut signals = signal_hook::iterator::Signals::new([SIGINT])?;
        std::thread::Builder::new().name("taskloop-ctrl-c".into()).spawn(move || {
            for _ in signals.forever() {
                if let Some(watcher) = WATCHER.get().and_then(Option::as_ref) {
                    watcher.interrupt();
                }
            }
        })?;
        Ok(Watcher { terminate, loops: Mutex::new(Slab::new()) })
    }

    impl Watcher {
        /// A Ctrl-C: the next one terminates; cancel every listening loop's main task.
        fn interrupt(&self) {
            self.terminate.store(true, Ordering::SeqCst);
            let mains: Vec<TaskRef> = lock(&self.loops)
                .iter()
                .map(|(_, (main, interrupted))| {
                    interrupted.store(true, Ordering::SeqCst);
                    main.clone()
                })
                .collect();
            for main in mains {
                main.cancel_with(INTERRUPTED);
            }
        }
    }

    /// A loop listening for Ctrl-C while `run` runs; stops listening when dropped.
    #[derive(Debug)]
    pub(crate) struct Listener {
        key: usize,
        interrupted: Arc<AtomicBool>,
    }

    impl Listener {
        /// Whether a Ctrl-C reached this loop.
        pub(crate) fn interrupted(&self) -> bool {
            self.interrupted.load(Ordering::SeqCst)
        }
    }

    /// Lists `main`'s loop as handling Ctrl-C until the listener is dropped; `None` if the
    /// loop opted out or the signal could not be hooked.
    pub(crate) fn listen(config: CtrlCConfig, main: TaskRef) -> Option<Listener> {
        if config.ignore {
            return None;
        }
        let watcher = watcher()?;
        let mut loops = lock(&watcher.loops);
        let interrupted = Arc::new(AtomicBool::new(false));
        let key = loops.insert((main, interrupted.clone()));
        watcher.terminate.store(false, Ordering::SeqCst);
        Some(Listener { key, interrupted })
    }

    impl Drop for Listener {
        fn drop(&mut self) {
            if let Some(watcher) = WATCHER.get().and_then(Option::as_ref) {
                let mut loops = lock(&watcher.loops);
                let main = loops.try_remove(self.key);
                if loops.is_empty() {
                    watcher.terminate.store(true, Ordering::SeqCst);
                }
                drop(loops);
                drop(main);
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
