//! Fuzz body: the MSE responder never panics and never holds more than its bound, however the
//! bytes are split.

use crate::id::InfoHash;
use crate::wire::mse::{MAX_BUFFERED, MseResponder, MseStep};

/// Feeds `data` to a responder in chunks whose sizes come from the first byte; the torrent it
/// knows is `[7; 20]`.
pub fn mse(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(split).max(1) * 7;
    let mut responder = MseResponder::new([3; 20], vec![0; usize::from(split)]);
    for part in rest.chunks(chunk) {
        match responder.receive(part, &[InfoHash([7; 20])]) {
            Ok(MseStep::Continue(send)) => {
                assert!(send.len() <= 96 + 512, "step 2 is bounded");
                assert!(responder.buffered() <= MAX_BUFFERED + chunk, "buffer bound");
            }
            Ok(_) | Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("mse");
        assert!(corpus.len() >= 3, "fuzz/corpus/mse is too small");
        for input in corpus {
            super::mse(&input);
        }
    }
}
