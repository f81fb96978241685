//! KRPC (BEP 5): the bencoded query / response / error messages of the DHT, compact node and
//! peer encodings (BEP 32 for IPv6), the `ip` field of BEP 42 and the `ro` flag of BEP 43.
//!
//! Decoding is bounded: a datagram larger than [`MAX_DATAGRAM`] is refused, transaction ids
//! longer than [`MAX_TID_LEN`] are refused, and at most [`MAX_NODES`] nodes and
//! [`MAX_VALUES`] peers are kept from one response, whatever the message claims.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::node_id::NodeId;
use crate::bencode::{DecodeError, Decoder, Dict, Encoder, Value};
use crate::id::InfoHash;

/// The largest datagram decoded; real KRPC messages are below 1.5 KB.
pub const MAX_DATAGRAM: usize = 8 * 1024;
/// The longest transaction id accepted.
pub const MAX_TID_LEN: usize = 16;
/// The most nodes kept from one `nodes` or `nodes6` field.
pub const MAX_NODES: usize = 64;
/// The most peers kept from one `values` list.
pub const MAX_VALUES: usize = 256;
/// The longest token accepted.
pub const MAX_TOKEN_LEN: usize = 64;
/// The deepest nesting a KRPC message needs (dict, dict, list, string).
const MAX_DEPTH: usize = 4;

/// One decoded KRPC message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The transaction id (`t`), echoed in the reply.
    pub tid: Vec<u8>,
    /// Query, response or error.
    pub body: Body,
    /// BEP 43 `ro`: the sender is read-only and must not be added to routing tables.
    pub read_only: bool,
    /// BEP 42 `ip`: the address the sender sees us at.
    pub ip: Option<SocketAddr>,
    /// The client version (`v`), as given (at most 16 bytes kept).
    pub version: Option<Vec<u8>>,
}

/// What a [`Message`] carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// `y = q`
    Query(Query),
    /// `y = r`
    Response(Response),
    /// `y = e`
    Error(ErrorBody),
}

/// A query: the querying node's id and the method with its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The querying node's id.
    pub id: NodeId,
    /// The method called.
    pub method: Method,
}

/// The four BEP 5 methods, or one we do not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// `ping`
    Ping,
    /// `find_node`: the closest nodes to `target`.
    FindNode {
        /// The id looked for.
        target: NodeId,
        /// BEP 32 `want`.
        want: Want,
    },
    /// `get_peers`: peers of `info_hash`, or the closest nodes.
    GetPeers {
        /// The torrent.
        info_hash: InfoHash,
        /// BEP 32 `want`.
        want: Want,
    },
    /// `announce_peer`: the querying node downloads `info_hash` on `port`.
    AnnouncePeer {
        /// The torrent.
        info_hash: InfoHash,
        /// The announced port (ignored when `implied_port`).
        port: u16,
        /// Use the UDP source port instead of `port`.
        implied_port: bool,
        /// The token an earlier `get_peers` response gave.
        token: Vec<u8>,
    },
    /// Any other method (answered with error 204); its name, at most 32 bytes kept.
    Unknown(Vec<u8>),
}

/// BEP 32 `want`: which address families the querier wants nodes of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Want {
    /// `n4`
    pub v4: bool,
    /// `n6`
    pub v6: bool,
}

/// A response. KRPC responses do not name their method: the fields present tell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    /// The responding node's id.
    pub id: NodeId,
    /// IPv4 nodes (`nodes`).
    pub nodes: Vec<NodeInfo>,
    /// IPv6 nodes (`nodes6`).
    pub nodes6: Vec<NodeInfo>,
    /// Peers (`values`).
    pub values: Vec<SocketAddr>,
    /// The write token (`token`) for a later `announce_peer`.
    pub token: Option<Vec<u8>>,
}

/// An error message: a code and a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorBody {
    /// 201 generic, 202 server, 203 protocol, 204 method unknown.
    pub code: i64,
    /// The text (lossy UTF-8, at most 128 bytes kept).
    pub message: String,
}

/// A node's id and UDP address, as in compact node info.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeInfo {
    /// The node id.
    pub id: NodeId,
    /// Its UDP address.
    pub addr: SocketAddr,
}

