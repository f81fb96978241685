//! Port mapping in the session: the [`PortMapper`] for the gateway the runtime named, its
//! datagrams on the UDP socket and its news as [`Event::PortMapping`].

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use super::config::SessionConfig;
use super::event::Event;
use super::io::{Dest, Transmit};
use super::outputs::Outputs;
use crate::portmap::{PortMapper, Protocol};
use crate::rng::Rng;

/// The machine for `gateway`, mapping the TCP listen port and `udp_port`, if `config` turns
/// mapping on.
pub(super) fn start(
    config: &SessionConfig,
    now: Instant,
    gateway: Ipv4Addr,
    local: Ipv4Addr,
    udp_port: u16,
    rng: &mut Rng,
) -> Option<PortMapper> {
    let mut mapper = PortMapper::new(config.port_mapping.clone()?, gateway, local, rng);
    if config.listen_port != 0 {
        mapper.map(now, Protocol::Tcp, config.listen_port);
    }
    if udp_port != 0 {
        mapper.map(now, Protocol::Udp, udp_port);
    }
    Some(mapper)
}

/// Sends what is due at `now`.
pub(super) fn timeout(mapper: &mut PortMapper, now: Instant, out: &mut Outputs) {
    if mapper.poll_timeout().is_some_and(|at| at <= now) {
        mapper.handle_timeout(now);
    }
    flush(mapper, out);
}

/// The gateway's datagram.
pub(super) fn datagram(
    mapper: &mut PortMapper,
    now: Instant,
    from: SocketAddr,
    data: &[u8],
    out: &mut Outputs,
) {
    if mapper.handle_datagram(now, from, data).is_ok() {
        flush(mapper, out);
    }
}

fn flush(mapper: &mut PortMapper, out: &mut Outputs) {
    while let Some(datagram) = mapper.poll_transmit() {
        out.transmit(Transmit {
            dest: Dest::Udp(mapper.gateway()),
            payload: datagram.into(),
        });
    }
    while let Some(event) = mapper.poll_event() {
        out.event(Event::PortMapping(event));
    }
}
