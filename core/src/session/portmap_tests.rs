//! Port mapping in the session: PCP and UPnP started together (`auto`), the first to map
//! kept and the other's mappings removed; UPnP's removals hold the shutdown until they are
//! answered.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use crate::portmap::upnp::{ssdp, tests as upnp, xml};
use crate::portmap::{GATEWAY_PORT, Method, PortMapConfig, PortMapEvent, Protocol, tests as pcp};
use crate::session::{Action, Dest, Event, RequestId, Session, SessionConfig};
use crate::tracker::ResponseReader;

const GW: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
const ME: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);

fn session(method: Method, now: Instant) -> Session {
    let config = SessionConfig {
        listen_port: 7000,
        port_mapping: Some(PortMapConfig {
            method,
            ..PortMapConfig::default()
        }),
        dht: false,
        ..SessionConfig::default()
    };
    let mut s = Session::new(config, now, 3);
    s.set_gateway(now, GW, ME, 7001);
    s.handle_timeout(now);
    s
}

/// What the session sent: PCP datagrams, SSDP searches, HTTP requests (id, text), events.
#[derive(Default)]
struct Out {
    pcp: Vec<Vec<u8>>,
    searches: usize,
    http: Vec<(RequestId, String)>,
    events: Vec<Event>,
}

fn drain(s: &mut Session) -> Out {
    let mut out = Out::default();
    while let Some(t) = s.poll_transmit() {
        match t.dest {
            Dest::Udp(to) if to == SocketAddr::from((GW, GATEWAY_PORT)) => {
                out.pcp.push(t.payload.to_vec());
            }
            Dest::Udp(to) if to == ssdp::MULTICAST || to == SocketAddr::from((GW, 1900)) => {
                out.searches += 1;
            }
            other => panic!("unexpected transmit to {other:?}"),
        }
    }
    while let Some(a) = s.poll_action() {
        if let Action::HttpRequest { id, request, .. } = a {
            out.http.push((id, String::from_utf8(request).unwrap()));
        }
    }
    out.events.extend(std::iter::from_fn(|| s.poll_event()));
    out
}

fn http(s: &mut Session, now: Instant, id: RequestId, status: &str, body: &[u8]) {
    let mut raw = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    let response = ResponseReader::new(1 << 16).push(&raw).unwrap().unwrap();
    s.handle_http_response(now, id, Ok(response));
}

/// Answers the SSDP search and the description: the session's next request is the first
/// `AddPortMapping`.
fn discover(s: &mut Session, now: Instant) -> (RequestId, String) {
    let answer = upnp::answer("http://192.168.1.1:5000/rootDesc.xml");
    s.handle_datagram(now, SocketAddr::from((ME, 1900)), &answer);
    let out = drain(s);
    assert_eq!(out.http.len(), 1);
    assert!(
        out.http[0].1.starts_with("GET /rootDesc.xml "),
        "{}",
        out.http[0].1
    );
    http(
        s,
        now,
        out.http[0].0,
        "200 OK",
        xml::tests::MINIUPNPD.as_bytes(),
    );
    let mut out = drain(s);
    assert_eq!(out.http.len(), 1, "one SOAP call at a time");
    out.http.remove(0)
}

fn mapped(events: &[Event]) -> Vec<Protocol> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PortMapping(PortMapEvent::Mapped { protocol, .. }) => Some(*protocol),
            _ => None,
        })
        .collect()
}

#[test]
fn auto_keeps_upnp_when_it_maps_first_and_pcp_removes_its_requests() {
    let now = Instant::now();
    let mut s = session(Method::Auto, now);
    let first = drain(&mut s);
    assert_eq!(first.pcp.len(), 2, "PCP asks for TCP and UDP");
    assert_eq!(first.searches, 6, "UPnP searches at once too");
    let (id, add) = discover(&mut s, now);
    assert!(add.contains("#AddPortMapping\"") && add.contains("<NewProtocol>TCP</NewProtocol>"));
    http(&mut s, now, id, "200 OK", b"");
    let out = drain(&mut s);
    assert_eq!(mapped(&out.events), [Protocol::Tcp]);
    // PCP lost: it sends removals (lifetime 0) for what it asked, and its answers are not news.
    assert_eq!(out.pcp.len(), 2);
    for req in &out.pcp {
        assert_eq!(&req[4..8], &[0; 4], "a removal has lifetime 0");
        s.handle_datagram(
            now,
            SocketAddr::from((GW, GATEWAY_PORT)),
            &pcp::answer(req, false, 9),
        );
    }
    let (id, add) = (out.http[0].0, &out.http[0].1);
    assert!(add.contains("<NewProtocol>UDP</NewProtocol>"), "{add}");
    http(&mut s, now, id, "200 OK", b"");
    let out = drain(&mut s);
    assert_eq!(mapped(&out.events), [Protocol::Udp]);
}

