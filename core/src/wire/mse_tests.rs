//! The responder against an initiator written from the specification here.

use super::*;

const TORRENT: InfoHash = InfoHash([7; 20]);
const OTHER: InfoHash = InfoHash([9; 20]);

/// Side A of the handshake (also used by the session's tests).
pub(crate) struct Initiator {
    private: [u8; 20],
    public: [u8; KEY_LEN],
}

impl Initiator {
    /// Step 1 without padding: the public key.
    pub(crate) fn public(&self) -> [u8; KEY_LEN] {
        self.public
    }

    /// B's RC4 stream from its first byte (to decrypt its reply and an RC4 payload).
    pub(crate) fn b_stream(secret: &[u8; KEY_LEN], skey: &InfoHash) -> Rc4<U20> {
        cipher(b"keyB", secret, skey)
    }

    pub(crate) fn new(seed: u8) -> Self {
        let private = [seed; 20];
        let public = public_key(&private);
        Self { private, public }
    }

    /// The secret, from B's first message (its public key comes first).
    pub(crate) fn secret(&self, from_b: &[u8]) -> [u8; KEY_LEN] {
        *key_exchange(&self.private, &from_b[..KEY_LEN]).unwrap().1
    }

    /// Step 3, and A's RC4 stream after it (to encrypt an RC4 payload).
    pub(crate) fn negotiation(
        &self,
        secret: &[u8; KEY_LEN],
        skey: &InfoHash,
        provide: u32,
        pad_c: usize,
        ia: &[u8],
    ) -> (Vec<u8>, Rc4<U20>) {
        let mut out = hash(&[b"req1", secret]).to_vec();
        let req2 = hash(&[b"req2", &skey.0]);
        let req3 = hash(&[b"req3", secret]);
        out.extend(req2.iter().zip(req3).map(|(a, b)| a ^ b));
        let mut enc = Vec::new();
        enc.extend_from_slice(&VC);
        enc.extend_from_slice(&provide.to_be_bytes());
        enc.extend_from_slice(&(pad_c as u16).to_be_bytes());
        enc.extend(std::iter::repeat_n(0, pad_c));
        enc.extend_from_slice(&(ia.len() as u16).to_be_bytes());
        enc.extend_from_slice(ia);
        let mut stream = cipher(b"keyA", secret, skey);
        stream.apply_keystream(&mut enc);
        out.extend(enc);
        (out, stream)
    }
}

fn handshake_bytes() -> Vec<u8> {
    let mut h = PLAIN_PREFIX.to_vec();
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&TORRENT.0);
    h.extend_from_slice(b"-LT2080-abcdefghijkl");
    h
}

