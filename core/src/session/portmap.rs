//! Port mapping in the session: the [`PortMapper`] (PCP, NAT-PMP) and the [`Upnp`] machine
//! for the gateway the runtime named, as [`Method`] says. Their datagrams go on the UDP
//! socket, UPnP's HTTP requests are [`Action::HttpRequest`]s, and their news comes out as
//! [`Event::PortMapping`]. With [`Method::Auto`] both start; the first to map a port is
//! kept and the other removes whatever it mapped.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use super::config::SessionConfig;
use super::event::Event;
use super::io::{Action, Dest, RequestId, Transmit};
use super::outputs::Outputs;
use super::torrent::table::Torrents;
use super::trackers::Trackers;
use crate::portmap::upnp::{Upnp, ssdp};
use crate::portmap::{PortMapEvent, PortMapper, Protocol};
use crate::rng::Rng;
use crate::tracker::{HttpResponse, TrackerError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Pcp,
    Upnp,
}

/// The port mapping machines for one gateway.
#[derive(Debug)]
pub(super) struct Gateway {
    pcp: Option<PortMapper>,
    upnp: Option<Upnp>,
    /// UPnP's HTTP request in flight.
    request: Option<RequestId>,
    /// The machine that mapped first; the other one leaves.
    winner: Option<Side>,
    /// An external address told since [`Gateway::take_learned_ip`] was last called.
    learned: Option<IpAddr>,
}

impl Gateway {
    /// The machines for `gateway`, mapping the TCP listen port and `udp_port`, if `config`
    /// turns mapping on.
    pub(super) fn start(
        config: &SessionConfig,
        now: Instant,
        gateway: Ipv4Addr,
        local: Ipv4Addr,
        udp_port: u16,
        rng: &mut Rng,
    ) -> Option<Self> {
        let pm = config.port_mapping.clone()?;
        let mut ports = Vec::new();
        if config.listen_port != 0 {
            ports.push((Protocol::Tcp, config.listen_port));
        }
        if udp_port != 0 {
            ports.push((Protocol::Udp, udp_port));
        }
        let pcp = pm.method.uses_pcp().then(|| {
            let mut m = PortMapper::new(pm.clone(), gateway, local, rng);
            for &(protocol, port) in &ports {
                m.map(now, protocol, port);
            }
            m
        });
        let upnp = pm.method.uses_upnp().then(|| {
            let mut m = Upnp::new(pm.clone(), now, gateway, local, rng);
            for &(protocol, port) in &ports {
                m.map(now, protocol, port);
            }
            m
        });
        Some(Self {
            pcp,
            upnp,
            request: None,
            winner: None,
            learned: None,
        })
    }

