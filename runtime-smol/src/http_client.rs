//! Carries tracker HTTP requests: core builds the request bytes and parses the response; this
//! only resolves the host, connects TCP (TLS for `https`, rustls with the ring provider), writes
//! the bytes and reads until core's [`ResponseReader`] has a whole response, within a timeout.
//!
//! The tokio runtime has the same module with the same API.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use futures_rustls::TlsConnector;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use sanstorrent_core::tracker::{HttpResponse, ResponseReader, Scheme, TrackerUrl};
use sanstorrent_runtime_common::http::tls_client_config;
pub use sanstorrent_runtime_common::http::{HttpClientConfig, HttpClientError};

/// An HTTP(S) client for tracker requests; cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpClient {
    config: Arc<HttpClientConfig>,
    tls: Arc<ClientConfig>,
}

impl HttpClient {
    /// A client with `config`'s trust roots and limits.
    pub fn new(config: HttpClientConfig) -> Result<Self, HttpClientError> {
        let tls = tls_client_config(&config)?;
        Ok(Self {
            config: Arc::new(config),
            tls,
        })
    }

    /// Sends `request` (bytes from core, e.g. `announce_request`) to `url`'s host and returns
    /// the response read through core's [`ResponseReader`].
    pub async fn fetch(
        &self,
        url: &TrackerUrl,
        request: &[u8],
    ) -> Result<HttpResponse, HttpClientError> {
        let timeout = self.config.request_timeout;
        self.exchange(url, request)
            .or(async {
                async_io::Timer::after(timeout).await;
                Err(HttpClientError::Timeout)
            })
            .await
    }

    async fn exchange(
        &self,
        url: &TrackerUrl,
        request: &[u8],
    ) -> Result<HttpResponse, HttpClientError> {
        let tls = match url.scheme() {
            Scheme::Http => false,
            Scheme::Https => true,
            _ => return Err(HttpClientError::NotHttp(url.to_string())),
        };
        let addrs: Vec<SocketAddr> = match url.socket_addr() {
            Some(addr) => vec![addr],
            None => smol::net::resolve((url.host_str().as_str(), url.port()))
                .await
                .map_err(HttpClientError::Resolve)?,
        };
        let tcp = self.connect(&addrs).await?;
        let max = self.config.max_response;
        if tls {
            let name = ServerName::try_from(url.host_str()).map_err(|e| {
                HttpClientError::Tls(io::Error::new(io::ErrorKind::InvalidInput, e))
            })?;
            let stream = TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(HttpClientError::Tls)?;
            carry(stream, request, max).await
        } else {
            carry(tcp, request, max).await
        }
    }

    async fn connect(&self, addrs: &[SocketAddr]) -> Result<smol::net::TcpStream, HttpClientError> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "host resolved to no address");
        for addr in addrs {
            let timeout = self.config.connect_timeout;
            let attempt = smol::net::TcpStream::connect(*addr).or(async {
                async_io::Timer::after(timeout).await;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures_rustls::TlsAcceptor;
    use rustls::ServerConfig;
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use sanstorrent_core::tracker::http::{announce_outcome, announce_request};
    use sanstorrent_core::tracker::{AnnounceEvent, AnnounceRequest, HttpOutcome};
    use sanstorrent_core::{InfoHash, PeerId};
    use smol::net::TcpListener;

    use super::*;
    use rustls::pki_types::CertificateDer;
    use sanstorrent_core::tracker::{HttpError, TrackerError};
    use std::time::Duration;

    const BODY: &[u8] = b"d8:intervali900e5:peers6:\x7f\x00\x00\x01\x1a\xe1e";

    fn request() -> AnnounceRequest {
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
    async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, reply: Vec<u8>) {
        let (tcp, _) = listener.accept().await.unwrap();
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

    async fn fetch_from(
        client: &HttpClient,
        scheme: &str,
        tls: Option<TlsAcceptor>,
        reply: Vec<u8>,
    ) -> (TrackerUrl, Result<HttpResponse, HttpClientError>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = smol::spawn(serve(listener, tls, reply));
        let url = TrackerUrl::parse(&format!("{scheme}://127.0.0.1:{port}/announce")).unwrap();
        let result = client
            .fetch(&url, &announce_request(&url, &request()))
            .await;
        drop(server);
        (url, result)
    }

    #[test]
    fn https_with_a_root_trusted_by_configuration() {
        smol::block_on(async {
            let (cert, acceptor) = tls_server();
            let client = HttpClient::new(HttpClientConfig {
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

            // The same server is refused without the configured root.
            let (_, acceptor) = tls_server();
            let strict = HttpClient::new(HttpClientConfig::default()).unwrap();
            let (_, result) = fetch_from(&strict, "https", Some(acceptor), ok_reply()).await;
            let Err(HttpClientError::Tls(e)) = result else {
                panic!("untrusted certificate accepted: {result:?}")
            };
            assert!(e.to_string().contains("UnknownIssuer"), "{e}");
        });
    }

    #[test]
    fn plain_http_cap_timeout_and_errors() {
        smol::block_on(async {
            let client = HttpClient::new(HttpClientConfig {
                max_response: 4096,
                request_timeout: Duration::from_millis(500),
                ..HttpClientConfig::default()
            })
            .unwrap();
            let (_, result) = fetch_from(&client, "http", None, ok_reply()).await;
            assert_eq!(result.unwrap().body(), BODY);

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
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
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
        });
    }
}
