//! The BEP 14 announce: an HTTP-style `BT-SEARCH` request in one multicast datagram.

use std::fmt;
use std::net::SocketAddr;

use crate::id::InfoHash;

/// The largest announce we send or accept (one unfragmented datagram on any LAN).
pub const MAX_ANNOUNCE: usize = 1400;
/// The most `Infohash` headers one announce may carry.
const MAX_HEADERS: usize = 40;

/// One announce: a listening port and the torrents it is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announce {
    /// The port the announcer accepts peer connections on.
    pub port: u16,
    /// The torrents (v1 info-hashes) it takes part in, one or more.
    pub info_hashes: Vec<InfoHash>,
    /// The announcer's cookie, by which a client recognises its own announces.
    pub cookie: Option<String>,
}

/// Why a datagram is not an announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnnounceError {
    /// Longer than [`MAX_ANNOUNCE`].
    TooLong(usize),
    /// Not a complete `BT-SEARCH * HTTP/1.1` request.
    NotBtSearch,
    /// No `Port` header, or one that is not a port number from 1 to 65535.
    BadPort,
    /// No `Infohash` header, or one that is not 40 hexadecimal digits.
    BadInfoHash,
}

impl fmt::Display for AnnounceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong(n) => write!(f, "LSD datagram of {n} bytes exceeds {MAX_ANNOUNCE}"),
            Self::NotBtSearch => f.write_str("not a BT-SEARCH request"),
            Self::BadPort => f.write_str("LSD announce without a valid Port header"),
            Self::BadInfoHash => f.write_str("LSD announce without a valid Infohash header"),
        }
    }
}

impl std::error::Error for AnnounceError {}

impl Announce {
    /// Parses a received datagram.
    pub fn parse(data: &[u8]) -> Result<Self, AnnounceError> {
        if data.len() > MAX_ANNOUNCE {
            return Err(AnnounceError::TooLong(data.len()));
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(data) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return Err(AnnounceError::NotBtSearch),
        }
        if request.method != Some("BT-SEARCH") || request.path != Some("*") {
            return Err(AnnounceError::NotBtSearch);
        }
        let mut port = None;
        let mut info_hashes = Vec::new();
        let mut cookie = None;
        for header in request.headers.iter() {
            let value = std::str::from_utf8(header.value).map(str::trim);
            if header.name.eq_ignore_ascii_case("port") {
                port = value
                    .ok()
                    .and_then(|v| v.parse::<u16>().ok())
                    .filter(|p| *p != 0);
            } else if header.name.eq_ignore_ascii_case("infohash") {
                let hash = value.ok().filter(|v| v.len() == 40);
                match hash.and_then(InfoHash::from_hex) {
                    Some(hash) if !info_hashes.contains(&hash) => info_hashes.push(hash),
                    Some(_) => {}
                    None => return Err(AnnounceError::BadInfoHash),
                }
            } else if header.name.eq_ignore_ascii_case("cookie") {
                cookie = value.ok().map(str::to_owned);
            }
        }
        let port = port.ok_or(AnnounceError::BadPort)?;
        if info_hashes.is_empty() {
            return Err(AnnounceError::BadInfoHash);
        }
        Ok(Self {
            port,
            info_hashes,
            cookie,
        })
    }

    /// The datagrams announcing `info_hashes` to `group` (as many hashes in each as fit in
    /// [`MAX_ANNOUNCE`] bytes).
    pub fn encode(
        group: SocketAddr,
        port: u16,
        cookie: &str,
        info_hashes: &[InfoHash],
    ) -> Vec<Vec<u8>> {
        let (head, tail) = Self::frame(group, port, cookie);
        info_hashes
            .chunks(Self::fit(group, port, cookie))
            .map(|chunk| {
                let mut out = head.clone().into_bytes();
                for hash in chunk {
                    out.extend_from_slice(format!("Infohash: {}\r\n", hash.to_hex()).as_bytes());
                }
                out.extend_from_slice(tail.as_bytes());
                out
            })
            .collect()
    }

