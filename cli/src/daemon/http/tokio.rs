//! The HTTP server's accept loop on tokio: hyper reads and writes through `hyper-util`'s
//! `TokioIo`, and times out through its `TokioTimer`. It runs on a runtime and a thread of
//! its own ([`start`]): the daemon's tokio runtime has one worker, which runs the session's
//! loop, and an answer that needs nothing of the session must not wait for it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};

use super::{Server, SharedTimer};
use crate::daemon::backend::Backend;

/// tokio's timer for hyper.
pub(crate) fn timer() -> SharedTimer {
    SharedTimer(Arc::new(TokioTimer::new()))
}

/// Binds the HTTP listener (blocking: binding does not wait on the network), to be served by
/// [`start`].
pub(crate) fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves `listener` on a thread of its own (`sanstorrent-http`) with a single-threaded tokio
/// runtime of its own, until the process ends.
pub(crate) fn start<B: Backend>(
    server: Arc<Server<B>>,
    listener: std::net::TcpListener,
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("sanstorrent-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => run(server, listener).await,
                    Err(e) => tracing::error!("the HTTP listener: {e}"),
                }
            });
        })?;
    Ok(())
}

/// Accepts connections forever, each served on its own task.
async fn run<B: Backend>(server: Arc<Server<B>>, listener: tokio::net::TcpListener) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok((stream, remote)) => (stream, remote),
            Err(e) => {
                tracing::warn!("HTTP accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = server.admit() else {
            continue;
        };
        let server = Arc::clone(&server);
        tokio::spawn(server.serve(TokioIo::new(stream), slot, remote));
    }
}
