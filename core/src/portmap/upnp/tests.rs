use std::time::{Duration, Instant};

use super::*;
use crate::portmap::Method;

const GW: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);
const ME: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 2);

pub(crate) fn answer(location: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\
         LOCATION: {location}\r\nEXT:\r\n\r\n"
    )
    .into_bytes()
}

pub(crate) fn fault(code: u16) -> Vec<u8> {
    format!(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><s:Fault>\
         <detail><UPnPError><errorCode>{code}</errorCode></UPnPError></detail></s:Fault>\
         </s:Body></s:Envelope>"
    )
    .into_bytes()
}

const IP_ANSWER: &[u8] = b"<s:Envelope><s:Body><u:GetExternalIPAddressResponse>\
<NewExternalIPAddress>100.200.0.1</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>";

fn machine(now: Instant) -> Upnp {
    let config = PortMapConfig {
        method: Method::Upnp,
        ..PortMapConfig::default()
    };
    let mut u = Upnp::new(config, now, GW, ME, &mut Rng::new(5));
    u.map(now, Protocol::Tcp, 6881);
    u.map(now, Protocol::Udp, 6881);
    u
}

fn request_text(u: &mut Upnp) -> (TrackerUrl, String) {
    let call = u.poll_request().expect("a request");
    assert!(u.poll_request().is_none(), "one request at a time");
    (call.url, String::from_utf8(call.request).unwrap())
}

fn events(u: &mut Upnp) -> Vec<PortMapEvent> {
    std::iter::from_fn(|| u.poll_event()).collect()
}

/// A machine that searched, was answered, and read miniupnpd's description.
fn ready(now: Instant) -> Upnp {
    let mut u = machine(now);
    u.handle_timeout(now);
    let sent: Vec<_> = std::iter::from_fn(|| u.poll_transmit()).collect();
    assert_eq!(sent.len(), 6, "three targets, multicast and unicast");
    assert!(sent.iter().any(|(to, _)| *to == ssdp::MULTICAST));
    assert!(
        sent.iter()
            .any(|(to, _)| *to == "192.168.77.1:1900".parse().unwrap())
    );
    u.handle_datagram(&answer("http://192.168.77.1:5000/rootDesc.xml"))
        .unwrap();
    let (url, get) = request_text(&mut u);
    assert_eq!(url.path(), "/rootDesc.xml");
    assert!(
        get.starts_with("GET /rootDesc.xml HTTP/1.1\r\nHost: 192.168.77.1:5000\r\n"),
        "{get}"
    );
    assert_eq!(u.poll_timeout(), None, "waiting for the answer");
    u.handle_http(now, Some((200, xml::tests::MINIUPNPD.as_bytes())))
        .unwrap();
    u
}

