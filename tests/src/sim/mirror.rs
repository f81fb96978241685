//! A simulated web seed (BEP 19 HTTP mirror): answers a session's `Action::WebSeedRequest`
//! range requests (`GET <path>` with `Range: bytes=a-b`) from a torrent's content, honestly or
//! with wrong bytes of the right length (a mirror holding another version of a file), or with
//! a hostile answer (another range, the whole file, gzip, a redirect loop), and counts what it
//! served. How fast it answers is its host's link bandwidth (see
//! [`Sim`](super::Sim): one response at a time per mirror).

use std::any::Any;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use super::agent::Agent;
use super::torrent::TestTorrent;

/// What a mirror sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MirrorBehaviour {
    /// The bytes asked for.
    Honest,
    /// The range asked for, with every byte inverted: right status, range and length, wrong
    /// data (its pieces fail their hash check).
    Corrupt,
    /// A `206` whose `Content-Range` is one byte past the range asked (the body is the range).
    WrongRange,
    /// A `200` with the whole file, ignoring `Range`.
    WholeFile,
    /// The range asked for with `Content-Encoding: gzip`.
    Gzip,
    /// A `302` back to the same path, for ever.
    RedirectLoop,
}

/// The mirror participant.
#[derive(Debug)]
pub struct SimMirror {
    /// How it answers.
    pub behaviour: MirrorBehaviour,
    /// Its files by URL path (percent-encoded as requested).
    files: BTreeMap<String, Vec<u8>>,
    /// Range requests answered with data.
    pub requests: u64,
    /// Body bytes sent.
    pub bytes_served: u64,
    /// Requests answered 404 or 416, or that were not range GETs.
    pub refused: u64,
}

impl SimMirror {
    /// A mirror serving `t`'s files under `prefix` (a URL path ending in `/`, as in the
    /// web seed URL `http://<ip><prefix>`), each at `<prefix><name>` for a single-file
    /// torrent or `<prefix><name>/<path>` for a multi-file one (names without characters
    /// that need percent-encoding).
    pub fn new(t: &TestTorrent, prefix: &str, behaviour: MirrorBehaviour) -> Self {
        let mut files = BTreeMap::new();
        for (i, f) in t.meta.files().iter().enumerate() {
            if f.padding {
                continue;
            }
            let elements: Vec<String> = f.path.components().iter().map(|c| c.to_string()).collect();
            let path = format!("{prefix}{}", elements.join("/"));
            files.insert(path, t.files[i].clone());
        }
        Self {
            behaviour,
            files,
            requests: 0,
            bytes_served: 0,
            refused: 0,
        }
    }

    /// The answer to one request.
    fn answer(&mut self, request: &[u8]) -> Vec<u8> {
        let text = String::from_utf8_lossy(request);
        let mut lines = text.split("\r\n");
        let path = lines
            .next()
            .and_then(|l| l.strip_prefix("GET "))
            .and_then(|l| l.split(' ').next())
            .unwrap_or("");
        let range = lines.find_map(|l| {
            let (k, v) = l.split_once(':')?;
            let (a, b) = k
                .eq_ignore_ascii_case("range")
                .then_some(v.trim())?
                .strip_prefix("bytes=")?
                .split_once('-')?;
            Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?))
        });
        let Some(file) = self.files.get(path) else {
            self.refused += 1;
            return status(404, "Not Found");
        };
        let len = file.len() as u64;
        let Some((first, last)) = range.filter(|&(a, b)| a <= b && b < len) else {
            self.refused += 1;
            return status(416, "Range Not Satisfiable");
        };
        match self.behaviour {
            MirrorBehaviour::RedirectLoop => {
                self.requests += 1;
                return format!(
                    "HTTP/1.1 302 Found\r\nLocation: {path}\r\nContent-Length: 0\r\n\r\n"
                )
                .into_bytes();
            }
            MirrorBehaviour::WholeFile => {
                self.requests += 1;
                self.bytes_served += len;
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
                return [head.as_bytes(), file].concat();
            }
            _ => {}
        }
        let (shown, extra) = match self.behaviour {
            MirrorBehaviour::WrongRange => ((first + 1, last + 1), ""),
            MirrorBehaviour::Gzip => ((first, last), "Content-Encoding: gzip\r\n"),
            _ => ((first, last), ""),
        };
        let mut body = file[first as usize..=last as usize].to_vec();
        if self.behaviour == MirrorBehaviour::Corrupt {
            body.iter_mut().for_each(|b| *b = !*b);
        }
        self.requests += 1;
        self.bytes_served += body.len() as u64;
        let mut out = format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {}-{}/{len}\r\n\
             Content-Length: {}\r\n{extra}\r\n",
            shown.0,
            shown.1,
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(&body);
        out
    }
}

/// A response with `code` and no body.
fn status(code: u16, reason: &str) -> Vec<u8> {
    format!("HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\n\r\n").into_bytes()
}

impl Agent for SimMirror {
    fn http(&mut self, _now: Instant, _from: SocketAddr, request: &[u8]) -> Option<Vec<u8>> {
        Some(self.answer(request))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
