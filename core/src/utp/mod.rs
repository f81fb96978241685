//! uTP (BEP 29), the Micro Transport Protocol: reliable, ordered byte streams over UDP with
//! LEDBAT congestion control (RFC 6817), which yields to the user's other traffic.
//!
//! Sans-IO like the rest of core: [`UtpSocket`] takes datagrams and `Instant`s and gives back
//! datagrams ([`Transmit`](crate::Transmit)), events and its next deadline; connection ids
//! and initial sequence numbers come from the caller's seed.
//!
//! Behaviour worth knowing (libtorrent's, which most of the swarm runs): the initiator picks
//! a receive id `r` and sends the SYN with connection id `r`, then sends with `r + 1`; the
//! acceptor receives on `r + 1` and sends with `r`. The acceptor answers with ST_STATE whose
//! `seq_nr` is its first data packet's, so the initiator's `ack_nr` starts one below it. Data
//! packets start at 1,200 bytes with headers and grow with the path (path MTU discovery,
//! `mtu.rs`: padded probes, don't-fragment, up to the interface's MTU) once the runtime
//! says every datagram leaves with don't-fragment ([`SocketConfig::link_mtu`]). Packets are
//! acknowledged as they come; ST_STATE carries a selective ACK when packets wait past a gap.
//! Loss is detected by three duplicate ACKs, by a selective ACK showing three later packets,
//! or by the retransmission timeout (`max(rtt + 4 rtt_var, 500 ms)`, doubled per timeout).

mod conn;
mod ledbat;
mod mtu;
pub mod packet;
mod pool;
mod recv;
mod rtt;
pub mod sack;
mod send;
pub mod seq;
mod socket;

pub use conn::{CloseReason, Config, ConnEvent, Connection};
pub use ledbat::TARGET;
pub use packet::{Header, Packet, PacketError, PacketType, looks_like_utp};
pub use sack::SelectiveAck;
pub use seq::Seq;
pub use socket::{ConnectError, MAX_LINK_MTU, SocketConfig, SocketEvent, UtpConnId, UtpSocket};
