//! Cancelling tasks that wait in plain tokio I/O: a cancel request is delivered at the task's
//! current await, whatever future that is.
//!
//! A loopback echo server gives each connection a task of its own (`conn-1`, `conn-2`,
//! `conn-3`) that awaits `TcpStream::read` from tokio directly, with no `cancellable` around
//! it. Three clients connect and never send a byte, so every connection task is stuck in that
//! read. `conn-1` is cancelled with a message, `conn-2` runs out of time in `wait_for`, and
//! `conn-3` is left for `run` to cancel when main returns. Each time, the task's body is
//! dropped right at the read, so its `Drop` guard runs as asyncio runs a `finally:` block, and
//! the task ends cancelled. In asyncio:
//!
//! ```python
//! async def handle(reader, writer):
//!     try:
//!         while data := await reader.read(1024):  # cancel() raises CancelledError here
//!             writer.write(data)
//!     finally:
//!         print("cleanup")
//!
//! conn1.cancel("client too slow"); await conn1      # raises CancelledError("client too slow")
//! await asyncio.wait_for(conn2, 0.1)                # cancels conn2, raises TimeoutError
//! # asyncio.run() cancels conn3 when main returns
//! ```

use std::time::Duration;

use anyhow::Context;
use taskloop::prelude::*;
use taskloop::{TaskBuilder, wait_for};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Prints a line when dropped: the connection task's `finally:` block.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        println!("{}: cleanup (socket closed)", self.0);
    }
}

/// One connection: greets the client, then echoes what it sends until it hangs up.
async fn handle(name: String, mut stream: TcpStream) -> anyhow::Result<()> {
    let _cleanup = Cleanup(name.clone());
    stream.write_all(format!("hello, this is {name}\n").as_bytes()).await?;
    let mut buf = [0; 1024];
    loop {
        // A plain tokio future, not a taskloop cancellation point: a cancel still ends the
        // task here, by dropping the body in the middle of this await.
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

/// The server: accepts connections for ever, runs each in a task named `conn-N`, and hands
/// the tasks to main so that it can cancel them. It prints nothing: `run` cancels it at exit
/// too (in `accept`), in an order that is not the example's to fix.
async fn serve(listener: TcpListener, conns: mpsc::UnboundedSender<Task<()>>) -> anyhow::Result<()> {
    for n in 1.. {
        let (stream, _) = listener.accept().await?;
        let name = format!("conn-{n}");
        let conn = TaskBuilder::new().name(name.clone()).spawn(handle(name, stream));
        conns.send(conn).context("main no longer takes connections")?;
    }
    Ok(())
}

/// Connects a client that reads the greeting and then sends nothing, so that its connection
/// task waits in `read`; returns the client and that task.
async fn connect(
    n: usize,
    server: std::net::SocketAddr,
    conns: &mut mpsc::UnboundedReceiver<Task<()>>,
) -> anyhow::Result<(BufReader<TcpStream>, Task<()>)> {
    let mut client = BufReader::new(TcpStream::connect(server).await?);
    let conn = conns.recv().await.context("the server stopped")?;
    let mut greeting = String::new();
    client.read_line(&mut greeting).await?;
    println!("client-{n}: the server says {:?}", greeting.trim_end());
    Ok((client, conn))
}

fn main() -> anyhow::Result<()> {
    // main hands its clients back out of the loop: were they dropped when main returns,
    // conn-3 would read the end of its stream and finish instead of being cancelled.
    let (_clients, conn3) = taskloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let server = listener.local_addr()?;
        let (to_main, mut conns) = mpsc::unbounded_channel();
        let _server = TaskBuilder::new().name("server").spawn(serve(listener, to_main));

        let (client1, conn1) = connect(1, server, &mut conns).await?;
        let (client2, conn2) = connect(2, server, &mut conns).await?;
        let (client3, conn3) = connect(3, server, &mut conns).await?;

        // task.cancel(msg): the request reaches conn-1 in its read; its cleanup has run by
        // the time the await below sees the outcome.
        println!("main: cancel {} -> {}", conn1.name(), conn1.cancel_with("client too slow"));
        let outcome = (&conn1).await.unwrap_err();
        println!("main: {} ended: {outcome} (cancelled: {})", conn1.name(), conn1.cancelled());

        // asyncio.wait_for: at the deadline conn-2 is cancelled in its read and awaited.
        let timed_out = wait_for(conn2.clone(), Duration::from_millis(100)).await.unwrap_err();
        println!("main: wait_for({}) -> {timed_out:?} (cancelled: {})", conn2.name(), conn2.cancelled());

        // asyncio.run: once main returns, run cancels conn-3 (and the server) where they wait,
        // and waits for them, so conn-3's cleanup comes after main's last line.
        println!("main: returns, {} is still reading", conn3.name());
        anyhow::Ok(([client1, client2, client3], conn3))
    })?;
    println!("the loop is closed ({} cancelled: {})", conn3.name(), conn3.cancelled());
    Ok(())
}
