//! Fuzz body: the BEP 52 merkle-hash messages (`hash request`, `hashes`, `hash reject`) decode
//! without panicking, a `hashes` message is accepted only with exactly the hashes its request
//! implies, and whatever decodes re-encodes to the same bytes.

use bytes::BytesMut;

use crate::wire::hashes::{HASH_LEN, HASH_REQUEST_LEN};
use crate::wire::limits::MAX_HASHES_MESSAGE_LEN;
use crate::wire::{Decoder, Message, PieceCount, ProtocolError};

/// `data[0]` picks the message (21, 22 or 23, or with its top bit set a raw frame: the rest is
/// the stream as it comes); otherwise the rest is the message's payload, framed with a correct
/// length prefix so that the checks past the header are reached.
pub fn hash_messages(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let frame = if pick & 0x80 != 0 {
        rest.to_vec()
    } else {
        let id = 21 + pick % 3;
        let mut frame = ((rest.len() + 1) as u32).to_be_bytes().to_vec();
        frame.push(id);
        frame.extend_from_slice(rest);
        frame
    };
    let dec = Decoder::new(PieceCount::Unknown);
    let mut buf = BytesMut::from(&frame[..]);
    match dec.decode(&mut buf) {
        Ok(Some(message)) => {
            let used = frame.len() - buf.len();
            let mut again = Vec::new();
            message.encode(&mut again);
            assert_eq!(again, frame[..used], "re-encoding differs");
            match &message {
                Message::Hashes { request, hashes } => {
                    let n = request
                        .hashes_in_reply()
                        .expect("accepted request is bounded");
                    assert_eq!(hashes.len(), n as usize * HASH_LEN);
                    assert!(used <= 4 + MAX_HASHES_MESSAGE_LEN as usize);
                }
                Message::HashRequest(_) | Message::HashReject(_) => {
                    assert_eq!(used, 4 + 1 + HASH_REQUEST_LEN);
                }
                _ => {}
            }
        }
        Ok(None) => {}
        Err(e) => {
            assert!(!e.to_string().is_empty());
            if pick & 0x80 == 0 {
                // A correctly framed hash message fails only on its own checks.
                assert!(
                    matches!(
                        e,
                        ProtocolError::WrongLength { .. }
                            | ProtocolError::TooShort { .. }
                            | ProtocolError::TooLong { .. }
                            | ProtocolError::HashesNotWhole { .. }
                            | ProtocolError::HashesCount { .. }
                    ),
                    "{e:?}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("hash_messages");
        assert!(corpus.len() >= 5, "fuzz/corpus/hash_messages is too small");
        for input in corpus {
            super::hash_messages(&input);
        }
    }
}
