//! SSDP (UPnP Device Architecture 1.1, section 1.3.2): the M-SEARCH that looks for an
//! internet gateway, and the unicast answer that names its device description.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use crate::tracker::{Scheme, TrackerUrl};

/// The SSDP port.
pub const SSDP_PORT: u16 = 1900;
/// The SSDP multicast group and port (IPv4).
pub const MULTICAST: SocketAddr = SocketAddr::V4(SocketAddrV4::new(
    Ipv4Addr::new(239, 255, 255, 250),
    SSDP_PORT,
));
/// What we search for: the gateway device and the two services that map ports.
pub const SEARCH_TARGETS: [&str; 3] = [
    "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:WANPPPConnection:1",
];
/// The largest answer read (real ones are a few hundred bytes).
pub const MAX_ANSWER: usize = 4096;
const MAX_HEADERS: usize = 32;

/// The M-SEARCH datagram for `target` (`MX` 2: devices answer within 2 s).
pub fn search(target: &str) -> Vec<u8> {
    format!(
        "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: {target}\r\n\
         MAN: \"ssdp:discover\"\r\nMX: 2\r\n\r\n"
    )
    .into_bytes()
}

/// A gateway's answer to an M-SEARCH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchAnswer {
    /// Where its device description is (`LOCATION`).
    pub location: TrackerUrl,
}

/// Why a datagram is not an answer to our search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SsdpError {
    /// Longer than [`MAX_ANSWER`].
    TooLarge(usize),
    /// Not an HTTP/1.x response head, or cut short.
    Malformed,
    /// A status other than 200.
    Status(u16),
    /// No `LOCATION` header, or not an `http://` URL.
    BadLocation,
    /// The `ST` header names something we did not search for.
    OtherTarget,
}

impl fmt::Display for SsdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge(n) => write!(f, "SSDP answer of {n} bytes"),
            Self::Malformed => f.write_str("malformed SSDP answer"),
            Self::Status(code) => write!(f, "SSDP answer with status {code}"),
            Self::BadLocation => f.write_str("SSDP answer without a usable LOCATION"),
            Self::OtherTarget => f.write_str("SSDP answer for another search target"),
        }
    }
}

impl std::error::Error for SsdpError {}

/// Whether `data` may be an SSDP answer (an HTTP response head), to tell it from the other
/// datagrams on a shared socket.
pub fn looks_like_answer(data: &[u8]) -> bool {
    data.starts_with(b"HTTP/1.")
}

/// Parses an answer to our M-SEARCH.
pub fn parse_answer(data: &[u8]) -> Result<SearchAnswer, SsdpError> {
    if data.len() > MAX_ANSWER {
        return Err(SsdpError::TooLarge(data.len()));
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(data) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(SsdpError::Malformed),
    }
    let code = response.code.ok_or(SsdpError::Malformed)?;
    if code != 200 {
        return Err(SsdpError::Status(code));
    }
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    if let Some(st) = header("ST")
        && !st.contains(":InternetGatewayDevice:")
        && !st.contains(":WANIPConnection:")
        && !st.contains(":WANPPPConnection:")
    {
        return Err(SsdpError::OtherTarget);
    }
    let location = header("LOCATION")
        .and_then(|l| TrackerUrl::parse(l).ok())
        .filter(|url| url.scheme() == Scheme::Http)
        .ok_or(SsdpError::BadLocation)?;
    Ok(SearchAnswer { location })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\n\
ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\
USN: uuid:3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\
EXT:\r\nSERVER: Debian/12 UPnP/1.1 MiniUPnPd/2.3.1\r\n\
LOCATION: http://192.168.77.1:41237/rootDesc.xml\r\nOPT: \"http://schemas.upnp.org/upnp/1/0/\"; ns=01\r\n\
01-NLS: 1\r\nBOOTID.UPNP.ORG: 1\r\nCONFIGID.UPNP.ORG: 1337\r\n\r\n";

    #[test]
    fn a_gateways_answer_names_its_description() {
        let answer = parse_answer(ANSWER).unwrap();
        assert_eq!(answer.location.path(), "/rootDesc.xml");
        assert_eq!(answer.location.port(), 41237);
        assert_eq!(
            answer.location.socket_addr(),
            Some("192.168.77.1:41237".parse().unwrap())
        );
        assert!(looks_like_answer(ANSWER));
    }

    #[test]
    fn the_search_is_an_ssdp_discover() {
        let s = String::from_utf8(search(SEARCH_TARGETS[0])).unwrap();
        assert!(s.starts_with("M-SEARCH * HTTP/1.1\r\n"), "{s}");
        assert!(s.contains("\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"));
        assert!(s.contains("\r\nMAN: \"ssdp:discover\"\r\n") && s.ends_with("\r\n\r\n"));
    }

    #[test]
    fn hostile_or_foreign_answers_are_refused() {
        let text = std::str::from_utf8(ANSWER).unwrap();
        let cases: [(Vec<u8>, SsdpError); 6] = [
            (
                vec![b'H'; MAX_ANSWER + 1],
                SsdpError::TooLarge(MAX_ANSWER + 1),
            ),
            (ANSWER[..40].to_vec(), SsdpError::Malformed),
            (
                text.replace("200 OK", "404 Not Found").into_bytes(),
                SsdpError::Status(404),
            ),
            (
                text.replace("LOCATION", "X-LOCATION").into_bytes(),
                SsdpError::BadLocation,
            ),
            (
                text.replace("http://192", "ftp://192").into_bytes(),
                SsdpError::BadLocation,
            ),
            (
                text.replace(
                    "ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1",
                    "ST: urn:schemas-upnp-org:device:MediaServer:1",
                )
                .into_bytes(),
                SsdpError::OtherTarget,
            ),
        ];
        for (data, want) in cases {
            assert_eq!(parse_answer(&data), Err(want));
        }
        assert!(!looks_like_answer(b"d1:ad2:id20:"));
    }
}
