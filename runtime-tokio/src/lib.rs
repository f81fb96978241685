//! Runs sanstorrent on tokio: [`TokioRuntime`] gives the shared driver of
//! `sanstorrent-runtime-common` tokio's tasks, timers and sockets (behind [`Compat`], which
//! offers them through the `futures-io` traits the driver uses). Disk I/O and piece hashing run
//! on the common worker pool.
//!
//! # Use
//! ```no_run
//! use sanstorrent_tokio::{Client, ClientConfig, TorrentOptions};
//! sanstorrent_tokio::block_on(async {
//!     let client = Client::new(ClientConfig::default()).await?;
//!     let t = client.add_torrent_file("a.torrent", "downloads", TorrentOptions::default()).await?;
//!     while let Some(event) = client.next_event().await {
//!         if event == (sanstorrent_tokio::Event::TorrentComplete { torrent: t.id }) {
//!             break;
//!         }
//!     }
//!     client.stop().await
//! })?;
//! # Ok::<(), sanstorrent_tokio::ClientError>(())
//! ```

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::Sleep;

pub use sanstorrent_core as core;
pub use sanstorrent_runtime_common::api::*;

/// A client running on tokio (create it inside a tokio runtime, e.g. in [`block_on`]).
pub type Client = sanstorrent_runtime_common::Client<TokioRuntime>;

/// The tokio runtime: the current runtime's tasks, timers and sockets.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioRuntime;

impl Runtime for TokioRuntime {
    type TcpListener = TcpListener;
    type TcpStream = Compat<TcpStream>;
    type ReadHalf = Compat<OwnedReadHalf>;
    type WriteHalf = Compat<OwnedWriteHalf>;
    type UdpSocket = UdpSocket;
    // Boxed once per loop: `Sleep` must stay pinned to be reset.
    type Timer = Pin<Box<Sleep>>;

    /// Runs `future` on a new tokio runtime with one worker thread, which runs the loop task
    /// and the socket tasks; `future` runs on the calling thread (so it may block without
    /// stalling the client), and hashing and disk I/O run on the client's worker pool. One
    /// network thread is all the loop needs, and each extra worker thread costs a glibc arena
    /// of its own (measured: 15 MiB peak RSS with two workers, 11 MiB with one). Panics if the
    /// runtime cannot start (no threads or no I/O driver).
    fn block_on<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime starts (threads and an I/O driver)")
            .block_on(future)
    }

    fn spawn(future: impl Future<Output = ()> + Send + 'static) {
        tokio::spawn(future);
    }

    fn timer(at: Instant) -> Self::Timer {
        Box::pin(tokio::time::sleep_until(at.into()))
    }

    fn reset(timer: &mut Self::Timer, at: Instant) {
        timer.as_mut().reset(at.into());
    }

    fn wait(timer: &mut Self::Timer) -> impl Future<Output = ()> + Send {
        timer.as_mut()
    }

    fn bind_tcp(addr: SocketAddr) -> impl Future<Output = io::Result<TcpListener>> + Send {
        TcpListener::bind(addr)
    }

    fn adopt_tcp(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        TcpListener::from_std(listener)
    }

    fn listener_addr(listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &TcpListener) -> io::Result<(Self::TcpStream, SocketAddr)> {
        let (stream, addr) = listener.accept().await?;
        Ok((Compat(stream), addr))
    }

    async fn connect(addr: SocketAddr) -> io::Result<Self::TcpStream> {
        TcpStream::connect(addr).await.map(Compat)
    }

    fn split(Compat(stream): Self::TcpStream) -> (Self::ReadHalf, Self::WriteHalf) {
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        (Compat(read), Compat(write))
    }

    fn bind_udp(addr: SocketAddr) -> impl Future<Output = io::Result<UdpSocket>> + Send {
        UdpSocket::bind(addr)
    }

    fn adopt_udp(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        UdpSocket::from_std(socket)
    }

    fn udp_addr(socket: &UdpSocket) -> io::Result<SocketAddr> {
        socket.local_addr()
    }

    fn udp_readable(socket: &UdpSocket) -> impl Future<Output = io::Result<()>> + Send {
        socket.readable()
    }

    #[cfg(target_os = "linux")]
    fn enable_gro(socket: &UdpSocket) -> bool {
        sanstorrent_runtime_common::gro::enable(socket)
    }

    #[cfg(target_os = "linux")]
    fn try_recv_segments(
        socket: &UdpSocket,
        buf: &mut sanstorrent_runtime_common::gro::RecvBuf,
    ) -> io::Result<sanstorrent_runtime_common::gro::Received> {
        // Through try_io, so that a read finding nothing clears tokio's readiness.
        socket.try_io(tokio::io::Interest::READABLE, || {
            sanstorrent_runtime_common::gro::recv_segments(socket, buf)
        })
    }

    #[cfg(target_os = "linux")]
    fn try_recv_batch(
        socket: &UdpSocket,
        batch: &mut sanstorrent_runtime_common::mmsg::RecvBatch,
    ) -> io::Result<usize> {
        // Through try_io, so that a read finding nothing clears tokio's readiness.
        socket.try_io(tokio::io::Interest::READABLE, || {
            sanstorrent_runtime_common::mmsg::recv_batch(socket, batch)
        })
    }

    fn try_recv_from(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        socket.try_recv_from(buf)
    }

    fn try_send_to(socket: &UdpSocket, payload: &[u8], to: SocketAddr) -> io::Result<usize> {
        socket.try_send_to(payload, to)
    }

    fn try_send_segments(
        socket: &UdpSocket,
        payload: &[u8],
        segment: u16,
        to: SocketAddr,
    ) -> io::Result<usize> {
        // The socket is non-blocking; a full buffer refuses at once (the datagrams are
        // dropped, as `try_send_to` drops them).
        sanstorrent_runtime_common::gso::send_segments(socket, payload, segment, to)
    }

    async fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host, port)).await?.collect())
    }
}

/// A tokio socket (or half of one) offered through the `futures-io` traits; closing it shuts
/// down its writing side.
#[derive(Debug)]
pub struct Compat<T>(T);

impl<T: AsyncRead + Unpin> futures_lite::AsyncRead for Compat<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        ready!(Pin::new(&mut self.0).poll_read(cx, &mut buf))?;
        Poll::Ready(Ok(buf.filled().len()))
    }
}

impl<T: AsyncWrite + Unpin> futures_lite::AsyncWrite for Compat<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Runs a future to completion with a tokio runtime running (see [`TokioRuntime::block_on`]).
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    TokioRuntime::block_on(future)
}

#[cfg(test)]
mod tests {
    sanstorrent_runtime_common::runtime_tests!(crate::TokioRuntime);
}
