//! Fuzz body: the wire decoder gives the same messages in any chunking, and re-encoding the
//! messages gives back exactly the bytes they were decoded from.

use bytes::BytesMut;

use crate::rng::Rng;
use crate::wire::{Decoder, Message, PieceCount, ProtocolError};

/// `data[0]` picks the piece count (unknown, or 1..=255), `data[1..9]` seeds the chunking,
/// the rest is the stream.
pub fn wire_codec(data: &[u8]) {
    if data.len() < 9 {
        return;
    }
    let pieces = match data[0] {
        0 => PieceCount::Unknown,
        n => PieceCount::Known(u32::from(n)),
    };
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&data[1..9]);
    let stream = &data[9..];
    let dec = Decoder::new(pieces);

    let whole = decode(dec, stream, &[]);
    let mut rng = Rng::new(u64::from_le_bytes(seed));
    let mut cuts: Vec<usize> = (0..rng.index(16) + 1)
        .map(|_| rng.index(stream.len() + 1))
        .collect();
    cuts.sort_unstable();
    assert_eq!(
        decode(dec, stream, &cuts),
        whole,
        "chunking changed the result"
    );
    if stream.len() <= 4096 {
        let bytewise: Vec<usize> = (1..stream.len()).collect();
        assert_eq!(decode(dec, stream, &bytewise), whole, "bytewise differs");
    }

    let (messages, consumed, _) = &whole;
    let mut reencoded = Vec::new();
    for m in messages {
        m.encode(&mut reencoded);
    }
    assert_eq!(&reencoded[..], &stream[..*consumed], "re-encoding differs");
}

/// Decodes `stream` fed in pieces cut at `cuts`: messages, bytes consumed, first error.
fn decode(
    dec: Decoder,
    stream: &[u8],
    cuts: &[usize],
) -> (Vec<Message>, usize, Option<ProtocolError>) {
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    let mut consumed = 0;
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&stream.len())) {
        buf.extend_from_slice(&stream[start..end]);
        start = end;
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(m)) => {
                    consumed += m.encoded_len();
                    messages.push(m);
                }
                Ok(None) => break,
                Err(e) => return (messages, consumed, Some(e)),
            }
        }
    }
    (messages, consumed, None)
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("wire_codec");
        assert!(!corpus.is_empty(), "fuzz/corpus/wire_codec is empty");
        for input in corpus {
            super::wire_codec(&input);
        }
    }
}
