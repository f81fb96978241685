//! Port mapping with UPnP IGD (Internet Gateway Device, the protocol most home routers
//! speak): an SSDP search finds the gateway's device description, the description names the
//! WAN connection service and its control URL, and SOAP calls over HTTP map the ports
//! (`AddPortMapping`, renewed at half the lease), learn the external address
//! (`GetExternalIPAddress`) and remove the mappings at shutdown (`DeletePortMapping`).
//!
//! [`Upnp`] is Sans-IO like [`PortMapper`](super::PortMapper): it hands out datagrams (the
//! searches, to the multicast group and to the gateway) and HTTP requests (one at a time; the
//! runtime's HTTP client carries them), and takes the answers back. Only the default
//! gateway is trusted: an answer naming a description elsewhere is refused, and so is a
//! control URL off the gateway, so no one on the LAN can point our requests at another host.

pub mod soap;
pub mod ssdp;
pub mod xml;

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use self::soap::MappingCall;
use self::xml::{Description, ServiceType, XmlError};
use super::{PortMapConfig, PortMapError, PortMapEvent, Protocol};
use crate::rng::Rng;
use crate::tracker::{Host, Scheme, TrackerUrl};

/// Conflicting external ports tried before a mapping is given up (each a random port).
const MAX_CONFLICTS: u8 = 3;

/// Why an answer from the gateway could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpnpError {
    /// An SSDP answer that is not one.
    Ssdp(ssdp::SsdpError),
    /// The description or a SOAP answer could not be read.
    Xml(XmlError),
    /// The description or control URL is not an `http://` URL on the gateway.
    NotOnGateway,
    /// The HTTP request failed (no connection, timeout, bad response).
    Transport,
    /// An HTTP status other than 200 (or 500 with a SOAP fault).
    Status(u16),
    /// The gateway answered with this UPnP error code.
    Fault(u16),
}

impl fmt::Display for UpnpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ssdp(e) => e.fmt(f),
            Self::Xml(e) => e.fmt(f),
            Self::NotOnGateway => f.write_str("UPnP URL not on the gateway"),
            Self::Transport => f.write_str("UPnP request failed"),
            Self::Status(code) => write!(f, "UPnP answer with HTTP status {code}"),
            Self::Fault(code) => write!(f, "UPnP error {code}"),
        }
    }
}

impl std::error::Error for UpnpError {}

/// An HTTP request for the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCall {
    /// Where.
    pub url: TrackerUrl,
    /// The whole request.
    pub request: Vec<u8>,
}

#[derive(Clone, Debug)]
enum Phase {
    Searching {
        tries: u32,
        next: Instant,
    },
    Describing {
        location: TrackerUrl,
    },
    Ready {
        control: TrackerUrl,
        service: ServiceType,
    },
    Failed {
        retry_at: Instant,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// To be asked for at this time (new, after a failure, or a renewal).
    Due(Instant),
    /// Asked for (the request is in flight).
    Adding,
    /// Mapped; renewed then (never for a permanent mapping).
    Mapped(Option<Instant>),
    /// To be removed (it may be on the gateway).
    Leaving,
    /// The removal is in flight.
    Deleting,
    /// Not on the gateway and not wanted.
    Gone,
}

#[derive(Clone, Debug)]
struct Mapping {
    protocol: Protocol,
    internal_port: u16,
    external_port: u16,
    conflicts: u8,
    /// An `AddPortMapping` was sent at least once (so a removal may be needed).
    asked: bool,
    state: State,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Describe,
    Add(usize, u32),
    Delete(usize),
    ExternalIp,
}

/// The UPnP IGD machine for one gateway.
#[derive(Debug)]
pub struct Upnp {
    config: PortMapConfig,
    gateway: Ipv4Addr,
    client: Ipv4Addr,
    phase: Phase,
    mappings: Vec<Mapping>,
    busy: Option<Op>,
    closing: bool,
    permanent: bool,
    ip_asked: bool,
    external_ip: Option<Ipv4Addr>,
    datagrams: VecDeque<(SocketAddr, Vec<u8>)>,
    requests: VecDeque<HttpCall>,
    events: VecDeque<PortMapEvent>,
    rng: Rng,
}

impl Upnp {
    /// A machine for the gateway at `gateway` (the default route), reached from our address
    /// `client`. It searches at the first [`Upnp::handle_timeout`].
    pub fn new(
        config: PortMapConfig,
        now: Instant,
        gateway: Ipv4Addr,
        client: Ipv4Addr,
        rng: &mut Rng,
    ) -> Self {
        Self {
            config,
            gateway,
            client,
            phase: Phase::Searching {
                tries: 0,
                next: now,
            },
            mappings: Vec::new(),
            busy: None,
            closing: false,
            permanent: false,
            ip_asked: false,
            external_ip: None,
            datagrams: VecDeque::new(),
            requests: VecDeque::new(),
            events: VecDeque::new(),
            rng: rng.fork(),
        }
    }

