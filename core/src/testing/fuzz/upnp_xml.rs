//! Fuzz body: the XML a UPnP gateway sends (device descriptions, SOAP answers).

use std::net::Ipv4Addr;
use std::time::Instant;

use crate::portmap::upnp::{Upnp, xml};
use crate::portmap::{Method, PortMapConfig, Protocol};
use crate::rng::Rng;

/// Reads `data` as a description and as SOAP answers, then gives it to a machine as the
/// description and as the answer (status 200, then 500) to every SOAP call that follows.
/// Invariants: nothing panics; a description names a control URL; the machine keeps at most
/// one request in flight and settles after `unmap_all` once its requests are answered.
pub fn upnp_xml(now: Instant, data: &[u8]) {
    if let Ok(d) = xml::parse_description(data) {
        assert!(!d.control_url.is_empty());
    }
    let _ = xml::fault_code(data);
    let _ = xml::external_address(data);
    let gateway = Ipv4Addr::new(192, 168, 1, 1);
    let config = PortMapConfig {
        method: Method::Upnp,
        ..PortMapConfig::default()
    };
    let mut u = Upnp::new(
        config,
        now,
        gateway,
        Ipv4Addr::new(192, 168, 1, 2),
        &mut Rng::new(3),
    );
    u.map(now, Protocol::Tcp, 6881);
    u.map(now, Protocol::Udp, 6881);
    u.handle_timeout(now);
    let answer = b"HTTP/1.1 200 OK\r\nLOCATION: http://192.168.1.1:5000/d.xml\r\n\r\n";
    assert!(u.handle_datagram(answer).is_ok());
    for round in 0..12 {
        if round == 8 {
            u.unmap_all(now);
        }
        let Some(_) = u.poll_request() else { break };
        assert!(u.poll_request().is_none(), "two requests in flight");
        let status = if round % 2 == 0 { 200 } else { 500 };
        let _ = u.handle_http(now, Some((status, data)));
    }
    u.unmap_all(now);
    for _ in 0..4 {
        if u.poll_request().is_some() {
            let _ = u.handle_http(now, None);
        }
    }
    assert!(u.is_settled(), "removals left after every answer");
    let _ = std::iter::from_fn(|| u.poll_event()).count();
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("upnp_xml");
        assert!(!corpus.is_empty(), "fuzz/corpus/upnp_xml is empty");
        for input in corpus {
            super::upnp_xml(std::time::Instant::now(), &input);
        }
    }
}
