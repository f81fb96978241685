//! Fuzz body: datagrams from a NAT-PMP/PCP gateway.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::portmap::{GATEWAY_PORT, PortMapConfig, PortMapper, Protocol, Response};
use crate::rng::Rng;

/// Parses `data` as a gateway's response, then feeds it (from the gateway) to a machine with
/// two mappings in flight, in both protocols. Invariants: nothing panics; the machine keeps a
/// deadline while it has mappings and never emits more events than mappings plus the
/// address.
pub fn portmap_response(now: Instant, data: &[u8]) {
    let _ = Response::parse(data);
    let gateway = Ipv4Addr::new(192, 168, 1, 1);
    let from = SocketAddr::new(IpAddr::V4(gateway), GATEWAY_PORT);
    for method in [crate::portmap::Method::Auto, crate::portmap::Method::NatPmp] {
        let config = PortMapConfig {
            method,
            ..PortMapConfig::default()
        };
        let client = Ipv4Addr::new(192, 168, 1, 2);
        let mut p = PortMapper::new(config, gateway, client, &mut Rng::new(3));
        p.map(now, Protocol::Tcp, 6881);
        p.map(now, Protocol::Udp, 6881);
        p.handle_timeout(now);
        while p.poll_transmit().is_some() {}
        let _ = p.handle_datagram(now, from, data);
        let later = now + Duration::from_secs(1);
        p.handle_timeout(later);
        let _ = p.handle_datagram(later, from, data);
        assert!(p.poll_timeout().is_some(), "mappings without a deadline");
        let events = std::iter::from_fn(|| p.poll_event()).count();
        assert!(events <= 6, "{events} events from two mappings");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("portmap_response");
        assert!(!corpus.is_empty(), "fuzz/corpus/portmap_response is empty");
        for input in corpus {
            super::portmap_response(std::time::Instant::now(), &input);
        }
    }
}
