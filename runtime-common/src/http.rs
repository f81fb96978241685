//! Carries tracker HTTP requests: core builds the request bytes and parses the response; the
//! [`HttpClient`] only resolves the host, connects TCP (TLS for `https`, rustls with the ring
//! provider, Mozilla roots plus configured ones), writes the bytes and reads until core's
//! [`ResponseReader`] has a whole response, within a timeout.

use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use futures_rustls::TlsConnector;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use sanstorrent_core::tracker::http::DEFAULT_MAX_RESPONSE;
use sanstorrent_core::tracker::{
    HttpError, HttpResponse, ResponseReader, Scheme, TlsError, TrackerError, TrackerUrl,
    TransportError,
};

use crate::keepalive::IdleConnections;
use crate::runtime::Runtime;

/// A connection an HTTP exchange runs over: TCP, or TLS over TCP.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// An HTTP(S) client for tracker requests on runtime `R`; cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpClient<R: Runtime> {
    config: Arc<HttpClientConfig>,
    /// Built at the first `https` exchange, so that a client of `http` trackers and web seeds
    /// never runs rustls, ring or webpki, nor reads the Mozilla roots (their pages stay out of
    /// the process's memory).
    tls: Arc<OnceLock<Arc<ClientConfig>>>,
    idle: IdleConnections,
    runtime: PhantomData<R>,
}

impl<R: Runtime> HttpClient<R> {
    /// A client with `config`'s trust roots and limits. Extra roots are checked here (a bad one
    /// fails now, not at the first `https` request); the TLS configuration is otherwise built
    /// when first needed.
    pub fn new(config: HttpClientConfig) -> Result<Self, HttpClientError> {
        let tls = OnceLock::new();
        if !config.extra_roots.is_empty() {
            let _ = tls.set(tls_client_config(&config)?);
        }
        Ok(Self {
            config: Arc::new(config),
            tls: Arc::new(tls),
            idle: IdleConnections::default(),
            runtime: PhantomData,
        })
    }

    /// Sends `request` (bytes from core, e.g. `announce_request`) to `url`'s host and returns
    /// the response read through core's [`ResponseReader`].
    pub async fn fetch(
        &self,
        url: &TrackerUrl,
        request: &[u8],
    ) -> Result<HttpResponse, HttpClientError> {
        self.fetch_capped(url, request, self.config.max_response)
            .await
    }

    /// [`HttpClient::fetch`] with a response cap of `max` bytes instead of the configured one.
    pub(crate) async fn fetch_capped(
        &self,
        url: &TrackerUrl,
        request: &[u8],
        max: usize,
    ) -> Result<HttpResponse, HttpClientError> {
        self.timed(async { carry(self.open(url).await?, request, max).await })
            .await
    }

    /// `exchange` (connecting, writing a request, reading its response), bounded by the
    /// request timeout.
    pub(crate) async fn timed<T>(
        &self,
        exchange: impl Future<Output = Result<T, HttpClientError>>,
    ) -> Result<T, HttpClientError> {
        let timeout = self.config.request_timeout;
        exchange
            .or(async {
                R::sleep(timeout).await;
                Err(HttpClientError::Timeout)
            })
            .await
    }

    /// A new connection to `url`'s host (TLS for `https`).
    pub(crate) async fn open(&self, url: &TrackerUrl) -> Result<Box<dyn Stream>, HttpClientError> {
        let tls = match url.scheme() {
            Scheme::Http => false,
            Scheme::Https => true,
            _ => return Err(HttpClientError::NotHttp(url.to_string())),
        };
        let addrs: Vec<SocketAddr> = match url.socket_addr() {
            Some(addr) => vec![addr],
            None => R::resolve(&url.host_str(), url.port())
                .await
                .map_err(HttpClientError::Resolve)?,
        };
        let tcp = self.connect(&addrs).await?;
        if !tls {
            return Ok(Box::new(tcp));
        }
        let name = ServerName::try_from(url.host_str())
            .map_err(|e| HttpClientError::Tls(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        let stream = TlsConnector::from(self.tls()?)
            .connect(name, tcp)
            .await
            .map_err(HttpClientError::Tls)?;
        Ok(Box::new(stream))
    }

    /// The TLS client configuration, built on the first call.
    pub(crate) fn tls(&self) -> Result<Arc<ClientConfig>, HttpClientError> {
        if let Some(tls) = self.tls.get() {
            return Ok(Arc::clone(tls));
        }
        let built = tls_client_config(&self.config)?;
        Ok(Arc::clone(self.tls.get_or_init(|| built)))
    }

    /// Idle kept-alive connections (web seeds).
    pub(crate) fn idle(&self) -> &IdleConnections {
        &self.idle
    }

    pub(crate) async fn connect(
        &self,
        addrs: &[SocketAddr],
    ) -> Result<R::TcpStream, HttpClientError> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "host resolved to no address");
        for addr in addrs {
            let timeout = self.config.connect_timeout;
            let attempt = R::connect(*addr).or(async {
                R::sleep(timeout).await;
                Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))
            });
            match attempt.await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = e,
            }
        }
        Err(HttpClientError::Connect(last))
    }
}

