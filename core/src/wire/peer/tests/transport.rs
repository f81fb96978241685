//! The transport under a connection: raw bytes in and out, plain messages whatever the
//! transport (plain BitTorrent or MSE with an RC4 payload).

use bytes::BytesMut;

use super::*;
use crate::wire::mse::{CRYPTO_PLAINTEXT, CRYPTO_RC4};
use crate::wire::transport::Transport;

fn params() -> TorrentParams<'static> {
    TorrentParams {
        info_hash: hash(),
        geometry: Some(geometry()),
        our_pieces: None,
        metadata_size: None,
        v2: None,
    }
}

/// Moves raw bytes both ways until neither side has any, accepting B's peer once named.
fn exchange(now: Instant, a: &mut Connection, b: &mut Connection) {
    loop {
        let mut moved = false;
        while let Some(raw) = a.poll_transmit() {
            moved = true;
            b.handle_raw_input(now, BytesMut::from(&raw[..]), &[hash()]);
        }
        while let Some(event) = b.poll_event() {
            if matches!(event, Event::HandshakeReceived { .. }) {
                b.accept(now, params()).unwrap();
            }
        }
        while let Some(raw) = b.poll_transmit() {
            moved = true;
            a.handle_raw_input(now, BytesMut::from(&raw[..]), &[]);
        }
        if !moved {
            return;
        }
    }
}

fn established(now: Instant, provide: u32) -> (Connection, Connection) {
    let mut a = Connection::outbound(now, config(1, true), None, params()).unwrap();
    a.open_encrypted([1; 20], vec![7; 33], provide);
    let mut b = Connection::inbound(now, config(2, true), None);
    b.answer_encrypted([2; 20], vec![9; 5]);
    assert!(b.needs_torrents());
    exchange(now, &mut a, &mut b);
    assert_eq!(a.phase(), Phase::Established);
    assert_eq!(b.phase(), Phase::Established);
    assert!(!b.needs_torrents());
    (a, b)
}

#[test]
fn rc4_payload_carries_plain_messages() {
    let now = Instant::now();
    let (mut a, mut b) = established(now, CRYPTO_RC4);
    assert!(matches!(a.transport(), Transport::Rc4(_)));
    assert!(matches!(b.transport(), Transport::Rc4(_)));
    while b.poll_event().is_some() {}
    while a.poll_event().is_some() {}
    b.send_interested(now).unwrap();
    while let Some(raw) = b.poll_transmit() {
        a.handle_raw_input(now, BytesMut::from(&raw[..]), &[]);
    }
    let events: Vec<Event> = std::iter::from_fn(|| a.poll_event()).collect();
    assert!(events.contains(&Event::PeerInterested), "{events:?}");
}

#[test]
fn plaintext_is_selected_when_offered() {
    let now = Instant::now();
    let (a, b) = established(now, CRYPTO_PLAINTEXT | CRYPTO_RC4);
    assert!(matches!(a.transport(), Transport::Plain));
    assert!(matches!(b.transport(), Transport::Plain));
}

#[test]
fn an_answering_connection_takes_plain_bittorrent() {
    let now = Instant::now();
    let mut a = Connection::outbound(now, config(1, true), None, params()).unwrap();
    let mut b = Connection::inbound(now, config(2, true), None);
    b.answer_encrypted([2; 20], Vec::new());
    exchange(now, &mut a, &mut b);
    assert_eq!(b.phase(), Phase::Established);
    assert!(matches!(b.transport(), Transport::Plain));
}
