//! Earning a slot: when a connection limit is reached, which connection a newcomer replaces
//! (after libtorrent, which disconnects its lowest-ranking peer when full and prefers the
//! uninteresting ones).
//!
//! Only connections that have shown nothing worth a slot may be replaced, in this order:
//! 1. [`Worth::Handshaking`]: handshake not finished, the one heard from least recently first
//!    (a socket that never sent a byte counts from its accept);
//! 2. [`Worth::Silent`]: no message since the handshake, the oldest handshake first;
//! 3. [`Worth::Idle`]: neither side interested, `interest_grace` after the handshake, the one
//!    whose latest message is oldest first;
//! 4. [`Worth::Wasted`]: the peer is interested but has nothing we want, and wasted its last
//!    unchoke (requested nothing for `unchoke_patience`), the earliest unchoked first;
//! 5. [`Worth::NoTrade`]: the peer is interested but has nothing we want, and nothing was
//!    traded (no request from it we could serve, no block either way) for `trade_grace` since
//!    its handshake or its latest trade, the longest so first.
//!
//! Replacing an inbound connection of the last two is a strike against its address (see
//! `penalty`): an address that keeps taking slots to trade nothing is refused.
//!
//! A connection that trades keeps its slot: a peer with pieces we want, a peer we unchoked
//! that requests (however slowly), a peer that sends us blocks. A peer waiting for us to
//! unchoke it is replaced after `trade_grace`, as libtorrent replaces a seed's peers at its
//! limit whatever their interest.
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
    /// Interested in us, nothing for us, requested nothing when unchoked.
    Wasted,
    /// Interested in us, nothing for us, nothing traded for `trade_grace`.
    NoTrade,
}

/// The grace periods of [`worth`] (from the session's settings).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Graces {
    /// `SessionConfig::interest_grace`.
    pub(crate) interest: Duration,
    /// `SessionConfig::trade_grace`.
    pub(crate) trade: Duration,
}

/// A connection's class and since when it has been in it; `None`: it keeps its slot.
pub(crate) fn worth(peer: &Peer, now: Instant, grace: Graces) -> Option<(Worth, Instant)> {
    let Some(established) = peer.established_at.filter(|_| peer.established) else {
        let heard = peer.heard_at.unwrap_or(peer.connected_at);
        return Some((Worth::Handshaking, heard.max(peer.connected_at)));
    };
    let Some(useful) = peer.useful_at else {
        return Some((Worth::Silent, established));
    };
    let past = |since: Instant, grace: Duration| since.checked_add(grace).is_some_and(|t| t <= now);
    if peer.conn.am_interested() {
        return None;
    }
    if !peer.conn.peer_interested() {
        return past(established, grace.interest).then_some((Worth::Idle, useful));
    }
    if peer.wasted {
        return Some((Worth::Wasted, peer.unchoked_at.unwrap_or(established)));
    }
    let traded = peer.traded_at.unwrap_or(established).max(established);
    past(traded, grace.trade).then_some((Worth::NoTrade, traded))
}

impl Peers {
    /// The open connection to replace among those `eligible` allows: the least useful by
    /// [`worth`], the longest so first (then the lowest id). `None`: each keeps its slot.
    pub(crate) fn least_useful(
        &self,
        now: Instant,
        grace: Graces,
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

#[cfg(test)]
#[path = "no_trade_tests.rs"]
mod no_trade_tests;
