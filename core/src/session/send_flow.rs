//! Upload flow control (with [`SessionConfig::send_accounting`](super::SessionConfig)): each
//! connection counts the bytes handed to the runtime and not yet reported written by its
//! socket. While that backlog is at `max_send_backlog` the session reads no more blocks for the
//! peer, so a peer that requests but never reads cannot make the runtime's write queue grow;
//! once writes are reported below the cap, serving resumes. A backlog stuck at the cap with no
//! write for `send_stall_timeout` closes the connection ([`PeerCloseReason::SendStalled`]).

use std::time::Instant;

use super::event::PeerCloseReason;
use super::io::ConnId;
use super::peers::Peer;
use super::{Session, SessionConfig};

impl Peer {
    /// Counts `bytes` handed to the runtime for this connection (as transmits are queued).
    pub(super) fn count_unsent(&mut self, now: Instant, bytes: usize, config: &SessionConfig) {
        if !config.send_accounting {
            return;
        }
        self.unsent = self.unsent.saturating_add(bytes);
        if self.unsent >= config.max_send_backlog && self.send_stalled_since.is_none() {
            self.send_stalled_since = Some(now);
        }
    }

    /// Whether serving this peer waits for its socket to take what was already sent.
    pub(super) fn send_backlogged(&self, config: &SessionConfig) -> bool {
        config.send_accounting && self.unsent >= config.max_send_backlog
    }
}

impl Session {
    /// The runtime wrote `bytes` of `conn`'s transmits to its socket.
    pub(super) fn peer_sent(&mut self, now: Instant, conn: ConnId, bytes: usize) {
        if !self.config.send_accounting || bytes == 0 {
            return;
        }
        let cap = self.config.max_send_backlog;
        let Some(peer) = self.peers.get_mut(conn) else {
            return;
        };
        peer.unsent = peer.unsent.saturating_sub(bytes);
        if peer.send_stalled_since.is_none() {
            return;
        }
        if peer.unsent >= cap {
            // Still at the cap, but the peer reads: the stall clock starts again.
            peer.send_stalled_since = Some(now);
            return;
        }
        peer.send_stalled_since = None;
        self.serve(now, conn);
        self.drive(now, conn);
    }

    /// Closes the connections whose send backlog made no progress for `send_stall_timeout`.
    pub(super) fn expire_send_stalls(&mut self, now: Instant) {
        let timeout = self.config.send_stall_timeout;
        let mut stalled = self.conns_due(now);
        stalled.retain(|conn| {
            self.peers
                .get(*conn)
                .and_then(|p| p.send_stalled_since)
                .is_some_and(|t| t + timeout <= now)
        });
        for conn in stalled {
            self.close_conn(now, conn, PeerCloseReason::SendStalled);
        }
    }
}