/// Writes the request and reads until the response is complete, the stream ends or the cap.
async fn carry<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
    max: usize,
) -> Result<HttpResponse, HttpClientError> {
    stream
        .write_all(request)
        .await
        .map_err(HttpClientError::Io)?;
    stream.flush().await.map_err(HttpClientError::Io)?;
    let mut reader = ResponseReader::new(max);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(n) => n,
            // A TLS peer that closes without close_notify: core's reader still checks framing.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(HttpClientError::Io(e)),
        };
        if n == 0 {
            return reader.eof().map_err(HttpClientError::Http);
        }
        if let Some(response) = reader.push(&buf[..n]).map_err(HttpClientError::Http)? {
            return Ok(response);
        }
    }
}

/// Settings of an HTTP client.
#[derive(Clone, Debug)]
pub struct HttpClientConfig {
    /// The longest wait for a TCP connection (per resolved address).
    pub connect_timeout: Duration,
    /// The longest a whole exchange (resolve, connect, TLS, write, read) may take.
    pub request_timeout: Duration,
    /// The cap on a response, head and body.
    pub max_response: usize,
    /// Trust the bundled Mozilla roots (`webpki-roots`).
    pub webpki_roots: bool,
    /// Extra trusted root certificates (DER), e.g. a test server's self-signed certificate.
    pub extra_roots: Vec<Vec<u8>>,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(30),
            max_response: DEFAULT_MAX_RESPONSE,
            webpki_roots: true,
            extra_roots: Vec::new(),
        }
    }
}

/// Why an HTTP exchange failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum HttpClientError {
    /// The URL is not http or https.
    NotHttp(String),
    /// A configured root certificate is not a valid certificate.
    BadRoot(rustls::Error),
    /// The TLS configuration could not be built.
    TlsConfig(rustls::Error),
    /// The host name did not resolve (or resolved to nothing).
    Resolve(io::Error),
    /// No resolved address accepted a connection.
    Connect(io::Error),
    /// The TLS handshake failed (untrusted certificate, wrong name, …).
    Tls(io::Error),
    /// Writing or reading failed.
    Io(io::Error),
    /// The exchange took longer than the request timeout.
    Timeout,
    /// The response was not acceptable HTTP (core's reader said why).
    Http(HttpError),
}

/// The TLS client configuration for `config`'s trust roots, with the ring crypto provider.
pub fn tls_client_config(config: &HttpClientConfig) -> Result<Arc<ClientConfig>, HttpClientError> {
    let mut roots = RootCertStore::empty();
    if config.webpki_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for der in &config.extra_roots {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(HttpClientError::BadRoot)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(HttpClientError::TlsConfig)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(tls))
}

