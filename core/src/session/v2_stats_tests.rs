//! A torrent's statistics carry its full v2 info-hash (SHA-256) when it has one: v2-only and
//! hybrid torrents from their metadata, a magnet from its `btmh` before any metadata.

use std::sync::Arc;
use std::time::Instant;

use crate::id::{InfoHashV2, sha1_digest};
use crate::magnet::MagnetLink;
use crate::merkle::sha256;
use crate::metainfo::Metainfo;
use crate::session::{Session, SessionConfig, TorrentOptions, TorrentSource};

/// The raw `info` dictionary of a .torrent (its info-hashes are hashes of these bytes).
fn info_bytes(torrent: &[u8]) -> Vec<u8> {
    Metainfo::from_bytes(torrent).unwrap().info_bytes().to_vec()
}

#[test]
fn stats_carry_the_sha256_info_hash_of_v2_and_hybrid_torrents() {
    let now = Instant::now();
    let mut s = Session::new(SessionConfig::default(), now, 5);
    let mut add = |bytes: &[u8]| {
        let meta = Arc::new(Metainfo::from_bytes(bytes).unwrap());
        let id = s
            .add_torrent(
                now,
                TorrentSource::Metainfo(meta),
                TorrentOptions::default(),
            )
            .unwrap();
        s.torrent_stats(id).unwrap()
    };
    let v2 = include_bytes!("../../tests/data/v2/fx_v2.torrent");
    let stats = add(v2);
    let full = InfoHashV2(sha256(&info_bytes(v2)));
    assert_eq!(stats.info_hash_v2, Some(full));
    assert_eq!(stats.info_hash, full.truncated());

    let hybrid = include_bytes!("../../tests/data/v2/fx_hybrid.torrent");
    let stats = add(hybrid);
    let info = info_bytes(hybrid);
    assert_eq!(stats.info_hash_v2, Some(InfoHashV2(sha256(&info))));
    assert_eq!(stats.info_hash.0, sha1_digest(&info));

    let v1 = crate::create::TorrentBuilder::single_file("a", 16 * 1024)
        .unwrap()
        .piece_length(16 * 1024)
        .build(&[[1; 20]])
        .unwrap();
    assert_eq!(add(&v1).info_hash_v2, None);
}

#[test]
fn a_magnet_with_btmh_shows_its_v2_hash_before_the_metadata() {
    let now = Instant::now();
    let mut s = Session::new(SessionConfig::default(), now, 5);
    let v2 = "ab".repeat(32);
    let link = format!(
        "magnet:?xt=urn:btih:{}&xt=urn:btmh:1220{v2}",
        "cd".repeat(20)
    );
    let source = TorrentSource::Magnet(MagnetLink::parse(&link).unwrap());
    let id = s
        .add_torrent(now, source, TorrentOptions::default())
        .unwrap();
    let stats = s.torrent_stats(id).unwrap();
    assert_eq!(stats.info_hash_v2, InfoHashV2::from_hex(&v2));
    assert!(stats.info_hash_v2.is_some());

    let plain = format!("magnet:?xt=urn:btih:{}", "ef".repeat(20));
    let source = TorrentSource::Magnet(MagnetLink::parse(&plain).unwrap());
    let id = s
        .add_torrent(now, source, TorrentOptions::default())
        .unwrap();
    assert_eq!(s.torrent_stats(id).unwrap().info_hash_v2, None);
}
