//! The HTTP server's accept loop on smol: hyper reads and writes through `smol-hyper`'s
//! `FuturesIo`, and times out through its `SmolTimer`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use smol_hyper::rt::{FuturesIo, SmolTimer};

use super::{Server, SharedTimer};
use crate::daemon::backend::Backend;

/// smol's timer for hyper.
pub(crate) fn timer() -> SharedTimer {
    SharedTimer(Arc::new(SmolTimer::new()))
}

/// Binds the HTTP listener.
pub(crate) async fn bind(addr: SocketAddr) -> io::Result<smol::net::TcpListener> {
    smol::net::TcpListener::bind(addr).await
}

/// Accepts connections forever, each served on its own task.
pub(crate) async fn run<B: Backend>(server: Arc<Server<B>>, listener: smol::net::TcpListener) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok((stream, remote)) => (stream, remote),
            Err(e) => {
                // Out of file descriptors, or a connection reset before accept: wait a bit
                // rather than spin.
                tracing::warn!("HTTP accept failed: {e}");
                smol::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = server.admit() else {
            continue;
        };
        let server = Arc::clone(&server);
        smol::spawn(server.serve(FuturesIo::new(stream), slot, remote)).detach();
    }
}
