//! HTTP trackers (BEP 3, 23, 7): the bytes of an announce request, an incremental HTTP/1.1
//! response reader with a hard size cap, and the bencoded announce body.
//!
//! The runtime writes [`announce_request`]'s bytes to a TCP (or TLS) stream, feeds what it reads
//! to a [`ResponseReader`] until it returns a response (or [`ResponseReader::eof`] when the
//! stream closes), then hands the [`HttpResponse`] to [`announce_outcome`], which gives either
//! the tracker's answer or a redirect for the caller to follow.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::url::{Scheme, TrackerUrl};
use super::{
    AnnounceRequest, AnnounceResponse, RedirectError, TrackerError, compact_v4, compact_v6,
};
use crate::bencode::{self, DecodeError, Dict, Value};

/// The default cap on a whole HTTP response (head and body).
pub const DEFAULT_MAX_RESPONSE: usize = 1 << 20;
/// The largest response head (status line and headers) accepted.
pub const MAX_HEAD: usize = 16 * 1024;
/// The most headers a response may have.
pub const MAX_HEADERS: usize = 64;
/// The `User-Agent` sent to trackers.
pub const USER_AGENT: &str = concat!("sanstorrent/", env!("CARGO_PKG_VERSION"));

/// The bytes of an HTTP/1.1 GET announce to `url` (any existing query string is kept).
pub fn announce_request(url: &TrackerUrl, req: &AnnounceRequest) -> Vec<u8> {
    let mut q = String::with_capacity(256);
    push_param(&mut q, "info_hash", &req.info_hash.0);
    push_param(&mut q, "peer_id", &req.peer_id.0);
    push_param(&mut q, "port", req.port.to_string().as_bytes());
    push_param(&mut q, "uploaded", req.uploaded.to_string().as_bytes());
    push_param(&mut q, "downloaded", req.downloaded.to_string().as_bytes());
    push_param(&mut q, "left", req.left.to_string().as_bytes());
    push_param(&mut q, "compact", b"1");
    if let Some(n) = req.numwant {
        push_param(&mut q, "numwant", n.to_string().as_bytes());
    }
    push_param(&mut q, "key", format!("{:08X}", req.key).as_bytes());
    if let Some(event) = req.event.as_str() {
        push_param(&mut q, "event", event.as_bytes());
    }
    if let Some(ip) = req.ip {
        push_param(&mut q, "ip", ip.to_string().as_bytes());
    }
    if let Some(id) = &req.tracker_id {
        push_param(&mut q, "trackerid", id);
    }
    get_request(url, &q)
}

/// The bytes of a GET of `url` with `params` (already encoded `k=v&…`) appended to its query.
pub(crate) fn get_request(url: &TrackerUrl, params: &str) -> Vec<u8> {
    let mut target = url.path().to_string();
    target.push('?');
    if let Some(existing) = url.query().filter(|q| !q.is_empty()) {
        target.push_str(existing);
        if !existing.ends_with('&') {
            target.push('&');
        }
    }
    target.push_str(params);
    format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\n\
         Accept-Encoding: identity\r\nConnection: close\r\n\r\n",
        url.host_header()
    )
    .into_bytes()
}

/// Appends `&name=value` (without `&` first), percent-encoding every byte of `value` outside
/// RFC 3986's unreserved set.
pub(crate) fn push_param(out: &mut String, name: &str, value: &[u8]) {
    if !out.is_empty() {
        out.push('&');
    }
    out.push_str(name);
    out.push('=');
    percent_encode(out, value);
}

