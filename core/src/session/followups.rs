//! What a part asks of the rest of the session. A part lent only the fields it needs (such as
//! [`MetaCx`](super::meta::MetaCx) or
//! [`LifeCx`](super::lifecycle::LifeCx)) cannot drive a connection, close one or refill a
//! torrent's requests itself: those steps reach every other part. It queues them here instead,
//! in the order it would have taken them, followed by its own steps that must come after them
//! (continuations); the session runs the queue in order as soon as the part's step returns
//! (see `Session::follow`), so the work happens in the same order as if the part had called
//! the session.

use super::event::PeerCloseReason;
use super::io::{ConnId, TorrentId};
use super::lifecycle::LifeStep;
use super::meta::MetaStep;
use crate::merkle::Hash;
use crate::picker::PeerKey;

/// One step a part asks the session to take.
#[derive(Debug)]
pub(crate) enum FollowUp {
    /// Drain a connection's transmits and handle its events.
    Drive(ConnId),
    /// Close a connection on our initiative.
    Close(ConnId, PeerCloseReason),
    /// Register an established connection with its torrent's picker, then sync what the peer
    /// has.
    Register(ConnId),
    /// Request blocks on every connection of a torrent, then drive them.
    FillAll(TorrentId),
    /// A piece failed its hash check (with its blocks' digests, when read): strikes and bans,
    /// then it is downloaded again.
    PieceFailed(TorrentId, u32, Option<Vec<Hash>>),
    /// Blocks of a piece were proven bad: the web seeds among their senders are dropped.
    WebSeedsFailed(TorrentId, u32, Vec<PeerKey>),
    /// Refuse these peers from now on and close their connections.
    Ban(TorrentId, Vec<PeerKey>, PeerCloseReason),
    /// The start check is over: the torrent runs (or stops, if held).
    FinishCheck(TorrentId),
    /// The metadata part's own step, after the ones queued before it.
    Meta(MetaStep),
    /// The life part's own step, after the ones queued before it.
    Life(LifeStep),
}

/// The steps a part queued during one of its own, in order.
#[derive(Debug, Default)]
pub(crate) struct FollowUps(Vec<FollowUp>);

impl FollowUps {
    /// Queues `step` after the others.
    pub(crate) fn push(&mut self, step: FollowUp) {
        self.0.push(step);
    }

    /// Nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Queues driving `conn`.
    pub(crate) fn drive(&mut self, conn: ConnId) {
        self.push(FollowUp::Drive(conn));
    }

    /// Queues closing `conn` for `reason`.
    pub(crate) fn close(&mut self, conn: ConnId, reason: PeerCloseReason) {
        self.push(FollowUp::Close(conn, reason));
    }

    /// Queues a step of the metadata part.
    pub(crate) fn meta(&mut self, step: MetaStep) {
        self.push(FollowUp::Meta(step));
    }
}

impl IntoIterator for FollowUps {
    type Item = FollowUp;
    type IntoIter = std::vec::IntoIter<FollowUp>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
