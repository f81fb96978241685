//! Extra trusted roots from PEM text (the command line's `--ca-cert`): the certificates a
//! private tracker or web seed is signed by, trusted besides the bundled Mozilla roots
//! ([`ClientConfig::extra_roots`](crate::ClientConfig::extra_roots)).

use std::fmt;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::{self, PemObject};

/// Why PEM text gave no usable root.
#[derive(Debug)]
#[non_exhaustive]
pub enum PemRootsError {
    /// The PEM text is malformed (a section without its end, bad base64, a huge section).
    Malformed(pem::Error),
    /// The text holds no `CERTIFICATE` section.
    NoCertificate,
    /// The `n`th certificate (from 1) is not one a trust anchor can be made from.
    BadCertificate {
        /// Its place in the text, from 1.
        n: usize,
        /// What rustls said.
        error: rustls::Error,
    },
}

/// The DER of every `CERTIFICATE` section of `pem` (other sections, such as keys, are
/// skipped), each checked to make a trust anchor.
pub fn roots_from_pem(pem: &[u8]) -> Result<Vec<Vec<u8>>, PemRootsError> {
    let mut roots = Vec::new();
    for (i, cert) in CertificateDer::pem_slice_iter(pem).enumerate() {
        let cert = cert.map_err(PemRootsError::Malformed)?;
        RootCertStore::empty()
            .add(cert.clone())
            .map_err(|error| PemRootsError::BadCertificate { n: i + 1, error })?;
        roots.push(cert.to_vec());
    }
    if roots.is_empty() {
        return Err(PemRootsError::NoCertificate);
    }
    Ok(roots)
}

impl fmt::Display for PemRootsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "not valid PEM: {e}"),
            Self::NoCertificate => f.write_str("no CERTIFICATE section in it"),
            Self::BadCertificate { n, error } => write!(f, "certificate {n} is unusable: {error}"),
        }
    }
}

impl std::error::Error for PemRootsError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed CA certificate (P-256) made with `openssl req -x509`.
    const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBkDCCATegAwIBAgIUQRZ0n4+og/CmT6DWO8vujopoVjowCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTc2Fuc3RvcnJlbnQgdGVzdCBDQTAeFw0yNjEyMDYxMzU2MjZa
Fw0yNjEyMDgxMzU2MjZaMB4xHDAaBgNVBAMME3NhbnN0b3JyZW50IHRlc3QgQ0Ew
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASZO7kKp57p6Gvfi36ZWMiuT2w4zQty
vTlpBTOgQw94I/L8eF7oeslOUAXaMWP7AviStC+g8aUzlfgo1LzV4h0Jo1MwUTAd
BgNVHQ4EFgQUn5xM0ZqgS7xhU/0uM53Lg94+p0EwHwYDVR0jBBgwFoAUn5xM0Zqg
S7xhU/0uM53Lg94+p0EwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBE
AiAkfVnl00+0XbemM0Rtvo4gr+mcmj8Cum8LR2KqCLYIEgIgaHgRLXQUn1Qwdyfp
g2vW45wqoRyDugzzqTk8s+5yhTg=
-----END CERTIFICATE-----
";

    #[test]
    fn every_certificate_of_a_bundle_is_taken_and_keys_are_skipped() {
        let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let bundle = format!("comment line\n{CA}{key}\n{CA}");
        let roots = roots_from_pem(bundle.as_bytes()).unwrap();
        assert_eq!(roots.len(), 2);
        assert_eq!(roots[0], roots[1]);
        assert_eq!(roots[0].first(), Some(&0x30), "DER starts with a SEQUENCE");
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(matches!(
            roots_from_pem(b"not pem at all"),
            Err(PemRootsError::NoCertificate)
        ));
        assert!(matches!(
            roots_from_pem(b""),
            Err(PemRootsError::NoCertificate)
        ));
        let cut = &CA[..CA.len() - 30];
        assert!(matches!(
            roots_from_pem(cut.as_bytes()),
            Err(PemRootsError::Malformed(_))
        ));
        let not_der = "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n";
        let err = roots_from_pem(not_der.as_bytes()).unwrap_err();
        assert!(
            matches!(err, PemRootsError::BadCertificate { n: 1, .. }),
            "{err}"
        );
    }
}
