//! A peer connection's tasks: one reader and one writer per connection, reporting to the loop
//! as [`Input`]s on its bounded channel (back-pressure: a slow loop slows the readers).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use async_channel::{Receiver, Sender};
use bytes::Bytes;
use futures_lite::{AsyncWriteExt, FutureExt};
use sanstorrent_core::session::ConnId;

use crate::net::Input;
use crate::read_buffer::ReadBuffer;
use crate::runtime::Runtime;
use crate::write_batch::WriteBatch;

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

/// Starts the tasks of a connection: `Err(addr)` connects first (reporting `Connected`),
/// `Ok(stream)` is an accepted socket. A connect has no timeout of its own: the session's
/// (`SessionConfig::connect_timeout`) closes the dial, and dropping the handle ends it.
pub(crate) fn spawn_conn<R: Runtime>(
    conn: ConnId,
    target: Result<R::TcpStream, SocketAddr>,
    read_buffer: usize,
    inputs: Sender<Input<R>>,
) -> ConnHandle {
    let (writes, write_rx) = async_channel::unbounded();
    let (reads, read_rx) = async_channel::unbounded();
    let (alive, gone) = async_channel::bounded(1);
    R::spawn(async move {
        let stream = match target {
            Ok(stream) => stream,
            Err(addr) => {
                let attempt = async { Some(R::connect(addr).await) }.or(async {
                    let _ = gone.recv().await;
                    None
                });
                // `None`: the session gave up on the dial and the loop dropped its handle.
                let Some(result) = attempt.await else {
                    return;
                };
                let report = result.as_ref().map(|_| ()).map_err(io::Error::kind);
                let _ = inputs.send(Input::Connected(conn, report)).await;
                match result {
                    Ok(s) => s,
                    Err(_) => return,
                }
            }
        };
        let (read_half, write_half) = R::split(stream);
        R::spawn(writer::<R>(
            conn,
            write_half,
            write_rx,
            gone,
            inputs.clone(),
        ));
        reader::<R>(conn, read_half, read_buffer, read_rx, inputs).await;
    });
    ConnHandle {
        writes,
        reads,
        _alive: alive,
    }
}

async fn reader<R: Runtime>(
    conn: ConnId,
    mut stream: R::ReadHalf,
    size: usize,
    control: Receiver<Read>,
    inputs: Sender<Input<R>>,
) {
    let mut buf = ReadBuffer::new(size);
    let mut paused = false;
    loop {
        let event = if paused {
            control.recv().await.map(Err)
        } else {
            // Control first: a socket that is always readable must not starve a pause.
            let read = async { Ok(Ok(R::read_into(&mut stream, buf.space()).await)) };
            async { control.recv().await.map(Err) }.or(read).await
        };
        match event {
            // The loop dropped the connection: stop quietly.
            Err(_) => return,
            Ok(Err(Read::Pause)) => paused = true,
            Ok(Err(Read::Resume)) => paused = false,
            Ok(Ok(Ok(n))) if n > 0 => {
                if inputs.send(Input::Data(conn, buf.take())).await.is_err() {
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

async fn writer<R: Runtime>(
    conn: ConnId,
    mut stream: R::WriteHalf,
    writes: Receiver<Write>,
    gone: Receiver<()>,
    inputs: Sender<Input<R>>,
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
            R::sleep(LINGER).await;
            Err(io::ErrorKind::TimedOut.into())
        };
        let written = write_batch(conn, &mut stream, &mut batch, &inputs).or(abandoned);
        if written.await.is_err() {
            let _ = inputs.send(Input::Closed(conn)).await;
            return;
        }
        if close {
            let _ = stream.close().await;
            return;
        }
    }
    // The loop dropped the connection (the peer closed it or the client stopped).
    let _ = stream.close().await;
}

/// Writes `batch`, reporting each write's bytes to the loop (the session counts what waits).
async fn write_batch<R: Runtime>(
    conn: ConnId,
    stream: &mut R::WriteHalf,
    batch: &mut WriteBatch,
    inputs: &Sender<Input<R>>,
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

/// Tests of the connection tasks, run on each runtime by [`crate::runtime_tests`].
#[cfg(feature = "testing")]
pub(crate) mod tests {
    use super::*;

    /// A socket that always has bytes to read must still see a pause: after it, only what
    /// was already read (a channel's worth and the read in hand) arrives, then nothing until
    /// the resume.
    pub async fn a_pause_stops_the_reader_of_a_busy_socket<R: Runtime>() {
        let listener = R::bind_tcp("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = R::listener_addr(&listener).unwrap();
        let mut sender = R::connect(addr).await.unwrap();
        let (socket, _) = R::accept(&listener).await.unwrap();
        let (stop_flood, flood_stopped) = async_channel::bounded::<()>(1);
        R::spawn(async move {
            let chunk = vec![7u8; 64 * 1024];
            let flood = async { while sender.write_all(&chunk).await.is_ok() {} };
            flood.or(async { _ = flood_stopped.recv().await }).await;
        });
        let (control, control_rx) = async_channel::unbounded();
        let (inputs, input_rx) = async_channel::bounded(2);
        let (read_half, _write_half) = R::split(socket);
        R::spawn(reader::<R>(ConnId(1), read_half, 4096, control_rx, inputs));
        input_rx.recv().await.unwrap();
        control.send(Read::Pause).await.unwrap();
        let quiet = Duration::from_millis(300);
        let next = || async {
            input_rx
                .recv()
                .or(async {
                    R::sleep(quiet).await;
                    Err(async_channel::RecvError)
                })
                .await
        };
        let mut after_pause = 0;
        while next().await.is_ok() {
            after_pause += 1;
            assert!(after_pause <= 4, "the reader ignored the pause");
        }
        control.send(Read::Resume).await.unwrap();
        let resumed = input_rx.recv().await.unwrap();
        assert!(matches!(resumed, Input::Data(ConnId(1), _)));
        drop(stop_flood);
        // Dropping the control channel ends the reader.
        drop(control);
    }
}