    /// How many info-hashes one datagram of [`Announce::encode`] carries.
    pub fn fit(group: SocketAddr, port: u16, cookie: &str) -> usize {
        let (head, tail) = Self::frame(group, port, cookie);
        let per_hash = "Infohash: \r\n".len() + 40;
        (MAX_ANNOUNCE.saturating_sub(head.len() + tail.len()) / per_hash).max(1)
    }

    fn frame(group: SocketAddr, port: u16, cookie: &str) -> (String, String) {
        let head = format!("BT-SEARCH * HTTP/1.1\r\nHost: {group}\r\nPort: {port}\r\n");
        let tail = format!("cookie: {cookie}\r\n\r\n\r\n");
        (head, tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lsd::GROUP_V4;

    fn hash(byte: u8) -> InfoHash {
        InfoHash([byte; 20])
    }

    #[test]
    fn an_encoded_announce_parses_back() {
        let sent = Announce::encode(GROUP_V4, 6881, "c0ffee", &[hash(1), hash(2)]);
        assert_eq!(sent.len(), 1);
        let text = String::from_utf8(sent[0].clone()).unwrap();
        assert!(text.starts_with("BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\n"));
        let got = Announce::parse(&sent[0]).unwrap();
        assert_eq!(got.port, 6881);
        assert_eq!(got.info_hashes, vec![hash(1), hash(2)]);
        assert_eq!(got.cookie.as_deref(), Some("c0ffee"));
    }

    #[test]
    fn many_hashes_split_into_datagrams_that_fit() {
        let hashes: Vec<InfoHash> = (0..100).map(hash).collect();
        let sent = Announce::encode(GROUP_V4, 1, "x", &hashes);
        assert!(sent.len() > 1);
        let mut got = Vec::new();
        for datagram in &sent {
            assert!(datagram.len() <= MAX_ANNOUNCE);
            got.extend(Announce::parse(datagram).unwrap().info_hashes);
        }
        assert_eq!(got, hashes);
    }

    #[test]
    fn libtorrents_announce_parses() {
        let lt = b"BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 52413\r\n\
Infohash: 0123456789abcdef0123456789ABCDEF01234567\r\ncookie: 1a2b3c\r\n\r\n\r\n";
        let got = Announce::parse(lt).unwrap();
        assert_eq!(got.port, 52413);
        assert_eq!(
            got.info_hashes[0].to_hex(),
            "0123456789abcdef0123456789abcdef01234567"
        );
    }

    #[test]
    fn hostile_datagrams_are_refused_with_a_reason() {
        let ok_hash = "Infohash: 0123456789abcdef0123456789abcdef01234567\r\n";
        let cases: Vec<(Vec<u8>, AnnounceError)> = vec![
            (
                vec![b'a'; MAX_ANNOUNCE + 1],
                AnnounceError::TooLong(MAX_ANNOUNCE + 1),
            ),
            (
                b"GET / HTTP/1.1\r\n\r\n".to_vec(),
                AnnounceError::NotBtSearch,
            ),
            (
                b"BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n".to_vec(),
                AnnounceError::NotBtSearch,
            ),
            (
                format!("BT-SEARCH * HTTP/1.1\r\n{ok_hash}\r\n").into_bytes(),
                AnnounceError::BadPort,
            ),
            (
                format!("BT-SEARCH * HTTP/1.1\r\nPort: 0\r\n{ok_hash}\r\n").into_bytes(),
                AnnounceError::BadPort,
            ),
            (
                format!("BT-SEARCH * HTTP/1.1\r\nPort: 70000\r\n{ok_hash}\r\n").into_bytes(),
                AnnounceError::BadPort,
            ),
            (
                b"BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n\r\n".to_vec(),
                AnnounceError::BadInfoHash,
            ),
            (
                b"BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: 12zz\r\n\r\n".to_vec(),
                AnnounceError::BadInfoHash,
            ),
        ];
        for (data, want) in cases {
            assert_eq!(Announce::parse(&data), Err(want));
        }
        let many = format!(
            "BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n{}\r\n",
            ok_hash.repeat(60)
        );
        assert!(Announce::parse(many.as_bytes()).is_err());
    }
}
