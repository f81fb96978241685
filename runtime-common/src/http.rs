//! The runtime-independent half of the tracker HTTP(S) client: settings, errors and the rustls
//! configuration (ring provider, Mozilla roots plus configured ones). Each runtime's
//! `http_client` module carries the bytes with its own sockets.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use sanstorrent_core::tracker::http::DEFAULT_MAX_RESPONSE;
use sanstorrent_core::tracker::{HttpError, TrackerError};

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
    BadRoot(String),
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
            .map_err(|e| HttpClientError::BadRoot(e.to_string()))?;
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
            other => Self::Transport(other.to_string()),
        }
    }
}
