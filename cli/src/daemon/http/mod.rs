//! The daemon's HTTP server, on hyper: routing, the Host check against DNS rebinding, basic
//! auth, and bounds (body size, header and body read timeouts, connection count). Written
//! once over hyper's I/O traits; `smol.rs` and `tokio.rs` only accept connections and spawn.
//!
//! Routes: `/transmission/rpc` (Transmission's RPC), `/api/v2/…` (qBittorrent's Web API,
//! which logs in with its own `SID` cookie instead of basic auth), `/stream/<info-hash>/<file>`
//! (a file while it downloads, with byte ranges: basic auth or a qBittorrent `SID`), `/`,
//! `/app.js`, `/app.css` (the web UI, `webui/`), anything else 404.

#[cfg(all(test, feature = "smol"))]
mod hostile_tests;
#[cfg(feature = "smol")]
pub(crate) mod smol;
#[cfg(all(test, feature = "smol"))]
mod stream_tests;
#[cfg(test)]
mod tests;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body, Bytes, Frame};
use hyper::header::{self, HeaderValue};
use hyper::rt::{Sleep, Timer};
use hyper::{Request, Response, StatusCode};

use super::backend::Backend;
use super::qbit::{self, Credentials, Qbit};
use super::rpc::{self, Rpc, SESSION_ID_HEADER};
use super::stream::{self, OpenError, StreamBody, range::Ranged};

/// The bounds every connection and request is held to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Largest RPC request body (a base64 .torrent in `torrent-add` is the big one).
    pub(crate) rpc_body: usize,
    /// Time allowed to send a request's headers (also closes idle keep-alive connections).
    pub(crate) header_timeout: Duration,
    /// Time allowed to send a request's body.
    pub(crate) body_timeout: Duration,
    /// Most connections served at once; more are closed on accept.
    pub(crate) max_connections: usize,
    /// Largest request head (start line and headers); larger ones get a 431.
    pub(crate) max_head: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            rpc_body: 16 << 20,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            max_connections: 64,
            max_head: 64 << 10,
        }
    }
}

/// Who may talk to the server.
#[derive(Clone, Debug)]
pub(crate) struct Access {
    /// `user:password` for basic auth (`None`: no auth, loopback only).
    pub(crate) credentials: Option<String>,
    /// The address the server listens on.
    pub(crate) bound: SocketAddr,
}

/// The server: the RPC endpoint, who may use it, and its bounds.
#[derive(Debug)]
pub(crate) struct Server<B> {
    rpc: Rpc<B>,
    qbit: Qbit<B>,
    access: Access,
    limits: Limits,
    timer: SharedTimer,
    connections: AtomicUsize,
}

/// A response body.
type Reply = Response<Full<Bytes>>;