    /// When something is due.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        let pcp = self.pcp.as_ref().and_then(PortMapper::poll_timeout);
        let upnp = self.upnp.as_ref().and_then(Upnp::poll_timeout);
        pcp.into_iter().chain(upnp).min()
    }

    /// Sends what is due at `now`.
    pub(super) fn timeout(&mut self, now: Instant, ids: &mut Trackers, out: &mut Outputs) {
        if let Some(m) = self.pcp.as_mut()
            && m.poll_timeout().is_some_and(|at| at <= now)
        {
            m.handle_timeout(now);
        }
        if let Some(m) = self.upnp.as_mut()
            && m.poll_timeout().is_some_and(|at| at <= now)
        {
            m.handle_timeout(now);
        }
        self.flush(now, ids, out);
    }

    /// Removes every mapping (at shutdown).
    pub(super) fn unmap_all(&mut self, now: Instant, ids: &mut Trackers, out: &mut Outputs) {
        if let Some(m) = self.pcp.as_mut() {
            m.unmap_all(now);
            m.handle_timeout(now);
        }
        if let Some(m) = self.upnp.as_mut() {
            m.unmap_all(now);
        }
        self.flush(now, ids, out);
    }

    /// Whether the removals asked at shutdown are done (UPnP's take HTTP round trips; the
    /// datagrams of PCP and NAT-PMP are sent at once).
    pub(super) fn is_settled(&self) -> bool {
        self.upnp.as_ref().is_none_or(Upnp::is_settled)
    }

    /// Takes a datagram if it is a gateway's: a PCP/NAT-PMP answer from the gateway's port
    /// mapping port, or an SSDP answer (from wherever the gateway sends it: the machine
    /// takes only one naming a description on the gateway).
    pub(super) fn datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
        ids: &mut Trackers,
        out: &mut Outputs,
    ) -> bool {
        if let Some(m) = self.pcp.as_mut()
            && from == m.gateway()
        {
            let _ = m.handle_datagram(now, from, data);
        } else if let Some(m) = self.upnp.as_mut()
            && ssdp::looks_like_answer(data)
        {
            let _ = m.handle_datagram(data);
        } else {
            return false;
        }
        self.flush(now, ids, out);
        true
    }

    /// Takes the answer to `rid` if it is UPnP's.
    pub(super) fn http_response(
        &mut self,
        now: Instant,
        rid: RequestId,
        result: &Result<HttpResponse, TrackerError>,
        ids: &mut Trackers,
        out: &mut Outputs,
    ) -> bool {
        if self.request != Some(rid) {
            return false;
        }
        self.request = None;
        if let Some(m) = self.upnp.as_mut() {
            let answer = result.as_ref().ok().map(|r| (r.status(), r.body()));
            let _ = m.handle_http(now, answer);
        }
        self.flush(now, ids, out);
        true
    }

    /// The external address the gateway told since the last call, if any.
    pub(super) fn take_learned_ip(&mut self) -> Option<IpAddr> {
        self.learned.take()
    }

    fn flush(&mut self, now: Instant, ids: &mut Trackers, out: &mut Outputs) {
        let mut news = Vec::new();
        if let Some(m) = self.pcp.as_mut() {
            while let Some(datagram) = m.poll_transmit() {
                out.transmit(Transmit {
                    dest: Dest::Udp(m.gateway()),
                    payload: datagram.into(),
                });
            }
            news.extend(std::iter::from_fn(|| m.poll_event()).map(|e| (Side::Pcp, e)));
        }
        if let Some(m) = self.upnp.as_mut() {
            while let Some((dest, datagram)) = m.poll_transmit() {
                out.transmit(Transmit {
                    dest: Dest::Udp(dest),
                    payload: datagram.into(),
                });
            }
            if let Some(call) = m.poll_request() {
                let id = ids.next_id();
                self.request = Some(id);
                out.action(Action::HttpRequest {
                    id,
                    url: call.url,
                    request: call.request,
                });
            }
            news.extend(std::iter::from_fn(|| m.poll_event()).map(|e| (Side::Upnp, e)));
        }
        let both = self.pcp.is_some() && self.upnp.is_some();
        let mut again = false;
        for (side, event) in news {
            if both && self.winner.is_none() && matches!(event, PortMapEvent::Mapped { .. }) {
                self.winner = Some(side);
                match side {
                    Side::Pcp => self.upnp.as_mut().map(|m| m.unmap_all(now)),
                    Side::Upnp => self.pcp.as_mut().map(|m| {
                        m.unmap_all(now);
                        m.handle_timeout(now);
                    }),
                };
                again = true;
            }
            if self.winner.is_none_or(|w| w == side) {
                if let PortMapEvent::ExternalAddress(ip) = event {
                    self.learned = Some(ip);
                }
                out.event(Event::PortMapping(event));
            }
        }
        if again {
            self.flush(now, ids, out);
        }
    }
}

/// The external address the gateway reported, once, if it may be believed (not one BEP 42
/// exempts: private, loopback, ...).
pub(super) fn learned_ip(gateway: Option<&mut Gateway>) -> Option<IpAddr> {
    let ip = gateway?.take_learned_ip()?;
    (!crate::dht::node_id::is_exempt(ip)).then_some(ip)
}

/// A public address learned from the gateway is announced to trackers as `ip`, unless the
/// user configured one (`announce_ip` set and not `learned` from a gateway before).
pub(super) fn announce_learned(
    ip: IpAddr,
    announce_ip: &mut Option<IpAddr>,
    learned: &mut bool,
    torrents: &mut Torrents,
) {
    if announce_ip.is_some() && !*learned {
        return;
    }
    *announce_ip = Some(ip);
    *learned = true;
    for t in torrents.values_mut() {
        if let Some(a) = t.announcer.as_mut() {
            a.set_announce_ip(Some(ip));
        }
    }
}
