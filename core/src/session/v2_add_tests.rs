//! v2-only torrents with their piece layers and hybrids are added; `btmh`-only magnet links
//! and v2 torrents without piece layers are refused by `add_torrent` (fetching layers with
//! hash requests does not exist yet).

use std::sync::Arc;
use std::time::Instant;

use crate::bencode::{Encoder, decode};
use crate::magnet::MagnetLink;
use crate::metainfo::Metainfo;
use crate::session::{
    AddTorrentError, Session, SessionConfig, TorrentOptions, TorrentSource, V2_ONLY_MESSAGE,
};

fn session() -> (Session, Instant) {
    let now = Instant::now();
    (Session::new(SessionConfig::default(), now, 3), now)
}

fn fixture(bytes: &[u8]) -> TorrentSource {
    TorrentSource::Metainfo(Arc::new(Metainfo::from_bytes(bytes).unwrap()))
}

/// The torrent without its top-level `piece layers`.
fn without_layers(bytes: &[u8]) -> Vec<u8> {
    let torrent = decode(bytes).unwrap();
    let mut e = Encoder::new();
    e.dict();
    for (key, value) in torrent.as_dict().unwrap().entries() {
        if *key != b"piece layers" {
            e.bytes(key).raw(value.raw());
        }
    }
    e.end();
    e.finish()
}

#[test]
fn v2_torrents_without_piece_layers_are_refused_and_the_others_added() {
    let (mut s, now) = session();
    let bytes = include_bytes!("../../tests/data/v2/fx_v2.torrent");
    let v2 = fixture(bytes);
    assert!(v2.is_v2_only() && !v2.lacks_piece_layers());
    assert!(s.add_torrent(now, v2, TorrentOptions::default()).is_ok());
    let bare = fixture(&without_layers(bytes));
    assert!(bare.lacks_piece_layers());
    assert_eq!(
        s.add_torrent(now, bare, TorrentOptions::default()),
        Err(AddTorrentError::V2OnlyNotSupported)
    );
    assert_eq!(
        AddTorrentError::V2OnlyNotSupported.to_string(),
        V2_ONLY_MESSAGE
    );
    assert!(V2_ONLY_MESSAGE.contains("v2-only magnet links"));
    let hybrid = fixture(include_bytes!("../../tests/data/v2/fx_hybrid.torrent"));
    assert!(!hybrid.is_v2_only());
    assert!(
        s.add_torrent(now, hybrid, TorrentOptions::default())
            .is_ok()
    );
}

#[test]
fn btmh_only_magnets_are_refused_and_btih_with_btmh_added() {
    let (mut s, now) = session();
    let v2 = "1220".to_string() + &"ab".repeat(32);
    let only = MagnetLink::parse(&format!("magnet:?xt=urn:btmh:{v2}")).unwrap();
    assert_eq!(
        s.add_torrent(now, TorrentSource::Magnet(only), TorrentOptions::default()),
        Err(AddTorrentError::V2OnlyNotSupported)
    );
    let both = MagnetLink::parse(&format!(
        "magnet:?xt=urn:btih:{}&xt=urn:btmh:{v2}",
        "cd".repeat(20)
    ))
    .unwrap();
    assert!(
        s.add_torrent(now, TorrentSource::Magnet(both), TorrentOptions::default())
            .is_ok()
    );
}
