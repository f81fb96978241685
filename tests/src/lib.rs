//! Test support for sanstorrent: the deterministic simulation harness and helpers that drive
//! the real peers of `../shared/interop/` (libtorrent, opentracker, Transmission) on loopback.

pub mod interop;
pub mod sim;
pub mod utp_link;
