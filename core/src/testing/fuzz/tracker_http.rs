//! Fuzz body: the HTTP tracker response reader and the announce/scrape body parsers.

use crate::tracker::http::{
    HttpOutcome, HttpResponse, ResponseReader, announce_outcome, parse_announce,
};
use crate::tracker::scrape::{parse_scrape, scrape_outcome};
use crate::tracker::{HttpError, TrackerUrl};

/// The response cap used by this target.
const LIMIT: usize = 64 * 1024;

/// The first byte picks a read size; the rest is what a tracker sent. Invariants: reading in
/// pieces gives exactly what reading at once gives; a parsed body never claims more peers than
/// its bytes can hold; the same input always gives the same answer.
pub fn tracker_http(data: &[u8]) {
    let Some((&step, input)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let whole = read(input, input.len().max(1));
    let pieces = read(input, step);
    if input.len() <= LIMIT {
        assert_eq!(whole, pieces, "chunking changed the result");
    }
    assert_eq!(whole, read(input, input.len().max(1)), "not deterministic");

    let url = TrackerUrl::parse("http://127.0.0.1:6969/announce").expect("a valid URL");
    if let Ok(response) = &whole {
        assert!(response.body().len() <= LIMIT);
        if let Ok(HttpOutcome::Done(r)) = announce_outcome(&url, response) {
            assert!(r.peers.len() * 6 <= response.body().len());
        }
        if let Ok(HttpOutcome::Done(stats)) = scrape_outcome(&url, response) {
            assert!(stats.len() * 20 <= response.body().len());
        }
    }
    // The bytes as a bare bencoded body, too.
    if let Ok(r) = parse_announce(input) {
        assert!(r.peers.len() * 6 <= input.len());
    }
    if let Ok(stats) = parse_scrape(input) {
        assert!(stats.len() * 20 <= input.len());
    }
}

fn read(input: &[u8], step: usize) -> Result<HttpResponse, HttpError> {
    let mut reader = ResponseReader::new(LIMIT);
    for piece in input.chunks(step) {
        if let Some(response) = reader.push(piece)? {
            return Ok(response);
        }
    }
    reader.eof()
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("tracker_http");
        assert!(!corpus.is_empty(), "fuzz/corpus/tracker_http is empty");
        for input in corpus {
            super::tracker_http(&input);
        }
    }
}
