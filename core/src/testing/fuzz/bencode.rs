//! Fuzz body: bencode decoding never panics; canonical input re-encodes to itself.

use crate::bencode::{Decoder, OwnedValue, decode};

/// Decodes `data` leniently and strictly; if strict decoding accepts it, encoding the value
/// must give back exactly `data`.
pub fn bencode(data: &[u8]) {
    let lenient = decode(data);
    if let Ok(value) = Decoder::new(data).strict(true).decode() {
        assert!(lenient.is_ok(), "strict accepted what lenient rejected");
        assert_eq!(
            OwnedValue::from(&value).to_bytes(),
            data,
            "canonical input must round-trip"
        );
    }
    if let Ok(value) = lenient {
        // Re-encoding any accepted value gives canonical bencode that decodes strictly.
        let canonical = OwnedValue::from(&value).to_bytes();
        assert!(Decoder::new(&canonical).strict(true).decode().is_ok());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("bencode");
        assert!(!corpus.is_empty(), "fuzz/corpus/bencode is empty");
        for input in corpus {
            super::bencode(&input);
        }
    }
}
