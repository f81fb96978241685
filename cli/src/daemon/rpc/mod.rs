//! Transmission's RPC protocol over a [`Backend`]: the `X-Transmission-Session-Id`
//! handshake, the legacy and JSON-RPC 2.0 request forms, and each method.
//!
//! [`Rpc::handle`] takes a request's session-id header and body and gives the HTTP status,
//! and body to answer; the HTTP server does the rest (auth, host check, limits).

mod derived;
mod envelope;
mod error;
mod eta;
mod names;
mod params;
mod session;
mod torrent;
mod torrent_get;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

pub(crate) use params::{AllowedDirs, RECENT_SECS};

use self::envelope::{Call, Rejected};
use self::error::MethodError;
use self::names::Style;
use self::params::Params;
use self::session::ServerFacts;
use self::torrent_get::Listing;
use crate::daemon::backend::{Action, Backend, QueueMove};

/// The CSRF header.
pub(crate) const SESSION_ID_HEADER: &str = "X-Transmission-Session-Id";

/// Most calls in one JSON-RPC batch.
const MAX_BATCH: usize = 64;

/// The RPC endpoint: a backend, the session id, and the directories requests may name.
#[derive(Debug)]
pub(crate) struct Rpc<B> {
    backend: Arc<B>,
    facts: ServerFacts,
    allowed: AllowedDirs,
    close: Option<async_channel::Sender<()>>,
}

/// What to answer over HTTP, the body whole (tests read answers so).
#[cfg(test)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    /// 200, 204 (a notification) or 409 (missing or stale session id).
    pub(crate) status: u16,
    /// The JSON body (or a short text for a 409).
    pub(crate) body: Vec<u8>,
}

/// What to answer over HTTP.
pub(crate) struct Answer {
    /// 200, 204 (a notification) or 409 (missing or stale session id).
    pub(crate) status: u16,
    /// The JSON body (or a short text for a 409).
    pub(crate) body: Body,
}

impl Answer {
    fn whole(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            body: Body::Whole(body),
        }
    }
}

/// An answer's body: whole, or in chunks written as they are sent.
pub(crate) enum Body {
    /// All of it.
    Whole(Vec<u8>),
    /// Its chunks, in order (a `torrent-get`: a page of torrents each).
    Parts(Parts),
}

/// The chunks of a body written in parts.
pub(crate) type Parts = std::pin::Pin<Box<dyn futures_lite::Stream<Item = Vec<u8>> + Send>>;

/// One piece of an answer: bytes between answers (a batch's brackets and commas), one call's
/// answer, or a `torrent-get` answer to write a page at a time.
enum Part {
    Bytes(Vec<u8>),
    Value(Value),
    Listing {
        /// What comes before the listing's `arguments`/`result` object, and after it.
        head: Vec<u8>,
        listing: Box<Listing>,
        tail: Vec<u8>,
    },
}

impl<B: Backend> Rpc<B> {
    /// An endpoint over `backend` with a fresh random session id. `session-close` sends on
    /// `close` (without it, the method is refused).
    pub(crate) fn new(
        backend: Arc<B>,
        allowed: AllowedDirs,
        auth_required: bool,
        rpc_port: u16,
        close: Option<async_channel::Sender<()>>,
    ) -> Self {
        Self {
            backend,
            facts: ServerFacts {
                session_id: random_session_id(),
                auth_required,
                rpc_port,
            },
            allowed,
            close,
        }
    }

    /// The backend calls go to (the qBittorrent API shares it).
    pub(crate) fn backend(&self) -> &Arc<B> {
        &self.backend
    }

    /// The directories requests may name.
    pub(crate) fn allowed(&self) -> &AllowedDirs {
        &self.allowed
    }

    /// The session id clients must send back.
    pub(crate) fn session_id(&self) -> &str {
        &self.facts.session_id
    }

    /// Answers one HTTP request to the RPC path, the body whole. `session_id` is the
    /// request's `X-Transmission-Session-Id`, if any.
    #[cfg(test)]
    pub(crate) async fn handle(&self, session_id: Option<&[u8]>, body: &[u8]) -> Reply {
        let answer = self.answer(session_id, body).await;
        let body = match answer.body {
            Body::Whole(body) => body,
            Body::Parts(parts) => {
                use futures_lite::StreamExt as _;
                parts.collect::<Vec<Vec<u8>>>().await.concat()
            }
        };
        Reply {
            status: answer.status,
            body,
        }
    }

