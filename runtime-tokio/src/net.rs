//! Socket tasks: the TCP listener, one reader and one writer per peer connection, the UDP
//! receiver, tracker HTTP exchanges and DNS lookups. Each reports to the loop as an [`Input`]
//! on a bounded channel (back-pressure: a slow loop slows the readers).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_channel::{Receiver, Sender};
use bytes::{Bytes, BytesMut};
use sanstorrent_core::session::{ConnId, RequestId};
use sanstorrent_core::tracker::{TrackerError, TrackerUrl, http::HttpResponse};
use sanstorrent_runtime_common::{ReadBuffer, WriteBatch};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use crate::http_client::HttpClient;

/// Something a socket task tells the loop.
#[derive(Debug)]
pub(crate) enum Input {
    Accepted(TcpStream, SocketAddr),
    Connected(ConnId, Result<(), io::ErrorKind>),
    Data(ConnId, BytesMut),
    /// The socket accepted this many bytes of the connection's transmits.
    Sent(ConnId, usize),
    Closed(ConnId),
    Datagram(SocketAddr, Vec<u8>),
    Http(RequestId, Result<HttpResponse, TrackerError>),
    Resolved(RequestId, Result<Vec<SocketAddr>, String>),
}

/// What the loop tells a connection's writer.
#[derive(Debug)]
pub(crate) enum Write {
    Data(Bytes),
    /// Write what came before, then close the socket.
    Close,
}

/// What the loop tells a connection's reader.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Read {
    Pause,
    Resume,
}

/// The loop's side of a connection: dropping it ends both tasks (the writer first writes what
/// is queued, for at most [`LINGER`]).
#[derive(Debug)]
pub(crate) struct ConnHandle {
    pub(crate) writes: Sender<Write>,
    pub(crate) reads: Sender<Read>,
    /// Never sent on: its receiver sees the channel close when the loop drops the handle.
    _alive: Sender<()>,
}

/// The most bytes taken from the queue for one round of vectored writes.
const GATHER: usize = 256 * 1024;

/// How long a writer keeps writing once the loop let go of its connection (closed it): a peer
/// that does not read cannot hold the socket and the queued bytes forever.
const LINGER: Duration = Duration::from_secs(10);

