//! The values that cross the boundary between the [`Session`](super::Session) and a runtime:
//! ids, transmits, actions (work the runtime performs: connects, disk jobs, HTTP requests, DNS)
//! and completions (their results, fed back through `handle_*` calls).
//!
//! This is the runtime contract. A runtime (smol, tokio, a custom event loop, the simulator)
//! needs nothing else from core to drive a session.
//!
//! Peer transmits are appended to the connection's write stream. A runtime that sets
//! [`SessionConfig::send_accounting`](super::SessionConfig::send_accounting) reports how many
//! of those bytes each socket accepted with
//! [`Session::handle_peer_sent`](super::Session::handle_peer_sent) (after every successful
//! write, grouped as it likes): that is how the session bounds the bytes waiting in the
//! runtime's write queue of a peer that does not read.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use crate::metainfo::PieceHash;

use crate::id::InfoHash;
pub use crate::io::{ConnId, Dest, Transmit};
use crate::layout::Layout;
use crate::metainfo::RelativePath;
use crate::storage::StorageError;
use crate::tracker::TrackerUrl;

pub use super::completion::{
    Answer, CheckReply, Completion, CreateReply, DigestsReply, FlushReply, ReadReply, StampsReply,
    VerifyReply, WriteReply,
};

/// A torrent in the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TorrentId(pub u32);

/// A disk or hash job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

/// An HTTP request or a DNS resolution the session asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Work for the runtime. Each result comes back through the `handle_*` call named on the
/// variant.
#[derive(Debug)]
#[non_exhaustive]
pub enum Action {
    /// Open a TCP connection; report with `handle_connected`, then bytes with
    /// `handle_peer_data` and the end with `handle_peer_closed`.
    Connect {
        /// The id the session gave this connection.
        conn: ConnId,
        /// The peer's address.
        addr: SocketAddr,
    },
    /// Close a connection (after writing what was already transmitted to it). Do not report
    /// `handle_peer_closed` for it.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Stop reading from a connection until [`Action::ResumeReading`] (back-pressure): the
    /// torrent's received blocks waiting for the disk reached
    /// `SessionConfig::max_unwritten_bytes`. What the peer sends meanwhile should wait in the
    /// kernel's socket buffer (TCP flow control then slows the peer); a runtime may still
    /// deliver what it had already read. The session holds the connection's idle and request
    /// timers while it is paused.
    PauseReading {
        /// The connection.
        conn: ConnId,
    },
    /// Start reading from a paused connection again (the unwritten bytes fell to half the cap).
    ResumeReading {
        /// The connection.
        conn: ConnId,
    },
    /// Create the storage of a torrent (a `FileStorage` under the torrent's download directory,
    /// or a `MemoryStorage` in a simulation). Later disk jobs for the torrent use it.
    OpenStorage {
        /// The torrent.
        torrent: TorrentId,
        /// Piece and file geometry.
        layout: Layout,
        /// One safe relative path per file of the layout, padding files included.
        paths: Arc<[RelativePath]>,
        /// The BEP 47 symbolic links among the files: `(file index, target)`, the target a
        /// path of the torrent (see [`crate::metainfo::FileEntry::symlink`]). Storage on
        /// disk creates each as a relative link when the file is created; others ignore them.
        symlinks: Arc<[(usize, RelativePath)]>,
    },
    /// Run a disk or hash job on a worker thread; report with `handle_completion`.
    Disk(DiskJob),
    /// Send an HTTP(S) request (request bytes built by core) and report the response with
    /// `handle_http_response`, unless an [`Action::CancelHttp`] for it comes first.
    HttpRequest {
        /// Identifies the response.
        id: RequestId,
        /// Where to connect (scheme decides TLS, host and port where).
        url: TrackerUrl,
        /// The whole request, ready to write.
        request: Vec<u8>,
    },
    /// Drop the [`Action::HttpRequest`] `id` if it is still running (close its connection,
    /// stop resolving or connecting) and report nothing for it: the session abandoned the
    /// announce and ignores a late answer. A runtime that cannot cancel may let it run; a
    /// request already ended is ignored.
    CancelHttp {
        /// The request's id.
        id: RequestId,
    },
    /// Send a web seed's HTTP(S) range request (BEP 19) and report the response with
    /// `handle_http_response`. Read at most `max_response` bytes (head and body): a larger
    /// answer is an error, never buffered. The connection may be kept alive and reused for
    /// later requests to the same host.
    WebSeedRequest {
        /// Identifies the response.
        id: RequestId,
        /// Where to connect (scheme decides TLS, host and port where).
        url: TrackerUrl,
        /// The whole request, ready to write.
        request: Vec<u8>,
        /// The cap on the response.
        max_response: usize,
    },
    /// Resolve a host name; report with `handle_resolved`.
    Resolve {
        /// Identifies the answer.
        id: RequestId,
        /// The host name.
        host: String,
        /// The port to put in the resolved addresses.
        port: u16,
    },
    /// Persist a torrent's resume data (write atomically: temp file, fsync, rename).
    SaveResume {
        /// The torrent.
        torrent: TorrentId,
        /// Bencoded resume data.
        data: Vec<u8>,
    },
    /// Load a released torrent's metainfo back (see
    /// [`TorrentOptions::release_idle_after`](super::TorrentOptions::release_idle_after)),
    /// off the loop, and report with
    /// [`Session::handle_metainfo`](super::Session::handle_metainfo) (or, with `resume`,
    /// [`Session::handle_loaded`](super::Session::handle_loaded)).
    LoadMetainfo {
        /// The torrent.
        torrent: TorrentId,
        /// Its info-hash (its id among torrents).
        info_hash: InfoHash,
        /// Read its saved resume data too (from
        /// [`Action::SaveResume`](Action::SaveResume)): it was added
        /// [`saved_complete`](super::TorrentOptions::saved_complete) and is verified now.
        resume: bool,
    },
    /// Persist the DHT node state (node id and good nodes).
    SaveDhtState {
        /// Encoded DHT state.
        data: Vec<u8>,
    },
}

