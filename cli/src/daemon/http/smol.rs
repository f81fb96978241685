//! The HTTP server's accept loop on smol: hyper reads and writes through `smol-hyper`'s
//! `FuturesIo`, and times out through its `SmolTimer`. It runs on an executor and a thread
//! of its own ([`start`]): the session's loop runs on smol's global executor (one thread
//! unless `SMOL_THREADS` says otherwise), and an answer that needs nothing of the session
//! (the session id, `session-get`, the web UI's files, a refused login) must not wait for it.

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

/// Serves `listener` on a thread of its own (`sanstorrent-http`) with its own executor,
/// until the process ends.
pub(crate) fn start<B: Backend>(
    server: Arc<Server<B>>,
    listener: smol::net::TcpListener,
) -> io::Result<()> {
    let executor = Arc::new(smol::Executor::new());
    std::thread::Builder::new()
        .name("sanstorrent-http".into())
        .spawn(move || {
            let accept = run(server, listener, Arc::clone(&executor));
            smol::block_on(executor.run(accept));
        })?;
    Ok(())
}

/// Accepts connections forever, each served on its own task of `executor`.
async fn run<B: Backend>(
    server: Arc<Server<B>>,
    listener: smol::net::TcpListener,
    executor: Arc<smol::Executor<'static>>,
) {
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
        executor
            .spawn(server.serve(FuturesIo::new(stream), slot, remote))
            .detach();
    }
}
