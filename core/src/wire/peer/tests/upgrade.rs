//! BEP 52's upgrade of a hybrid torrent: a v2 peer dialled by the v1 hash answers with the v2
//! hash, a v1 peer with the v1 hash; an inbound peer naming the v2 hash, or the v1 hash with
//! the v2 bit set, is answered with the v2 hash.

use std::time::Instant;

use super::*;

/// The hybrid's truncated v2 hash in these tests (its v1 hash is [`hash`]).
fn v2_hash() -> InfoHash {
    InfoHash([0x77; 20])
}

fn hybrid() -> TorrentParams<'static> {
    TorrentParams {
        info_hash: hash(),
        geometry: Some(geometry()),
        our_pieces: None,
        metadata_size: None,
        v2: Some(v2_hash()),
    }
}

fn v1_only() -> TorrentParams<'static> {
    TorrentParams {
        v2: None,
        ..hybrid()
    }
}

/// The first handshake `conn` sent.
fn sent_handshake(conn: &mut Connection) -> Handshake {
    let bytes = conn.poll_transmit().unwrap();
    Handshake::decode(&bytes).unwrap().unwrap()
}

fn peer_handshake(info_hash: InfoHash, v2_bit: bool) -> Vec<u8> {
    let mut reserved = Reserved::EXTENSION_PROTOCOL.union(Reserved::FAST);
    if v2_bit {
        reserved = reserved.union(Reserved::V2);
    }
    let hs = Handshake {
        reserved,
        info_hash,
        peer_id: PeerId(*b"-LT2080-upgradepeer0"),
    };
    hs.to_bytes().to_vec()
}

#[test]
fn the_v2_bit_is_set_for_a_torrent_with_a_v2_hash() {
    for (params, bit) in [(v1_only(), false), (hybrid(), true)] {
        let now = Instant::now();
        let mut conn = Connection::outbound(now, config(1, true), None, params).unwrap();
        let hs = sent_handshake(&mut conn);
        assert_eq!(hs.reserved.v2(), bit);
        assert_eq!(hs.info_hash, hash(), "a hybrid is dialled by its v1 hash");
        assert!(hs.reserved.fast());
    }
}

#[test]
fn a_dialled_peer_answering_with_the_v2_hash_upgrades_the_connection() {
    let cases = [
        (v2_hash(), Phase::Established, true),
        (hash(), Phase::Established, false),
        (InfoHash([0x13; 20]), Phase::Closed, false),
    ];
    for (answer, phase, v2) in cases {
        let now = Instant::now();
        let mut conn = Connection::outbound(now, config(1, true), None, hybrid()).unwrap();
        let _ = sent_handshake(&mut conn);
        conn.handle_input(now, &peer_handshake(answer, false));
        assert_eq!(conn.phase(), phase, "answer {answer:?}");
        assert_eq!(conn.speaks_v2(), v2, "answer {answer:?}");
        if phase == Phase::Established {
            assert_eq!(conn.info_hash(), Some(answer));
        }
    }
}

#[test]
fn a_v1_torrent_refuses_an_answer_with_another_hash() {
    let now = Instant::now();
    let mut conn = Connection::outbound(now, config(1, true), None, v1_only()).unwrap();
    let _ = sent_handshake(&mut conn);
    conn.handle_input(now, &peer_handshake(v2_hash(), false));
    assert!(conn.is_closed() && !conn.speaks_v2());
}

#[test]
fn an_inbound_peer_is_answered_with_the_v2_hash_when_it_can_upgrade() {
    // (the peer names, with the v2 bit, the torrent) -> (our answer, speaks v2)
    let cases = [
        ((hash(), true, hybrid()), Some((v2_hash(), true))),
        ((hash(), false, hybrid()), Some((hash(), false))),
        ((v2_hash(), false, hybrid()), Some((v2_hash(), true))),
        ((v2_hash(), true, hybrid()), Some((v2_hash(), true))),
        ((hash(), true, v1_only()), Some((hash(), false))),
        ((v2_hash(), false, v1_only()), None),
    ];
    for ((named, bit, torrent), expected) in cases {
        let now = Instant::now();
        let mut conn = Connection::inbound(now, config(2, true), None);
        conn.handle_input(now, &peer_handshake(named, bit));
        assert_eq!(conn.phase(), Phase::AwaitingAccept);
        conn.accept(now, torrent).unwrap();
        let case = format!("{named:?} bit {bit} v2 {:?}", torrent.v2);
        match expected {
            Some((answer, v2)) => {
                assert_eq!(conn.phase(), Phase::Established, "{case}");
                let hs = sent_handshake(&mut conn);
                assert_eq!(hs.info_hash, answer, "{case}");
                assert_eq!(hs.reserved.v2(), torrent.v2.is_some(), "{case}");
                assert_eq!(conn.speaks_v2(), v2, "{case}");
            }
            None => assert!(conn.is_closed(), "{case}"),
        }
    }
}
