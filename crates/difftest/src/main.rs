//! The taskloop side of `cargo xtask difftest`: runs random task programs on taskloop with paused time and prints what every task saw.
//!
//! `cargo xtask difftest` generates small task programs, runs each on CPython's asyncio
//! (`asyncio_interp.py`, beside this crate's manifest) and on taskloop (this binary), and
//! compares the two traces. Both interpreters read the same file and print the same format:
//!
//! ```text
//! taskloop-difftest PROGRAMS.jsonl
//! ```
//!
//! **Input**: one program a line, `{"tasks": [[op, …], …]}`. Task 0 is main; task `k > 0`
//! runs when a `spawn` or `task_group` op creates it. An op is an object tagged by `"op"`
//! (see `program::Op` for each one's asyncio meaning): `spawn`, `sleep` (`ms`; 0 yields),
//! `await`, `cancel` (`msg` or null), `try` (`body`, `catch`: `cancelled` | `error` | `any`,
//! `reraise`), `uncancel`, `cancelling`, `result`, `exception`, `raise` (`error`), `return`
//! (`value`), `shield`, `wait_for` (`ms`), `timeout` (`ms`, `body`), `gather`,
//! `gather_settled`, `wait` (`tasks`, `first`, `timeout_ms`), `task_group` (`tasks`),
//! `as_completed` (`tasks`), `done_callback` (`task`, `id`), `call_soon` (`id`),
//! `call_later` (`ms`, `id`). A task without a `return` returns `100 * k`.
//!
//! **Output**: a header line `{"interpreter": …, "notes": […]}`, then one line a program:
//! `{"traces": {"t0": [[ms, text], …], "cb3": […]}, "final": ["value 0", "cancelled
//! Cancelled(m1)", …], "error": null, "skip": null}`. `traces` holds each task's (`t<k>`)
//! and each callback's (`cb<id>`) events at their virtual time in whole milliseconds;
//! exceptions are written as Python's side names them: `Cancelled(msg)`, `Error(E1)`,
//! `Timeout`, `InvalidState`, `Group(Error(E1),…)`.
//!
//! Each program runs on a fresh current-thread loop (`Runtime::builder().start_paused(true)`),
//! so virtual time is `tokio::time::Instant::now()` minus main's start. A program whose tasks
//! would wait for each other forever ends after 1,000 virtual seconds with `error` set.

mod exc;
mod interp;

use std::io::{BufRead, BufReader, BufWriter, Write};

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(path), None) = (args.next(), args.next()) else {
        bail!("usage: taskloop-difftest PROGRAMS.jsonl");
    };
    let file = std::fs::File::open(&path).with_context(|| format!("could not open {path}"))?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let header = serde_json::json!({
        "interpreter": format!("taskloop {} (current-thread loop, paused clock)", env!("CARGO_PKG_VERSION")),
        "notes": [],
    });
    writeln!(out, "{header}")?;
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("could not read {path}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let program = serde_json::from_str(&line).with_context(|| format!("{path}:{}: not a program", number + 1))?;
        let outcome = interp::run(program).with_context(|| format!("{path}:{}: could not run", number + 1))?;
        serde_json::to_writer(&mut out, &outcome)?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}
