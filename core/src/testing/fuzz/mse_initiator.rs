//! Fuzz body: the MSE initiator never panics and never holds more than its bound, however the
//! bytes are split, whether they are raw or a real key exchange followed by fuzzed
//! (encrypted) negotiation.

use crate::id::InfoHash;
use crate::wire::mse::MseStep;
use crate::wire::mse::{KEY_LEN, MAX_PAD, VC, cipher, key_exchange};
use crate::wire::mse_initiator::MseInitiator;

/// The most an initiator holds before the handshake ends, plus one chunk.
const BOUND: usize = KEY_LEN + MAX_PAD + 8 + 6 + MAX_PAD;

/// The first byte picks the chunk size and, with its low bit, the mode: raw bytes as B's
/// whole reply, or a valid `Yb` and VC (B's private key `[3; 20]`) followed by the rest
/// encrypted under B's key, so the fuzzer reaches `crypto_select`, PadD and the payload.
pub fn mse_initiator(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first >> 1).max(1) * 5;
    let torrent = InfoHash([7; 20]);
    let (mut a, ya) = MseInitiator::new([5; 20], Vec::new(), torrent, 0x03);
    let input = if first & 1 == 1 {
        let Ok((yb, secret)) = key_exchange(&[3; 20], &ya) else {
            return;
        };
        let mut tail = VC.to_vec();
        tail.extend_from_slice(rest);
        rc4::StreamCipher::apply_keystream(&mut cipher(b"keyB", &secret, &torrent), &mut tail);
        let mut input = yb.to_vec();
        input.extend(tail);
        input
    } else {
        rest.to_vec()
    };
    for part in input.chunks(chunk) {
        match a.receive(part) {
            Ok(MseStep::Continue(send)) => {
                assert!(send.len() <= 20 + 20 + 16, "step 3 is bounded");
                assert!(a.buffered() <= BOUND + chunk, "buffer bound");
            }
            Ok(_) | Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("mse_initiator");
        assert!(corpus.len() >= 3, "fuzz/corpus/mse_initiator is too small");
        for input in corpus {
            super::mse_initiator(&input);
        }
    }
}