impl fmt::Display for HttpClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotHttp(u) => write!(f, "{u} is not an http(s) URL"),
            Self::BadRoot(e) => write!(f, "bad trusted root certificate: {e}"),
            Self::TlsConfig(e) => write!(f, "cannot configure TLS: {e}"),
            Self::Resolve(e) => write!(f, "cannot resolve tracker host: {e}"),
            Self::Connect(e) => write!(f, "cannot connect to tracker: {e}"),
            Self::Tls(e) => write!(f, "TLS handshake with tracker failed: {e}"),
            Self::Io(e) => write!(f, "tracker connection failed: {e}"),
            Self::Timeout => write!(f, "tracker request timed out"),
            Self::Http(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for HttpClientError {}

impl From<HttpClientError> for TrackerError {
    fn from(e: HttpClientError) -> Self {
        match e {
            HttpClientError::Http(e) => Self::Http(e),
            HttpClientError::Timeout => Self::Timeout,
            HttpClientError::Resolve(e) => Self::Resolve(e.kind()),
            HttpClientError::NotHttp(_) => Self::Transport(TransportError::UnsupportedScheme),
            HttpClientError::BadRoot(_) | HttpClientError::TlsConfig(_) => {
                Self::Transport(TransportError::Tls(TlsError::Config))
            }
            HttpClientError::Connect(e) => Self::Transport(TransportError::Connect(e.kind())),
            HttpClientError::Tls(e) => Self::Transport(TransportError::Tls(tls_error(&e))),
            HttpClientError::Io(e) => Self::Transport(TransportError::Io(e.kind())),
        }
    }
}

/// What a failed TLS handshake says, from the rustls error inside the I/O error.
fn tls_error(e: &io::Error) -> TlsError {
    use rustls::CertificateError as C;
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            C::UnknownIssuer | C::BadSignature => TlsError::UntrustedCertificate,
            C::NotValidForName | C::NotValidForNameContext { .. } => TlsError::WrongName,
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => TlsError::Expired,
            _ => TlsError::BadCertificate,
        },
        Some(_) => TlsError::Handshake,
        // The host is not a valid TLS server name.
        None if e.kind() == io::ErrorKind::InvalidInput => TlsError::WrongName,
        None => TlsError::Handshake,
    }
}

