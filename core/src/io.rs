//! What core hands a runtime to send: [`Transmit`], addressed by a [`Dest`].
//!
//! Every machine that sends bytes (the [`Session`](crate::session::Session), the
//! [`Dht`](crate::dht::Dht), a [`UdpTracker`](crate::tracker::udp::UdpTracker)) is polled for
//! the same type, so a runtime sends whatever any of them produces with one piece of code.

use std::net::SocketAddr;

use bytes::Bytes;

/// A peer connection, allocated by the session (never by the runtime).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Bytes to send.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    /// Where the bytes go.
    pub dest: Dest,
    /// The bytes. For a peer, append them to the connection's write stream in order (and,
    /// with send accounting, report them with `handle_peer_sent` once written); for a UDP
    /// destination, they are one datagram.
    pub payload: Bytes,
}

/// Where a [`Transmit`] goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// The TCP stream of a peer connection. With
    /// [`SessionConfig::send_accounting`](crate::session::SessionConfig::send_accounting),
    /// report the bytes the socket accepts with
    /// [`Session::handle_peer_sent`](crate::session::Session::handle_peer_sent).
    Peer(ConnId),
    /// A datagram from the one UDP socket (DHT and UDP trackers share it).
    Udp(SocketAddr),
    /// A datagram from the local discovery socket (BEP 14) to its multicast group: see
    /// [`lsd`](crate::lsd).
    LocalDiscovery(SocketAddr),
}
