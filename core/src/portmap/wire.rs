//! The datagrams of NAT-PMP (RFC 6886) and PCP (RFC 6887): requests we build and responses we
//! parse, strictly (a response that is not exactly one of ours is refused).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The port gateways answer both protocols on.
pub const GATEWAY_PORT: u16 = 5351;

/// The transport a mapping is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP (peer connections).
    Tcp,
    /// UDP (DHT, UDP trackers, uTP).
    Udp,
}

impl Protocol {
    fn natpmp_opcode(self) -> u8 {
        match self {
            Self::Udp => 1,
            Self::Tcp => 2,
        }
    }

    fn iana(self) -> u8 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
        }
    }
}

/// Which of the two protocols a datagram speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// NAT-PMP (version 0).
    NatPmp,
    /// PCP (version 2).
    Pcp,
}

/// A mapping request: `protocol` traffic to `internal_port` of `client`, for `lifetime`
/// seconds (0 deletes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapRequest {
    /// The transport.
    pub protocol: Protocol,
    /// Our port.
    pub internal_port: u16,
    /// The external port we would like (usually the same).
    pub suggested_port: u16,
    /// Seconds the mapping should last; 0 removes it.
    pub lifetime: u32,
    /// Our address on the gateway's network (PCP checks it against the datagram's source).
    pub client: Ipv4Addr,
    /// PCP's nonce, which the response echoes.
    pub nonce: [u8; 12],
}

impl MapRequest {
    /// The request in `version`'s format.
    pub fn encode(&self, version: Version) -> Vec<u8> {
        match version {
            Version::NatPmp => {
                let mut out = vec![0, self.protocol.natpmp_opcode(), 0, 0];
                out.extend_from_slice(&self.internal_port.to_be_bytes());
                out.extend_from_slice(&self.suggested_port.to_be_bytes());
                out.extend_from_slice(&self.lifetime.to_be_bytes());
                out
            }
            Version::Pcp => {
                let mut out = vec![2, 1, 0, 0];
                out.extend_from_slice(&self.lifetime.to_be_bytes());
                out.extend_from_slice(&self.client.to_ipv6_mapped().octets());
                out.extend_from_slice(&self.nonce);
                out.extend_from_slice(&[self.protocol.iana(), 0, 0, 0]);
                out.extend_from_slice(&self.internal_port.to_be_bytes());
                out.extend_from_slice(&self.suggested_port.to_be_bytes());
                out.extend_from_slice(&Ipv4Addr::UNSPECIFIED.to_ipv6_mapped().octets());
                out
            }
        }
    }
}

/// NAT-PMP's request for the gateway's external address.
pub fn natpmp_address_request() -> Vec<u8> {
    vec![0, 0]
}

/// What a gateway answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// NAT-PMP's external address.
    Address {
        /// The gateway's seconds since its mapping table started.
        epoch: u32,
        /// The address.
        ip: Ipv4Addr,
    },
    /// A mapping was made (or removed, with lifetime 0).
    Mapped {
        /// The protocol that answered.
        version: Version,
        /// The transport.
        protocol: Protocol,
        /// Our port.
        internal_port: u16,
        /// The port the gateway forwards.
        external_port: u16,
        /// The external address (PCP says it; NAT-PMP does not).
        external_ip: Option<IpAddr>,
        /// Seconds granted.
        lifetime: u32,
        /// The gateway's epoch.
        epoch: u32,
        /// PCP's echoed nonce.
        nonce: Option<[u8; 12]>,
    },
    /// The gateway refused.
    Refused {
        /// The protocol that answered.
        version: Version,
        /// Its result code.
        code: ResultCode,
        /// The request it refuses, as far as the answer says.
        of: Refusal,
    },
}

/// Which request a refusal answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The answer does not say (a short PCP answer, an unknown opcode).
    Unknown,
    /// NAT-PMP's external address request.
    Address,
    /// A mapping request: NAT-PMP's answer names the transport (its opcode), PCP's echoes
    /// the transport and the request's nonce.
    Map {
        /// The transport, if known.
        protocol: Option<Protocol>,
        /// PCP's echoed nonce.
        nonce: Option<[u8; 12]>,
    },
}

/// A gateway's result code (PCP's numbering; NAT-PMP's codes 1-5 are mapped onto it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultCode {
    /// The gateway does not speak the version we sent.
    UnsupportedVersion,
    /// Not allowed (mapping disabled, or not for this client).
    NotAuthorized,
    /// No resources or network failure on the gateway's side.
    NoResources,
    /// Any other refusal, with its code.
    Other(u8),
}

