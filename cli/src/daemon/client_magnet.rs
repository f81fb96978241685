//! The magnet link a front end shows for a torrent (Transmission's `magnetLink`,
//! qBittorrent's `magnet_uri`), written as libtorrent's `make_magnet_uri` writes it for a
//! torrent handle: `xt=urn:btih:` for a v1 hash, `xt=urn:btmh:1220` for a v2 hash (both for
//! a hybrid), then `dn` (the torrent's name), `tr` for each tracker in tier order and `ws`
//! for each BEP 19 web seed, escaped as libtorrent's `escape_string` does.

use sanstorrent_core::InfoHashes;

/// What a display magnet names.
pub(crate) struct Shown<'a> {
    /// The torrent's info-hashes.
    pub(crate) hashes: InfoHashes,
    /// Its name (`dn`; left out when empty).
    pub(crate) name: &'a str,
    /// Its trackers' announce URLs, tier by tier.
    pub(crate) trackers: &'a [&'a str],
    /// Its BEP 19 web seeds.
    pub(crate) web_seeds: &'a [&'a str],
}

/// The magnet link of `shown`, as libtorrent's `make_magnet_uri` writes it.
pub(crate) fn display_magnet(shown: &Shown<'_>) -> String {
    let mut out = String::from("magnet:?");
    let mut xt = Vec::new();
    if let Some(v1) = shown.hashes.v1 {
        xt.push(format!("xt=urn:btih:{}", v1.to_hex()));
    }
    if let Some(v2) = shown.hashes.v2 {
        xt.push(format!("xt=urn:btmh:1220{}", v2.to_hex()));
    }
    out.push_str(&xt.join("&"));
    if !shown.name.is_empty() {
        out.push_str("&dn=");
        escape_into(&mut out, shown.name);
    }
    for tr in shown.trackers {
        out.push_str("&tr=");
        escape_into(&mut out, tr);
    }
    for ws in shown.web_seeds {
        out.push_str("&ws=");
        escape_into(&mut out, ws);
    }
    out
}

/// libtorrent's `escape_string`: ASCII letters, digits and `-_!.~*()` as they are, every
/// other byte as `%` and two lower-case hex digits.
fn escape_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_!.~*()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use sanstorrent_core::{InfoHash, InfoHashV2};

    use super::*;

    #[test]
    fn it_reads_as_libtorrents_make_magnet_uri() {
        let v1 = InfoHash([0xab; 20]);
        let v2 = InfoHashV2([0xcd; 32]);
        let hybrid = Shown {
            hashes: InfoHashes {
                v1: Some(v1),
                v2: Some(v2),
            },
            name: "my share (1)/ü",
            trackers: &["http://127.0.0.1:1/announce", "udp://t.example:80"],
            web_seeds: &["http://h/p?q=1&r"],
        };
        assert_eq!(
            display_magnet(&hybrid),
            format!(
                "magnet:?xt=urn:btih:{}&xt=urn:btmh:1220{}&dn=my%20share%20(1)%2f%c3%bc\
                 &tr=http%3a%2f%2f127.0.0.1%3a1%2fannounce&tr=udp%3a%2f%2ft.example%3a80\
                 &ws=http%3a%2f%2fh%2fp%3fq%3d1%26r",
                "ab".repeat(20),
                "cd".repeat(32)
            )
        );
        let v2_only = Shown {
            hashes: InfoHashes::v2(v2),
            name: "",
            trackers: &[],
            web_seeds: &[],
        };
        assert_eq!(
            display_magnet(&v2_only),
            format!("magnet:?xt=urn:btmh:1220{}", "cd".repeat(32))
        );
        let v1_only = Shown {
            hashes: InfoHashes::v1(v1),
            name: "n",
            trackers: &[],
            web_seeds: &[],
        };
        assert_eq!(
            display_magnet(&v1_only),
            format!("magnet:?xt=urn:btih:{}&dn=n", "ab".repeat(20))
        );
    }
}