/// What a request body's errors turn into.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<B: Backend> Server<B> {
    /// A server answering with `rpc`.
    pub(crate) fn new(rpc: Rpc<B>, access: Access, limits: Limits, timer: SharedTimer) -> Self {
        let qbit = Qbit::new(
            Arc::clone(rpc.backend()),
            access.credentials.as_deref().map(Credentials::parse),
            rpc.allowed().clone(),
        );
        Self {
            rpc,
            qbit,
            access,
            limits,
            timer,
            connections: AtomicUsize::new(0),
        }
    }

    /// A slot for one more connection, or `None` at the cap (then close it at once).
    pub(crate) fn admit(self: &Arc<Self>) -> Option<Slot<B>> {
        let prev = self.connections.fetch_add(1, Ordering::SeqCst);
        let slot = Slot(Arc::clone(self));
        if prev >= self.limits.max_connections {
            tracing::warn!("HTTP: {prev} connections open, closing a new one");
            drop(slot);
            return None;
        }
        Some(slot)
    }

    /// Serves one connection until the client closes it or a bound is crossed.
    pub(crate) async fn serve<I>(self: Arc<Self>, io: I, _slot: Slot<B>, remote: SocketAddr)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let server = Arc::clone(&self);
        let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(Remote(remote.ip()));
            let server = Arc::clone(&server);
            async move { Ok::<_, Infallible>(server.answer(req).await) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(self.timer.clone())
            .header_read_timeout(self.limits.header_timeout)
            .max_header_size(self.limits.max_head)
            .serve_connection(io, service);
        if let Err(e) = connection.await {
            tracing::debug!("HTTP connection ended: {e}");
        }
    }

    /// Answers one request, streams included (what connections are served).
    pub(crate) async fn answer<Bd>(&self, req: Request<Bd>) -> Response<StreamBody>
    where
        Bd: Body<Data = Bytes>,
        Bd::Error: Into<BoxError>,
    {
        if req.uri().path().starts_with(stream::PREFIX) {
            return self.stream(req).await;
        }
        self.respond(req).await
    }

    /// `GET`/`HEAD /stream/<info-hash>/<file index>`: the file's bytes, or the range asked
    /// for (see the `stream` module). Authenticated like the RPC (basic auth), or by a live
    /// qBittorrent `SID` cookie; the Host check applies as everywhere.
    async fn stream<Bd>(&self, req: Request<Bd>) -> Response<StreamBody> {
        if self.access.credentials.is_none() && !self.host_allowed(req.headers()) {
            return boxed(text(
                StatusCode::MISDIRECTED_REQUEST,
                "421: this daemon answers only requests addressed to localhost or its own \
                 address (a Host header check against DNS rebinding)",
            ));
        }
        let sid = sid_cookie(req.headers());
        let now = Instant::now();
        if !self.qbit.session_alive(sid, now)
            && let Some(refused) = self.basic_auth(&req, now)
        {
            return boxed(refused);
        }
        let head = req.method() == hyper::Method::HEAD;
        if !head && req.method() != hyper::Method::GET {
            let mut reply = text(StatusCode::METHOD_NOT_ALLOWED, "405: GET or HEAD only");
            reply
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return boxed(reply);
        }
        let Some((hash, index)) = stream::parse_path(req.uri().path()) else {
            return boxed(text(
                StatusCode::NOT_FOUND,
                "404: a stream is /stream/<info-hash: 40 hex digits>/<file index>",
            ));
        };
        let file = match self.rpc.backend().open_stream(hash, index, !head).await {
            Ok(file) => file,
            Err(e) => {
                let status = match e {
                    OpenError::NotFound(_) => StatusCode::NOT_FOUND,
                    OpenError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                    OpenError::Unsupported => StatusCode::NOT_IMPLEMENTED,
                };
                return boxed(text(status, &format!("{}: {e}", status.as_u16())));
            }
        };
        let range = req
            .headers()
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok());
        let len = file.length;
        let (status, span) = match stream::range::parse(range, len) {
            Ranged::Whole => (StatusCode::OK, len.checked_sub(1).map(|end| (0, end))),
            Ranged::Part { start, end } => (StatusCode::PARTIAL_CONTENT, Some((start, end))),
            Ranged::Unsatisfiable => {
                let mut reply = text(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    &format!("416: the file has {len} bytes"),
                );
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    reply.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                reply
                    .headers_mut()
                    .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
                return boxed(reply);
            }
        };
        let body = match span {
            Some((start, end)) if !head => stream::body(file.reader, start, end),
            _ => boxed(Response::new(Full::new(Bytes::new()))).into_body(),
        };
        let mut reply = Response::new(body);
        *reply.status_mut() = status;
        let headers = reply.headers_mut();
        let count = span.map_or(0, |(start, end)| end - start + 1);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
        if let (StatusCode::PARTIAL_CONTENT, Some((start, end))) = (status, span)
            && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}"))
        {
            headers.insert(header::CONTENT_RANGE, v);
        }
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(stream::mime::content_type(&file.name)),
        );
        // Torrent content is data: never sniffed into a page, never run with the daemon's
        // origin (a sandboxed document has no access to it), never kept by caches.
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; sandbox"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        reply
    }

    /// Answers one request that is not a stream.
    pub(crate) async fn respond<Bd>(&self, req: Request<Bd>) -> Response<StreamBody>
    where
        Bd: Body<Data = Bytes>,
        Bd::Error: Into<BoxError>,
    {
        if self.access.credentials.is_none() && !self.host_allowed(req.headers()) {
            return boxed(text(
                StatusCode::MISDIRECTED_REQUEST,
                "421: this daemon answers only requests addressed to localhost or its own \
                 address (a Host header check against DNS rebinding); use --http-auth to \
                 serve other names",
            ));
        }
        if req.uri().path().starts_with(QBIT_PREFIX) {
            return boxed(self.qbit(req).await);
        }
        if let Some(refused) = self.basic_auth(&req, Instant::now()) {
            return boxed(refused);
        }
        match req.uri().path() {
            "/transmission/rpc" | "/transmission/rpc/" => self.rpc(req).await,
            path => boxed(match super::webui::asset(path) {
                Some(asset) => ui_file(asset),
                None => text(StatusCode::NOT_FOUND, "404: Not Found"),
            }),
        }
    }

    /// An RPC call; a `torrent-get` answer is sent a page of torrents per chunk, as hyper
    /// takes them (a chunked body), the others whole.
    async fn rpc<Bd>(&self, req: Request<Bd>) -> Response<StreamBody>
    where
        Bd: Body<Data = Bytes>,
        Bd::Error: Into<BoxError>,
    {
        let session_id = req
            .headers()
            .get(SESSION_ID_HEADER)
            .map(|v| v.as_bytes().to_vec());
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.limits.rpc_body as u64) {
            return boxed(too_large(self.limits.rpc_body));
        }
        let body = match self.read_body(req.into_body()).await {
            Ok(body) => body,
            Err(reply) => return boxed(reply),
        };
        let answer = self.rpc.answer(session_id.as_deref(), &body).await;
        let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
        let content_type = if status == StatusCode::CONFLICT {
            "text/html; charset=UTF-8"
        } else {
            "application/json; charset=UTF-8"
        };
        let body = match answer.body {
            rpc::Body::Whole(bytes) => Full::new(Bytes::from(bytes))
                .map_err(|never| match never {})
                .boxed_unsync(),
            rpc::Body::Parts(parts) => {
                use futures_lite::StreamExt as _;
                let frames = parts.map(|chunk| Ok::<_, BoxError>(Frame::data(Bytes::from(chunk))));
                http_body_util::StreamBody::new(frames).boxed_unsync()
            }
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Ok(id) = HeaderValue::from_str(self.rpc.session_id()) {
            headers.insert(SESSION_ID_HEADER, id);
        }
        response
    }

    /// A qBittorrent API call: its form from the query and the (urlencoded or multipart)
    /// body, its cookie and CSRF headers.
    async fn qbit<Bd>(&self, req: Request<Bd>) -> Reply
    where
        Bd: Body<Data = Bytes>,
        Bd::Error: Into<BoxError>,
    {
        let (parts, body) = req.into_parts();
        let header =
            |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let declared = header(header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.limits.rpc_body as u64) {
            return too_large(self.limits.rpc_body);
        }
        let body = match self.read_body(body).await {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let mut form = qbit::Form::default();
        if let Some(query) = parts.uri.query() {
            form.add_urlencoded(query.as_bytes());
        }
        let content_type = header(header::CONTENT_TYPE).unwrap_or("");
        if content_type
            .to_ascii_lowercase()
            .starts_with("multipart/form-data")
        {
            let parsed = match multer::parse_boundary(content_type) {
                Ok(boundary) => form.add_multipart(body, boundary.as_str()).await,
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = parsed {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("400: bad multipart body: {e}"),
                );
            }
        } else if !body.is_empty() {
            form.add_urlencoded(&body);
        }
        let sid = sid_cookie(&parts.headers);
        let call = qbit::Request {
            method: parts.uri.path()[QBIT_PREFIX.len()..].trim_end_matches('/'),
            form,
            sid,
            host: header(header::HOST),
            origin: header(header::ORIGIN),
            referer: header(header::REFERER),
            peer: parts.extensions.get::<Remote>().map(|r| r.0),
        };
        let reply = self.qbit.handle(&call, Instant::now()).await;
        let mut response = Response::new(Full::new(Bytes::from(reply.body)));
        *response.status_mut() =
            StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(if reply.json {
                "application/json"
            } else {
                "text/plain; charset=UTF-8"
            }),
        );
        if let Some(cookie) = reply
            .set_cookie
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            headers.insert(header::SET_COOKIE, cookie);
        }
        response
    }

    /// The whole body, within the size and time bounds.
    async fn read_body<Bd>(&self, body: Bd) -> Result<Bytes, Reply>
    where
        Bd: Body<Data = Bytes>,
        Bd::Error: Into<BoxError>,
    {
        let limit = self.limits.rpc_body;
        let collect = async {
            match Limited::new(body, limit).collect().await {
                Ok(collected) => Ok(collected.to_bytes()),
                Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(limit)),
                Err(e) => Err(text(
                    StatusCode::BAD_REQUEST,
                    &format!("400: cannot read the request body: {e}"),
                )),
            }
        };
        let deadline = async {
            self.timer.0.sleep(self.limits.body_timeout).await;
            Err(text(
                StatusCode::REQUEST_TIMEOUT,
                "408: the request body came too slowly",
            ))
        };
        futures_lite::future::or(collect, deadline).await
    }

    /// Whether the Host header names this machine: `localhost`, a loopback address or the
    /// address we listen on. A missing header is allowed (browsers always send one).
    fn host_allowed(&self, headers: &hyper::HeaderMap) -> bool {
        let Some(host) = headers.get(header::HOST) else {
            return true;
        };
        let Ok(host) = host.to_str() else {
            return false;
        };
        let name = host_name(host);
        if name.eq_ignore_ascii_case("localhost") || name.eq_ignore_ascii_case("localhost.") {
            return true;
        }
        match name.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback() || ip == self.access.bound.ip(),
            Err(_) => false,
        }
    }

    /// The answer refusing a request that basic auth does not let in (`None`: let in). With
    /// `--http-auth`, an address banned after repeated failures (shared with the qBittorrent
    /// login's record) gets 403 whatever it sends; a request without credentials 401, as a
    /// browser's first one; wrong credentials 401 and a failure on the address's record.
    fn basic_auth<Bd>(&self, req: &Request<Bd>, now: Instant) -> Option<Reply> {
        self.access.credentials.as_ref()?;
        let ip = req.extensions().get::<Remote>().map(|r| r.0);
        if ip.is_some_and(|ip| self.qbit.banned(ip, now)) {
            return Some(text(
                StatusCode::FORBIDDEN,
                "403: this address is banned for an hour after too many failed authentication \
                 attempts",
            ));
        }
        let given = req.headers().contains_key(header::AUTHORIZATION);
        let ok = self.authorized(req.headers());
        if given && let Some(ip) = ip {
            self.qbit.basic_auth(ip, ok, now);
        }
        if ok {
            return None;
        }
        let mut reply = text(StatusCode::UNAUTHORIZED, "401: Unauthorized");
        reply.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"sanstorrent\""),
        );
        Some(reply)
    }

    /// Whether the request carries the right basic-auth credentials (or none are needed).
    fn authorized(&self, headers: &hyper::HeaderMap) -> bool {
        let Some(expected) = &self.access.credentials else {
            return true;
        };
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Some((scheme, encoded)) = given.trim().split_once(' ') else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        constant_time_eq(&decoded, expected.as_bytes())
    }
}