#[test]
fn search_describe_map_both_ports_learn_the_address_renew_and_remove() {
    let t0 = Instant::now();
    let mut u = ready(t0);
    let (url, add) = request_text(&mut u);
    assert_eq!(
        url.socket_addr(),
        Some("192.168.77.1:5000".parse().unwrap())
    );
    assert_eq!(url.path(), "/ctl/IPConn");
    assert!(add.starts_with("POST /ctl/IPConn HTTP/1.1\r\n"), "{add}");
    assert!(add.contains(
        "SOAPAction: \"urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping\"\r\n"
    ));
    for part in [
        "<NewExternalPort>6881</NewExternalPort><NewProtocol>TCP</NewProtocol>",
        "<NewInternalPort>6881</NewInternalPort><NewInternalClient>192.168.77.2</NewInternalClient>",
        "<NewLeaseDuration>7200</NewLeaseDuration>",
    ] {
        assert!(add.contains(part), "{part} in {add}");
    }
    let body = &add[add.find("\r\n\r\n").unwrap() + 4..];
    assert!(add.contains(&format!("Content-Length: {}\r\n", body.len())));
    u.handle_http(t0, Some((200, b""))).unwrap();
    let (_, add) = request_text(&mut u);
    assert!(add.contains("<NewProtocol>UDP</NewProtocol>"), "{add}");
    u.handle_http(t0, Some((200, b""))).unwrap();
    let (_, ip) = request_text(&mut u);
    assert!(ip.contains("#GetExternalIPAddress\""), "{ip}");
    u.handle_http(t0, Some((200, IP_ANSWER))).unwrap();
    let lifetime = Duration::from_secs(7200);
    assert_eq!(
        events(&mut u),
        [
            PortMapEvent::Mapped {
                protocol: Protocol::Tcp,
                internal_port: 6881,
                external_port: 6881,
                lifetime
            },
            PortMapEvent::Mapped {
                protocol: Protocol::Udp,
                internal_port: 6881,
                external_port: 6881,
                lifetime
            },
            PortMapEvent::ExternalAddress("100.200.0.1".parse().unwrap()),
        ]
    );
    assert_eq!(u.external_ip(), Some(Ipv4Addr::new(100, 200, 0, 1)));
    // Renewal at half the lease, one mapping at a time.
    let half = t0 + lifetime / 2;
    assert_eq!(u.poll_timeout(), Some(half));
    u.handle_timeout(half - Duration::from_secs(1));
    assert!(u.poll_request().is_none());
    u.handle_timeout(half);
    let (_, renew) = request_text(&mut u);
    assert!(renew.contains("<NewProtocol>TCP</NewProtocol>"), "{renew}");
    u.handle_http(half, Some((200, b""))).unwrap();
    let (_, renew) = request_text(&mut u);
    assert!(renew.contains("<NewProtocol>UDP</NewProtocol>"), "{renew}");
    // Shutdown while the UDP renewal is in flight: both are deleted once it answers.
    u.unmap_all(half);
    assert!(!u.is_settled());
    assert!(u.poll_request().is_none());
    u.handle_http(half, Some((200, b""))).unwrap();
    let (_, del) = request_text(&mut u);
    assert!(del.contains("#DeletePortMapping\""), "{del}");
    assert!(del.contains("<NewExternalPort>6881</NewExternalPort><NewProtocol>TCP</NewProtocol>"));
    u.handle_http(half, Some((200, b""))).unwrap();
    let (_, del) = request_text(&mut u);
    assert!(del.contains("<NewProtocol>UDP</NewProtocol>"), "{del}");
    assert!(!u.is_settled());
    u.handle_http(half, Some((500, &fault(714)))).unwrap_err();
    assert!(u.is_settled());
    assert!(u.poll_request().is_none());
    assert_eq!(u.poll_timeout(), None);
    // The TCP renewal was answered before the shutdown, the UDP one after (not announced).
    assert_eq!(
        events(&mut u),
        [
            PortMapEvent::Mapped {
                protocol: Protocol::Tcp,
                internal_port: 6881,
                external_port: 6881,
                lifetime
            },
            PortMapEvent::Removed {
                protocol: Protocol::Tcp,
                internal_port: 6881
            },
            PortMapEvent::Removed {
                protocol: Protocol::Udp,
                internal_port: 6881
            },
        ]
    );
}

#[test]
fn only_permanent_leases_fall_back_to_lease_zero_never_renewed() {
    let t0 = Instant::now();
    let mut u = ready(t0);
    let _ = request_text(&mut u);
    assert_eq!(
        u.handle_http(t0, Some((500, &fault(725)))),
        Err(UpnpError::Fault(725))
    );
    let (_, add) = request_text(&mut u);
    assert!(add.contains("<NewProtocol>TCP</NewProtocol>"), "{add}");
    assert!(
        add.contains("<NewLeaseDuration>0</NewLeaseDuration>"),
        "{add}"
    );
    u.handle_http(t0, Some((200, b""))).unwrap();
    let (_, add) = request_text(&mut u);
    assert!(
        add.contains("<NewLeaseDuration>0</NewLeaseDuration>"),
        "{add}"
    );
    u.handle_http(t0, Some((200, b""))).unwrap();
    let _ = request_text(&mut u);
    u.handle_http(t0, Some((404, b""))).unwrap_err();
    assert!(events(&mut u).iter().all(|e| matches!(
        e,
        PortMapEvent::Mapped { lifetime, .. } if lifetime.is_zero()
    )));
    assert_eq!(u.poll_timeout(), None, "permanent: nothing to renew");
}

#[test]
fn a_conflict_tries_other_external_ports_then_reports() {
    let t0 = Instant::now();
    let mut u = ready(t0);
    let _ = request_text(&mut u);
    let mut ports = Vec::new();
    for _ in 0..MAX_CONFLICTS {
        u.handle_http(t0, Some((500, &fault(718)))).unwrap_err();
        let (_, add) = request_text(&mut u);
        assert!(add.contains("<NewProtocol>TCP</NewProtocol>"), "{add}");
        assert!(add.contains("<NewInternalPort>6881</NewInternalPort>"));
        let at = add.find("<NewExternalPort>").unwrap() + 17;
        let port: u16 = add[at..at + add[at..].find('<').unwrap()].parse().unwrap();
        assert!(port > 1024 && port != 6881, "{port}");
        ports.push(port);
    }
    u.handle_http(t0, Some((500, &fault(718)))).unwrap_err();
    assert_eq!(
        events(&mut u),
        [PortMapEvent::Failed {
            protocol: Protocol::Tcp,
            internal_port: 6881,
            error: PortMapError::Upnp(UpnpError::Fault(718)),
        }]
    );
    // The UDP mapping goes on; the TCP one is asked again (its own port first) later.
    let (_, add) = request_text(&mut u);
    assert!(add.contains("<NewProtocol>UDP</NewProtocol>"), "{add}");
    u.handle_http(t0, Some((200, b""))).unwrap();
    let _ = request_text(&mut u);
    u.handle_http(t0, Some((200, IP_ANSWER))).unwrap();
    let retry = t0 + PortMapConfig::default().retry_after_failure;
    assert_eq!(u.poll_timeout(), Some(retry));
    u.handle_timeout(retry);
    let (_, add) = request_text(&mut u);
    assert!(add.contains("<NewExternalPort>6881</NewExternalPort><NewProtocol>TCP</NewProtocol>"));
}

