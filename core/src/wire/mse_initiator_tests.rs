//! The initiator against our responder, and against replies built here from the
//! specification (padding, PadD, a payload in the same read, bad choices).

use super::*;
use crate::wire::mse::{CRYPTO_PLAINTEXT, MseResponder};

const TORRENT: InfoHash = InfoHash([7; 20]);
const B_PRIVATE: [u8; 20] = [3; 20];

/// Feeds `data` to `a` in `chunk`-byte parts until a step other than `Continue`: what the
/// steps sent, the last step, and the bytes not fed.
fn feed(
    a: &mut MseInitiator,
    data: &[u8],
    chunk: usize,
) -> (Vec<u8>, Result<MseStep, MseError>, Vec<u8>) {
    let mut sent = Vec::new();
    let mut last = Ok(MseStep::Continue(Vec::new()));
    let mut fed = 0;
    for part in data.chunks(chunk) {
        last = a.receive(part);
        fed += part.len();
        match &mut last {
            Ok(MseStep::Continue(s)) => sent.append(s),
            _ => break,
        }
    }
    if let Ok(MseStep::Established { reply, .. }) = &mut last {
        sent.append(reply);
    }
    (sent, last, data[fed..].to_vec())
}

#[test]
fn against_our_responder_both_payload_modes() {
    for (provide, pad_a, pad_b, chunk) in [
        (0x03, 0, 0, 10_000),
        (0x03, 512, 512, 1),
        (0x01, 33, 200, 7),
        (0x02, 100, 0, 10_000),
        (0x02, 0, 512, 13),
    ] {
        let (mut a, first) = MseInitiator::new([5; 20], vec![0x11; pad_a], TORRENT, provide);
        assert_eq!(first.len(), KEY_LEN + pad_a);
        let mut b = MseResponder::new(B_PRIVATE, vec![0x22; pad_b]);
        let Ok(MseStep::Continue(yb)) = b.receive(&first, &[TORRENT]) else {
            panic!("expected Yb");
        };
        let (third, last, _) = feed(&mut a, &yb, chunk);
        assert!(matches!(last, Ok(MseStep::Continue(_))), "{last:?}");
        let Ok(MseStep::Established {
            reply,
            payload: b_payload,
            info_hash,
            stream: mut b_stream,
        }) = b.receive(&third, &[TORRENT])
        else {
            panic!("B did not finish");
        };
        assert_eq!(info_hash, TORRENT);
        assert!(b_payload.is_empty(), "no initial payload");
        // B's reply, then its BitTorrent handshake in the same read.
        let mut from_b = reply;
        let mut hello = b"hello from B".to_vec();
        if let Some(s) = b_stream.as_mut() {
            s.encrypt(&mut hello);
        }
        from_b.extend_from_slice(&hello);
        let (_, last, mut unfed) = feed(&mut a, &from_b, chunk);
        let Ok(MseStep::Established {
            mut payload,
            info_hash,
            stream: mut a_stream,
            ..
        }) = last
        else {
            panic!("provide {provide:#x}: {last:?}");
        };
        assert_eq!(info_hash, TORRENT);
        let rc4 = provide == 0x02;
        assert_eq!(a_stream.is_some(), rc4, "provide {provide:#x}");
        assert_eq!(b_stream.is_some(), rc4);
        // Bytes not fed yet go through the stream, as the session does with later reads.
        if let Some(s) = a_stream.as_mut() {
            s.decrypt(&mut unfed);
        }
        payload.extend_from_slice(&unfed);
        assert_eq!(
            &payload[..],
            b"hello from B",
            "provide {provide:#x} chunk {chunk}"
        );
        if let (Some(a_s), Some(b_s)) = (a_stream.as_mut(), b_stream.as_mut()) {
            let mut to_b = *b"to B";
            a_s.encrypt(&mut to_b);
            b_s.decrypt(&mut to_b);
            assert_eq!(&to_b, b"to B");
        }
    }
}

/// B's whole reply built by hand: `Yb`, PadB, then under keyB VC, `select`, PadD, and
/// `after` (encrypted too when `select` is RC4).
fn reply_from_spec(
    a_public: &[u8],
    pad_b: usize,
    select: u32,
    pad_d: usize,
    after: &[u8],
) -> Vec<u8> {
    let (yb, secret) = key_exchange(&B_PRIVATE, a_public).expect("a valid key");
    let mut out = yb.to_vec();
    out.extend(std::iter::repeat_n(0x5A, pad_b));
    let mut enc = VC.to_vec();
    enc.extend_from_slice(&select.to_be_bytes());
    enc.extend_from_slice(&(pad_d as u16).to_be_bytes());
    enc.extend(std::iter::repeat_n(0xC3, pad_d));
    let plain_after = select == CRYPTO_PLAINTEXT;
    if !plain_after {
        enc.extend_from_slice(after);
    }
    cipher(b"keyB", &secret, &TORRENT).apply_keystream(&mut enc);
    out.extend(enc);
    if plain_after {
        out.extend_from_slice(after);
    }
    out
}