/// Error codes of BEP 5.
pub mod code {
    /// Generic error.
    pub const GENERIC: i64 = 201;
    /// Server error.
    pub const SERVER: i64 = 202;
    /// Protocol error: malformed packet, invalid arguments or bad token.
    pub const PROTOCOL: i64 = 203;
    /// Method unknown.
    pub const METHOD_UNKNOWN: i64 = 204;
}

/// Why a datagram is not a valid KRPC message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KrpcError {
    /// Larger than [`MAX_DATAGRAM`].
    TooLarge(usize),
    /// Not bencode.
    Bencode(DecodeError),
    /// Bencode, but the top level is not a dictionary.
    NotADict,
    /// A required key is absent.
    Missing(&'static str),
    /// A key holds the wrong bencode type.
    WrongType(&'static str),
    /// A byte string has the wrong length.
    BadLength {
        /// The key.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// `y` is not `q`, `r` or `e`.
    UnknownType,
    /// `port` outside 1..=65535 (without `implied_port`).
    BadPort(i64),
}

impl fmt::Display for KrpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge(n) => write!(f, "KRPC datagram of {n} bytes exceeds {MAX_DATAGRAM}"),
            Self::Bencode(e) => write!(f, "KRPC message is not bencode: {e}"),
            Self::NotADict => f.write_str("KRPC message is not a dictionary"),
            Self::Missing(k) => write!(f, "KRPC message lacks the `{k}` key"),
            Self::WrongType(k) => write!(f, "KRPC key `{k}` has the wrong type"),
            Self::BadLength { field, len } => {
                write!(f, "KRPC key `{field}` has an invalid length of {len} bytes")
            }
            Self::UnknownType => f.write_str("KRPC `y` is not q, r or e"),
            Self::BadPort(p) => write!(f, "KRPC announce_peer port {p} is out of range"),
        }
    }
}

impl std::error::Error for KrpcError {}

/// Whether `bytes` looks like a KRPC message: it starts with `d` and decodes to a dictionary
/// with a `y` key. Lets a runtime sharing one UDP socket route datagrams between the DHT and
/// UDP trackers (whose packets start with a 32-bit action, never `d`).
pub fn looks_like_krpc(bytes: &[u8]) -> bool {
    if bytes.first() != Some(&b'd') || bytes.len() > MAX_DATAGRAM {
        return false;
    }
    Decoder::new(bytes)
        .max_depth(MAX_DEPTH)
        .decode()
        .is_ok_and(|v| v.as_dict().is_some_and(|d| d.get(b"y").is_some()))
}

impl Message {
    /// Decodes one datagram.
    pub fn decode(bytes: &[u8]) -> Result<Self, KrpcError> {
        if bytes.len() > MAX_DATAGRAM {
            return Err(KrpcError::TooLarge(bytes.len()));
        }
        let value = Decoder::new(bytes)
            .max_depth(MAX_DEPTH)
            .decode()
            .map_err(KrpcError::Bencode)?;
        let dict = value.as_dict().ok_or(KrpcError::NotADict)?;
        let tid = req_bytes(dict, b"t", "t")?;
        if tid.len() > MAX_TID_LEN {
            return Err(KrpcError::BadLength {
                field: "t",
                len: tid.len(),
            });
        }
        let kind = req_bytes(dict, b"y", "y")?;
        let body = match kind {
            b"q" => Body::Query(decode_query(dict)?),
            b"r" => Body::Response(decode_response(dict)?),
            b"e" => Body::Error(decode_error(dict)?),
            _ => return Err(KrpcError::UnknownType),
        };
        let read_only = dict.int(b"ro") == Some(1);
        let ip = dict.bytes(b"ip").and_then(decode_peer);
        let version = dict.bytes(b"v").map(|v| v.get(..16).unwrap_or(v).to_vec());
        Ok(Self {
            tid: tid.to_vec(),
            body,
            read_only,
            ip,
            version,
        })
    }

