//! A simulated BEP 17 HTTP seed: answers `GET <path>?info_hash=<hash>&piece=<n>&ranges=<a>-<b>`
//! with `200` and those bytes of the piece (honestly or inverted, as [`MirrorBehaviour`]
//! says), or with `503` and a number of seconds for every request in that many seconds from
//! the first (a server busy at first), and notes when each request came. How fast it answers is its host's link bandwidth, as for
//! [`SimMirror`](super::SimMirror).

use std::any::Any;
use std::net::SocketAddr;
use std::time::Instant;

use sanstorrent_core::tracker::http::percent_encode;

use super::agent::Agent;
use super::mirror::MirrorBehaviour;
use super::torrent::TestTorrent;

/// The HTTP seed participant.
#[derive(Debug)]
pub struct SimHttpSeed {
    /// How it answers data requests.
    pub behaviour: MirrorBehaviour,
    /// The request path it serves, with the torrent's `info_hash=` (percent-encoded).
    path: String,
    query_hash: String,
    /// The torrent's bytes in stream order (padding as zeros).
    stream: Vec<u8>,
    piece_length: u64,
    /// Seconds from the first request during which every request is answered `503` with
    /// this number (0: never busy).
    pub busy_secs: u64,
    first: Option<Instant>,
    /// When each request came, and whether it was answered `503`.
    pub requests: Vec<(Instant, bool)>,
    /// Body bytes of data sent.
    pub bytes_served: u64,
    /// Requests refused (`400`, `404`, `416`).
    pub refused: u64,
}

impl SimHttpSeed {
    /// A seed of `t` at `path` (the URL `http://<ip><path>`) that answers `503` "`busy_secs`"
    /// to every request within `busy_secs` of the first.
    pub fn new(t: &TestTorrent, path: &str, behaviour: MirrorBehaviour, busy_secs: u64) -> Self {
        let mut query_hash = String::from("info_hash=");
        percent_encode(&mut query_hash, &t.meta.info_hash().0);
        Self {
            behaviour,
            path: path.to_string(),
            query_hash,
            stream: t.files.concat(),
            piece_length: u64::from(t.meta.piece_length()),
            busy_secs,
            first: None,
            requests: Vec::new(),
            bytes_served: 0,
            refused: 0,
        }
    }

    /// The answer to one request.
    fn answer(&mut self, now: Instant, request: &[u8]) -> Vec<u8> {
        let text = String::from_utf8_lossy(request);
        let target = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("GET "))
            .and_then(|l| l.split(' ').next())
            .unwrap_or("");
        let Some((path, query)) = target.split_once('?') else {
            self.refused += 1;
            return status(400, "Bad Request", "");
        };
        let params: Vec<&str> = query.split('&').collect();
        if path != self.path || !params.contains(&self.query_hash.as_str()) {
            self.refused += 1;
            return status(404, "Not Found", "");
        }
        let first = *self.first.get_or_insert(now);
        if now < first + std::time::Duration::from_secs(self.busy_secs) {
            self.requests.push((now, true));
            return status(503, "Service Unavailable", &self.busy_secs.to_string());
        }
        self.requests.push((now, false));
        let param = |k: &str| params.iter().find_map(|p| p.strip_prefix(k));
        let piece: Option<u64> = param("piece=").and_then(|p| p.parse().ok());
        let range = param("ranges=").and_then(|r| {
            let (a, b) = r.split_once('-')?;
            Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?))
        });
        let (Some(piece), Some((first, last))) = (piece, range) else {
            self.refused += 1;
            return status(400, "Bad Request", "");
        };
        let start = piece * self.piece_length;
        let piece_end = (start + self.piece_length).min(self.stream.len() as u64);
        if first > last || start + last >= piece_end {
            self.refused += 1;
            return status(416, "Range Not Satisfiable", "");
        }
        let mut body = self.stream[(start + first) as usize..=(start + last) as usize].to_vec();
        if self.behaviour == MirrorBehaviour::Corrupt {
            body.iter_mut().for_each(|b| *b = !*b);
        }
        self.bytes_served += body.len() as u64;
        let mut out =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        out.extend_from_slice(&body);
        out
    }
}

/// A response with `code` and a text body.
fn status(code: u16, reason: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl Agent for SimHttpSeed {
    fn http(&mut self, now: Instant, _from: SocketAddr, request: &[u8]) -> Option<Vec<u8>> {
        Some(self.answer(now, request))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
