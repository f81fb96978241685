//! A connection's timers, computed from its timestamps: handshake timeout, idle close,
//! keep-alive and request timeouts.

use std::time::{Duration, Instant};

use super::{CloseReason, Connection, Event, Phase};
use crate::wire::message::Message;

/// A timer of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    Handshake,
    Idle,
    KeepAlive,
    Request,
}

impl Connection {
    /// The next instant at which [`Connection::handle_timeout`] has something to do; `None`
    /// once closed. Re-read after every call that changes the connection.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines().into_iter().flatten().map(|(t, _)| t).min()
    }

    /// Fires every timer due at `now`: closes on handshake timeout or silence, queues a
    /// keep-alive, reports [`Event::RequestTimedOut`]. Calling it early does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        for (at, timer) in self.deadlines().into_iter().flatten() {
            if at > now || self.phase == Phase::Closed {
                continue;
            }
            match timer {
                Timer::Handshake => self.close_with(CloseReason::HandshakeTimeout),
                Timer::Idle => self.close_with(CloseReason::Idle),
                Timer::KeepAlive => self.queue(now, &Message::KeepAlive),
                Timer::Request => self.expire_requests(now),
            }
        }
    }

    fn deadlines(&self) -> [Option<(Instant, Timer)>; 4] {
        let config = &self.config;
        match self.phase {
            Phase::Closed => [None; 4],
            Phase::Handshaking | Phase::AwaitingAccept => [
                after(self.started, config.handshake_timeout).map(|t| (t, Timer::Handshake)),
                after(self.last_received, config.idle_timeout).map(|t| (t, Timer::Idle)),
                None,
                None,
            ],
            Phase::Established => [
                None,
                after(self.last_received, config.idle_timeout).map(|t| (t, Timer::Idle)),
                after(self.last_sent, config.keepalive_interval).map(|t| (t, Timer::KeepAlive)),
                self.request_deadline().map(|t| (t, Timer::Request)),
            ],
        }
    }

    /// A request times out once neither it was sent nor any block arrived for the timeout.
    /// Requests are kept in the order sent, so the first one not yet timed out is the oldest
    /// (this runs after every event: no scan of the whole pipeline).
    fn request_deadline(&self) -> Option<Instant> {
        let oldest = self.ours.live.iter().find(|r| !r.timed_out)?.sent_at;
        after(oldest.max(self.last_block), self.config.request_timeout)
    }

    fn expire_requests(&mut self, now: Instant) {
        let timeout = self.config.request_timeout;
        let last_block = self.last_block;
        for r in &mut self.ours.live {
            if !r.timed_out && after(r.sent_at.max(last_block), timeout).is_some_and(|t| t <= now) {
                r.timed_out = true;
                self.events.push_back(Event::RequestTimedOut(r.block));
            }
        }
        if let Some(cutoff) = now.checked_sub(timeout) {
            self.ours.expire_abandoned(cutoff);
        }
    }
}

fn after(t: Instant, d: Duration) -> Option<Instant> {
    t.checked_add(d)
}
