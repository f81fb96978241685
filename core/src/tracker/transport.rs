//! Why a runtime could not carry a tracker request: what its HTTP client knows, typed, so the
//! application can tell a refused connection from an untrusted certificate without reading
//! text.

use std::fmt;
use std::io::ErrorKind;

/// Why the runtime could not carry an HTTP tracker request (see
/// [`TrackerError::Transport`](super::TrackerError::Transport)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// The URL's scheme is one the runtime's HTTP client does not speak.
    UnsupportedScheme,
    /// No address of the tracker accepted a connection: the last address's error
    /// (`ConnectionRefused`, `TimedOut`, `HostUnreachable`, ...).
    Connect(ErrorKind),
    /// TLS with the tracker could not be set up.
    Tls(TlsError),
    /// Writing the request or reading the answer failed.
    Io(ErrorKind),
    /// The runtime has no HTTP client (an embedding that carries no HTTP).
    Unavailable,
}

/// Why TLS with a tracker failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsError {
    /// The tracker's certificate does not chain to a trusted root (or its signature is bad).
    UntrustedCertificate,
    /// The certificate is not valid for the server's host name (or the host is not a valid
    /// TLS server name).
    WrongName,
    /// The certificate has expired or is not valid yet.
    Expired,
    /// The certificate was refused for another reason (revoked, bad encoding, wrong purpose).
    BadCertificate,
    /// The client's TLS configuration could not be built (a bad trusted root, no protocol).
    Config,
    /// The handshake failed otherwise (a protocol error or an alert from the tracker).
    Handshake,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedScheme => f.write_str("the URL's scheme is not http or https"),
            Self::Connect(kind) => write!(f, "connect: {kind}"),
            Self::Tls(e) => write!(f, "TLS: {e}"),
            Self::Io(kind) => write!(f, "connection failed: {kind}"),
            Self::Unavailable => f.write_str("this runtime carries no HTTP"),
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UntrustedCertificate => "the certificate is not signed by a trusted root",
            Self::WrongName => "the certificate is not valid for the server's host name",
            Self::Expired => "the certificate has expired or is not valid yet",
            Self::BadCertificate => "the certificate was refused",
            Self::Config => "the TLS configuration could not be built",
            Self::Handshake => "the handshake failed",
        })
    }
}

impl std::error::Error for TransportError {}

impl std::error::Error for TlsError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::TrackerError;

    #[test]
    fn the_message_names_what_failed() {
        let refused =
            TrackerError::Transport(TransportError::Connect(ErrorKind::ConnectionRefused));
        assert_eq!(
            refused.to_string(),
            "cannot reach tracker: connect: connection refused"
        );
        let untrusted =
            TrackerError::Transport(TransportError::Tls(TlsError::UntrustedCertificate));
        assert_eq!(
            untrusted.to_string(),
            "cannot reach tracker: TLS: the certificate is not signed by a trusted root"
        );
    }
}
