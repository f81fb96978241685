//! Participants that are not sessions: trackers, DHT nodes, scripted (misbehaving) peers.
//! Each is a small Sans-IO machine the [`Sim`](super::Sim) drives like a session: inputs with
//! `now`, outputs pulled with [`Agent::poll_output`], a timer from [`Agent::poll_timeout`].

use std::any::Any;
use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use sanstorrent_core::Dest;
use sanstorrent_core::dht::{Dht, DhtEvent};
use sanstorrent_core::session::ConnId;

/// What an agent asks the network to do.
#[derive(Debug)]
pub enum Output {
    /// Write bytes to a connection.
    Send {
        /// The agent's connection.
        conn: ConnId,
        /// The bytes.
        bytes: Bytes,
    },
    /// Close a connection (after what was written).
    Close {
        /// The agent's connection.
        conn: ConnId,
    },
    /// Dial an address with a connection id the agent chose.
    Connect {
        /// The agent's id for the connection.
        conn: ConnId,
        /// Where.
        addr: SocketAddr,
    },
    /// Send a datagram from the agent's address.
    Datagram {
        /// Where.
        to: SocketAddr,
        /// The payload.
        bytes: Bytes,
    },
    /// Send a datagram from another port of the agent's IP (a tracker on port 6969).
    DatagramFrom {
        /// The source port.
        port: u16,
        /// Where.
        to: SocketAddr,
        /// The payload.
        bytes: Bytes,
    },
    /// A line for the event log.
    Log(String),
}

/// A simulation participant. Every method has a do-nothing default.
pub trait Agent: fmt::Debug {
    /// A connection from `remote` arrived: `Some(id)` accepts it under that id.
    fn accept(&mut self, _now: Instant, _remote: SocketAddr) -> Option<ConnId> {
        None
    }
    /// The result of an [`Output::Connect`].
    fn connected(&mut self, _now: Instant, _conn: ConnId, _ok: bool) {}
    /// Stream bytes arrived.
    fn data(&mut self, _now: Instant, _conn: ConnId, _bytes: &[u8]) {}
    /// The other side closed or the connection was reset.
    fn closed(&mut self, _now: Instant, _conn: ConnId) {}
    /// A datagram arrived.
    fn datagram(&mut self, _now: Instant, _from: SocketAddr, _bytes: &[u8]) {}
    /// An HTTP request arrived from `from`: the whole response, or `None` to refuse the
    /// connection (a tracker that is down).
    fn http(&mut self, _now: Instant, _from: SocketAddr, _request: &[u8]) -> Option<Vec<u8>> {
        None
    }
    /// The instant from [`Agent::poll_timeout`] passed.
    fn timeout(&mut self, _now: Instant) {}
    /// When to call [`Agent::timeout`].
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    /// The next output.
    fn poll_output(&mut self) -> Option<Output> {
        None
    }
    /// For tests that inspect a participant's state.
    fn as_any(&self) -> &dyn Any;
    /// For tests that change a participant's state.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// A DHT node participant: a core [`Dht`] on the simulated UDP network.
#[derive(Debug)]
pub struct DhtNode {
    /// The node.
    pub dht: Dht,
    /// Its events with their instants.
    pub events: Vec<(Instant, DhtEvent)>,
    now: Option<Instant>,
}

impl DhtNode {
    /// A participant around `dht`.
    pub fn new(dht: Dht) -> Self {
        Self {
            dht,
            events: Vec::new(),
            now: None,
        }
    }
}

impl Agent for DhtNode {
    fn datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.now = Some(now);
        self.dht.handle_datagram(now, from, bytes);
    }
    fn timeout(&mut self, now: Instant) {
        self.now = Some(now);
        self.dht.handle_timeout(now);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.dht.poll_timeout()
    }
    fn poll_output(&mut self) -> Option<Output> {
        if let Some(t) = self.dht.poll_transmit() {
            let Dest::Udp(to) = t.dest else {
                unreachable!("the DHT only sends datagrams: {t:?}");
            };
            return Some(Output::Datagram {
                to,
                bytes: t.payload,
            });
        }
        let e = self.dht.poll_event()?;
        let line = format!("dht {e:?}");
        if let Some(now) = self.now {
            self.events.push((now, e));
        }
        Some(Output::Log(line))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
