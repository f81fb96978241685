//! Every v2 source is added: v2-only torrents with their piece layers and hybrids start their
//! check; `btmh`-only magnet links and v2 torrents without piece layers wait for what peers
//! send (the info dictionary, then the layers through hash requests).

use std::sync::Arc;
use std::time::Instant;

use crate::bencode::{Encoder, decode};
use crate::id::InfoHash;
use crate::magnet::MagnetLink;
use crate::metainfo::Metainfo;
use crate::session::{
    AddTorrentError, Session, SessionConfig, TorrentOptions, TorrentPhase, TorrentSource,
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
fn v2_torrents_without_piece_layers_wait_for_them_and_the_others_start() {
    let (mut s, now) = session();
    let bytes = include_bytes!("../../tests/data/v2/fx_v2.torrent");
    let v2 = fixture(bytes);
    assert!(v2.is_v2_only() && !v2.lacks_piece_layers());
    assert!(s.add_torrent(now, v2, TorrentOptions::default()).is_ok());
    let bare = fixture(&without_layers(bytes));
    assert!(bare.lacks_piece_layers());
    let mut s2 = session().0;
    let id = s2
        .add_torrent(now, bare, TorrentOptions::default())
        .unwrap();
    assert_eq!(
        s2.torrent_stats(id).map(|st| st.phase),
        Some(TorrentPhase::FetchingMetadata)
    );
    let hybrid = fixture(include_bytes!("../../tests/data/v2/fx_hybrid.torrent"));
    assert!(!hybrid.is_v2_only());
    assert!(
        s.add_torrent(now, hybrid, TorrentOptions::default())
            .is_ok()
    );
}

#[test]
fn btmh_magnets_are_added_alone_or_beside_btih() {
    let (mut s, now) = session();
    let v2 = "1220".to_string() + &"ab".repeat(32);
    let only = MagnetLink::parse(&format!("magnet:?xt=urn:btmh:{v2}")).unwrap();
    assert!(
        s.add_torrent(now, TorrentSource::Magnet(only), TorrentOptions::default())
            .is_ok()
    );
    let other = "1220".to_string() + &"ef".repeat(32);
    let both = MagnetLink::parse(&format!(
        "magnet:?xt=urn:btih:{}&xt=urn:btmh:{other}",
        "cd".repeat(20)
    ))
    .unwrap();
    assert!(
        s.add_torrent(now, TorrentSource::Magnet(both), TorrentOptions::default())
            .is_ok()
    );
    // A hybrid's magnet naming a v2 hash the session has is the same torrent.
    let same = MagnetLink::parse(&format!(
        "magnet:?xt=urn:btih:{}&xt=urn:btmh:{v2}",
        "01".repeat(20)
    ))
    .unwrap();
    let truncated = InfoHash([0xab; 20]);
    assert!(matches!(
        s.add_torrent(now, TorrentSource::Magnet(same), TorrentOptions::default()),
        Err(AddTorrentError::Duplicate(h)) if h == truncated
    ));
}
