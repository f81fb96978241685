//! Fuzz body: v2 and hybrid .torrent parsing (BEP 52) never panics, and what it accepts is
//! consistent: the v2 info-hash is SHA-256 of the kept `info` bytes, every file with data has
//! a `pieces root` and starts on a piece boundary, every kept piece layer hashes up to its
//! file's root, and when every layer is known each piece has the hash it is checked against.

use crate::merkle::{self, V2Piece};
use crate::metainfo::{MetaVersion, Metainfo, PieceHash};

/// Parses `data` as a .torrent and checks the v2 half of whatever is accepted.
pub fn metainfo_v2(data: &[u8]) {
    let Ok(m) = Metainfo::from_bytes(data) else {
        return;
    };
    check(&m);
    let bare = Metainfo::from_info_bytes(m.info_bytes()).expect("accepted info re-parses");
    assert_eq!(bare.info_hashes(), m.info_hashes());
    assert_eq!(bare.files(), m.files());
    assert_eq!(bare.version(), m.version());
    for i in 0..m.files().len() {
        assert_eq!(bare.pieces_root(i), m.pieces_root(i));
    }
}

fn check(m: &Metainfo) {
    let hashes = m.info_hashes();
    if m.version() == MetaVersion::V1 {
        assert!(hashes.v2.is_none() && m.pieces_root(0).is_none());
        return;
    }
    let v2 = hashes
        .v2
        .expect("a v2 or hybrid torrent has a v2 info-hash");
    assert_eq!(v2.0, merkle::sha256(m.info_bytes()));
    assert_eq!(hashes.v1.is_none(), m.version() == MetaVersion::V2);
    let piece_length = u64::from(m.piece_length());
    assert!(m.piece_length().is_power_of_two());
    for (i, (file, extent)) in m.files().iter().zip(m.layout().files()).enumerate() {
        let data = !file.padding && file.length > 0 && file.symlink.is_none();
        assert_eq!(m.pieces_root(i).is_some(), data, "file {i}");
        if !data {
            continue;
        }
        assert_eq!(extent.offset % piece_length, 0, "file {i} is not aligned");
        let root = m.pieces_root(i).copied().unwrap_or_default();
        if let Some(layer) = m.piece_layer(i) {
            assert_eq!(
                merkle::root_from_piece_layer(layer, m.piece_length(), file.length),
                Some(root)
            );
        }
    }
    if m.version() != MetaVersion::V2 || !m.has_all_piece_layers() {
        return;
    }
    // A bounded sample of pieces: huge declared lengths must not make this loop long.
    let count = m.piece_count();
    for piece in (0..count).step_by((count as usize / 64).max(1)) {
        let at = V2Piece::of(m.layout(), piece).expect("a v2 piece lies in one file");
        match m.expected_hash(piece) {
            Some(PieceHash::Merkle {
                data_len, leaves, ..
            }) => {
                assert_eq!((data_len, leaves), (at.data_len, at.leaves));
                assert!(leaves.is_power_of_two());
            }
            other => panic!("piece {piece}: {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("metainfo_v2");
        assert!(corpus.len() >= 5, "fuzz/corpus/metainfo_v2 is too small");
        let v2 = corpus
            .iter()
            .filter_map(|c| crate::metainfo::Metainfo::from_bytes(c).ok())
            .filter(|m| m.version() != crate::metainfo::MetaVersion::V1)
            .count();
        assert!(
            v2 >= 4,
            "the corpus should hold valid v2 and hybrid torrents"
        );
        for input in corpus {
            super::metainfo_v2(&input);
        }
    }
}
