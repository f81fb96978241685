//! The loop's [`Input`]s and the socket tasks other than a connection's (see
//! [`conn`](crate::conn)): the TCP listener, tracker HTTP exchanges and DNS
//! lookups. Each reports to the loop on a bounded channel.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use async_channel::{Receiver, Sender};
use bytes::BytesMut;
use futures_lite::FutureExt;
use sanstorrent_core::session::{ConnId, RequestId};
use sanstorrent_core::tracker::{TrackerError, TrackerUrl, http::HttpResponse};

use crate::http::HttpClient;
use crate::runtime::Runtime;
use crate::udp::Datagrams;

/// Something a socket task tells the loop.
#[derive(Debug)]
pub(crate) enum Input<R: Runtime> {
    Accepted(R::TcpStream, SocketAddr),
    Connected(ConnId, Result<(), io::ErrorKind>),
    Data(ConnId, BytesMut),
    /// The socket accepted this many bytes of the connection's transmits.
    Sent(ConnId, usize),
    Closed(ConnId),
    /// Datagrams on the shared UDP socket.
    Datagrams(Datagrams),
    /// Datagrams on the local discovery socket.
    Local(Datagrams),
    Http(RequestId, Result<HttpResponse, TrackerError>),
    Resolved(RequestId, Result<Vec<SocketAddr>, io::ErrorKind>),
}

/// Runs `task` until `stop` closes; the receiver returned closes once `task` is dropped (and
/// so its socket closed).
pub(crate) fn spawn_until<R: Runtime>(
    task: impl Future<Output = ()> + Send + 'static,
    stop: Receiver<()>,
) -> Receiver<()> {
    let (ended, ended_rx) = async_channel::bounded(1);
    R::spawn(async move {
        task.or(async { _ = stop.recv().await }).await;
        drop(ended);
    });
    ended_rx
}

/// Accepts connections until the loop goes away.
pub(crate) async fn listen<R: Runtime>(listener: R::TcpListener, inputs: Sender<Input<R>>) {
    loop {
        match R::accept(&listener).await {
            Ok((stream, addr)) => {
                if inputs.send(Input::Accepted(stream, addr)).await.is_err() {
                    return;
                }
            }
            // Out of descriptors and the like: wait a little instead of spinning.
            Err(_) => R::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Carries one tracker HTTP(S) request.
pub(crate) fn spawn_http<R: Runtime>(
    client: HttpClient<R>,
    id: RequestId,
    url: TrackerUrl,
    request: Vec<u8>,
    inputs: Sender<Input<R>>,
) {
    R::spawn(async move {
        let result = client.fetch(&url, &request).await.map_err(Into::into);
        let _ = inputs.send(Input::Http(id, result)).await;
    });
}

/// Carries a web seed's range request on a kept-alive connection.
pub(crate) fn spawn_web_seed<R: Runtime>(
    client: HttpClient<R>,
    id: RequestId,
    url: TrackerUrl,
    request: Vec<u8>,
    max: usize,
    inputs: Sender<Input<R>>,
) {
    R::spawn(async move {
        let result = client
            .fetch_kept_alive(&url, &request, max)
            .await
            .map_err(Into::into);
        let _ = inputs.send(Input::Http(id, result)).await;
    });
}

/// Resolves a host name.
pub(crate) fn spawn_resolve<R: Runtime>(
    id: RequestId,
    host: String,
    port: u16,
    inputs: Sender<Input<R>>,
) {
    R::spawn(async move {
        let result = R::resolve(&host, port).await.map_err(|e| e.kind());
        let _ = inputs.send(Input::Resolved(id, result)).await;
    });
}