/// Runs a whole handshake, feeding the responder `chunk` bytes at a time; returns the last
/// step, everything the responder sent, and the bytes not fed (they follow the handshake).
fn run(
    a: &Initiator,
    pad_a: usize,
    provide: u32,
    skey: InfoHash,
    chunk: usize,
) -> (Result<MseStep, MseError>, Vec<u8>, Vec<u8>) {
    let mut b = MseResponder::new([3; 20], vec![0xAB; 100]);
    let mut first = a.public.to_vec();
    first.extend(std::iter::repeat_n(0x55, pad_a));
    let mut sent = Vec::new();
    for part in first.chunks(chunk) {
        match b.receive(part, &[OTHER, TORRENT]) {
            Ok(MseStep::Continue(s)) => sent.extend(s),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(sent.len(), KEY_LEN + 100, "Yb and our padding");
    let secret = a.secret(&sent);
    let mut third = a
        .negotiation(&secret, &skey, provide, 3, &handshake_bytes())
        .0;
    third.extend_from_slice(b"after");
    let mut last = Ok(MseStep::Continue(Vec::new()));
    let mut fed = 0;
    for part in third.chunks(chunk) {
        last = b.receive(part, &[OTHER, TORRENT]);
        fed += part.len();
        match &last {
            Ok(MseStep::Continue(s)) => sent.extend(s),
            _ => break,
        }
    }
    (last, sent, third[fed..].to_vec())
}

#[test]
fn a_handshake_ends_in_plaintext_with_the_initial_payload() {
    for (pad_a, chunk) in [(0, 10_000), (512, 10_000), (37, 1), (200, 7)] {
        let a = Initiator::new(5);
        let (last, sent, unfed) = run(&a, pad_a, 0x03, TORRENT, chunk);
        let Ok(MseStep::Established {
            mut reply,
            mut payload,
            info_hash,
            stream: None,
        }) = last
        else {
            panic!("pad {pad_a} chunk {chunk}: {last:?}");
        };
        assert_eq!(info_hash, TORRENT);
        let mut expected = handshake_bytes();
        expected.extend_from_slice(b"after");
        payload.extend_from_slice(&unfed);
        assert_eq!(
            &payload[..],
            &expected[..],
            "IA decrypted, the rest untouched"
        );
        let secret = a.secret(&sent);
        cipher(b"keyB", &secret, &TORRENT).apply_keystream(&mut reply);
        assert_eq!(&reply[..8], &VC, "B's verification constant");
        assert_eq!(
            &reply[8..12],
            &CRYPTO_PLAINTEXT.to_be_bytes(),
            "plaintext selected"
        );
        assert_eq!(&reply[12..14], &[0, 0], "no PadD");
        assert_eq!(reply.len(), 14);
    }
}

#[test]
fn both_sides_derive_the_same_secret() {
    let a = Initiator::new(11);
    let (ours, secret) = key_exchange(&[3; 20], &a.public).unwrap();
    assert_eq!(a.secret(&ours), *secret);
    assert_ne!(ours, a.public);
}

#[test]
fn plain_bittorrent_is_handed_back_untouched() {
    let mut b = MseResponder::new([3; 20], Vec::new());
    let h = handshake_bytes();
    assert!(matches!(
        b.receive(&h[..10], &[TORRENT]),
        Ok(MseStep::Continue(s)) if s.is_empty()
    ));
    match b.receive(&h[10..], &[TORRENT]) {
        Ok(MseStep::Plaintext(all)) => assert_eq!(&all[..], &h[..]),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn an_rc4_only_peer_gets_an_encrypted_stream() {
    let a = Initiator::new(5);
    let mut b = MseResponder::new([3; 20], vec![1; 20]);
    let Ok(MseStep::Continue(sent)) = b.receive(&a.public, &[TORRENT]) else {
        panic!("expected Yb");
    };
    let secret = a.secret(&sent);
    let (mut third, mut a_out) = a.negotiation(&secret, &TORRENT, 0x02, 0, b"hi");
    let mut more = *b"more";
    a_out.apply_keystream(&mut more);
    third.extend_from_slice(&more);
    let Ok(MseStep::Established {
        mut reply,
        payload,
        stream: Some(mut stream),
        ..
    }) = b.receive(&third, &[TORRENT])
    else {
        panic!("expected an RC4 stream");
    };
    assert_eq!(&payload[..], b"himore", "IA and what followed, decrypted");
    let mut a_in = Initiator::b_stream(&secret, &TORRENT);
    a_in.apply_keystream(&mut reply);
    assert_eq!(&reply[8..12], &CRYPTO_RC4.to_be_bytes(), "RC4 selected");
    // Both streams go on where the handshake left them.
    let mut to_a = *b"payload to A";
    stream.encrypt(&mut to_a);
    a_in.apply_keystream(&mut to_a);
    assert_eq!(&to_a, b"payload to A");
    let mut to_b = *b"payload to B";
    a_out.apply_keystream(&mut to_b);
    stream.decrypt(&mut to_b);
    assert_eq!(&to_b, b"payload to B");
}

#[test]
fn a_peer_offering_nothing_we_speak_is_refused() {
    let (last, _, _) = run(&Initiator::new(5), 10, 0x04, TORRENT, 10_000);
    assert_eq!(last.unwrap_err(), MseError::NoCommonMethod(4));
}

#[test]
fn an_unknown_torrent_is_refused() {
    let (last, _, _) = run(&Initiator::new(5), 10, 0x03, InfoHash([1; 20]), 10_000);
    assert_eq!(last.unwrap_err(), MseError::UnknownTorrent);
}

#[test]
fn garbage_without_the_sync_hash_fails_within_the_padding_bound() {
    let mut b = MseResponder::new([3; 20], Vec::new());
    let a = Initiator::new(5);
    assert!(matches!(
        b.receive(&a.public, &[TORRENT]),
        Ok(MseStep::Continue(_))
    ));
    let mut result = Ok(MseStep::Continue(Vec::new()));
    let mut fed = 0;
    while matches!(result, Ok(MseStep::Continue(_))) && fed < 10_000 {
        result = b.receive(&[0x42; 64], &[TORRENT]);
        fed += 64;
    }
    assert_eq!(result.unwrap_err(), MseError::NoSync);
    assert!(fed <= MAX_PAD + 20 + 64, "gave up after {fed} bytes");
}

#[test]
fn degenerate_public_keys_are_refused() {
    for y in [
        [0u8; KEY_LEN],
        {
            let mut one = [0u8; KEY_LEN];
            one[KEY_LEN - 1] = 1;
            one
        },
        [0xFF; KEY_LEN],
    ] {
        let mut b = MseResponder::new([3; 20], Vec::new());
        assert_eq!(
            b.receive(&y, &[TORRENT]).unwrap_err(),
            MseError::BadPublicKey
        );
    }
}

#[test]
fn a_wrong_key_fails_verification() {
    let a = Initiator::new(5);
    let mut b = MseResponder::new([3; 20], Vec::new());
    let Ok(MseStep::Continue(sent)) = b.receive(&a.public, &[TORRENT]) else {
        panic!("expected Yb");
    };
    let mut secret = a.secret(&sent);
    let req1 = hash(&[b"req1", &secret]);
    // Right sync and torrent hashes, but step 3 encrypted under another secret.
    secret[0] ^= 1;
    let mut third = a.negotiation(&secret, &TORRENT, 0x03, 0, b"").0;
    third[..20].copy_from_slice(&req1);
    let real = a.secret(&sent);
    let req2 = hash(&[b"req2", &TORRENT.0]);
    let req3 = hash(&[b"req3", &real]);
    for i in 0..20 {
        third[20 + i] = req2[i] ^ req3[i];
    }
    assert_eq!(
        b.receive(&third, &[TORRENT]).unwrap_err(),
        MseError::BadVerification
    );
}