#[test]
fn auto_keeps_pcp_when_it_maps_first_and_upnp_asks_for_nothing() {
    let now = Instant::now();
    let mut s = session(Method::Auto, now);
    let first = drain(&mut s);
    let answer = upnp::answer("http://192.168.1.1:5000/rootDesc.xml");
    s.handle_datagram(now, SocketAddr::from((GW, 1900)), &answer);
    let describe = drain(&mut s).http;
    assert_eq!(describe.len(), 1);
    for req in &first.pcp {
        s.handle_datagram(
            now,
            SocketAddr::from((GW, GATEWAY_PORT)),
            &pcp::answer(req, false, 9),
        );
    }
    let out = drain(&mut s);
    assert_eq!(mapped(&out.events), [Protocol::Tcp, Protocol::Udp]);
    http(
        &mut s,
        now,
        describe[0].0,
        "200 OK",
        xml::tests::MINIUPNPD.as_bytes(),
    );
    let out = drain(&mut s);
    assert!(out.http.is_empty(), "UPnP lost: no AddPortMapping");
    assert!(out.events.is_empty(), "{:?}", out.events);
    s.shutdown(now);
    let out = drain(&mut s);
    assert_eq!(out.pcp.len(), 2, "PCP removes its two mappings");
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, Event::ShutdownComplete))
    );
}

#[test]
fn upnp_removals_hold_the_shutdown_until_answered() {
    let now = Instant::now();
    let mut s = session(Method::Upnp, now);
    let first = drain(&mut s);
    assert!(first.pcp.is_empty(), "upnp only: no PCP");
    let (id, _) = discover(&mut s, now);
    http(&mut s, now, id, "200 OK", b"");
    let (id, _) = drain(&mut s).http.remove(0);
    http(&mut s, now, id, "200 OK", b"");
    let (id, ip) = drain(&mut s).http.remove(0);
    assert!(ip.contains("#GetExternalIPAddress\""), "{ip}");
    s.shutdown(now);
    assert!(
        drain(&mut s).http.is_empty(),
        "the address request is still in flight"
    );
    http(
        &mut s,
        now,
        id,
        "500 Internal Server Error",
        &upnp::fault(501),
    );
    for protocol in ["TCP", "UDP"] {
        let out = drain(&mut s);
        assert!(
            !out.events
                .iter()
                .any(|e| matches!(e, Event::ShutdownComplete))
        );
        let (id, del) = &out.http[0];
        assert!(
            del.contains("#DeletePortMapping\"") && del.contains(protocol),
            "{del}"
        );
        http(&mut s, now, *id, "200 OK", b"");
    }
    let out = drain(&mut s);
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, Event::ShutdownComplete))
    );
    assert!(out.http.is_empty());
}

/// Adds a torrent with an HTTP tracker, runs it, and returns the request text of its first
/// announce.
fn first_announce(s: &mut Session, now: Instant, n: u8) -> String {
    use crate::create::TorrentBuilder;
    use crate::metainfo::Metainfo;
    use crate::session::{DiskJob, DiskJobKind, TorrentOptions, TorrentSource};
    let b = TorrentBuilder::single_file("t.bin", 32 * 1024)
        .unwrap()
        .piece_length(16 * 1024)
        .tracker_tier(vec!["http://127.0.0.1:9/announce".into()]);
    let meta = Metainfo::from_bytes(&b.build(&[[n; 20], [n + 1; 20]]).unwrap()).unwrap();
    let source = TorrentSource::Metainfo(std::sync::Arc::new(meta));
    s.add_torrent(now, source, TorrentOptions::default())
        .unwrap();
    for _ in 0..8 {
        s.handle_timeout(now);
        while let Some(a) = s.poll_action() {
            match a {
                Action::Disk(DiskJob {
                    kind: DiskJobKind::Stamps { reply },
                    ..
                }) => s.handle_completion(now, reply.send(Ok(vec![None]))),
                Action::HttpRequest { url, request, .. } if url.port() == 9 => {
                    return String::from_utf8(request).unwrap();
                }
                _ => {}
            }
        }
        while s.poll_transmit().is_some() {}
    }
    panic!("no announce");
}

#[test]
fn the_external_address_gives_the_dht_a_secure_id_and_is_announced_to_trackers() {
    let now = Instant::now();
    let config = SessionConfig {
        listen_port: 7000,
        port_mapping: Some(PortMapConfig {
            method: Method::Pcp,
            ..PortMapConfig::default()
        }),
        dht: true,
        ..SessionConfig::default()
    };
    let mut s = Session::new(config, now, 3);
    let before = first_announce(&mut s, now, 1);
    assert!(!before.contains("&ip="), "{before}");
    s.set_gateway(now, GW, ME, 7001);
    s.handle_timeout(now);
    let gateway = SocketAddr::from((GW, GATEWAY_PORT));
    let requests: Vec<Vec<u8>> = std::iter::from_fn(|| s.poll_transmit())
        .filter(|t| t.dest == Dest::Udp(gateway))
        .map(|t| t.payload.to_vec())
        .collect();
    assert_eq!(requests.len(), 2);
    for req in &requests {
        s.handle_datagram(now, gateway, &pcp::answer(req, false, 9));
    }
    let ext: std::net::IpAddr = "198.51.100.7".parse().unwrap();
    let events: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(
        events.contains(&Event::PortMapping(PortMapEvent::ExternalAddress(ext))),
        "{events:?}"
    );
    let after = first_announce(&mut s, now, 3);
    assert!(after.contains("&ip=198.51.100.7"), "{after}");
    s.shutdown(now);
    // The trackers never answer the `stopped` announces: the shutdown ends at its timeout.
    s.handle_timeout(now + std::time::Duration::from_secs(11));
    let saved = std::iter::from_fn(|| s.poll_action())
        .find_map(|a| match a {
            Action::SaveDhtState { data } => Some(data),
            _ => None,
        })
        .expect("the DHT state saved at shutdown");
    let id = crate::dht::SavedState::decode(&saved).unwrap().id;
    assert!(
        id.proves_address(ext),
        "the node id is BEP 42 secure for {ext}"
    );
}