    /// Encodes the message as canonical bencode.
    pub fn encode(&self) -> Vec<u8> {
        let mut enc = Encoder::with_buffer(Vec::with_capacity(256));
        enc.dict();
        match &self.body {
            Body::Query(q) => {
                enc.bytes(b"a");
                encode_query_args(&mut enc, q);
            }
            Body::Error(e) => {
                enc.bytes(b"e").list().int(e.code);
                enc.bytes(e.message.as_bytes()).end();
            }
            Body::Response(_) => {}
        }
        if let Some(ip) = self.ip {
            enc.bytes(b"ip").bytes(&encode_peer(ip));
        }
        if let Body::Query(q) = &self.body {
            enc.bytes(b"q").bytes(q.method.name());
        }
        if let Body::Response(r) = &self.body {
            enc.bytes(b"r");
            encode_response(&mut enc, r);
        }
        if self.read_only {
            enc.bytes(b"ro").int(1);
        }
        enc.bytes(b"t").bytes(&self.tid);
        if let Some(v) = &self.version {
            enc.bytes(b"v").bytes(v);
        }
        let y: &[u8] = match self.body {
            Body::Query(_) => b"q",
            Body::Response(_) => b"r",
            Body::Error(_) => b"e",
        };
        enc.bytes(b"y").bytes(y);
        enc.end();
        enc.finish()
    }
}

impl Method {
    /// The method name on the wire.
    pub fn name(&self) -> &[u8] {
        match self {
            Self::Ping => b"ping",
            Self::FindNode { .. } => b"find_node",
            Self::GetPeers { .. } => b"get_peers",
            Self::AnnouncePeer { .. } => b"announce_peer",
            Self::Unknown(name) => name,
        }
    }
}

/// Compact node info: 26 bytes per IPv4 node (`nodes`), 38 per IPv6 node (`nodes6`).
/// Nodes of the other family are skipped.
pub fn encode_nodes(nodes: &[NodeInfo], v6: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(nodes.len() * if v6 { 38 } else { 26 });
    for n in nodes {
        if n.addr.is_ipv6() == v6 {
            out.extend_from_slice(&n.id.0);
            out.extend_from_slice(&encode_peer(n.addr));
        }
    }
    out
}

/// Decodes compact node info; at most [`MAX_NODES`] kept, entries with port 0 skipped.
pub fn decode_nodes(bytes: &[u8], v6: bool) -> Result<Vec<NodeInfo>, KrpcError> {
    let (size, field) = if v6 { (38, "nodes6") } else { (26, "nodes") };
    if !bytes.len().is_multiple_of(size) {
        return Err(KrpcError::BadLength {
            field,
            len: bytes.len(),
        });
    }
    let mut out = Vec::with_capacity((bytes.len() / size).min(MAX_NODES));
    for chunk in bytes.chunks_exact(size).take(MAX_NODES) {
        let (id, addr) = chunk.split_at(20);
        let Some(id) = NodeId::from_slice(id) else {
            continue;
        };
        if let Some(addr) = decode_peer(addr).filter(|a| a.port() != 0) {
            out.push(NodeInfo { id, addr });
        }
    }
    Ok(out)
}

