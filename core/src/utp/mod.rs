//! uTP (BEP 29), the Micro Transport Protocol: reliable, ordered byte streams over UDP with
//! LEDBAT congestion control, which yields to the user's other traffic.
//!
//! Sans-IO like the rest of core: datagrams and `Instant`s go in, datagrams, events and the
//! next deadline come out.

pub mod packet;
pub mod sack;
pub mod seq;

pub use packet::{Header, Packet, PacketError, PacketType, looks_like_utp};
pub use sack::SelectiveAck;
pub use seq::Seq;
