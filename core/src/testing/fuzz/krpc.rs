//! Fuzz body: KRPC decoding never panics, and what decodes re-encodes to canonical bencode
//! that decodes to the same message.

use crate::bencode::Decoder;
use crate::dht::{Message, looks_like_krpc};

/// Decodes `data` as KRPC; a decoded message must survive encode → decode unchanged.
pub fn krpc(data: &[u8]) {
    let looks = looks_like_krpc(data);
    let Ok(msg) = Message::decode(data) else {
        return;
    };
    assert!(
        looks || data.first() != Some(&b'd'),
        "a decodable dict must look like KRPC"
    );
    let bytes = msg.encode();
    assert!(
        Decoder::new(&bytes).strict(true).decode().is_ok(),
        "our encoding must be canonical"
    );
    assert!(looks_like_krpc(&bytes));
    let again = Message::decode(&bytes).expect("our own encoding decodes");
    assert_eq!(again, msg, "decode(encode(m)) == m");
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("krpc");
        assert!(!corpus.is_empty(), "fuzz/corpus/krpc is empty");
        let mut decoded = 0;
        for input in corpus {
            super::krpc(&input);
            decoded += usize::from(crate::dht::Message::decode(&input).is_ok());
        }
        assert!(decoded >= 4, "the corpus holds valid messages too");
    }
}