/// Percent-encodes `bytes` onto `out` (unreserved bytes stay, the rest become `%XX`).
pub fn percent_encode(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

/// A complete HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    status: u16,
    reason: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl HttpResponse {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase (lossily decoded).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The value of the first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The body, de-chunked.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// What an HTTP response means for the request: an answer, or a redirect to follow.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpOutcome<T> {
    /// The tracker answered.
    Done(T),
    /// Repeat the request at this URL (the caller bounds how many times).
    Redirect(TrackerUrl),
}

/// An incremental HTTP/1.1 response reader with a hard cap on the total size.
#[derive(Clone, Debug)]
pub struct ResponseReader {
    buf: Vec<u8>,
    limit: usize,
    head: Option<Head>,
    /// For chunked bodies: where the next chunk-size line starts, and the body so far.
    chunk_pos: usize,
    chunked_body: Vec<u8>,
    /// Where the complete response ends in `buf`, once it is complete.
    end: Option<usize>,
}

#[derive(Clone, Debug)]
struct Head {
    status: u16,
    reason: String,
    headers: Vec<(String, Vec<u8>)>,
    body_start: usize,
    framing: Framing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(usize),
    Chunked,
    UntilClose,
}

/// Why an HTTP response could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// The response is larger than the cap.
    TooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// The status line and headers are longer than [`MAX_HEAD`].
    HeadTooLarge,
    /// The status line or headers are not HTTP/1.x (httparse's message).
    Malformed(String),
    /// `Content-Length` is not a number.
    BadContentLength(String),
    /// Two `Content-Length` headers disagree.
    ConflictingContentLength,
    /// A `Transfer-Encoding` other than `chunked`.
    UnsupportedTransferEncoding(String),
    /// A `Content-Encoding` other than `identity` (we asked for identity).
    UnsupportedContentEncoding(String),
    /// A chunk-size line is bad, or a chunk is not followed by CRLF.
    BadChunk,
    /// The stream ended before the end of the head.
    TruncatedHead {
        /// Bytes received.
        received: usize,
    },
    /// The stream ended before `Content-Length` bytes of body.
    TruncatedBody {
        /// The `Content-Length`.
        expected: usize,
        /// Body bytes received.
        received: usize,
    },
    /// The stream ended before the last chunk.
    TruncatedChunked,
}

