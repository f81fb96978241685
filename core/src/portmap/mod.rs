//! Port mapping on the home gateway with NAT-PMP (RFC 6886), PCP (RFC 6887) and UPnP IGD
//! ([`upnp`]), so that peers outside can connect to us.
//!
//! [`PortMapper`] is Sans-IO: it builds the requests for the gateway (one UDP exchange each,
//! retried with doubling waits), reads its answers, renews every mapping at half its lifetime,
//! maps again when the gateway's epoch says it restarted, and removes the mappings on
//! [`PortMapper::unmap_all`]. It speaks PCP first and falls back to NAT-PMP when the gateway
//! answers "unsupported version". The runtime finds the gateway (the default route) and our
//! address towards it, and carries the datagrams on its UDP socket; the
//! [`Session`](crate::Session) owns one through
//! [`Session::set_gateway`](crate::Session::set_gateway).

pub mod upnp;
mod wire;

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

pub use wire::{
    GATEWAY_PORT, MapRequest, Protocol, Refusal, Response, ResponseError, ResultCode, Version,
    natpmp_address_request,
};

use crate::rng::Rng;

/// The lifetime asked for by default, in seconds (two hours, as libtorrent and Transmission
/// ask; renewed at half of what the gateway grants).
pub const DEFAULT_LIFETIME: u32 = 7200;

/// How mappings are asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMapConfig {
    /// The lifetime asked for, in seconds.
    pub lifetime: u32,
    /// The wait before the first retry (doubling after each).
    pub first_retry: Duration,
    /// Requests sent before a mapping is given up as unanswered.
    pub max_tries: u32,
    /// The wait before a failed mapping is asked for again.
    pub retry_after_failure: Duration,
    /// The protocols to speak.
    pub method: Method,
}

/// Which protocols port mapping speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Method {
    /// PCP (falling back to NAT-PMP) and UPnP IGD together; the first to map a port is kept
    /// and the other's mappings are removed.
    #[default]
    Auto,
    /// PCP only.
    Pcp,
    /// NAT-PMP only.
    NatPmp,
    /// UPnP IGD only.
    Upnp,
}

impl Method {
    /// The one NAT-PMP/PCP version spoken (`None`: PCP, falling back to NAT-PMP).
    fn fixed_version(self) -> Option<Version> {
        match self {
            Self::Pcp => Some(Version::Pcp),
            Self::NatPmp => Some(Version::NatPmp),
            Self::Auto | Self::Upnp => None,
        }
    }

    /// Whether NAT-PMP or PCP is spoken.
    pub fn uses_pcp(self) -> bool {
        self != Self::Upnp
    }

    /// Whether UPnP IGD is spoken.
    pub fn uses_upnp(self) -> bool {
        matches!(self, Self::Auto | Self::Upnp)
    }
}

impl Default for PortMapConfig {
    fn default() -> Self {
        Self {
            lifetime: DEFAULT_LIFETIME,
            first_retry: Duration::from_millis(250),
            max_tries: 6,
            retry_after_failure: Duration::from_secs(300),
            method: Method::Auto,
        }
    }
}

/// What happened to a mapping, for the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortMapEvent {
    /// The gateway forwards `external_port` to our `internal_port` for `lifetime`.
    Mapped {
        /// The transport.
        protocol: Protocol,
        /// Our port.
        internal_port: u16,
        /// The gateway's port.
        external_port: u16,
        /// How long, unless renewed (it is, at half of it); zero for a permanent mapping (a UPnP
        /// gateway that takes no other).
        lifetime: Duration,
    },
    /// The gateway's external address.
    ExternalAddress(IpAddr),
    /// A mapping could not be made (asked again later).
    Failed {
        /// The transport.
        protocol: Protocol,
        /// Our port.
        internal_port: u16,
        /// Why.
        error: PortMapError,
    },
    /// A mapping was removed at our request.
    Removed {
        /// The transport.
        protocol: Protocol,
        /// Our port.
        internal_port: u16,
    },
}

/// Why a mapping failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortMapError {
    /// The gateway never answered.
    NoAnswer,
    /// The gateway refused.
    Refused(ResultCode),
    /// The UPnP gateway refused, or answered what could not be used.
    Upnp(upnp::UpnpError),
}