    /// Answers one HTTP request to the RPC path: a `torrent-get` answer in parts (a page of
    /// torrents each), any other whole. `session_id` is the request's
    /// `X-Transmission-Session-Id`, if any.
    pub(crate) async fn answer(&self, session_id: Option<&[u8]>, body: &[u8]) -> Answer {
        if session_id != Some(self.facts.session_id.as_bytes()) {
            return Answer::whole(
                409,
                format!(
                    "<h1>409: Conflict</h1><p>Your request had an invalid session id. Send the \
                     header <code>{SESSION_ID_HEADER}: {}</code>.</p>",
                    self.facts.session_id
                )
                .into_bytes(),
            );
        }
        let request: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return json_answer(vec![Part::Value(envelope::parse_error(&format!(
                    "the body is not JSON: {e}"
                )))]);
            }
        };
        let parts = match request {
            Value::Array(batch) if batch.is_empty() || batch.len() > MAX_BATCH => {
                vec![Part::Value(match envelope::read_call(Value::Null) {
                    Err(Rejected(error)) => error,
                    Ok(_) => unreachable!("null is never a call"),
                })]
            }
            Value::Array(batch) => {
                let mut answers = Vec::new();
                for request in batch {
                    answers.extend(self.one(request).await);
                }
                if answers.is_empty() {
                    return Answer::whole(204, Vec::new());
                }
                let last = answers.len() - 1;
                let mut parts = vec![Part::Bytes(b"[".to_vec())];
                for (i, answer) in answers.into_iter().enumerate() {
                    parts.push(answer);
                    parts.push(Part::Bytes(if i == last { b"]" } else { b"," }.to_vec()));
                }
                parts
            }
            single => match self.one(single).await {
                Some(answer) => vec![answer],
                None => return Answer::whole(204, Vec::new()),
            },
        };
        if parts.iter().any(|p| matches!(p, Part::Listing { .. })) {
            Answer {
                status: 200,
                body: Body::Parts(Box::pin(written(Arc::clone(&self.backend), parts))),
            }
        } else {
            json_answer(parts)
        }
    }

    /// Runs one call; `None` for a notification.
    async fn one(&self, request: Value) -> Option<Part> {
        let call: Call = match envelope::read_call(request) {
            Ok(call) => call,
            Err(Rejected(error)) => return Some(Part::Value(error)),
        };
        if call.method == "torrent_get" {
            // Nothing to do for a notification: the method changes nothing.
            let (head, tail) = envelope::around(&call.form)?;
            let p = &Params(&call.params);
            let listed = torrent_get::run(&*self.backend, p, call.form.legacy(), unix_now());
            return match listed.await {
                Ok(listing) => Some(Part::Listing {
                    head,
                    listing: Box::new(listing),
                    tail,
                }),
                Err(e) => envelope::answer(call.form, Err(e), Style::Camel).map(Part::Value),
            };
        }
        let style = match call.method.as_str() {
            "session_get" | "session_set" | "free_space" | "port_test" => Style::Kebab,
            _ => Style::Camel,
        };
        let outcome = self.dispatch(&call).await;
        envelope::answer(call.form, outcome, style).map(Part::Value)
    }

    async fn dispatch(&self, call: &Call) -> Result<Map<String, Value>, MethodError> {
        let b = &*self.backend;
        let p = &Params(&call.params);
        let now = unix_now();
        let allowed = &self.allowed;
        match call.method.as_str() {
            "torrent_add" => torrent::add(b, p, allowed).await,
            "torrent_start" => torrent::act(b, p, Action::Start, now).await,
            "torrent_start_now" => torrent::act(b, p, Action::StartNow, now).await,
            "torrent_stop" => torrent::act(b, p, Action::Stop, now).await,
            "torrent_verify" => torrent::act(b, p, Action::Verify, now).await,
            "torrent_reannounce" => torrent::act(b, p, Action::Reannounce, now).await,
            "torrent_remove" => torrent::remove(b, p, now).await,
            "torrent_set" => torrent::set(b, p, allowed, now).await,
            "torrent_set_location" => torrent::set_location(b, p, allowed, now).await,
            "torrent_rename_path" => torrent::rename_path(b, p, now).await,
            "queue_move_top" => torrent::queue_move(b, p, QueueMove::Top, now).await,
            "queue_move_up" => torrent::queue_move(b, p, QueueMove::Up, now).await,
            "queue_move_down" => torrent::queue_move(b, p, QueueMove::Down, now).await,
            "queue_move_bottom" => torrent::queue_move(b, p, QueueMove::Bottom, now).await,
            "session_get" => session::get(b, p, &self.facts).await,
            "session_set" => session::set(b, p, allowed).await,
            "session_stats" => Ok(session::stats(b).await),
            "free_space" => session::free_space(b, p, allowed).await,
            "port_test" => session::port_test(b, p).await,
            "blocklist_update" => session::blocklist_update(),
            "group_get" => Ok(Map::from_iter([(
                "group".to_owned(),
                Value::Array(Vec::new()),
            )])),
            "session_close" => match &self.close {
                Some(close) => {
                    let _ = close.try_send(());
                    Ok(Map::new())
                }
                None => Err(MethodError::new(
                    error::SYSTEM_ERROR,
                    "this server cannot close",
                )),
            },
            other => Err(MethodError::method_not_found(other)),
        }
    }
}

