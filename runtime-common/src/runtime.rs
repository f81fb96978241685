//! [`Runtime`]: what the driver needs from an async runtime (spawning tasks, timers, TCP and UDP
//! sockets, DNS). `sanstorrent-smol` and `sanstorrent-tokio` implement it; everything else (the
//! loop task, the socket tasks, the tracker HTTP client and the [`Client`](crate::Client)) is
//! written once, generic over it.
//!
//! Byte streams use the `futures-io` traits ([`AsyncRead`], [`AsyncWrite`]), so TLS for HTTPS
//! trackers (futures-rustls) works the same over either runtime's sockets.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncWrite};

/// An async runtime the client can run on: a zero-sized type naming the runtime's sockets,
/// timer and executor. All methods are associated functions, called as `R::spawn(..)`.
pub trait Runtime: Clone + fmt::Debug + Send + Sync + 'static {
    /// A bound TCP listener.
    type TcpListener: fmt::Debug + Send + Sync + 'static;
    /// A connected TCP stream (a peer connection before [`Runtime::split`], or a tracker
    /// exchange).
    type TcpStream: AsyncRead + AsyncWrite + fmt::Debug + Send + Unpin + 'static;
    /// The reading half of a peer connection.
    type ReadHalf: AsyncRead + Send + Unpin + 'static;
    /// The writing half of a peer connection (it writes vectored; closing it shuts the
    /// stream down for writing).
    type WriteHalf: AsyncWrite + Send + Unpin + 'static;
    /// A bound UDP socket.
    type UdpSocket: fmt::Debug + Send + Sync + 'static;
    /// A timer that can be moved to another deadline.
    type Timer: Send + Unpin + 'static;

    /// Runs `future` to completion on the calling thread, with the runtime running (so the
    /// client's tasks make progress while it waits).
    fn block_on<T>(future: impl Future<Output = T>) -> T;

    /// Runs `future` as a task of its own, detached (it ends by itself).
    fn spawn(future: impl Future<Output = ()> + Send + 'static);

    /// A timer that fires at `at`.
    fn timer(at: Instant) -> Self::Timer;

    /// Moves `timer` to `at` (a fired timer fires again then).
    fn reset(timer: &mut Self::Timer, at: Instant);

    /// Waits until `timer` fires.
    fn wait(timer: &mut Self::Timer) -> impl Future<Output = ()> + Send;

    /// Binds a TCP listener.
    fn bind_tcp(addr: SocketAddr) -> impl Future<Output = io::Result<Self::TcpListener>> + Send;

    /// Takes over a bound, listening, non-blocking std listener (one with options the
    /// runtime's own `bind_tcp` cannot set, such as a dual-stack one).
    fn adopt_tcp(listener: std::net::TcpListener) -> io::Result<Self::TcpListener>;

    /// The address a listener is bound to.
    fn listener_addr(listener: &Self::TcpListener) -> io::Result<SocketAddr>;

    /// Accepts the next connection.
    fn accept(
        listener: &Self::TcpListener,
    ) -> impl Future<Output = io::Result<(Self::TcpStream, SocketAddr)>> + Send;

    /// Connects to `addr` (without a timeout of its own).
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::TcpStream>> + Send;

    /// Turns a peer connection's stream into the halves its reader and writer tasks own, with
    /// Nagle's delay off (the session batches its own writes).
    fn split(stream: Self::TcpStream) -> (Self::ReadHalf, Self::WriteHalf);

    /// Reads what the peer sent into the spare capacity of `buf` (which must have some),
    /// appending to it: how many bytes, 0 at the end of the stream. Waits only when nothing
    /// is queued; cancel-safe (dropped before it returns, it read nothing, though the default
    /// may leave zeroes past `buf`'s old length). The spare capacity need not be zeroed
    /// first where the runtime can read into it as it is (smol on Linux, see
    /// [`crate::read_buffer`]); the default zeroes it and reads through [`AsyncRead`].
    fn read_into(
        half: &mut Self::ReadHalf,
        buf: &mut Vec<u8>,
    ) -> impl Future<Output = io::Result<usize>> + Send {
        async move {
            let start = buf.len();
            buf.resize(buf.capacity(), 0);
            let read = futures_lite::AsyncReadExt::read(half, &mut buf[start..]).await;
            buf.truncate(start + read.as_ref().map_or(0, |n| *n));
            read
        }
    }

    /// Binds a UDP socket.
    fn bind_udp(addr: SocketAddr) -> impl Future<Output = io::Result<Self::UdpSocket>> + Send;

    /// Takes over a bound, non-blocking std socket (one with options the runtime's own
    /// `bind_udp` cannot set, such as the local discovery or a dual-stack socket).
    fn adopt_udp(socket: std::net::UdpSocket) -> io::Result<Self::UdpSocket>;

    /// The address a UDP socket is bound to.
    fn udp_addr(socket: &Self::UdpSocket) -> io::Result<SocketAddr>;

    /// Waits until `socket` has something to read.
    fn udp_readable(socket: &Self::UdpSocket) -> impl Future<Output = io::Result<()>> + Send;

    /// Receives one datagram into `buf` if one is queued, without waiting
    /// ([`io::ErrorKind::WouldBlock`] otherwise).
    fn try_recv_from(socket: &Self::UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)>;

    /// Asks the kernel to coalesce the datagrams queued on `socket` ([`crate::gro`]), where
    /// the platform can and [`Runtime::try_recv_segments`] reads them apart; whether it will.
    /// The default: no.
    fn enable_gro(socket: &Self::UdpSocket) -> bool {
        let _ = socket;
        false
    }

    /// Reads what is queued on `socket` into `buf` without waiting: one datagram, or several
    /// the kernel coalesced once [`Runtime::enable_gro`] said yes
    /// ([`io::ErrorKind::WouldBlock`] when nothing is). The default reads one datagram.
    fn try_recv_segments(
        socket: &Self::UdpSocket,
        buf: &mut crate::gro::RecvBuf,
    ) -> io::Result<crate::gro::Received> {
        let (len, from) = Self::try_recv_from(socket, &mut buf.data)?;
        Ok(crate::gro::Received {
            len,
            from,
            segment: None,
        })
    }

    /// Reads the datagrams queued on `socket` into `batch` without waiting, several in one
    /// call where the platform can ([`crate::mmsg::recv_batch`]): how many
    /// ([`io::ErrorKind::WouldBlock`] when none is). For a socket whose GRO
    /// [`Runtime::enable_gro`] could not turn on. The default reads one datagram.
    fn try_recv_batch(
        socket: &Self::UdpSocket,
        batch: &mut crate::mmsg::RecvBatch,
    ) -> io::Result<usize> {
        let (len, from) = Self::try_recv_from(socket, batch.first_slot())?;
        batch.record(from, len);
        Ok(1)
    }

    /// Sends one datagram without waiting (a full socket buffer refuses it).
    fn try_send_to(socket: &Self::UdpSocket, payload: &[u8], to: SocketAddr) -> io::Result<usize>;

    /// Sends `payload` as datagrams of `segment` bytes each (the last may be shorter) in one
    /// call without waiting, where the platform can ([`crate::gso::send_segments`]); any
    /// error but [`io::ErrorKind::WouldBlock`] means: send them one by one instead.
    fn try_send_segments(
        socket: &Self::UdpSocket,
        payload: &[u8],
        segment: u16,
        to: SocketAddr,
    ) -> io::Result<usize>;

    /// Resolves a host name.
    fn resolve(host: &str, port: u16) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;

    /// Waits for `duration`.
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        let mut timer = Self::timer(Instant::now() + duration);
        async move { Self::wait(&mut timer).await }
    }
}