impl fmt::Display for PortMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoAnswer => f.write_str("the gateway did not answer"),
            Self::Refused(code) => write!(f, "the gateway refused: {code}"),
            Self::Upnp(e) => write!(f, "UPnP: {e}"),
        }
    }
}

impl std::error::Error for PortMapError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Requests going out (`lifetime` 0: a removal).
    Asking {
        tries: u32,
        next: Instant,
        lifetime: u32,
    },
    Mapped {
        renew_at: Instant,
    },
    Failed {
        retry_at: Instant,
    },
    Removed,
}

#[derive(Clone, Debug)]
struct Mapping {
    protocol: Protocol,
    internal_port: u16,
    external_port: u16,
    nonce: [u8; 12],
    state: State,
}

/// The port mapping machine for one gateway.
#[derive(Debug)]
pub struct PortMapper {
    config: PortMapConfig,
    gateway: SocketAddr,
    client: Ipv4Addr,
    version: Version,
    mappings: Vec<Mapping>,
    epoch: Option<u32>,
    external_ip: Option<IpAddr>,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<PortMapEvent>,
    rng: Rng,
}

impl PortMapper {
    /// A machine for the gateway at `gateway`, reached from our address `client`.
    pub fn new(config: PortMapConfig, gateway: Ipv4Addr, client: Ipv4Addr, rng: &mut Rng) -> Self {
        Self {
            version: config.method.fixed_version().unwrap_or(Version::Pcp),
            config,
            gateway: SocketAddr::new(IpAddr::V4(gateway), GATEWAY_PORT),
            client,
            mappings: Vec::new(),
            epoch: None,
            external_ip: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
            rng: rng.fork(),
        }
    }

    /// Where the datagrams go (and the only source answers are taken from).
    pub fn gateway(&self) -> SocketAddr {
        self.gateway
    }

    /// The gateway's external address, once known.
    pub fn external_ip(&self) -> Option<IpAddr> {
        self.external_ip
    }

    /// Asks for `protocol` traffic to our `port` to be forwarded (the same external port
    /// suggested).
    pub fn map(&mut self, now: Instant, protocol: Protocol, port: u16) {
        if self
            .mappings
            .iter()
            .any(|m| m.protocol == protocol && m.internal_port == port)
        {
            return;
        }
        let mut nonce = [0; 12];
        self.rng.fill(&mut nonce);
        self.mappings.push(Mapping {
            protocol,
            internal_port: port,
            external_port: port,
            nonce,
            state: self.asking(now),
        });
    }

    /// Removes every mapping (at shutdown).
    pub fn unmap_all(&mut self, now: Instant) {
        for m in &mut self.mappings {
            m.state = match m.state {
                State::Removed => State::Removed,
                _ => State::Asking {
                    tries: 0,
                    next: now,
                    lifetime: 0,
                },
            };
        }
    }

    fn asking(&self, now: Instant) -> State {
        State::Asking {
            tries: 0,
            next: now,
            lifetime: self.config.lifetime,
        }
    }

