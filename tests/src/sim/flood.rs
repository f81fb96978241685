//! Hostile endpoints of a connection flood: each holds one connection to its target that
//! sends nothing useful, and opens a new one whenever it is closed or refused.

use std::any::Any;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sanstorrent_core::InfoHash;
use sanstorrent_core::session::ConnId;

use super::agent::{Agent, Output};

/// What a [`Hostile`] endpoint sends on each connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hostility {
    /// Nothing.
    Silent,
    /// The first half of a BitTorrent handshake, then nothing.
    HalfHandshake,
    /// A valid handshake one byte at a time, one every [`Hostile::TRICKLE`].
    Trickle,
    /// A valid handshake, then nothing.
    HandshakeThenSilence,
    /// A valid handshake and `interested`, then nothing (it never requests: it holds a slot
    /// a leecher waiting to be unchoked would hold).
    Interested,
}

impl Hostility {
    /// The four in turn, by index.
    pub fn nth(i: usize) -> Self {
        [
            Self::Silent,
            Self::HalfHandshake,
            Self::Trickle,
            Self::HandshakeThenSilence,
        ][i % 4]
    }
}

/// One hostile endpoint (one address): a connection to `target` at a time, reopened
/// [`Hostile::RECONNECT`] after it is closed or refused.
#[derive(Debug)]
pub struct Hostile {
    /// What it sends.
    pub kind: Hostility,
    /// Connects attempted.
    pub attempted: u64,
    /// Connects the target accepted.
    pub accepted: u64,
    target: SocketAddr,
    handshake: Vec<u8>,
    /// The open connection and how many handshake bytes it sent.
    conn: Option<(ConnId, usize)>,
    next_connect: Option<Instant>,
    next_trickle: Option<Instant>,
    out: VecDeque<Output>,
}

impl Hostile {
    /// Time between two bytes of a [`Hostility::Trickle`] connection.
    pub const TRICKLE: Duration = Duration::from_secs(3);
    /// Time from a close or refusal to the next connect.
    pub const RECONNECT: Duration = Duration::from_millis(500);

    /// An endpoint that starts at `start`; `id` makes its peer id.
    pub fn new(
        target: SocketAddr,
        info_hash: InfoHash,
        kind: Hostility,
        start: Instant,
        id: u32,
    ) -> Self {
        let mut handshake = Vec::with_capacity(68);
        handshake.push(19);
        handshake.extend_from_slice(b"BitTorrent protocol");
        handshake.extend_from_slice(&[0; 8]);
        handshake.extend_from_slice(&info_hash.0);
        handshake.extend_from_slice(b"-XX0000-");
        handshake.extend_from_slice(&[0; 8]);
        handshake.extend_from_slice(&id.to_be_bytes());
        Self {
            kind,
            attempted: 0,
            accepted: 0,
            target,
            handshake,
            conn: None,
            next_connect: Some(start),
            next_trickle: None,
            out: VecDeque::new(),
        }
    }

    fn send(&mut self, conn: ConnId, bytes: &[u8]) {
        self.out.push_back(Output::Send {
            conn,
            bytes: Bytes::copy_from_slice(bytes),
        });
    }

    fn lost(&mut self, now: Instant, conn: ConnId) {
        if self.conn.is_some_and(|(c, _)| c == conn) {
            self.conn = None;
            self.next_trickle = None;
            self.next_connect = Some(now + Self::RECONNECT);
        }
    }
}

impl Agent for Hostile {
    fn connected(&mut self, now: Instant, conn: ConnId, ok: bool) {
        if !ok {
            return self.lost(now, conn);
        }
        self.accepted += 1;
        let hs = self.handshake.clone();
        match self.kind {
            Hostility::Silent => {}
            Hostility::HalfHandshake => self.send(conn, &hs[..34]),
            Hostility::Trickle => {
                self.send(conn, &hs[..1]);
                self.conn = Some((conn, 1));
                self.next_trickle = Some(now + Self::TRICKLE);
            }
            Hostility::HandshakeThenSilence => self.send(conn, &hs),
            Hostility::Interested => {
                let mut bytes = hs;
                bytes.extend_from_slice(&[0, 0, 0, 1, 2]);
                self.send(conn, &bytes);
            }
        }
    }

    fn closed(&mut self, now: Instant, conn: ConnId) {
        self.lost(now, conn);
    }

    fn timeout(&mut self, now: Instant) {
        if self.next_connect.is_some_and(|t| t <= now) {
            self.next_connect = None;
            self.attempted += 1;
            let conn = ConnId(self.attempted);
            self.conn = Some((conn, 0));
            self.out.push_back(Output::Connect {
                conn,
                addr: self.target,
            });
        }
        if self.next_trickle.is_some_and(|t| t <= now)
            && let Some((conn, sent)) = self.conn
            && sent < self.handshake.len()
        {
            let byte = [self.handshake[sent]];
            self.send(conn, &byte);
            self.conn = Some((conn, sent + 1));
            self.next_trickle = Some(now + Self::TRICKLE);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [self.next_connect, self.next_trickle]
            .into_iter()
            .flatten()
            .min()
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