/// Compact peer info: 4 or 16 address bytes then the port, big-endian.
pub fn encode_peer(addr: SocketAddr) -> Vec<u8> {
    let mut out = match addr.ip() {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    out.extend_from_slice(&addr.port().to_be_bytes());
    out
}

/// Decodes 6 (IPv4) or 18 (IPv6) bytes of compact peer info.
pub fn decode_peer(bytes: &[u8]) -> Option<SocketAddr> {
    match bytes.len() {
        6 => {
            let ip: [u8; 4] = bytes[..4].try_into().ok()?;
            let port = u16::from_be_bytes([bytes[4], bytes[5]]);
            Some(SocketAddr::new(Ipv4Addr::from(ip).into(), port))
        }
        18 => {
            let ip: [u8; 16] = bytes[..16].try_into().ok()?;
            let port = u16::from_be_bytes([bytes[16], bytes[17]]);
            Some(SocketAddr::new(Ipv6Addr::from(ip).into(), port))
        }
        _ => None,
    }
}

fn req_bytes<'a>(dict: &Dict<'a>, key: &[u8], name: &'static str) -> Result<&'a [u8], KrpcError> {
    match dict.get(key) {
        None => Err(KrpcError::Missing(name)),
        Some(v) => v.as_bytes().ok_or(KrpcError::WrongType(name)),
    }
}

fn req_dict<'a, 'b>(
    dict: &'b Dict<'a>,
    key: &[u8],
    name: &'static str,
) -> Result<&'b Dict<'a>, KrpcError> {
    match dict.get(key) {
        None => Err(KrpcError::Missing(name)),
        Some(v) => v.as_dict().ok_or(KrpcError::WrongType(name)),
    }
}

fn req_id(dict: &Dict<'_>, key: &[u8], name: &'static str) -> Result<[u8; 20], KrpcError> {
    let bytes = req_bytes(dict, key, name)?;
    bytes.try_into().map_err(|_| KrpcError::BadLength {
        field: name,
        len: bytes.len(),
    })
}

fn decode_want(args: &Dict<'_>) -> Want {
    let mut want = Want::default();
    for item in args.list(b"want").unwrap_or_default() {
        match item.as_bytes() {
            Some(b"n4") => want.v4 = true,
            Some(b"n6") => want.v6 = true,
            _ => {}
        }
    }
    want
}

fn decode_query(dict: &Dict<'_>) -> Result<Query, KrpcError> {
    let name = req_bytes(dict, b"q", "q")?;
    let args = req_dict(dict, b"a", "a")?;
    let id = NodeId(req_id(args, b"id", "id")?);
    let method = match name {
        b"ping" => Method::Ping,
        b"find_node" => Method::FindNode {
            target: NodeId(req_id(args, b"target", "target")?),
            want: decode_want(args),
        },
        b"get_peers" => Method::GetPeers {
            info_hash: InfoHash(req_id(args, b"info_hash", "info_hash")?),
            want: decode_want(args),
        },
        b"announce_peer" => {
            let info_hash = InfoHash(req_id(args, b"info_hash", "info_hash")?);
            let implied_port = args.int(b"implied_port").is_some_and(|v| v != 0);
            let port = match args.get(b"port") {
                Some(v) => v.as_int().ok_or(KrpcError::WrongType("port"))?,
                None if implied_port => 0,
                None => return Err(KrpcError::Missing("port")),
            };
            let port = match u16::try_from(port) {
                Ok(p) if p != 0 || implied_port => p,
                _ if implied_port => 0,
                _ => return Err(KrpcError::BadPort(port)),
            };
            let token = req_bytes(args, b"token", "token")?;
            if token.len() > MAX_TOKEN_LEN {
                return Err(KrpcError::BadLength {
                    field: "token",
                    len: token.len(),
                });
            }
            Method::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token: token.to_vec(),
            }
        }
        other => Method::Unknown(other.get(..32).unwrap_or(other).to_vec()),
    };
    Ok(Query { id, method })
}

fn decode_response(dict: &Dict<'_>) -> Result<Response, KrpcError> {
    let r = req_dict(dict, b"r", "r")?;
    let id = NodeId(req_id(r, b"id", "id")?);
    let nodes = match r.get(b"nodes") {
        None => Vec::new(),
        Some(v) => decode_nodes(v.as_bytes().ok_or(KrpcError::WrongType("nodes"))?, false)?,
    };
    let nodes6 = match r.get(b"nodes6") {
        None => Vec::new(),
        Some(v) => decode_nodes(v.as_bytes().ok_or(KrpcError::WrongType("nodes6"))?, true)?,
    };
    let values = match r.get(b"values") {
        None => Vec::new(),
        Some(v) => {
            let list = v.as_list().ok_or(KrpcError::WrongType("values"))?;
            list.iter()
                .filter_map(Value::as_bytes)
                .filter_map(decode_peer)
                .filter(|a| a.port() != 0)
                .take(MAX_VALUES)
                .collect()
        }
    };
    let token = match r.get(b"token") {
        None => None,
        Some(v) => {
            let t = v.as_bytes().ok_or(KrpcError::WrongType("token"))?;
            if t.len() > MAX_TOKEN_LEN {
                return Err(KrpcError::BadLength {
                    field: "token",
                    len: t.len(),
                });
            }
            Some(t.to_vec())
        }
    };
    Ok(Response {
        id,
        nodes,
        nodes6,
        values,
        token,
    })
}

fn decode_error(dict: &Dict<'_>) -> Result<ErrorBody, KrpcError> {
    let list = match dict.get(b"e") {
        None => return Err(KrpcError::Missing("e")),
        Some(v) => v.as_list().ok_or(KrpcError::WrongType("e"))?,
    };
    let code = list
        .first()
        .and_then(Value::as_int)
        .ok_or(KrpcError::WrongType("e"))?;
    let text = list.get(1).and_then(Value::as_bytes).unwrap_or_default();
    let mut message = String::from_utf8_lossy(text.get(..128).unwrap_or(text)).into_owned();
    // Replacement characters may have grown it: cut at a char boundary within 128 bytes, so
    // re-encoding and decoding again gives the same text.
    let mut cut = message.len().min(128);
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    message.truncate(cut);
    Ok(ErrorBody { code, message })
}