    /// When to call [`PortMapper::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.mappings
            .iter()
            .filter_map(|m| match m.state {
                State::Asking { next, .. } => Some(next),
                State::Mapped { renew_at } => Some(renew_at),
                State::Failed { retry_at } => Some(retry_at),
                State::Removed => None,
            })
            .min()
    }

    /// Sends, retries, renews and gives up what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for i in 0..self.mappings.len() {
            let m = &self.mappings[i];
            match m.state {
                State::Mapped { renew_at } | State::Failed { retry_at: renew_at }
                    if renew_at <= now =>
                {
                    self.mappings[i].state = self.asking(now);
                }
                _ => {}
            }
            let m = &mut self.mappings[i];
            let State::Asking {
                tries,
                next,
                lifetime,
            } = m.state
            else {
                continue;
            };
            if next > now {
                continue;
            }
            if tries >= self.config.max_tries {
                let (protocol, internal_port) = (m.protocol, m.internal_port);
                if lifetime == 0 {
                    m.state = State::Removed;
                } else {
                    m.state = State::Failed {
                        retry_at: now + self.config.retry_after_failure,
                    };
                    self.events.push_back(PortMapEvent::Failed {
                        protocol,
                        internal_port,
                        error: PortMapError::NoAnswer,
                    });
                }
                continue;
            }
            let request = MapRequest {
                protocol: m.protocol,
                internal_port: m.internal_port,
                suggested_port: if lifetime == 0 { 0 } else { m.external_port },
                lifetime,
                client: self.client,
                nonce: m.nonce,
            };
            self.out.push_back(request.encode(self.version));
            m.state = State::Asking {
                tries: tries + 1,
                next: now + self.config.first_retry * 2u32.saturating_pow(tries),
                lifetime,
            };
        }
    }

    /// A datagram from `from` on the socket the requests left from: the gateway's answer, or
    /// anything else (ignored).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<(), ResponseError> {
        if from != self.gateway {
            return Ok(());
        }
        match Response::parse(data)? {
            Response::Address { epoch, ip } => {
                self.note_epoch(now, epoch);
                self.learn_ip(IpAddr::V4(ip));
            }
            Response::Refused {
                version: Version::NatPmp,
                code: ResultCode::UnsupportedVersion,
                ..
            } if self.version == Version::Pcp && self.config.method == Method::Auto => {
                self.version = Version::NatPmp;
                for m in &mut self.mappings {
                    if let State::Asking { lifetime, .. } = m.state {
                        m.state = State::Asking {
                            tries: 0,
                            next: now,
                            lifetime,
                        };
                    }
                }
            }
            Response::Refused { code, of, .. } => {
                let names = |m: &Mapping| match of {
                    Refusal::Unknown => true,
                    Refusal::Address => false,
                    Refusal::Map { protocol, nonce } => {
                        protocol.is_none_or(|p| p == m.protocol)
                            && nonce.is_none_or(|n| n == m.nonce)
                    }
                };
                for m in &mut self.mappings {
                    if let State::Asking { lifetime, .. } = m.state
                        && names(m)
                    {
                        m.state = if lifetime == 0 {
                            State::Removed
                        } else {
                            self.events.push_back(PortMapEvent::Failed {
                                protocol: m.protocol,
                                internal_port: m.internal_port,
                                error: PortMapError::Refused(code),
                            });
                            State::Failed {
                                retry_at: now + self.config.retry_after_failure,
                            }
                        };
                    }
                }
            }
            Response::Mapped {
                version,
                protocol,
                internal_port,
                external_port,
                external_ip,
                lifetime,
                epoch,
                nonce,
            } => {
                let Some(m) = self.mappings.iter_mut().find(|m| {
                    m.protocol == protocol
                        && m.internal_port == internal_port
                        && nonce.is_none_or(|n| n == m.nonce)
                        && matches!(m.state, State::Asking { .. })
                }) else {
                    return Ok(());
                };
                let asked = match m.state {
                    State::Asking { lifetime, .. } => lifetime,
                    _ => 0,
                };
                if asked == 0 {
                    m.state = State::Removed;
                    self.events.push_back(PortMapEvent::Removed {
                        protocol,
                        internal_port,
                    });
                } else {
                    let granted = Duration::from_secs(u64::from(lifetime.max(1)));
                    m.external_port = external_port;
                    m.state = State::Mapped {
                        renew_at: now + granted / 2,
                    };
                    self.events.push_back(PortMapEvent::Mapped {
                        protocol,
                        internal_port,
                        external_port,
                        lifetime: granted,
                    });
                    if version == Version::NatPmp && self.external_ip.is_none() {
                        self.out.push_back(natpmp_address_request());
                    }
                }
                self.note_epoch(now, epoch);
                if let Some(ip) = external_ip.filter(|ip| !ip.is_unspecified()) {
                    self.learn_ip(ip);
                }
            }
        }
        Ok(())
    }

    /// A gateway whose epoch went back restarted and forgot our mappings: ask again.
    fn note_epoch(&mut self, now: Instant, epoch: u32) {
        if self.epoch.is_some_and(|last| epoch < last) {
            for m in &mut self.mappings {
                if let State::Mapped { .. } = m.state {
                    m.state = State::Asking {
                        tries: 0,
                        next: now,
                        lifetime: self.config.lifetime,
                    };
                }
            }
        }
        self.epoch = Some(epoch);
    }

    fn learn_ip(&mut self, ip: IpAddr) {
        if self.external_ip != Some(ip) {
            self.external_ip = Some(ip);
            self.events.push_back(PortMapEvent::ExternalAddress(ip));
        }
    }

    /// The next datagram for [`PortMapper::gateway`].
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<PortMapEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
pub(crate) mod tests;