/// The value of the `SID` cookie (qBittorrent's session), if the request has one.
fn sid_cookie(headers: &hyper::HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("SID="))
}

/// A whole response as a body that may also be streamed.
fn boxed(reply: Reply) -> Response<StreamBody> {
    reply.map(|body| body.map_err(|never| match never {}).boxed_unsync())
}

/// Where the qBittorrent API lives.
const QBIT_PREFIX: &str = "/api/v2/";

/// The address a request came from (a request extension).
#[derive(Clone, Copy, Debug)]
struct Remote(IpAddr);

/// A connection slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot<B: Backend>(Arc<Server<B>>);

impl<B: Backend> Drop for Slot<B> {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The host part of a Host header (`[::1]:9091` → `::1`, `localhost:9091` → `localhost`).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    host.split(':').next().unwrap_or("")
}

/// Compares without stopping at the first difference (the length may leak; the content not).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn text(status: StatusCode, message: &str) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *reply.status_mut() = status;
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    reply
}

fn too_large(limit: usize) -> Reply {
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("413: the request body is larger than {limit} bytes"),
    )
}

/// A file of the web UI, with its security headers.
fn ui_file(asset: super::webui::Asset) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from_static(asset.body)));
    let headers = reply.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    for (name, value) in super::webui::SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    reply
}

/// hyper's timer, shared: the runtime's timer behind an `Arc`.
#[derive(Clone)]
pub(crate) struct SharedTimer(pub(crate) Arc<dyn Timer + Send + Sync>);

impl std::fmt::Debug for SharedTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedTimer")
    }
}

impl Timer for SharedTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.0.sleep(duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        self.0.sleep_until(deadline)
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        self.0.reset(sleep, new_deadline);
    }
}