    /// The gateway's address.
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    /// The gateway's external address, once known.
    pub fn external_ip(&self) -> Option<Ipv4Addr> {
        self.external_ip
    }

    /// Asks for `protocol` traffic to our `port` to be forwarded (the same external port
    /// suggested).
    pub fn map(&mut self, now: Instant, protocol: Protocol, port: u16) {
        if self.closing
            || self
                .mappings
                .iter()
                .any(|m| m.protocol == protocol && m.internal_port == port)
        {
            return;
        }
        self.mappings.push(Mapping {
            protocol,
            internal_port: port,
            external_port: port,
            conflicts: 0,
            asked: false,
            state: State::Due(now),
        });
        self.pump(now);
    }

    /// Removes every mapping (at shutdown): those possibly on the gateway are deleted one
    /// by one; see [`Upnp::is_settled`].
    pub fn unmap_all(&mut self, now: Instant) {
        self.closing = true;
        let ready = matches!(self.phase, Phase::Ready { .. });
        for m in &mut self.mappings {
            m.state = match m.state {
                State::Adding => State::Adding,
                State::Deleting => State::Deleting,
                State::Gone => State::Gone,
                _ if m.asked && ready => State::Leaving,
                _ => State::Gone,
            };
        }
        self.pump(now);
    }

    /// Whether nothing is left to do after [`Upnp::unmap_all`]: no request in flight and no
    /// mapping waiting to be removed.
    pub fn is_settled(&self) -> bool {
        self.busy.is_none()
            && self
                .mappings
                .iter()
                .all(|m| !matches!(m.state, State::Leaving | State::Deleting | State::Adding))
    }

    /// When to call [`Upnp::handle_timeout`] next (`None` while a request is in flight:
    /// its answer comes first).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let live = !self.closing && self.mappings.iter().any(|m| m.state != State::Gone);
        match &self.phase {
            Phase::Searching { next, .. } if !self.closing => Some(*next),
            Phase::Failed { retry_at } if live => Some(*retry_at),
            Phase::Ready { .. } if self.busy.is_none() && !self.closing => self
                .mappings
                .iter()
                .filter_map(|m| match m.state {
                    State::Due(at) => Some(at),
                    State::Mapped(renew) => renew,
                    _ => None,
                })
                .min(),
            _ => None,
        }
    }

