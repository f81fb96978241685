use super::*;

const GW: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
const ME: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);
const EXT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fn gw() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(GW), GATEWAY_PORT)
}

/// A gateway's answer to `req`: NAT-PMP-only ones refuse PCP; mappings get port + 1000 and
/// `lifetime` (what was asked, capped at an hour).
pub(crate) fn answer(req: &[u8], natpmp_only: bool, epoch: u32) -> Vec<u8> {
    match req[0] {
        2 if natpmp_only => {
            let mut d = vec![0, 128 + req[1], 0, 1];
            d.extend_from_slice(&epoch.to_be_bytes());
            d
        }
        2 => {
            let mut d = req.to_vec();
            d[1] |= 0x80;
            d[3] = 0;
            let asked = u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
            d[4..8].copy_from_slice(&asked.min(3600).to_be_bytes());
            d[8..12].copy_from_slice(&epoch.to_be_bytes());
            let port = u16::from_be_bytes([d[40], d[41]]);
            d[42..44].copy_from_slice(&(port + 1000).to_be_bytes());
            d[44..60].copy_from_slice(&EXT.to_ipv6_mapped().octets());
            d
        }
        _ if req[1] == 0 => {
            let mut d = vec![0, 128, 0, 0];
            d.extend_from_slice(&epoch.to_be_bytes());
            d.extend_from_slice(&EXT.octets());
            d
        }
        _ => {
            let mut d = vec![0, 128 + req[1], 0, 0];
            d.extend_from_slice(&epoch.to_be_bytes());
            let port = u16::from_be_bytes([req[4], req[5]]);
            d.extend_from_slice(&port.to_be_bytes());
            d.extend_from_slice(&(port + 1000).to_be_bytes());
            let asked = u32::from_be_bytes([req[8], req[9], req[10], req[11]]);
            d.extend_from_slice(&asked.min(3600).to_be_bytes());
            d
        }
    }
}

/// Fires the timer if due, lets the gateway answer everything sent; the events.
fn exchange(p: &mut PortMapper, now: Instant, natpmp_only: bool, epoch: u32) -> Vec<PortMapEvent> {
    for _ in 0..4 {
        if p.poll_timeout().is_some_and(|at| at <= now) {
            p.handle_timeout(now);
        }
        while let Some(req) = p.poll_transmit() {
            p.handle_datagram(now, gw(), &answer(&req, natpmp_only, epoch))
                .unwrap();
        }
    }
    std::iter::from_fn(|| p.poll_event()).collect()
}

fn mapper() -> PortMapper {
    PortMapper::new(PortMapConfig::default(), GW, ME, &mut Rng::new(1))
}