/// Starts the tasks of a connection: `dial` connects first (reporting `Connected`), otherwise
/// `stream` is an accepted socket.
pub(crate) fn spawn_conn(
    conn: ConnId,
    target: Result<TcpStream, SocketAddr>,
    connect_timeout: Duration,
    read_buffer: usize,
    inputs: Sender<Input>,
) -> ConnHandle {
    let (writes, write_rx) = async_channel::unbounded();
    let (reads, read_rx) = async_channel::unbounded();
    let (alive, gone) = async_channel::bounded(1);
    tokio::spawn(async move {
        let stream = match target {
            Ok(stream) => stream,
            Err(addr) => {
                let attempt = tokio::time::timeout(connect_timeout, TcpStream::connect(addr));
                let result = attempt
                    .await
                    .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()));
                let report = result.as_ref().map(|_| ()).map_err(io::Error::kind);
                let _ = inputs.send(Input::Connected(conn, report)).await;
                match result {
                    Ok(s) => s,
                    Err(_) => return,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let (read_half, write_half) = stream.into_split();
        tokio::spawn(writer(conn, write_half, write_rx, gone, inputs.clone()));
        reader(conn, read_half, read_buffer, read_rx, inputs).await;
    });
    ConnHandle {
        writes,
        reads,
        _alive: alive,
    }
}

async fn reader(
    conn: ConnId,
    mut stream: OwnedReadHalf,
    size: usize,
    control: Receiver<Read>,
    inputs: Sender<Input>,
) {
    let mut buf = ReadBuffer::new(size);
    let mut paused = false;
    loop {
        let event = if paused {
            control.recv().await.map(Err)
        } else {
            // Control first: a socket that is always readable must not starve a pause.
            tokio::select! {
                biased;
                control = control.recv() => control.map(Err),
                read = stream.read(buf.space()) => Ok(Ok(read)),
            }
        };
        match event {
            // The loop dropped the connection: stop quietly.
            Err(_) => return,
            Ok(Err(Read::Pause)) => paused = true,
            Ok(Err(Read::Resume)) => paused = false,
            Ok(Ok(Ok(n))) if n > 0 => {
                if inputs.send(Input::Data(conn, buf.take(n))).await.is_err() {
                    return;
                }
            }
            Ok(Ok(_)) => {
                let _ = inputs.send(Input::Closed(conn)).await;
                return;
            }
        }
    }
}

async fn writer(
    conn: ConnId,
    mut stream: OwnedWriteHalf,
    writes: Receiver<Write>,
    gone: Receiver<()>,
    inputs: Sender<Input>,
) {
    let mut batch = WriteBatch::new();
    while let Ok(first) = writes.recv().await {
        let mut next = Some(first);
        let mut close = false;
        // Everything already queued, up to GATHER bytes, goes out in vectored writes.
        while let Some(w) = next.take() {
            match w {
                Write::Close => close = true,
                Write::Data(b) => batch.push(b),
            }
            if !close && batch.len() < GATHER {
                next = writes.try_recv().ok();
            }
        }
        let abandoned = async {
            let _ = gone.recv().await;
            tokio::time::sleep(LINGER).await;
        };
        let written = tokio::select! {
            r = write_batch(conn, &mut stream, &mut batch, &inputs) => r,
            () = abandoned => Err(io::ErrorKind::TimedOut.into()),
        };
        if written.is_err() {
            let _ = inputs.send(Input::Closed(conn)).await;
            return;
        }
        if close {
            let _ = stream.shutdown().await;
            return;
        }
    }
    // The loop dropped the connection (the peer closed it or the client stopped).
    let _ = stream.shutdown().await;
}

/// Writes `batch`, reporting each write's bytes to the loop (the session counts what waits).
async fn write_batch(
    conn: ConnId,
    stream: &mut OwnedWriteHalf,
    batch: &mut WriteBatch,
    inputs: &Sender<Input>,
) -> io::Result<()> {
    while !batch.is_empty() {
        let n = stream.write_vectored(&batch.io_slices()).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        batch.advance(n);
        if inputs.send(Input::Sent(conn, n)).await.is_err() {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
    }
    Ok(())
}

/// Accepts connections until the loop goes away.
pub(crate) async fn listen(listener: TcpListener, inputs: Sender<Input>) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                if inputs.send(Input::Accepted(stream, addr)).await.is_err() {
                    return;
                }
            }
            // Out of descriptors and the like: wait a little instead of spinning.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Receives datagrams until the loop goes away.
pub(crate) async fn receive_udp(socket: Arc<UdpSocket>, inputs: Sender<Input>) {
    let mut buf = vec![0; 65536];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => {
                if inputs
                    .send(Input::Datagram(from, buf[..n].to_vec()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            // ICMP errors surface as failed receives; they concern one datagram only.
            Err(_) => continue,
        }
    }
}

/// Sends a datagram without waiting: a full socket buffer drops it, as the network may.
pub(crate) fn send_udp(socket: &UdpSocket, to: SocketAddr, payload: &[u8]) {
    let _ = socket.try_send_to(payload, to);
}

/// Carries one tracker HTTP(S) request.
pub(crate) fn spawn_http(
    client: HttpClient,
    id: RequestId,
    url: TrackerUrl,
    request: Vec<u8>,
    inputs: Sender<Input>,
) {
    tokio::spawn(async move {
        let result = client.fetch(&url, &request).await.map_err(Into::into);
        let _ = inputs.send(Input::Http(id, result)).await;
    });
}

/// Resolves a host name.
pub(crate) fn spawn_resolve(id: RequestId, host: String, port: u16, inputs: Sender<Input>) {
    tokio::spawn(async move {
        let result = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map(Iterator::collect)
            .map_err(|e| format!("cannot resolve {host}: {e}"));
        let _ = inputs.send(Input::Resolved(id, result)).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that always has bytes to read must still see a pause: after it, only what
    /// was already read (a channel's worth and the read in hand) arrives, then nothing until
    /// the resume.
    #[test]
    fn a_pause_stops_the_reader_of_a_busy_socket() {
        crate::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut sender = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (socket, _) = listener.accept().await.unwrap();
            let flood = tokio::spawn(async move {
                let chunk = vec![7u8; 64 * 1024];
                while sender.write_all(&chunk).await.is_ok() {}
            });
            let (control, control_rx) = async_channel::unbounded();
            let (inputs, input_rx) = async_channel::bounded(2);
            let (read_half, _write_half) = socket.into_split();
            let _reader = tokio::spawn(reader(ConnId(1), read_half, 4096, control_rx, inputs));
            input_rx.recv().await.unwrap();
            control.send(Read::Pause).await.unwrap();
            let quiet = Duration::from_millis(300);
            let mut after_pause = 0;
            while let Ok(Ok(_)) = tokio::time::timeout(quiet, input_rx.recv()).await {
                after_pause += 1;
                assert!(after_pause <= 4, "the reader ignored the pause");
            }
            control.send(Read::Resume).await.unwrap();
            let resumed = input_rx.recv().await.unwrap();
            assert!(matches!(resumed, Input::Data(ConnId(1), _)));
            flood.abort();
        });
    }
}
