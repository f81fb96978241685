//! Fuzz body: magnet parsing never panics, and what it accepts prints and re-parses unchanged.

use crate::magnet::MagnetLink;

/// Parses `data` (as UTF-8) as a magnet link. If accepted, printing it gives a URI that parses
/// back to an equal link and prints identically.
pub fn magnet(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(link) = MagnetLink::parse(text) else {
        return;
    };
    let uri = link.to_uri();
    let again = MagnetLink::parse(&uri).expect("a printed link parses");
    assert_eq!(again, link, "round trip changed the link: {uri}");
    assert_eq!(again.to_uri(), uri);
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("magnet");
        assert!(corpus.len() >= 5, "fuzz/corpus/magnet is too small");
        for input in corpus {
            super::magnet(&input);
        }
    }
}