/// Tests of the HTTP client, run on each runtime by [`crate::runtime_tests`].
#[cfg(feature = "testing")]
pub(crate) mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use futures_rustls::TlsAcceptor;
    use rustls::ServerConfig;
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use sanstorrent_core::tracker::http::{announce_outcome, announce_request};
    use sanstorrent_core::tracker::{AnnounceEvent, AnnounceRequest, HttpOutcome};
    use sanstorrent_core::{InfoHash, PeerId};

    use super::*;

    const BODY: &[u8] = b"d8:intervali900e5:peers6:\x7f\x00\x00\x01\x1a\xe1e";

    /// A started announce for tests.
    pub(crate) fn request() -> AnnounceRequest {
        AnnounceRequest {
            info_hash: InfoHash([7; 20]),
            peer_id: PeerId([8; 20]),
            port: 6881,
            uploaded: 0,
            downloaded: 0,
            left: 1,
            event: AnnounceEvent::Started,
            numwant: None,
            key: 1,
            ip: None,
            tracker_id: None,
        }
    }

    /// A one-shot server: reads a request head, answers `reply` (over TLS if `tls` is given).
    async fn serve<R: Runtime>(listener: R::TcpListener, tls: Option<TlsAcceptor>, reply: Vec<u8>) {
        let (tcp, _) = R::accept(&listener).await.unwrap();
        async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, reply: &[u8]) {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    return;
                }
                head.extend_from_slice(&buf[..n]);
            }
            assert!(head.starts_with(b"GET /announce?info_hash=%07%07"));
            let _ = s.write_all(reply).await;
            let _ = s.flush().await;
            let _ = s.close().await;
        }
        match tls {
            Some(acceptor) => {
                if let Ok(s) = acceptor.accept(tcp).await {
                    answer(s, &reply).await;
                }
            }
            None => answer(tcp, &reply).await,
        }
    }

    fn ok_reply() -> Vec<u8> {
        [
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", BODY.len()).into_bytes(),
            BODY.to_vec(),
        ]
        .concat()
    }

    /// A self-signed certificate for 127.0.0.1 and the acceptor that serves it.
    fn tls_server() -> (Vec<u8>, TlsAcceptor) {
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let cert = ck.cert.der().to_vec();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(cert.clone())], key)
            .unwrap();
        (cert, TlsAcceptor::from(Arc::new(config)))
    }

    async fn fetch_from<R: Runtime>(
        client: &HttpClient<R>,
        scheme: &str,
        tls: Option<TlsAcceptor>,
        reply: Vec<u8>,
    ) -> (TrackerUrl, Result<HttpResponse, HttpClientError>) {
        let listener = R::bind_tcp("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let port = R::listener_addr(&listener).unwrap().port();
        R::spawn(serve::<R>(listener, tls, reply));
        let url = TrackerUrl::parse(&format!("{scheme}://127.0.0.1:{port}/announce")).unwrap();
        let result = client
            .fetch(&url, &announce_request(&url, &request()))
            .await;
        (url, result)
    }

    /// HTTPS against a self-signed server: trusted through `extra_roots`, refused without.
    /// An extra root that is no certificate fails when the client is made.
    pub async fn https_with_a_root_trusted_by_configuration<R: Runtime>() {
        let bad = HttpClient::<R>::new(HttpClientConfig {
            extra_roots: vec![b"not a certificate".to_vec()],
            ..HttpClientConfig::default()
        });
        assert!(matches!(bad, Err(HttpClientError::BadRoot(_))), "{bad:?}");
        let (cert, acceptor) = tls_server();
        let client = HttpClient::<R>::new(HttpClientConfig {
            webpki_roots: false,
            extra_roots: vec![cert],
            ..HttpClientConfig::default()
        })
        .unwrap();
        let (url, result) = fetch_from(&client, "https", Some(acceptor), ok_reply()).await;
        let response = result.unwrap();
        let Ok(HttpOutcome::Done(announce)) = announce_outcome(&url, &response) else {
            panic!("bad announce: {response:?}")
        };
        assert_eq!(announce.peers, vec!["127.0.0.1:6881".parse().unwrap()]);

        // The same server is refused without the configured root. Without extra roots the
        // TLS configuration waits for the first `https` exchange.
        let (_, acceptor) = tls_server();
        let strict = HttpClient::<R>::new(HttpClientConfig::default()).unwrap();
        assert!(
            strict.tls.get().is_none(),
            "TLS configured before any https"
        );
        let (_, result) = fetch_from(&strict, "https", Some(acceptor), ok_reply()).await;
        assert!(
            strict.tls.get().is_some(),
            "TLS not configured by an https exchange"
        );
        let Err(HttpClientError::Tls(e)) = result else {
            panic!("untrusted certificate accepted: {result:?}")
        };
        assert!(e.to_string().contains("UnknownIssuer"), "{e}");
        assert_eq!(
            TrackerError::from(HttpClientError::Tls(e)),
            TrackerError::Transport(TransportError::Tls(TlsError::UntrustedCertificate))
        );
    }

    /// Plain HTTP: a good answer, the size cap, a truncated body, a silent server (timeout),
    /// and a URL that is not HTTP.
    pub async fn plain_http_cap_timeout_and_errors<R: Runtime>() {
        let client = HttpClient::<R>::new(HttpClientConfig {
            max_response: 4096,
            request_timeout: Duration::from_millis(500),
            ..HttpClientConfig::default()
        })
        .unwrap();
        let (_, result) = fetch_from(&client, "http", None, ok_reply()).await;
        assert_eq!(result.unwrap().body(), BODY);
        assert!(client.tls.get().is_none(), "plain HTTP configured TLS");

        let huge = [b"HTTP/1.1 200 OK\r\n\r\n".to_vec(), vec![b'x'; 10_000]].concat();
        let (_, result) = fetch_from(&client, "http", None, huge).await;
        assert!(
            matches!(
                result,
                Err(HttpClientError::Http(HttpError::TooLarge { limit: 4096 }))
            ),
            "{result:?}"
        );

        let truncated = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nd8:".to_vec();
        let (_, result) = fetch_from(&client, "http", None, truncated).await;
        assert!(
            matches!(
                result,
                Err(HttpClientError::Http(HttpError::TruncatedBody {
                    expected: 50,
                    received: 3
                }))
            ),
            "{result:?}"
        );

        // A server that accepts and never answers.
        let listener = R::bind_tcp("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let port = R::listener_addr(&listener).unwrap().port();
        let url = TrackerUrl::parse(&format!("http://127.0.0.1:{port}/announce")).unwrap();
        let result = client.fetch(&url, b"GET / HTTP/1.1\r\n\r\n").await;
        assert!(
            matches!(result, Err(HttpClientError::Timeout)),
            "{result:?}"
        );
        drop(listener);

        let udp = TrackerUrl::parse("udp://127.0.0.1:1/announce").unwrap();
        let result = client.fetch(&udp, b"").await;
        assert!(
            matches!(result, Err(HttpClientError::NotHttp(_))),
            "{result:?}"
        );
        let e: TrackerError = HttpClientError::Timeout.into();
        assert_eq!(e, TrackerError::Timeout);
    }
}
