//! Fuzz body: .torrent parsing never panics, and whatever it accepts is consistent.

use crate::id::sha1_digest;
use crate::metainfo::{Metainfo, RelativePath};

/// Parses `data` as a .torrent. If it is accepted: the info-hash is SHA-1 of the kept `info`
/// bytes, there is one hash per piece, the files add up to the total length, every path is a
/// safe [`RelativePath`], and re-parsing the bare `info` bytes gives the same torrent content.
pub fn metainfo(data: &[u8]) {
    let Ok(m) = Metainfo::from_bytes(data) else {
        return;
    };
    check(&m);
    let bare = Metainfo::from_info_bytes(m.info_bytes()).expect("accepted info re-parses");
    check(&bare);
    assert_eq!(bare.info_hash(), m.info_hash());
    assert_eq!(bare.files(), m.files());
    assert_eq!(bare.piece_hashes(), m.piece_hashes());
}

fn check(m: &Metainfo) {
    assert_eq!(m.info_hash().0, sha1_digest(m.info_bytes()));
    assert_eq!(m.piece_hashes().len(), m.piece_count() as usize);
    let total: u64 = m.files().iter().map(|f| f.length).sum();
    assert_eq!(total, m.total_length());
    assert!(m.piece_length() > 0 && m.piece_length().is_multiple_of(16 * 1024));
    assert!(!m.files().is_empty());
    for f in m.files() {
        let again = RelativePath::from_components(f.path.components());
        assert_eq!(again.as_ref(), Ok(&f.path), "unsafe path {:?}", f.path);
        if !f.padding {
            assert_eq!(f.path.components()[0], m.name());
        }
        if let Some(target) = &f.symlink {
            assert_eq!(f.length, 0);
            assert_eq!(target.components()[0], m.name());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("metainfo");
        assert!(corpus.len() >= 5, "fuzz/corpus/metainfo is too small");
        let accepted = corpus
            .iter()
            .filter(|c| crate::metainfo::Metainfo::from_bytes(c).is_ok())
            .count();
        assert!(accepted >= 2, "the corpus should hold valid torrents too");
        for input in corpus {
            super::metainfo(&input);
        }
    }
}