impl ResultCode {
    fn pcp(code: u8) -> Self {
        match code {
            1 => Self::UnsupportedVersion,
            2 => Self::NotAuthorized,
            8 | 11 => Self::NoResources,
            other => Self::Other(other),
        }
    }

    fn natpmp(code: u16) -> Self {
        match code {
            1 => Self::UnsupportedVersion,
            2 => Self::NotAuthorized,
            3 | 4 => Self::NoResources,
            other => Self::Other(u8::try_from(other).unwrap_or(u8::MAX)),
        }
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedVersion => f.write_str("unsupported version"),
            Self::NotAuthorized => f.write_str("not authorized"),
            Self::NoResources => f.write_str("no resources or network failure"),
            Self::Other(code) => write!(f, "result code {code}"),
        }
    }
}

/// Why a datagram from the gateway is not a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseError {
    /// Not a response of a known version and opcode, or the wrong length for one.
    Malformed,
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed NAT-PMP/PCP response")
    }
}

impl std::error::Error for ResponseError {}

fn be16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

fn be32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

impl Response {
    /// Parses a datagram from the gateway.
    pub fn parse(d: &[u8]) -> Result<Self, ResponseError> {
        match d.first() {
            Some(0) => Self::parse_natpmp(d),
            Some(2) => Self::parse_pcp(d),
            _ => Err(ResponseError::Malformed),
        }
    }

    fn parse_natpmp(d: &[u8]) -> Result<Self, ResponseError> {
        if d.len() < 8 || d[1] < 128 {
            return Err(ResponseError::Malformed);
        }
        let code = be16(d, 2);
        let epoch = be32(d, 4);
        if code != 0 {
            let code = ResultCode::natpmp(code);
            let of = match d[1] - 128 {
                0 => Refusal::Address,
                1 => Refusal::Map {
                    protocol: Some(Protocol::Udp),
                    nonce: None,
                },
                2 => Refusal::Map {
                    protocol: Some(Protocol::Tcp),
                    nonce: None,
                },
                _ => Refusal::Unknown,
            };
            return Ok(Self::Refused {
                version: Version::NatPmp,
                code,
                of,
            });
        }
        let protocol = match (d[1] - 128, d.len()) {
            (0, 12) => {
                let ip = Ipv4Addr::new(d[8], d[9], d[10], d[11]);
                return Ok(Self::Address { epoch, ip });
            }
            (1, 16) => Protocol::Udp,
            (2, 16) => Protocol::Tcp,
            _ => return Err(ResponseError::Malformed),
        };
        Ok(Self::Mapped {
            version: Version::NatPmp,
            protocol,
            internal_port: be16(d, 8),
            external_port: be16(d, 10),
            external_ip: None,
            lifetime: be32(d, 12),
            epoch,
            nonce: None,
        })
    }

