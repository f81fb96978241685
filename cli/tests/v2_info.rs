//! BitTorrent v2: `info` shows a v2-only torrent (its v2 info-hash and files) and a btmh-only
//! magnet; `download` takes a btmh-only magnet and a v2 torrent without its piece layers and
//! looks for peers to fetch what is missing from (hash requests, BEP 52).

mod common;

use common::{Scratch, field, loopback_download, run, s};
use sanstorrent_core::bencode::{Encoder, decode};

const FX_V2: &[u8] = include_bytes!("../../core/tests/data/v2/fx_v2.torrent");
const V2_HEX: &str = "11e8a871c815eb2a4801fe1462d46af3bc49376dda33b1faf698b9ae678454ed";

#[test]
fn info_shows_v2_only_torrents() {
    let w = Scratch::new("v2-info");
    let path = w.join("fx_v2.torrent");
    std::fs::write(&path, FX_V2).unwrap();
    let (code, out, err) = run(&["info", s(&path)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(field(&out, "name"), "fx");
    assert_eq!(field(&out, "info-hash"), &V2_HEX[..40]);
    assert_eq!(field(&out, "info-hash v2"), V2_HEX);
    assert!(field(&out, "version").starts_with("v2 only"), "{out}");
    assert!(out.contains("fx/sub/f_six\n"), "{out}");
    assert!(out.contains("fx/g_big\n"), "{out}");

    let magnet = format!("magnet:?xt=urn:btmh:1220{V2_HEX}&dn=fx");
    let (code, out, err) = run(&["info", &magnet]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(field(&out, "info-hash v2"), V2_HEX);
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
fn download_takes_v2_without_piece_layers_and_looks_for_peers() {
    let w = Scratch::new("v2-bare");
    let path = w.join("fx_v2_bare.torrent");
    std::fs::write(&path, without_layers(FX_V2)).unwrap();
    let state = w.join("state");
    let magnet = format!("magnet:?xt=urn:btmh:1220{V2_HEX}");
    for source in [s(&path), magnet.as_str()] {
        let mut args = loopback_download(source, w.path(), &state);
        args.extend(["--no-peers-timeout", "2", "--quiet"]);
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 1, "{source}: {stdout} {stderr}");
        assert!(
            stderr.contains("no peer connected for 2 s"),
            "{source}: {stderr}"
        );
    }
}