    /// Searches, searches again, gives up, renews what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closing {
            return;
        }
        match self.phase {
            Phase::Searching { tries, next } if next <= now => {
                if tries >= self.config.max_tries {
                    self.give_up(now, PortMapError::NoAnswer);
                } else {
                    for target in ssdp::SEARCH_TARGETS {
                        let search = ssdp::search(target);
                        let unicast = SocketAddr::new(IpAddr::V4(self.gateway), ssdp::SSDP_PORT);
                        self.datagrams.push_back((ssdp::MULTICAST, search.clone()));
                        self.datagrams.push_back((unicast, search));
                    }
                    self.phase = Phase::Searching {
                        tries: tries + 1,
                        next: now + self.config.first_retry * 2u32.saturating_pow(tries),
                    };
                }
            }
            Phase::Failed { retry_at } if retry_at <= now => {
                self.phase = Phase::Searching {
                    tries: 0,
                    next: now,
                };
                self.handle_timeout(now);
            }
            _ => self.pump(now),
        }
    }

    /// Every wanted mapping fails with `error`; the search starts again after
    /// `retry_after_failure`.
    fn give_up(&mut self, now: Instant, error: PortMapError) {
        let retry_at = now + self.config.retry_after_failure;
        self.phase = Phase::Failed { retry_at };
        for m in &mut self.mappings {
            if m.state != State::Gone {
                m.state = State::Due(retry_at);
                self.events.push_back(PortMapEvent::Failed {
                    protocol: m.protocol,
                    internal_port: m.internal_port,
                    error,
                });
            }
        }
    }

    /// A datagram on the socket the searches left from: an SSDP answer (taken while
    /// searching, if it names a description on the gateway), or anything else.
    pub fn handle_datagram(&mut self, data: &[u8]) -> Result<(), UpnpError> {
        if self.closing || !matches!(self.phase, Phase::Searching { .. }) {
            return Ok(());
        }
        let answer = ssdp::parse_answer(data).map_err(UpnpError::Ssdp)?;
        if !self.on_gateway(&answer.location) {
            return Err(UpnpError::NotOnGateway);
        }
        self.requests.push_back(HttpCall {
            request: soap::get(&answer.location),
            url: answer.location.clone(),
        });
        self.busy = Some(Op::Describe);
        self.phase = Phase::Describing {
            location: answer.location,
        };
        Ok(())
    }

    fn on_gateway(&self, url: &TrackerUrl) -> bool {
        url.scheme() == Scheme::Http && *url.host() == Host::V4(self.gateway)
    }

    /// The answer to the last [`HttpCall`]: its status and body, or `None` if the request
    /// failed.
    pub fn handle_http(
        &mut self,
        now: Instant,
        answer: Option<(u16, &[u8])>,
    ) -> Result<(), UpnpError> {
        let Some(op) = self.busy.take() else {
            return Ok(());
        };
        let result = answer
            .ok_or(UpnpError::Transport)
            .and_then(|(status, body)| match status {
                200 => Ok(body),
                500 => Err(xml::fault_code(body).map_or(UpnpError::Status(500), UpnpError::Fault)),
                other => Err(UpnpError::Status(other)),
            });
        let outcome = match op {
            Op::Describe => self.described(now, result),
            Op::Add(i, lease) => self.added(now, i, lease, result),
            Op::Delete(i) => {
                let m = &mut self.mappings[i];
                m.state = State::Gone;
                if matches!(result, Ok(_) | Err(UpnpError::Fault(soap::NO_SUCH_ENTRY))) {
                    self.events.push_back(PortMapEvent::Removed {
                        protocol: m.protocol,
                        internal_port: m.internal_port,
                    });
                }
                result.map(drop)
            }
            Op::ExternalIp => result.and_then(|body| {
                let ip = xml::external_address(body).map_err(UpnpError::Xml)?;
                if self.external_ip != Some(ip) {
                    self.external_ip = Some(ip);
                    self.events
                        .push_back(PortMapEvent::ExternalAddress(IpAddr::V4(ip)));
                }
                Ok(())
            }),
        };
        self.pump(now);
        outcome
    }

    fn described(
        &mut self,
        now: Instant,
        result: Result<&[u8], UpnpError>,
    ) -> Result<(), UpnpError> {
        let Phase::Describing { location } = &self.phase else {
            return Ok(());
        };
        let control = result
            .and_then(|body| xml::parse_description(body).map_err(UpnpError::Xml))
            .and_then(|d| {
                let control = control_url(location, &d).ok_or(UpnpError::NotOnGateway)?;
                Ok((control, d.service))
            })
            .and_then(|(control, service)| {
                if self.on_gateway(&control) {
                    Ok((control, service))
                } else {
                    Err(UpnpError::NotOnGateway)
                }
            });
        match control {
            Ok((control, service)) => {
                self.phase = Phase::Ready { control, service };
                self.ip_asked = false;
                if self.closing {
                    for m in &mut self.mappings {
                        m.state = State::Gone;
                    }
                }
                Ok(())
            }
            Err(e) => {
                if self.closing {
                    self.phase = Phase::Failed { retry_at: now };
                } else {
                    self.give_up(now, PortMapError::Upnp(e));
                }
                Err(e)
            }
        }
    }

    fn added(
        &mut self,
        now: Instant,
        i: usize,
        lease: u32,
        result: Result<&[u8], UpnpError>,
    ) -> Result<(), UpnpError> {
        let closing = self.closing;
        let retry_at = now + self.config.retry_after_failure;
        let m = &mut self.mappings[i];
        let Err(error) = result else {
            if closing {
                m.state = State::Leaving;
                return Ok(());
            }
            let granted = Duration::from_secs(u64::from(lease));
            m.state = State::Mapped((lease != 0).then(|| now + granted / 2));
            self.events.push_back(PortMapEvent::Mapped {
                protocol: m.protocol,
                internal_port: m.internal_port,
                external_port: m.external_port,
                lifetime: granted,
            });
            return Ok(());
        };
        m.state = State::Due(now);
        if closing {
            m.state = State::Gone;
            return Err(error);
        }
        match error {
            UpnpError::Fault(soap::ONLY_PERMANENT_LEASES) if lease != 0 => self.permanent = true,
            UpnpError::Fault(soap::CONFLICT) if m.conflicts < MAX_CONFLICTS => {
                m.conflicts += 1;
                let port = self.rng.below(u64::from(u16::MAX - 1024));
                m.external_port = 1025 + u16::try_from(port).unwrap_or(0);
            }
            UpnpError::Fault(soap::SAME_PORT_REQUIRED) if m.external_port != m.internal_port => {
                m.external_port = m.internal_port;
            }
            _ => {
                m.state = State::Due(retry_at);
                m.conflicts = 0;
                m.external_port = m.internal_port;
                self.events.push_back(PortMapEvent::Failed {
                    protocol: m.protocol,
                    internal_port: m.internal_port,
                    error: PortMapError::Upnp(error),
                });
            }
        }
        Err(error)
    }

    /// Sends the next SOAP call, if none is in flight and one is due.
    fn pump(&mut self, now: Instant) {
        let Phase::Ready { control, service } = &self.phase else {
            return;
        };
        if self.busy.is_some() {
            return;
        }
        let client = self.client;
        let call = |m: &Mapping| MappingCall {
            protocol: m.protocol,
            external_port: m.external_port,
            internal_port: m.internal_port,
            client,
        };
        let (op, request) = if let Some(i) =
            self.mappings.iter().position(|m| m.state == State::Leaving)
        {
            self.mappings[i].state = State::Deleting;
            let request = soap::delete_port_mapping(control, *service, &call(&self.mappings[i]));
            (Op::Delete(i), request)
        } else if self.closing {
            return;
        } else if let Some(i) = self.mappings.iter().position(|m| match m.state {
            State::Due(at) => at <= now,
            State::Mapped(renew) => renew.is_some_and(|at| at <= now),
            _ => false,
        }) {
            let lease = if self.permanent {
                0
            } else {
                self.config.lifetime
            };
            let request =
                soap::add_port_mapping(control, *service, &call(&self.mappings[i]), lease);
            let m = &mut self.mappings[i];
            m.state = State::Adding;
            m.asked = true;
            (Op::Add(i, lease), request)
        } else if !self.ip_asked
            && self
                .mappings
                .iter()
                .any(|m| matches!(m.state, State::Mapped(_)))
        {
            self.ip_asked = true;
            (Op::ExternalIp, soap::get_external_ip(control, *service))
        } else {
            return;
        };
        self.requests.push_back(HttpCall {
            url: control.clone(),
            request,
        });
        self.busy = Some(op);
    }

    /// The next search datagram and where it goes.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.datagrams.pop_front()
    }

    /// The next HTTP request (at most one is in flight: answer it with
    /// [`Upnp::handle_http`]).
    pub fn poll_request(&mut self) -> Option<HttpCall> {
        self.requests.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<PortMapEvent> {
        self.events.pop_front()
    }
}

/// The control URL of `d`, resolved against its `URLBase` or the description's `location`.
fn control_url(location: &TrackerUrl, d: &Description) -> Option<TrackerUrl> {
    let base = match &d.url_base {
        Some(base) => TrackerUrl::parse(base).ok()?,
        None => location.clone(),
    };
    let written = d.control_url.as_str();
    if written.contains("://") || written.starts_with('/') {
        return base.join(written).ok();
    }
    let dir = &base.path()[..base.path().rfind('/').map_or(0, |i| i + 1)];
    base.join(&format!(
        "{}{written}",
        if dir.is_empty() { "/" } else { dir }
    ))
    .ok()
}

#[cfg(test)]
pub(crate) mod tests;