    fn parse_pcp(d: &[u8]) -> Result<Self, ResponseError> {
        if d.len() < 24 || d.len() > 1100 || d[1] & 0x80 == 0 {
            return Err(ResponseError::Malformed);
        }
        if d[3] != 0 {
            let code = ResultCode::pcp(d[3]);
            let of = match d.get(24..60) {
                Some(body) if d[1] & 0x7f == 1 => {
                    let mut nonce = [0; 12];
                    nonce.copy_from_slice(&body[..12]);
                    let protocol = match body[12] {
                        6 => Some(Protocol::Tcp),
                        17 => Some(Protocol::Udp),
                        _ => None,
                    };
                    Refusal::Map {
                        protocol,
                        nonce: Some(nonce),
                    }
                }
                _ => Refusal::Unknown,
            };
            return Ok(Self::Refused {
                version: Version::Pcp,
                code,
                of,
            });
        }
        if d[1] & 0x7f != 1 || d.len() < 60 {
            return Err(ResponseError::Malformed);
        }
        let body = &d[24..60];
        let protocol = match body[12] {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            _ => return Err(ResponseError::Malformed),
        };
        let mut nonce = [0; 12];
        nonce.copy_from_slice(&body[..12]);
        let mut ip = [0; 16];
        ip.copy_from_slice(&body[20..36]);
        let ip = Ipv6Addr::from(ip);
        let external_ip = Some(match ip.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(ip),
        });
        Ok(Self::Mapped {
            version: Version::Pcp,
            protocol,
            internal_port: be16(body, 16),
            external_port: be16(body, 18),
            external_ip,
            lifetime: be32(d, 4),
            epoch: be32(d, 8),
            nonce: Some(nonce),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> MapRequest {
        MapRequest {
            protocol: Protocol::Tcp,
            internal_port: 6881,
            suggested_port: 6881,
            lifetime: 7200,
            client: Ipv4Addr::new(192, 168, 1, 2),
            nonce: [7; 12],
        }
    }

    #[test]
    fn natpmp_requests_have_the_rfc_layout() {
        let r = request().encode(Version::NatPmp);
        assert_eq!(r, [0, 2, 0, 0, 0x1a, 0xe1, 0x1a, 0xe1, 0, 0, 0x1c, 0x20]);
        assert_eq!(natpmp_address_request(), [0, 0]);
    }

    #[test]
    fn pcp_requests_have_the_rfc_layout() {
        let r = request().encode(Version::Pcp);
        assert_eq!(r.len(), 60);
        assert_eq!(&r[..8], &[2, 1, 0, 0, 0, 0, 0x1c, 0x20]);
        assert_eq!(
            &r[8..24],
            &Ipv4Addr::new(192, 168, 1, 2).to_ipv6_mapped().octets()
        );
        assert_eq!(&r[24..36], &[7; 12]);
        assert_eq!(r[36], 6);
        assert_eq!(&r[40..44], &[0x1a, 0xe1, 0x1a, 0xe1]);
    }

    #[test]
    fn natpmp_responses_parse() {
        let addr = [0, 128, 0, 0, 0, 0, 0, 9, 198, 51, 100, 7];
        assert_eq!(
            Response::parse(&addr),
            Ok(Response::Address {
                epoch: 9,
                ip: Ipv4Addr::new(198, 51, 100, 7)
            })
        );
        let map = [
            0, 130, 0, 0, 0, 0, 0, 9, 0x1a, 0xe1, 0x1a, 0xe2, 0, 0, 0x0e, 0x10,
        ];
        let Ok(Response::Mapped {
            protocol,
            internal_port,
            external_port,
            lifetime,
            ..
        }) = Response::parse(&map)
        else {
            panic!("a mapping");
        };
        assert_eq!(
            (protocol, internal_port, external_port, lifetime),
            (Protocol::Tcp, 6881, 6882, 3600)
        );
        let refused = [0, 130, 0, 2, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            Response::parse(&refused),
            Ok(Response::Refused {
                version: Version::NatPmp,
                code: ResultCode::NotAuthorized,
                of: Refusal::Map {
                    protocol: Some(Protocol::Tcp),
                    nonce: None
                }
            })
        );
        let mut address = refused;
        address[1] = 128;
        assert!(matches!(
            Response::parse(&address),
            Ok(Response::Refused {
                of: Refusal::Address,
                ..
            })
        ));
    }

    #[test]
    fn a_pcp_response_echoes_the_request_with_the_assignment() {
        let mut d = request().encode(Version::Pcp);
        d[1] = 0x81;
        d[3] = 0;
        d[8..12].copy_from_slice(&77u32.to_be_bytes());
        d[42..44].copy_from_slice(&40000u16.to_be_bytes());
        d[44..60].copy_from_slice(&Ipv4Addr::new(198, 51, 100, 7).to_ipv6_mapped().octets());
        let Ok(Response::Mapped {
            version,
            external_port,
            external_ip,
            epoch,
            nonce,
            ..
        }) = Response::parse(&d)
        else {
            panic!("a mapping");
        };
        assert_eq!(version, Version::Pcp);
        assert_eq!(external_port, 40000);
        assert_eq!(
            external_ip,
            Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)))
        );
        assert_eq!(epoch, 77);
        assert_eq!(nonce, Some([7; 12]));
    }

    #[test]
    fn hostile_datagrams_are_refused() {
        for d in [
            &[][..],
            &[1, 128, 0, 0][..],
            &[0, 2, 0, 0, 0, 0, 0, 0][..],
            &[0, 130, 0, 0, 0, 0, 0, 9][..],
            &[2, 0x81, 0, 0][..],
            &[
                2, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ][..],
        ] {
            assert_eq!(Response::parse(d), Err(ResponseError::Malformed), "{d:?}");
        }
    }
}
