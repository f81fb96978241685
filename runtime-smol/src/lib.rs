//! Runs sanstorrent on smol: [`SmolRuntime`] gives the shared driver of
//! `sanstorrent-runtime-common` smol's executor, async-io's timers and async-net's sockets.
//! Disk I/O and piece hashing run on the common worker pool.
//!
//! # Use
//! ```no_run
//! use sanstorrent_smol::{Client, ClientConfig, TorrentOptions};
//! sanstorrent_smol::block_on(async {
//!     let client = Client::new(ClientConfig::default()).await?;
//!     let t = client.add_torrent_file("a.torrent", "downloads", TorrentOptions::default()).await?;
//!     while let Some(event) = client.next_event().await {
//!         if event == (sanstorrent_smol::Event::TorrentComplete { torrent: t.id }) {
//!             break;
//!         }
//!     }
//!     client.stop().await
//! })?;
//! # Ok::<(), sanstorrent_smol::ClientError>(())
//! ```

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use async_io::{Async, Timer};
use smol::io::AsyncRead;
use smol::net::{TcpListener, TcpStream};

pub use sanstorrent_core as core;
pub use sanstorrent_runtime_common::api::*;

/// Runs a future to completion on the current thread (smol's executor runs the loop task).
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    SmolRuntime::block_on(future)
}

/// A client running on smol.
pub type Client = sanstorrent_runtime_common::Client<SmolRuntime>;

/// The reading half of a peer connection on smol: the stream's reactor registration itself,
/// so that [`Runtime::read_into`] can read into uninitialised memory.
#[derive(Debug)]
pub struct ReadHalf(Arc<Async<std::net::TcpStream>>);

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.0).poll_read(cx, buf)
    }
}

/// The smol runtime: its global executor, async-io's reactor and timers.
#[derive(Clone, Copy, Debug, Default)]
pub struct SmolRuntime;

impl Runtime for SmolRuntime {
    type TcpListener = TcpListener;
    // Each half shares the stream's one registration with the reactor.
    type TcpStream = TcpStream;
    type ReadHalf = ReadHalf;
    type WriteHalf = TcpStream;
    type UdpSocket = Async<std::net::UdpSocket>;
    type Timer = Timer;

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        smol::block_on(future)
    }

    fn spawn(future: impl Future<Output = ()> + Send + 'static) {
        smol::spawn(future).detach();
    }

    fn timer(at: Instant) -> Timer {
        Timer::at(at)
    }

    fn reset(timer: &mut Timer, at: Instant) {
        timer.set_at(at);
    }

    async fn wait(timer: &mut Timer) {
        timer.await;
    }

    async fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::bind(addr).await
    }

    fn adopt_tcp(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        TcpListener::try_from(listener)
    }

    fn listener_addr(listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
        listener.accept().await
    }

    async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect(addr).await
    }

    fn split(stream: TcpStream) -> (ReadHalf, TcpStream) {
        let _ = stream.set_nodelay(true);
        (ReadHalf(stream.clone().into()), stream)
    }

    #[cfg(target_os = "linux")]
    fn read_into(
        half: &mut ReadHalf,
        buf: &mut Vec<u8>,
    ) -> impl Future<Output = io::Result<usize>> + Send {
        half.0
            .read_with(|socket| sanstorrent_runtime_common::read_buffer::recv_into(socket, buf))
    }

    async fn bind_udp(addr: SocketAddr) -> io::Result<Self::UdpSocket> {
        Async::<std::net::UdpSocket>::bind(addr)
    }

    fn adopt_udp(socket: std::net::UdpSocket) -> io::Result<Self::UdpSocket> {
        Async::new(socket)
    }

    fn udp_addr(socket: &Self::UdpSocket) -> io::Result<SocketAddr> {
        socket.get_ref().local_addr()
    }

    async fn udp_readable(socket: &Self::UdpSocket) -> io::Result<()> {
        socket.readable().await
    }

    #[cfg(target_os = "linux")]
    fn enable_gro(socket: &Self::UdpSocket) -> bool {
        sanstorrent_runtime_common::gro::enable(socket.get_ref())
    }

    #[cfg(target_os = "linux")]
    fn try_recv_segments(
        socket: &Self::UdpSocket,
        buf: &mut sanstorrent_runtime_common::gro::RecvBuf,
    ) -> io::Result<sanstorrent_runtime_common::gro::Received> {
        sanstorrent_runtime_common::gro::recv_segments(socket.get_ref(), buf)
    }

    #[cfg(target_os = "linux")]
    fn try_recv_batch(
        socket: &Self::UdpSocket,
        batch: &mut sanstorrent_runtime_common::mmsg::RecvBatch,
    ) -> io::Result<usize> {
        sanstorrent_runtime_common::mmsg::recv_batch(socket.get_ref(), batch)
    }

    fn try_recv_from(socket: &Self::UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        socket.get_ref().recv_from(buf)
    }

    fn try_send_to(socket: &Self::UdpSocket, payload: &[u8], to: SocketAddr) -> io::Result<usize> {
        // The socket is non-blocking (async-io made it so): a full buffer refuses at once.
        socket.get_ref().send_to(payload, to)
    }

    fn try_send_segments(
        socket: &Self::UdpSocket,
        payload: &[u8],
        segment: u16,
        to: SocketAddr,
    ) -> io::Result<usize> {
        sanstorrent_runtime_common::gso::send_segments(socket.get_ref(), payload, segment, to)
    }

    async fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        smol::net::resolve((host, port)).await
    }
}

#[cfg(test)]
mod tests {
    sanstorrent_runtime_common::runtime_tests!(crate::SmolRuntime);
}