#[test]
fn answers_naming_other_hosts_are_refused_and_silence_fails_the_mappings() {
    let t0 = Instant::now();
    let mut u = machine(t0);
    u.handle_timeout(t0);
    for location in [
        "http://192.168.77.9:5000/rootDesc.xml",
        "http://router.lan:5000/rootDesc.xml",
        "https://192.168.77.1/rootDesc.xml",
    ] {
        assert!(u.handle_datagram(&answer(location)).is_err(), "{location}");
    }
    assert!(u.handle_datagram(b"HTTP/1.1 200").is_err());
    assert!(u.poll_request().is_none());
    let mut now = t0;
    while let Some(at) = u.poll_timeout() {
        now = at;
        u.handle_timeout(now);
        if matches!(u.phase, Phase::Failed { .. }) {
            break;
        }
    }
    assert_eq!(
        now - t0,
        Duration::from_millis(15_750),
        "six searches then give up"
    );
    let sent = std::iter::from_fn(|| u.poll_transmit()).count();
    assert_eq!(sent, 6 * 6);
    let failed = events(&mut u);
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|e| matches!(
        e,
        PortMapEvent::Failed {
            error: PortMapError::NoAnswer,
            ..
        }
    )));
    assert_eq!(
        u.poll_timeout(),
        Some(now + PortMapConfig::default().retry_after_failure)
    );
}

#[test]
fn a_control_url_off_the_gateway_or_a_broken_description_fails_and_searches_later() {
    let t0 = Instant::now();
    for (status, body) in [
        (
            200,
            xml::tests::MINIUPNPD.replace("/ctl/IPConn", "http://192.168.77.9/ctl"),
        ),
        (200, "<root><device></device></root>".to_string()),
        (404, String::new()),
    ] {
        let mut u = machine(t0);
        u.handle_timeout(t0);
        u.handle_datagram(&answer("http://192.168.77.1:5000/d.xml"))
            .unwrap();
        let _ = request_text(&mut u);
        assert!(u.handle_http(t0, Some((status, body.as_bytes()))).is_err());
        assert!(u.poll_request().is_none());
        assert_eq!(events(&mut u).len(), 2);
        assert_eq!(
            u.poll_timeout(),
            Some(t0 + PortMapConfig::default().retry_after_failure)
        );
    }
}

#[test]
fn relative_control_urls_resolve_against_the_base() {
    let location = TrackerUrl::parse("http://192.168.77.1:5000/dev/desc.xml").unwrap();
    let d = |control: &str, base: Option<&str>| Description {
        service: ServiceType::WanIp1,
        control_url: control.into(),
        url_base: base.map(Into::into),
    };
    let path = |d: Description| {
        control_url(&location, &d).map(|u| (u.host_str(), u.port(), u.path().to_string()))
    };
    assert_eq!(
        path(d("/ctl", None)),
        Some(("192.168.77.1".into(), 5000, "/ctl".into()))
    );
    assert_eq!(
        path(d("ctl", None)),
        Some(("192.168.77.1".into(), 5000, "/dev/ctl".into()))
    );
    assert_eq!(
        path(d("ctl", Some("http://192.168.77.1:6000"))),
        Some(("192.168.77.1".into(), 6000, "/ctl".into()))
    );
    assert_eq!(
        path(d("http://192.168.77.1:7000/x", None)),
        Some(("192.168.77.1".into(), 7000, "/x".into()))
    );
}

#[test]
fn shutdown_before_any_mapping_asks_nothing() {
    let t0 = Instant::now();
    let mut u = machine(t0);
    u.handle_timeout(t0);
    u.unmap_all(t0);
    assert!(u.is_settled());
    assert_eq!(u.poll_timeout(), None);
    assert!(
        u.handle_datagram(&answer("http://192.168.77.1:5000/d.xml"))
            .is_ok()
    );
    assert!(u.poll_request().is_none());
}