fn encode_want(enc: &mut Encoder, want: Want) {
    if want.v4 || want.v6 {
        enc.bytes(b"want").list();
        if want.v4 {
            enc.bytes(b"n4");
        }
        if want.v6 {
            enc.bytes(b"n6");
        }
        enc.end();
    }
}

fn encode_query_args(enc: &mut Encoder, q: &Query) {
    enc.dict().bytes(b"id").bytes(&q.id.0);
    match &q.method {
        Method::Ping | Method::Unknown(_) => {}
        Method::FindNode { target, want } => {
            enc.bytes(b"target").bytes(&target.0);
            encode_want(enc, *want);
        }
        Method::GetPeers { info_hash, want } => {
            enc.bytes(b"info_hash").bytes(&info_hash.0);
            encode_want(enc, *want);
        }
        Method::AnnouncePeer {
            info_hash,
            port,
            implied_port,
            token,
        } => {
            enc.bytes(b"implied_port").int(i64::from(*implied_port));
            enc.bytes(b"info_hash").bytes(&info_hash.0);
            enc.bytes(b"port").int(i64::from(*port));
            enc.bytes(b"token").bytes(token);
        }
    }
    enc.end();
}

fn encode_response(enc: &mut Encoder, r: &Response) {
    enc.dict().bytes(b"id").bytes(&r.id.0);
    if !r.nodes.is_empty() {
        enc.bytes(b"nodes").bytes(&encode_nodes(&r.nodes, false));
    }
    if !r.nodes6.is_empty() {
        enc.bytes(b"nodes6").bytes(&encode_nodes(&r.nodes6, true));
    }
    if let Some(token) = &r.token {
        enc.bytes(b"token").bytes(token);
    }
    if !r.values.is_empty() {
        enc.bytes(b"values").list();
        for v in &r.values {
            enc.bytes(&encode_peer(*v));
        }
        enc.end();
    }
    enc.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn bep5_examples_decode_and_reencode() {
        let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
        let m = Message::decode(ping).unwrap();
        assert_eq!(m.tid, b"aa");
        let Body::Query(q) = &m.body else {
            panic!("not a query")
        };
        assert_eq!(q.id.0, *b"abcdefghij0123456789");
        assert_eq!(q.method, Method::Ping);
        assert_eq!(m.encode(), ping);

        let get_peers = b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe";
        let m = Message::decode(get_peers).unwrap();
        assert_eq!(m.encode(), get_peers);

        let values = b"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re";
        let m = Message::decode(values).unwrap();
        let Body::Response(r) = &m.body else {
            panic!("not a response")
        };
        assert_eq!(r.values.len(), 2);
        assert_eq!(r.token.as_deref(), Some(&b"aoeusnth"[..]));
        assert_eq!(m.encode(), values);

        let err = b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee";
        let m = Message::decode(err).unwrap();
        assert_eq!(
            m.body,
            Body::Error(ErrorBody {
                code: 201,
                message: "A Generic Error Ocurred".into()
            })
        );
        assert_eq!(m.encode(), err);
    }

    #[test]
    fn round_trip_every_kind() {
        let nodes = [
            NodeInfo {
                id: NodeId([1; 20]),
                addr: addr("1.2.3.4:5"),
            },
            NodeInfo {
                id: NodeId([2; 20]),
                addr: addr("[::1]:6881"),
            },
        ];
        let msgs = [
            Body::Query(Query {
                id: NodeId([3; 20]),
                method: Method::AnnouncePeer {
                    info_hash: InfoHash([4; 20]),
                    port: 6881,
                    implied_port: true,
                    token: b"tok".to_vec(),
                },
            }),
            Body::Query(Query {
                id: NodeId([3; 20]),
                method: Method::FindNode {
                    target: NodeId([9; 20]),
                    want: Want { v4: true, v6: true },
                },
            }),
            Body::Response(Response {
                id: NodeId([5; 20]),
                nodes: nodes[..1].to_vec(),
                nodes6: nodes[1..].to_vec(),
                values: vec![addr("9.9.9.9:1"), addr("[2001:db8::1]:2")],
                token: Some(b"xyz".to_vec()),
            }),
        ];
        for body in msgs {
            let m = Message {
                tid: vec![0, 1, 2, 3],
                body,
                read_only: true,
                ip: Some(addr("8.8.8.8:53")),
                version: Some(b"ST01".to_vec()),
            };
            let bytes = m.encode();
            assert!(looks_like_krpc(&bytes));
            assert!(Decoder::new(&bytes).strict(true).decode().is_ok());
            assert_eq!(Message::decode(&bytes).unwrap(), m);
        }
    }

    #[test]
    fn malformed_table() {
        let big = vec![b'd'; MAX_DATAGRAM + 1];
        let cases: &[(&[u8], KrpcError)] = &[
            (b"", KrpcError::Bencode(crate::bencode::decode(b"").unwrap_err())),
            (b"li1ee", KrpcError::NotADict),
            (b"d1:y1:qe", KrpcError::Missing("t")),
            (b"d1:ti1e1:y1:qe", KrpcError::WrongType("t")),
            (b"d1:t2:aae", KrpcError::Missing("y")),
            (b"d1:t2:aa1:y1:xe", KrpcError::UnknownType),
            (b"d1:t2:aa1:y1:qe", KrpcError::Missing("q")),
            (b"d1:q4:ping1:t2:aa1:y1:qe", KrpcError::Missing("a")),
            (b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe", KrpcError::BadLength { field: "id", len: 3 }),
            (b"d1:ad2:id20:abcdefghij0123456789e1:q9:find_node1:t2:aa1:y1:qe", KrpcError::Missing("target")),
            (b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti70000e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe", KrpcError::BadPort(70000)),
            (b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti0e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe", KrpcError::BadPort(0)),
            (b"d1:rd2:id20:abcdefghij01234567895:nodes3:abce1:t2:aa1:y1:re", KrpcError::BadLength { field: "nodes", len: 3 }),
            (b"d1:rd2:id20:abcdefghij01234567896:valuesi1ee1:t2:aa1:y1:re", KrpcError::WrongType("values")),
            (b"d1:rle1:t2:aa1:y1:re", KrpcError::WrongType("r")),
            (b"d1:e3:abc1:t2:aa1:y1:ee", KrpcError::WrongType("e")),
            (b"d1:t17:aaaaaaaaaaaaaaaaa1:y1:re", KrpcError::BadLength { field: "t", len: 17 }),
            (&big, KrpcError::TooLarge(MAX_DATAGRAM + 1)),
        ];
        for (input, want) in cases {
            let got = Message::decode(input);
            assert_eq!(
                got.as_ref().err(),
                Some(want),
                "{:?}",
                String::from_utf8_lossy(input)
            );
            assert!(!want.to_string().is_empty());
        }
        // Nesting deeper than KRPC needs is refused by the decoder, not by recursion.
        let deep = format!("d1:a{}{}e", "l".repeat(100), "e".repeat(100));
        assert!(matches!(
            Message::decode(deep.as_bytes()),
            Err(KrpcError::Bencode(_))
        ));
    }

    #[test]
    fn unknown_method_and_implied_port() {
        let m =
            Message::decode(b"d1:ad2:id20:abcdefghij0123456789e1:q4:vote1:t2:aa1:y1:qe").unwrap();
        let Body::Query(q) = m.body else { panic!() };
        assert_eq!(q.method, Method::Unknown(b"vote".to_vec()));
        let m = Message::decode(b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234565:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe").unwrap();
        let Body::Query(q) = m.body else { panic!() };
        assert!(matches!(
            q.method,
            Method::AnnouncePeer {
                implied_port: true,
                ..
            }
        ));
    }

    #[test]
    fn compact_nodes_skip_port_zero_and_cap() {
        let mut bytes = Vec::new();
        for i in 0..100u8 {
            bytes.extend_from_slice(&[i; 20]);
            bytes.extend_from_slice(&[10, 0, 0, i, 0, i % 2]);
        }
        let nodes = decode_nodes(&bytes, false).unwrap();
        assert!(nodes.iter().all(|n| n.addr.port() == 1));
        assert_eq!(nodes.len(), MAX_NODES / 2);
        assert!(!looks_like_krpc(b"\0\0\0\x01abcd"));
        assert!(!looks_like_krpc(b"d1:t2:aae"));
    }
}