#[test]
fn padding_and_pad_d_up_to_the_bound_are_skipped() {
    for (pad_b, pad_d, select) in [(0, 0, 0x01), (512, 512, 0x01), (300, 17, 0x02)] {
        let (mut a, first) = MseInitiator::new([9; 20], Vec::new(), TORRENT, 0x03);
        let reply = reply_from_spec(&first, pad_b, select, pad_d, b"\x13BitTorrent");
        for chunk in [1, 64, 10_000] {
            let mut a2 = MseInitiator::new([9; 20], Vec::new(), TORRENT, 0x03).0;
            let (sent, last, mut unfed) = feed(&mut a2, &reply, chunk);
            assert_eq!(sent.len(), 20 + 20 + 16, "req1, req2^req3, VC..len(IA)");
            let Ok(MseStep::Established {
                mut payload,
                mut stream,
                ..
            }) = last
            else {
                panic!("pad_b {pad_b} pad_d {pad_d} chunk {chunk}: {last:?}");
            };
            assert_eq!(stream.is_some(), select == 0x02);
            if let Some(s) = stream.as_mut() {
                s.decrypt(&mut unfed);
            }
            payload.extend_from_slice(&unfed);
            assert_eq!(&payload[..], b"\x13BitTorrent");
        }
        let (_, last, _) = feed(&mut a, &reply, 10_000);
        assert!(matches!(last, Ok(MseStep::Established { .. })));
    }
}

#[test]
fn our_negotiation_is_what_a_responder_expects() {
    let (mut a, first) = MseInitiator::new([9; 20], Vec::new(), TORRENT, 0x03);
    let (yb, secret) = key_exchange(&B_PRIVATE, &first).unwrap();
    let Ok(MseStep::Continue(third)) = a.receive(&yb) else {
        panic!("expected step 3");
    };
    assert_eq!(&third[..20], &hash(&[b"req1", &secret[..]]));
    let req2 = hash(&[b"req2", &TORRENT.0]);
    let req3 = hash(&[b"req3", &secret[..]]);
    let xored: Vec<u8> = req2.iter().zip(req3).map(|(a, b)| a ^ b).collect();
    assert_eq!(&third[20..40], &xored[..]);
    let mut rest = third[40..].to_vec();
    cipher(b"keyA", &secret, &TORRENT).apply_keystream(&mut rest);
    assert_eq!(&rest[..8], &VC);
    assert_eq!(
        &rest[8..12],
        &3u32.to_be_bytes(),
        "plaintext and RC4 offered"
    );
    assert_eq!(&rest[12..], &[0, 0, 0, 0], "no PadC, no initial payload");
}

#[test]
fn a_choice_we_did_not_offer_is_refused() {
    for (provide, select) in [
        (0x01, 0x02),
        (0x02, 0x01),
        (0x03, 0x03),
        (0x03, 0x00),
        (0x03, 0x04),
    ] {
        let (mut a, first) = MseInitiator::new([9; 20], Vec::new(), TORRENT, provide);
        let reply = reply_from_spec(&first, 10, select, 0, b"");
        assert_eq!(
            feed(&mut a, &reply, 10_000).1.unwrap_err(),
            MseError::BadSelect(select)
        );
    }
}

#[test]
fn pad_d_above_the_bound_is_refused() {
    let (mut a, first) = MseInitiator::new([9; 20], Vec::new(), TORRENT, 0x03);
    let reply = reply_from_spec(&first, 0, 0x01, 513, b"");
    assert_eq!(
        feed(&mut a, &reply, 10_000).1.unwrap_err(),
        MseError::PadTooLong(513)
    );
}

#[test]
fn a_peer_that_never_syncs_is_dropped_within_the_bound() {
    let (mut a, first) = MseInitiator::new([9; 20], Vec::new(), TORRENT, 0x03);
    let (yb, _) = key_exchange(&B_PRIVATE, &first).unwrap();
    assert!(matches!(a.receive(&yb), Ok(MseStep::Continue(_))));
    let mut fed = 0;
    let err = loop {
        match a.receive(&[0x42; 64]) {
            Ok(MseStep::Continue(_)) => fed += 64,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => break e,
        }
        assert!(fed < 10_000);
    };
    assert_eq!(err, MseError::NoSync);
    assert!(fed <= MAX_PAD + 8, "gave up after {fed} bytes");
    assert!(a.buffered() <= MAX_PAD + 8 + 64);
}

#[test]
fn a_degenerate_public_key_is_refused() {
    let (mut a, _) = MseInitiator::new([9; 20], Vec::new(), TORRENT, 0x03);
    assert_eq!(
        a.receive(&[0u8; KEY_LEN]).unwrap_err(),
        MseError::BadPublicKey
    );
}