fn mapped(events: &[PortMapEvent]) -> Vec<(Protocol, u16, u16)> {
    events
        .iter()
        .filter_map(|e| match e {
            PortMapEvent::Mapped {
                protocol,
                internal_port,
                external_port,
                ..
            } => Some((*protocol, *internal_port, *external_port)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_pcp_gateway_maps_both_ports_tells_its_address_and_is_renewed_at_half_life() {
    let t0 = Instant::now();
    let mut p = mapper();
    p.map(t0, Protocol::Tcp, 6881);
    p.map(t0, Protocol::Udp, 6881);
    let events = exchange(&mut p, t0, false, 10);
    assert_eq!(
        mapped(&events),
        vec![(Protocol::Tcp, 6881, 7881), (Protocol::Udp, 6881, 7881)]
    );
    assert!(events.contains(&PortMapEvent::ExternalAddress(IpAddr::V4(EXT))));
    assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_secs(1800)));
    let events = exchange(&mut p, t0 + Duration::from_secs(1800), false, 1810);
    assert_eq!(mapped(&events).len(), 2, "renewed");
}

#[test]
fn a_natpmp_only_gateway_is_spoken_to_in_natpmp_after_it_refuses_pcp() {
    let t0 = Instant::now();
    let mut p = mapper();
    p.map(t0, Protocol::Tcp, 6881);
    let events = exchange(&mut p, t0, true, 10);
    assert_eq!(mapped(&events), vec![(Protocol::Tcp, 6881, 7881)]);
    assert!(events.contains(&PortMapEvent::ExternalAddress(IpAddr::V4(EXT))));
}

#[test]
fn unmap_all_removes_every_mapping() {
    let t0 = Instant::now();
    let mut p = mapper();
    p.map(t0, Protocol::Tcp, 6881);
    exchange(&mut p, t0, false, 10);
    p.unmap_all(t0);
    p.handle_timeout(t0);
    let req = p.poll_transmit().expect("a removal");
    assert_eq!(&req[4..8], &[0, 0, 0, 0], "lifetime 0");
    p.handle_datagram(t0, gw(), &answer(&req, false, 11))
        .unwrap();
    assert_eq!(
        p.poll_event(),
        Some(PortMapEvent::Removed {
            protocol: Protocol::Tcp,
            internal_port: 6881
        })
    );
    assert_eq!(p.poll_timeout(), None);
}

#[test]
fn an_unanswered_request_is_retried_with_doubling_waits_then_failed_and_asked_later() {
    let t0 = Instant::now();
    let mut p = mapper();
    p.map(t0, Protocol::Tcp, 6881);
    let mut sent = Vec::new();
    let mut now = t0;
    while let Some(at) = p.poll_timeout() {
        now = at;
        p.handle_timeout(now);
        while p.poll_transmit().is_some() {
            sent.push(now - t0);
        }
        if let Some(e) = p.poll_event() {
            assert_eq!(
                e,
                PortMapEvent::Failed {
                    protocol: Protocol::Tcp,
                    internal_port: 6881,
                    error: PortMapError::NoAnswer
                }
            );
            break;
        }
    }
    let ms: Vec<u128> = sent.iter().map(Duration::as_millis).collect();
    assert_eq!(ms, vec![0, 250, 750, 1750, 3750, 7750]);
    assert_eq!(p.poll_timeout(), Some(now + Duration::from_secs(300)));
}

#[test]
fn a_gateway_that_restarted_is_asked_again() {
    let t0 = Instant::now();
    let mut p = mapper();
    p.map(t0, Protocol::Tcp, 6881);
    exchange(&mut p, t0, false, 1000);
    p.map(t0, Protocol::Udp, 6882);
    p.handle_timeout(t0);
    let req = p.poll_transmit().unwrap();
    // Its epoch went back: it lost the TCP mapping.
    p.handle_datagram(t0, gw(), &answer(&req, false, 3))
        .unwrap();
    p.handle_timeout(t0);
    let again = p.poll_transmit().expect("the TCP mapping asked again");
    assert_eq!(again[36], 6);
}

#[test]
fn answers_from_elsewhere_or_for_another_nonce_change_nothing() {
    let t0 = Instant::now();
    let mut p = mapper();
    p.map(t0, Protocol::Tcp, 6881);
    p.handle_timeout(t0);
    let req = p.poll_transmit().unwrap();
    let mut forged = answer(&req, false, 1);
    p.handle_datagram(t0, "192.168.1.66:5351".parse().unwrap(), &forged)
        .unwrap();
    forged[24] ^= 1;
    p.handle_datagram(t0, gw(), &forged).unwrap();
    assert_eq!(p.poll_event(), None);
    assert!(p.handle_datagram(t0, gw(), &[2, 0x81]).is_err());
}

/// `req`'s refusal with `code`: PCP copies the request (nonce, transport, port), NAT-PMP
/// names the opcode.
fn refusal(req: &[u8], code: u8) -> Vec<u8> {
    if req[0] == 2 {
        let mut d = req.to_vec();
        d[1] |= 0x80;
        d[3] = code;
        d
    } else {
        let mut d = vec![0, 128 + req[1], 0, code, 0, 0, 0, 9];
        d.extend_from_slice(&[0; 8]);
        d
    }
}

#[test]
fn a_refusal_fails_only_the_mapping_it_names() {
    for method in [Method::Pcp, Method::NatPmp] {
        let t0 = Instant::now();
        let config = PortMapConfig {
            method,
            ..PortMapConfig::default()
        };
        let mut p = PortMapper::new(config, GW, ME, &mut Rng::new(1));
        p.map(t0, Protocol::Tcp, 6881);
        p.map(t0, Protocol::Udp, 6881);
        p.handle_timeout(t0);
        let (tcp, udp) = (p.poll_transmit().unwrap(), p.poll_transmit().unwrap());
        p.handle_datagram(t0, gw(), &refusal(&udp, 2)).unwrap();
        let events: Vec<_> = std::iter::from_fn(|| p.poll_event()).collect();
        assert_eq!(
            events,
            [PortMapEvent::Failed {
                protocol: Protocol::Udp,
                internal_port: 6881,
                error: PortMapError::Refused(ResultCode::NotAuthorized),
            }],
            "{method:?}"
        );
        // The TCP request is still in flight, and its answer is taken.
        p.handle_datagram(t0, gw(), &answer(&tcp, false, 10))
            .unwrap();
        let events: Vec<_> = std::iter::from_fn(|| p.poll_event()).collect();
        assert_eq!(
            mapped(&events),
            vec![(Protocol::Tcp, 6881, 7881)],
            "{method:?}"
        );
    }
}

#[test]
fn a_pcp_refusal_for_another_nonce_or_of_the_address_fails_nothing() {
    let t0 = Instant::now();
    let mut p = mapper();
    p.map(t0, Protocol::Tcp, 6881);
    p.handle_timeout(t0);
    let mut req = p.poll_transmit().unwrap();
    req[24] ^= 1;
    p.handle_datagram(t0, gw(), &refusal(&req, 2)).unwrap();
    p.handle_datagram(t0, gw(), &[0, 128, 0, 3, 0, 0, 0, 9, 0, 0, 0, 0])
        .unwrap();
    assert_eq!(p.poll_event(), None);
    // A short refusal that names nothing still fails what is in flight.
    p.handle_datagram(t0, gw(), &refusal(&req[..24], 2))
        .unwrap();
    assert!(matches!(p.poll_event(), Some(PortMapEvent::Failed { .. })));
}
