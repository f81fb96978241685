//! Earning a slot: when a connection limit is reached, which connection a newcomer replaces
//! (after libtorrent, which disconnects its lowest-ranking peer when full and prefers the
//! uninteresting ones).
//!
//! Only connections that have shown nothing worth a slot may be replaced, in this order:
//! 1. [`Worth::Handshaking`]: handshake not finished, the one heard from least recently first
//!    (a socket that never sent a byte counts from its accept);
//! 2. [`Worth::Silent`]: no message since the handshake, the oldest handshake first;
//! 3. [`Worth::Idle`]: neither side interested, `interest_grace` after the handshake, the one
//!    whose latest message is oldest first.
//!
//! A connection where either side is interested is never replaced (it waits for a slot, or
//! trades).
//!
//! Under a flood every new socket takes a slot, so a slot held by a handshaking connection
//! lasts about `max_pending_inbound` accepts; an honest newcomer needs one round trip to
//! speak. Least recently heard first (rather than, say, the silent before the talkative)
//! gives each its full share: a newcomer is silent for its first round trip too.

use std::time::{Duration, Instant};

use super::io::ConnId;
use super::peers::{Peer, Peers};

/// How little a connection has shown: the lower, the sooner it is replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Worth {
    /// Handshake not finished.
    Handshaking,
    /// Handshake done, no message since.
    Silent,
    /// Neither side interested since `interest_grace` after the handshake.
    Idle,
}

/// A connection's class and since when it has been in it; `None`: it keeps its slot.
pub(crate) fn worth(peer: &Peer, now: Instant, grace: Duration) -> Option<(Worth, Instant)> {
    let Some(established) = peer.established_at.filter(|_| peer.established) else {
        let heard = peer.heard_at.unwrap_or(peer.connected_at);
        return Some((Worth::Handshaking, heard.max(peer.connected_at)));
    };
    let Some(useful) = peer.useful_at else {
        return Some((Worth::Silent, established));
    };
    let interest = peer.conn.am_interested() || peer.conn.peer_interested();
    let old = established.checked_add(grace).is_some_and(|t| t <= now);
    (!interest && old).then_some((Worth::Idle, useful))
}

impl Peers {
    /// The open connection to replace among those `eligible` allows: the least useful by
    /// [`worth`], the longest so first (then the lowest id). `None`: each keeps its slot.
    pub(crate) fn least_useful(
        &self,
        now: Instant,
        grace: Duration,
        eligible: impl Fn(ConnId, &Peer) -> bool,
    ) -> Option<(ConnId, Worth)> {
        self.iter()
            .filter(|(id, p)| eligible(*id, p))
            .filter_map(|(id, p)| worth(p, now, grace).map(|(w, since)| ((w, since, id), w)))
            .min_by_key(|(key, _)| *key)
            .map(|((_, _, id), w)| (id, w))
    }
}

#[cfg(test)]
#[path = "evict_tests.rs"]
mod tests;
