//! The HTTP server's accept loop on tokio: hyper reads and writes through `hyper-util`'s
//! `TokioIo`, and times out through its `TokioTimer`.

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

/// Binds the HTTP listener (inside a tokio runtime).
pub(crate) async fn bind(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Accepts connections forever, each served on its own task.
pub(crate) async fn run<B: Backend>(server: Arc<Server<B>>, listener: tokio::net::TcpListener) {
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
