//! A connection's timers, computed from its timestamps: handshake timeout, idle close and
//! keep-alive. Request timeouts are the picker's (`PickerConfig::request_timeout`): it frees
//! a silent peer's blocks for others and the session cancels them here.

use std::time::{Duration, Instant};

use super::{CloseReason, Connection, Phase};
use crate::wire::message::Message;

/// A timer of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    Handshake,
    Idle,
    KeepAlive,
}

impl Connection {
    /// The next instant at which [`Connection::handle_timeout`] has something to do; `None`
    /// once closed. Re-read after every call that changes the connection.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines().into_iter().flatten().map(|(t, _)| t).min()
    }

    /// Fires every timer due at `now`: closes on handshake timeout or silence, queues a
    /// keep-alive. Calling it early does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        for (at, timer) in self.deadlines().into_iter().flatten() {
            if at > now || self.phase == Phase::Closed {
                continue;
            }
            match timer {
                Timer::Handshake => self.close_with(CloseReason::HandshakeTimeout),
                Timer::Idle => self.close_with(CloseReason::Idle),
                Timer::KeepAlive => self.queue(now, &Message::KeepAlive),
            }
        }
    }

    fn deadlines(&self) -> [Option<(Instant, Timer)>; 3] {
        let config = &self.config;
        match self.phase {
            Phase::Closed => [None; 3],
            Phase::Handshaking | Phase::AwaitingAccept => [
                after(self.started, config.handshake_timeout).map(|t| (t, Timer::Handshake)),
                after(self.last_received, config.idle_timeout).map(|t| (t, Timer::Idle)),
                None,
            ],
            Phase::Established => [
                None,
                after(self.last_received, config.idle_timeout).map(|t| (t, Timer::Idle)),
                after(self.last_sent, config.keepalive_interval).map(|t| (t, Timer::KeepAlive)),
            ],
        }
    }
}

fn after(t: Instant, d: Duration) -> Option<Instant> {
    t.checked_add(d)
}