/// A job for a worker thread.
#[derive(Debug)]
pub struct DiskJob {
    /// Echoed in the completion.
    pub id: JobId,
    /// The torrent whose storage to use.
    pub torrent: TorrentId,
    /// What to do.
    pub kind: DiskJobKind,
}

/// What a [`DiskJob`] does, with the reply that answers it: each reply takes only its own
/// job's result, so the answer always fits the job.
#[derive(Debug)]
#[non_exhaustive]
pub enum DiskJobKind {
    /// Write a received block (a slice of the receive buffer: no copy on the way).
    Write {
        /// Piece index.
        piece: u32,
        /// Offset in the piece.
        offset: u32,
        /// The block.
        data: Bytes,
        /// Answers the job.
        reply: WriteReply,
    },
    /// Read a block to upload to a peer.
    Read {
        /// Piece index.
        piece: u32,
        /// Offset in the piece.
        offset: u32,
        /// Length in bytes.
        len: u32,
        /// Answers the job with the bytes read.
        reply: ReadReply,
    },
    /// Read a whole piece back and compare its hash (SHA-1, or merkle root for v2).
    Verify {
        /// Piece index.
        piece: u32,
        /// The hash from the metainfo.
        expected: PieceHash,
        /// Answers the job with whether the hash matched.
        reply: VerifyReply,
    },
    /// Make every write completed so far durable.
    Flush {
        /// Answers the job.
        reply: FlushReply,
    },
    /// Check existing data: hash each listed piece against `expected` (resume, recheck).
    Check {
        /// Pieces to hash, with their expected hashes.
        pieces: Vec<(u32, PieceHash)>,
        /// Answers the job with the pieces whose hash matched.
        reply: CheckReply,
    },
    /// Read each file's size and modification time (to decide what resume data can trust).
    Stamps {
        /// Answers the job with one stamp per file.
        reply: StampsReply,
    },
    /// Create the listed files (and reserve their space, as the storage is configured to) before
    /// blocks arrive for them, so writing a block never waits for a file to be created.
    Create {
        /// File indices in the layout.
        files: Vec<usize>,
        /// Answers the job.
        reply: CreateReply,
    },
    /// Read a piece back and return the SHA-256 of each of its 16 KiB blocks, in block order
    /// (the smart ban compares what each peer sent; see `storage::block_digests`).
    BlockDigests {
        /// Piece index.
        piece: u32,
        /// Answers the job with the digests.
        reply: DigestsReply,
    },
}

impl DiskJobKind {
    /// The completion of a job that could not run (no storage, or a kind this runtime does
    /// not know).
    pub fn fail(self, error: StorageError) -> Completion {
        match self {
            Self::Write { reply, .. } => reply.send(Err(error)),
            Self::Read { reply, .. } => reply.send(Err(error)),
            Self::Verify { reply, .. } => reply.send(Err(error)),
            Self::Flush { reply } => reply.send(Err(error)),
            Self::Check { reply, .. } => reply.send(Err(error)),
            Self::Stamps { reply } => reply.send(Err(error)),
            Self::Create { reply, .. } => reply.send(Err(error)),
            Self::BlockDigests { reply, .. } => reply.send(Err(error)),
        }
    }
}
