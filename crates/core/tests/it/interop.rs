//! Plain tokio inside taskloop tasks: I/O through the loop's tokio runtime.

use taskloop::{Runtime, create_task, tokio_handle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A loopback echo: the server and the client are taskloop tasks using tokio::net.
async fn echo_round_trip() -> anyhow::Result<Vec<u8>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = create_task(async move {
        let (mut socket, _) = listener.accept().await?;
        let mut buffer = [0u8; 5];
        socket.read_exact(&mut buffer).await?;
        socket.write_all(&buffer).await?;
        anyhow::Ok(())
    });
    let client = create_task(async move {
        let mut stream = TcpStream::connect(address).await?;
        stream.write_all(b"hello").await?;
        let mut echoed = Vec::new();
        stream.read_to_end(&mut echoed).await?;
        anyhow::Ok(echoed)
    });
    server.join().await?;
    Ok(client.join().await?)
}

#[test]
fn tokio_net_works_inside_tasks_on_both_flavours() {
    let one = Runtime::builder().build().unwrap().run(echo_round_trip()).unwrap();
    assert_eq!(one, b"hello");
    let many = Runtime::builder().worker_threads(2).build().unwrap().run(echo_round_trip()).unwrap();
    assert_eq!(many, b"hello");
}

#[test]
fn handle_tokio_is_the_loops_runtime() {
    let (outside, inside) = Runtime::builder()
        .build()
        .unwrap()
        .run(async {
            let handle = tokio_handle();
            let inside = handle.spawn(async { tokio::runtime::Handle::current().id() }).await?;
            anyhow::Ok((handle.id(), inside))
        })
        .unwrap();
    assert_eq!(outside, inside);
}

#[test]
fn a_cancellation_token_cancels_the_task_asyncio_style_and_the_body_may_catch_it() {
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;

    let outcome = Runtime::builder()
        .build()
        .unwrap()
        .run(async {
            let token = CancellationToken::new();
            let task = create_task(async {
                match taskloop::sleep(Duration::from_secs(3600)).await {
                    Err(cancelled) => anyhow::Ok(format!("caught: {cancelled}")),
                    Ok(()) => anyhow::Ok("slept".to_owned()),
                }
            });
            task.cancel_on(token.clone());
            taskloop::yield_now().await?;
            token.cancel();
            let caught = task.await?;
            // A token never cancelled leaves a finished task alone.
            let finished = create_task(async { anyhow::Ok(1) });
            finished.cancel_on(CancellationToken::new());
            anyhow::Ok((caught, finished.await?))
        })
        .unwrap();
    assert_eq!(outcome, ("caught: cancelled".to_owned(), 1));
}