/// The answer of `parts` none of which is a listing: one JSON body.
fn json_answer(parts: Vec<Part>) -> Answer {
    let mut body = Vec::new();
    for part in parts {
        match part {
            Part::Bytes(bytes) => body.extend_from_slice(&bytes),
            // Serializing a `Value` into a Vec cannot fail (its keys are strings).
            Part::Value(value) => {
                let _ = serde_json::to_writer(&mut body, &value);
            }
            Part::Listing { .. } => unreachable!("listings are written in parts"),
        }
    }
    Answer::whole(200, body)
}

/// The body of `parts` as chunks: bytes and answers as they are, a listing's head, its pages
/// (one round trip with the backend each) and its tail. Empty pages are skipped (an empty
/// chunk would end a chunked body early).
fn written<B: Backend>(
    backend: Arc<B>,
    parts: Vec<Part>,
) -> impl futures_lite::Stream<Item = Vec<u8>> + Send {
    let mut parts = parts.into_iter();
    futures_lite::stream::unfold(
        (backend, None::<(Box<Listing>, Vec<u8>)>),
        move |(backend, mut current)| {
            let next = match current {
                Some(_) => None,
                None => parts.next(),
            };
            async move {
                loop {
                    if let Some((listing, tail)) = &mut current {
                        match listing.page(&*backend).await {
                            Some(page) if page.is_empty() => continue,
                            Some(page) => return Some((page, (backend, current))),
                            None => {
                                let end = [Listing::TAIL, tail.as_slice()].concat();
                                return Some((end, (backend, None)));
                            }
                        }
                    }
                    return match next? {
                        Part::Bytes(bytes) => Some((bytes, (backend, None))),
                        Part::Value(value) => {
                            // Serializing a `Value` cannot fail (its keys are strings).
                            let bytes = serde_json::to_vec(&value).unwrap_or_default();
                            Some((bytes, (backend, None)))
                        }
                        Part::Listing {
                            head,
                            mut listing,
                            tail,
                        } => {
                            let start = [head, listing.head()].concat();
                            Some((start, (backend, Some((listing, tail)))))
                        }
                    };
                }
            }
        },
    )
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// 48 random alphanumeric characters. `RandomState` is seeded from the OS's randomness, which
/// is all a CSRF token needs.
fn random_session_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(48);
    while out.len() < 48 {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(out.len());
        let mut bits = h.finish();
        for _ in 0..8 {
            let idx = usize::try_from(bits % ALPHABET.len() as u64).unwrap_or(0);
            out.push(char::from(ALPHABET[idx]));
            bits /= ALPHABET.len() as u64;
        }
    }
    out
}

#[cfg(test)]
mod tests;
