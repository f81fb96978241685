//! Fuzz body: the uTP packet parser.

use crate::utp::{Packet, looks_like_utp};

/// Parses `data` as one uTP datagram. Invariants: a parse never panics; whatever parses looks
/// like uTP; writing the parsed header, selective ACK and payload back gives a datagram that
/// parses to the same fields (other extensions are dropped on the way).
pub fn utp_packet(data: &[u8]) {
    let Ok(p) = Packet::parse(data) else {
        return;
    };
    assert!(looks_like_utp(data), "parsed but not recognised");
    let sack = p.sack.map(|s| s.bytes());
    // Our encoder writes whole 32-bit words (what the connection builds); peers may send any
    // length (libtorrent sends 14 bytes), which parses but is not ours to re-encode.
    if sack.is_some_and(|s| s.len() > 252 || s.len() % 4 != 0) {
        return;
    }
    let again = p.header.encode(sack, p.payload);
    let q = Packet::parse(&again).expect("our own encoding parses");
    assert_eq!(p, q, "round trip changed the packet");
    assert!(again.len() <= data.len(), "re-encoding grew the packet");
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("utp_packet");
        assert!(!corpus.is_empty(), "fuzz/corpus/utp_packet is empty");
        for input in corpus {
            super::utp_packet(&input);
        }
    }
}