impl ResponseReader {
    /// A reader that fails once the response exceeds `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            buf: Vec::new(),
            limit,
            head: None,
            chunk_pos: 0,
            chunked_body: Vec::new(),
            end: None,
        }
    }

    /// Whether bytes beyond the complete response were read (a server sending more than its
    /// framing says): the connection cannot carry another exchange, since they would be read
    /// as the next response.
    pub fn has_surplus(&self) -> bool {
        self.end.is_some_and(|end| self.buf.len() > end)
    }

    /// Feeds bytes read from the stream; returns the response once it is complete. Bytes after
    /// a complete response are ignored.
    pub fn push(&mut self, data: &[u8]) -> Result<Option<HttpResponse>, HttpError> {
        if self.buf.len().saturating_add(data.len()) > self.limit {
            return Err(HttpError::TooLarge { limit: self.limit });
        }
        self.buf.extend_from_slice(data);
        if self.head.is_none() {
            self.parse_head()?;
        }
        self.try_complete()
    }

    /// The stream closed: the response if it is complete (a body delimited by the close), or
    /// the error saying what was missing.
    pub fn eof(&mut self) -> Result<HttpResponse, HttpError> {
        if let Some(r) = self.try_complete()? {
            return Ok(r);
        }
        let Some(head) = &self.head else {
            return Err(HttpError::TruncatedHead {
                received: self.buf.len(),
            });
        };
        match head.framing {
            Framing::UntilClose => {
                let body = self.buf[head.body_start..].to_vec();
                Ok(self.response(body))
            }
            Framing::Length(expected) => Err(HttpError::TruncatedBody {
                expected,
                received: self.buf.len() - head.body_start,
            }),
            Framing::Chunked => Err(HttpError::TruncatedChunked),
            Framing::Empty => Ok(self.response(Vec::new())),
        }
    }

    fn response(&self, body: Vec<u8>) -> HttpResponse {
        let head = self.head.as_ref();
        HttpResponse {
            status: head.map_or(0, |h| h.status),
            reason: head.map(|h| h.reason.clone()).unwrap_or_default(),
            headers: head.map(|h| h.headers.clone()).unwrap_or_default(),
            body,
        }
    }

    fn parse_head(&mut self) -> Result<(), HttpError> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            let n = match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => {
                    if self.buf.len() > MAX_HEAD {
                        return Err(HttpError::HeadTooLarge);
                    }
                    return Ok(());
                }
                Err(e) => return Err(HttpError::Malformed(e.to_string())),
            };
            if n > MAX_HEAD {
                return Err(HttpError::HeadTooLarge);
            }
            let status = resp.code.unwrap_or(0);
            if (100..200).contains(&status) {
                // An interim response (100 Continue): drop it and read the real one.
                self.buf.drain(..n);
                continue;
            }
            let reason = resp.reason.unwrap_or("").to_string();
            let headers: Vec<(String, Vec<u8>)> = resp
                .headers
                .iter()
                .map(|h| (h.name.to_string(), h.value.to_vec()))
                .collect();
            let framing = framing(status, &headers, self.limit)?;
            self.chunk_pos = n;
            self.head = Some(Head {
                status,
                reason,
                headers,
                body_start: n,
                framing,
            });
            return Ok(());
        }
    }

    fn try_complete(&mut self) -> Result<Option<HttpResponse>, HttpError> {
        let Some(head) = &self.head else {
            return Ok(None);
        };
        match head.framing {
            Framing::Empty => {
                self.end = Some(head.body_start);
                Ok(Some(self.response(Vec::new())))
            }
            Framing::Length(n) => {
                let have = self.buf.len() - head.body_start;
                if have < n {
                    return Ok(None);
                }
                let end = head.body_start + n;
                let body = self.buf[head.body_start..end].to_vec();
                self.end = Some(end);
                Ok(Some(self.response(body)))
            }
            Framing::UntilClose => Ok(None),
            Framing::Chunked => {
                if self.dechunk()? {
                    Ok(Some(self.response(self.chunked_body.clone())))
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// Decodes whole chunks from `chunk_pos`; `true` once the last chunk and trailers are in.
    fn dechunk(&mut self) -> Result<bool, HttpError> {
        loop {
            let rest = &self.buf[self.chunk_pos..];
            let (line, size) = match httparse::parse_chunk_size(rest) {
                Ok(httparse::Status::Complete(x)) => x,
                Ok(httparse::Status::Partial) => return Ok(false),
                Err(_) => return Err(HttpError::BadChunk),
            };
            if size == 0 {
                // Trailers: none (CRLF) or header lines ended by an empty line.
                let trailers = &rest[line..];
                let after = if trailers.starts_with(b"\r\n") {
                    Some(2)
                } else {
                    trailers
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .map(|i| i + 4)
                };
                self.end = after.map(|a| self.chunk_pos + line + a);
                return Ok(after.is_some());
            }
            let size = usize::try_from(size).map_err(|_| HttpError::BadChunk)?;
            if size > self.limit {
                return Err(HttpError::TooLarge { limit: self.limit });
            }
            let Some(end) = line.checked_add(size).and_then(|e| e.checked_add(2)) else {
                return Err(HttpError::BadChunk);
            };
            if rest.len() < end {
                return Ok(false);
            }
            if &rest[end - 2..end] != b"\r\n" {
                return Err(HttpError::BadChunk);
            }
            self.chunked_body.extend_from_slice(&rest[line..end - 2]);
            self.chunk_pos += end;
        }
    }
}

fn framing(status: u16, headers: &[(String, Vec<u8>)], limit: usize) -> Result<Framing, HttpError> {
    let mut length: Option<usize> = None;
    let mut chunked = false;
    for (name, value) in headers {
        let value_str = String::from_utf8_lossy(value).trim().to_ascii_lowercase();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            if value_str != "chunked" {
                return Err(HttpError::UnsupportedTransferEncoding(value_str));
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            let n = if !value_str.is_empty() && value_str.bytes().all(|b| b.is_ascii_digit()) {
                value_str.parse::<usize>().ok()
            } else {
                None
            };
            let Some(n) = n else {
                return Err(HttpError::BadContentLength(value_str));
            };
            if length.is_some_and(|l| l != n) {
                return Err(HttpError::ConflictingContentLength);
            }
            if n > limit {
                return Err(HttpError::TooLarge { limit });
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("content-encoding") && value_str != "identity" {
            return Err(HttpError::UnsupportedContentEncoding(value_str));
        }
    }
    Ok(if status == 204 || status == 304 {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    })
}

/// Interprets an HTTP response to a request sent to `url`: a redirect, an HTTP error, or the
/// bencoded body given to `parse`.
pub(crate) fn outcome<T>(
    url: &TrackerUrl,
    response: &HttpResponse,
    parse: impl FnOnce(&[u8]) -> Result<T, ResponseError>,
) -> Result<HttpOutcome<T>, TrackerError> {
    match response.status() {
        200..=299 => Ok(HttpOutcome::Done(parse(response.body())?)),
        301 | 302 | 303 | 307 | 308 => {
            let location = response
                .header("location")
                .and_then(|l| std::str::from_utf8(l).ok())
                .ok_or(RedirectError::MissingLocation)?;
            let next = url.join(location)?;
            if next.scheme() == Scheme::Udp {
                return Err(RedirectError::NotHttp(next.to_string()).into());
            }
            Ok(HttpOutcome::Redirect(next))
        }
        code => {
            // Some trackers send `failure reason` with an error status: prefer that message.
            if let Ok(v) = bencode::decode(response.body())
                && let Some(reason) = v.as_dict().and_then(|d| d.bytes(b"failure reason"))
            {
                let reason = String::from_utf8_lossy(reason).into_owned();
                return Err(ResponseError::Failure(reason).into());
            }
            Err(TrackerError::Status {
                code,
                reason: response.reason().to_string(),
            })
        }
    }
}

/// Interprets the HTTP response to an announce sent to `url`.
pub fn announce_outcome(
    url: &TrackerUrl,
    response: &HttpResponse,
) -> Result<HttpOutcome<AnnounceResponse>, TrackerError> {
    outcome(url, response, parse_announce)
}

/// Why a bencoded tracker response was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseError {
    /// The body is not valid bencode.
    Bencode(DecodeError),
    /// The body is bencode but not a dictionary.
    NotADictionary(&'static str),
    /// The tracker refused: its `failure reason`.
    Failure(String),
    /// A key holds the wrong type.
    WrongType {
        /// The key.
        key: &'static str,
        /// What it should hold.
        expected: &'static str,
    },
    /// A number is negative or too large.
    OutOfRange {
        /// The key.
        key: &'static str,
        /// The value.
        value: i64,
    },
    /// Compact `peers` is not a multiple of 6 bytes.
    CompactPeersLength(usize),
    /// Compact `peers6` is not a multiple of 18 bytes.
    CompactPeers6Length(usize),
    /// A dictionary peer (by index) lacks a valid `ip` or `port`.
    BadPeer(usize),
}

/// Parses the bencoded body of an announce response.
pub fn parse_announce(body: &[u8]) -> Result<AnnounceResponse, ResponseError> {
    let value = bencode::decode(body).map_err(ResponseError::Bencode)?;
    let dict = value
        .as_dict()
        .ok_or(ResponseError::NotADictionary(value.type_name()))?;
    if let Some(v) = dict.get(b"failure reason") {
        let reason = v.as_bytes().ok_or(ResponseError::WrongType {
            key: "failure reason",
            expected: "byte string",
        })?;
        return Err(ResponseError::Failure(
            String::from_utf8_lossy(reason).into_owned(),
        ));
    }
    let mut r = AnnounceResponse {
        interval: secs(dict, "interval")?,
        min_interval: secs(dict, "min interval")?,
        complete: count(dict, "complete")?,
        incomplete: count(dict, "incomplete")?,
        warning: string(dict, "warning message")?.map(|w| String::from_utf8_lossy(w).into_owned()),
        tracker_id: string(dict, "tracker id")?.map(<[u8]>::to_vec),
        peers: Vec::new(),
    };
    match dict.get(b"peers") {
        None => {}
        Some(v) => match (v.as_bytes(), v.as_list()) {
            (Some(b), _) => {
                r.peers = compact_v4(b).ok_or(ResponseError::CompactPeersLength(b.len()))?;
            }
            (_, Some(list)) => dict_peers(list, &mut r.peers)?,
            _ => {
                return Err(ResponseError::WrongType {
                    key: "peers",
                    expected: "byte string or list",
                });
            }
        },
    }
    if let Some(b) = string(dict, "peers6")? {
        r.peers
            .extend(compact_v6(b).ok_or(ResponseError::CompactPeers6Length(b.len()))?);
    }
    Ok(r)
}

/// Dictionary peers (`ip`, `port`, optional `peer id`); entries whose `ip` is a host name are
/// skipped, since core resolves no names.
fn dict_peers(list: &[Value<'_>], out: &mut Vec<SocketAddr>) -> Result<(), ResponseError> {
    for (i, entry) in list.iter().enumerate() {
        let d = entry.as_dict().ok_or(ResponseError::BadPeer(i))?;
        let ip = d.str(b"ip").ok_or(ResponseError::BadPeer(i))?;
        let port = d
            .int(b"port")
            .and_then(|p| u16::try_from(p).ok())
            .ok_or(ResponseError::BadPeer(i))?;
        if let Ok(ip) = ip.trim_matches(['[', ']']).parse::<IpAddr>() {
            out.push(SocketAddr::new(ip, port));
        }
    }
    Ok(())
}

pub(crate) fn string<'a>(
    dict: &Dict<'a>,
    key: &'static str,
) -> Result<Option<&'a [u8]>, ResponseError> {
    match dict.get(key.as_bytes()) {
        None => Ok(None),
        Some(v) => v.as_bytes().map(Some).ok_or(ResponseError::WrongType {
            key,
            expected: "byte string",
        }),
    }
}

pub(crate) fn count(dict: &Dict<'_>, key: &'static str) -> Result<Option<u32>, ResponseError> {
    match dict.get(key.as_bytes()) {
        None => Ok(None),
        Some(v) => {
            let n = v.as_int().ok_or(ResponseError::WrongType {
                key,
                expected: "integer",
            })?;
            u32::try_from(n)
                .map(Some)
                .map_err(|_| ResponseError::OutOfRange { key, value: n })
        }
    }
}

fn secs(dict: &Dict<'_>, key: &'static str) -> Result<Option<Duration>, ResponseError> {
    Ok(count(dict, key)?.map(|s| Duration::from_secs(u64::from(s))))
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { limit } => write!(f, "tracker response exceeds {limit} bytes"),
            Self::HeadTooLarge => write!(f, "tracker response headers exceed {MAX_HEAD} bytes"),
            Self::Malformed(e) => write!(f, "tracker response is not HTTP/1.x: {e}"),
            Self::BadContentLength(v) => write!(f, "tracker sent Content-Length {v:?}"),
            Self::ConflictingContentLength => {
                write!(f, "tracker sent conflicting Content-Length headers")
            }
            Self::UnsupportedTransferEncoding(v) => {
                write!(f, "tracker sent unsupported Transfer-Encoding {v:?}")
            }
            Self::UnsupportedContentEncoding(v) => {
                write!(f, "tracker sent unsupported Content-Encoding {v:?}")
            }
            Self::BadChunk => write!(f, "tracker sent a malformed chunk"),
            Self::TruncatedHead { received } => {
                write!(
                    f,
                    "tracker closed after {received} bytes, inside the headers"
                )
            }
            Self::TruncatedBody { expected, received } => write!(
                f,
                "tracker closed after {received} of {expected} body bytes"
            ),
            Self::TruncatedChunked => write!(f, "tracker closed before the last chunk"),
        }
    }
}

impl std::error::Error for HttpError {}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bencode(e) => write!(f, "tracker response is not bencode: {e}"),
            Self::NotADictionary(t) => write!(f, "tracker response is a {t}, not a dictionary"),
            Self::Failure(r) => write!(f, "tracker refused: {r}"),
            Self::WrongType { key, expected } => {
                write!(f, "tracker response {key:?} is not a {expected}")
            }
            Self::OutOfRange { key, value } => {
                write!(f, "tracker response {key:?} = {value} is out of range")
            }
            Self::CompactPeersLength(n) => {
                write!(f, "compact peers are {n} bytes, not a multiple of 6")
            }
            Self::CompactPeers6Length(n) => {
                write!(f, "compact peers6 are {n} bytes, not a multiple of 18")
            }
            Self::BadPeer(i) => write!(f, "peer {i} has no valid ip and port"),
        }
    }
}

impl std::error::Error for ResponseError {}

#[cfg(test)]
mod tests;
