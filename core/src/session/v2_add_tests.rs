//! v2-only torrents and `btmh`-only magnet links are refused by `add_torrent` (v2 downloads
//! do not exist yet); hybrids are added and download through their v1 half.

use std::sync::Arc;
use std::time::Instant;

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

#[test]
fn v2_only_torrents_are_refused_and_hybrids_added() {
    let (mut s, now) = session();
    let v2 = fixture(include_bytes!("../../tests/data/v2/fx_v2.torrent"));
    assert!(v2.is_v2_only());
    assert_eq!(
        s.add_torrent(now, v2, TorrentOptions::default()),
        Err(AddTorrentError::V2OnlyNotSupported)
    );
    assert_eq!(
        AddTorrentError::V2OnlyNotSupported.to_string(),
        V2_ONLY_MESSAGE
    );
    assert!(V2_ONLY_MESSAGE.contains("v2-only torrents cannot be downloaded yet"));
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
