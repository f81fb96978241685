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

/// A running tracker HTTP(S) request: dropping it drops the request (its connection closes)
/// and nothing is reported for it.
pub(crate) type HttpTask = Sender<()>;

/// Carries one tracker HTTP(S) request, until it ends or its [`HttpTask`] is dropped.
pub(crate) fn spawn_http<R: Runtime>(
    client: HttpClient<R>,
    id: RequestId,
    url: TrackerUrl,
    request: Vec<u8>,
    inputs: Sender<Input<R>>,
) -> HttpTask {
    let (task, cancelled) = async_channel::bounded(1);
    R::spawn(async move {
        let fetch = async { Some(client.fetch(&url, &request).await.map_err(Into::into)) };
        let dropped = async {
            let _ = cancelled.recv().await;
            None
        };
        if let Some(result) = fetch.or(dropped).await {
            let _ = inputs.send(Input::Http(id, result)).await;
        }
    });
    task
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

/// Tests of the tracker request tasks, run on each runtime by [`crate::runtime_tests`].
#[cfg(feature = "testing")]
pub(crate) mod runtime_tests {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::http::HttpClientConfig;

    const REQUEST: &[u8] = b"GET /announce HTTP/1.1\r\nHost: tracker\r\n\r\n";

    /// A tracker that accepts and never answers: once the request has arrived, dropping its
    /// [`HttpTask`] closes the connection from our side (long before the request timeout),
    /// and the task ends without reporting anything. A request not cancelled is reported.
    pub async fn a_cancelled_http_request_is_closed_and_not_reported<R: Runtime>() {
        let client = HttpClient::<R>::new(HttpClientConfig {
            request_timeout: Duration::from_secs(60),
            ..HttpClientConfig::default()
        })
        .unwrap();
        let listener = R::bind_tcp("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let port = R::listener_addr(&listener).unwrap().port();
        let url = TrackerUrl::parse(&format!("http://127.0.0.1:{port}/announce")).unwrap();

        let (inputs, reports) = async_channel::bounded::<Input<R>>(1);
        let task = spawn_http(
            client.clone(),
            RequestId(7),
            url.clone(),
            REQUEST.to_vec(),
            inputs,
        );
        let (mut tracker, _) = R::accept(&listener).await.unwrap();
        let mut request = vec![0; REQUEST.len()];
        tracker.read_exact(&mut request).await.unwrap();
        assert_eq!(request, REQUEST);
        drop(task);
        let mut rest = Vec::new();
        let read = tracker.read_to_end(&mut rest).await;
        assert!(
            matches!(read, Ok(0)),
            "the connection closed by us: {read:?}"
        );
        // Our sender was moved into the task: the channel closes when the task has ended.
        let report = reports.recv().await;
        assert!(report.is_err(), "a cancelled request reported {report:?}");

        let (inputs, reports) = async_channel::bounded::<Input<R>>(1);
        let task = spawn_http(client, RequestId(8), url, REQUEST.to_vec(), inputs);
        let (mut tracker, _) = R::accept(&listener).await.unwrap();
        tracker.read_exact(&mut request).await.unwrap();
        let body = b"d8:intervali60ee";
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        tracker
            .write_all(&[head.as_bytes(), body].concat())
            .await
            .unwrap();
        let report = reports.recv().await;
        assert!(
            matches!(&report, Ok(Input::Http(RequestId(8), Ok(r))) if r.body() == body),
            "{report:?}"
        );
        drop(task);
    }
}
