//! `/stream/<info-hash>/<file index>`: a torrent's file over HTTP at any point of its
//! download, with byte ranges, for media players and browsers. The index counts files in the
//! torrent's order without padding files, as Transmission's `files` and `download --only` do.
//!
//! The HTTP side lives here (the path, `Range`, the response and its body); a backend opens
//! the file ([`Backend::open_stream`](super::backend::Backend::open_stream)) and gives a
//! [`StreamReader`], whose reads wait until the pieces under them are verified.

pub(crate) mod mime;
pub(crate) mod range;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Bytes, Frame};

use super::backend::Hash;

/// Where streams are served.
pub(crate) const PREFIX: &str = "/stream/";

/// Most bytes read (and waited for) at once: a body is sent in chunks of this size.
pub(crate) const CHUNK: usize = 256 * 1024;

/// What a body's errors turn into.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body: whole or streamed.
pub(crate) type StreamBody = UnsyncBoxBody<Bytes, BoxError>;

/// A read: the bytes, or why there are none.
pub(crate) type Read<'a> = Pin<Box<dyn Future<Output = Result<Bytes, String>> + Send + 'a>>;

/// A file opened for streaming.
pub(crate) struct StreamFile {
    /// Its path in the torrent (for the `Content-Type`).
    pub(crate) name: String,
    /// Its length in bytes.
    pub(crate) length: u64,
    /// Reads its bytes.
    pub(crate) reader: Arc<dyn StreamReader>,
}

impl std::fmt::Debug for StreamFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamFile")
            .field("name", &self.name)
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

/// Why a file cannot be streamed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// No torrent with this info-hash, or no file with this index (404).
    NotFound(String),
    /// Not now: the metadata is still being fetched, or the daemon is stopping (503).
    Unavailable(String),
    /// This backend does not stream (501).
    Unsupported,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound(why) | Self::Unavailable(why) => f.write_str(why),
            Self::Unsupported => f.write_str("this daemon does not stream files"),
        }
    }
}

/// One reader of a file (one response being sent). Dropping it releases whatever it asked
/// the client for (its piece deadlines).
pub(crate) trait StreamReader: Send + Sync + 'static {
    /// Bytes `offset..offset + len` of the file (`len` at most [`CHUNK`]), once every piece
    /// under them is verified; the pieces after them are asked for ahead of time. Never
    /// unverified bytes: an error ends the response early instead.
    fn read(&self, offset: u64, len: usize) -> Read<'_>;
}

/// The info-hash and file index a stream path names, if it is one.
pub(crate) fn parse_path(path: &str) -> Option<(Hash, usize)> {
    let rest = path.strip_prefix(PREFIX)?;
    let (hash, index) = rest.split_once('/')?;
    let hash = Hash::from_hex(hash)?;
    if index.is_empty() || index.len() > 9 || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((hash, index.parse().ok()?))
}

/// The body of bytes `start..=end` of `reader`'s file, read chunk by chunk as the client
/// takes them (hyper polls the next chunk only once the previous one is sent).
pub(crate) fn body(reader: Arc<dyn StreamReader>, start: u64, end: u64) -> StreamBody {
    let chunks = futures_lite::stream::unfold(
        (reader, start, end.checked_add(1)),
        |(reader, at, stop)| async move {
            let stop = stop?;
            if at >= stop {
                return None;
            }
            let len = usize::try_from(stop - at).map_or(CHUNK, |n| n.min(CHUNK));
            match reader.read(at, len).await {
                Ok(bytes) if bytes.len() == len => {
                    let next = at + len as u64;
                    Some((Ok(Frame::data(bytes)), (reader, next, Some(stop))))
                }
                Ok(bytes) => Some((
                    Err(BoxError::from(format!(
                        "read {} bytes of {len} at {at}",
                        bytes.len()
                    ))),
                    (reader, stop, None),
                )),
                Err(e) => {
                    tracing::info!("stream ended early at byte {at}: {e}");
                    Some((Err(BoxError::from(e)), (reader, stop, None)))
                }
            }
        },
    );
    http_body_util::StreamBody::new(chunks).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file whose byte `i` is `i % 251`, readable up to `ready` (an error past it).
    struct Pattern {
        ready: u64,
    }

    impl StreamReader for Pattern {
        fn read(&self, offset: u64, len: usize) -> Read<'_> {
            let end = offset + len as u64;
            let ready = self.ready;
            Box::pin(async move {
                if end > ready {
                    return Err(format!("bytes to {end} are not verified"));
                }
                Ok((offset..end).map(|i| (i % 251) as u8).collect())
            })
        }
    }

    fn collect(body: StreamBody) -> Result<Vec<u8>, String> {
        futures_lite::future::block_on(async {
            body.collect()
                .await
                .map(|c| c.to_bytes().to_vec())
                .map_err(|e| e.to_string())
        })
    }

    #[test]
    fn paths_name_a_hash_and_an_index() {
        let hash = "0123456789abcdef0123456789ABCDEF01234567";
        let (h, i) = parse_path(&format!("/stream/{hash}/12")).unwrap();
        assert_eq!(h.to_hex(), hash.to_lowercase());
        assert_eq!(i, 12);
        for bad in [
            format!("/stream/{hash}"),
            format!("/stream/{hash}/"),
            format!("/stream/{hash}/x"),
            format!("/stream/{hash}/-1"),
            format!("/stream/{hash}/1/2"),
            format!("/stream/{hash}/9999999999"),
            "/stream/abc/1".to_string(),
            format!("/streams/{hash}/1"),
        ] {
            assert!(parse_path(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn bodies_hold_exactly_the_range_in_chunks() {
        let reader = Arc::new(Pattern { ready: u64::MAX });
        let expect = |a: u64, b: u64| (a..=b).map(|i| (i % 251) as u8).collect::<Vec<u8>>();
        let total = 3 * CHUNK as u64 + 17;
        assert_eq!(
            collect(body(reader.clone(), 0, total - 1)).unwrap(),
            expect(0, total - 1)
        );
        assert_eq!(collect(body(reader.clone(), 5, 5)).unwrap(), expect(5, 5));
        assert_eq!(
            collect(body(reader, 1000, 1000 + CHUNK as u64)).unwrap(),
            expect(1000, 1000 + CHUNK as u64)
        );
    }

    #[test]
    fn a_failed_read_ends_the_body_with_an_error() {
        let reader = Arc::new(Pattern {
            ready: CHUNK as u64,
        });
        let err = collect(body(reader, 0, 2 * CHUNK as u64)).unwrap_err();
        assert!(err.contains("not verified"), "{err}");
    }
}
