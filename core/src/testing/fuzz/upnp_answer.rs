//! Fuzz body: SSDP answers to a UPnP IGD search.

use std::net::Ipv4Addr;
use std::time::Instant;

use crate::portmap::upnp::{Upnp, ssdp};
use crate::portmap::{Method, PortMapConfig, Protocol};
use crate::rng::Rng;
use crate::tracker::Host;

/// Parses `data` as an SSDP answer, then feeds it to a searching machine. Invariants:
/// nothing panics; an accepted answer names an `http://` description, and the machine asks
/// for it (one request) only if it is on the gateway.
pub fn upnp_answer(now: Instant, data: &[u8]) {
    let gateway = Ipv4Addr::new(192, 168, 1, 1);
    let parsed = ssdp::parse_answer(data);
    if let Ok(answer) = &parsed {
        assert_eq!(answer.location.scheme(), crate::tracker::Scheme::Http);
    }
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
    u.handle_timeout(now);
    while u.poll_transmit().is_some() {}
    let took = u.handle_datagram(data).is_ok();
    let requests = std::iter::from_fn(|| u.poll_request()).count();
    let on_gateway = parsed
        .as_ref()
        .is_ok_and(|a| *a.location.host() == Host::V4(gateway));
    assert_eq!(requests, usize::from(took && on_gateway));
    assert_eq!(took, on_gateway, "taken iff it names the gateway");
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("upnp_answer");
        assert!(!corpus.is_empty(), "fuzz/corpus/upnp_answer is empty");
        for input in corpus {
            super::upnp_answer(std::time::Instant::now(), &input);
        }
    }
}
