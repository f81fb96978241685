//! Key names: Transmission 4.1 spells every key in snake_case; the older protocol mixes
//! kebab-case (session keys, method names) and camelCase (torrent fields). The RPC layer works
//! in snake_case: [`snake`] reads any spelling, [`legacy`] writes the old one back.

use serde_json::{Map, Value};

/// How the legacy protocol spells keys by default in one answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// `hashString` (torrent fields, session statistics).
    Camel,
    /// `download-dir` (session settings, method names).
    Kebab,
}

/// Keys the legacy protocol spells against its answer's default style.
const ALWAYS_KEBAB: &[&str] = &[
    "cumulative_stats",
    "current_stats",
    "file_count",
    "peer_limit",
    "port_is_open",
    "primary_mime_type",
    "size_bytes",
    "torrent_added",
    "torrent_duplicate",
];
const ALWAYS_CAMEL: &[&str] = &["seed_ratio_limit", "seed_ratio_limited"];

/// Any spelling (`hashString`, `download-dir`, `hash_string`) in snake_case.
pub(crate) fn snake(key: &str) -> String {
    match key {
        "cache-size-mb" | "cache_size_mb" => return "cache_size_mib".into(),
        "isUTP" => return "is_utp".into(),
        _ => {}
    }
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c == '-' {
            out.push('_');
        } else if c.is_ascii_uppercase() {
            if !out.is_empty() {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The legacy spelling of a snake_case key in an answer whose default is `style`.
pub(crate) fn legacy(key: &str, style: Style) -> String {
    let style = if ALWAYS_KEBAB.contains(&key) {
        Style::Kebab
    } else if ALWAYS_CAMEL.contains(&key) {
        Style::Camel
    } else {
        style
    };
    match (key, style) {
        ("is_utp", _) => "isUTP".into(),
        ("cache_size_mib", _) => "cache-size-mb".into(),
        // `free-space` answered `size-bytes` next to `total_size` (torrents say `totalSize`).
        ("total_size", Style::Kebab) => key.into(),
        (_, Style::Kebab) => key.replace('_', "-"),
        (_, Style::Camel) => {
            let mut out = String::with_capacity(key.len());
            let mut upper = false;
            for c in key.chars() {
                if c == '_' {
                    upper = true;
                } else if upper {
                    out.push(c.to_ascii_uppercase());
                    upper = false;
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}

/// Rewrites every object key in `value` (recursively) to its legacy spelling.
pub(crate) fn legacy_keys(mut value: Value, style: Style) -> Value {
    rekey(&mut value, style);
    value
}

/// [`legacy_keys`] in place: a map is rebuilt only when one of its keys changes (only a key
/// with `_` does), so an answer already spelled the legacy way (a `torrent-get` of 100,000
/// torrents) is walked, not copied.
fn rekey(value: &mut Value, style: Style) {
    match value {
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('_')) {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| {
                        let k = if k.contains('_') {
                            legacy(&k, style)
                        } else {
                            k
                        };
                        (k, v)
                    })
                    .collect();
            }
            for v in map.values_mut() {
                rekey(v, style);
            }
        }
        Value::Array(items) => {
            for v in items {
                rekey(v, style);
            }
        }
        _ => {}
    }
}

/// Rewrites the keys of an object of request parameters (not recursively) to snake_case.
pub(crate) fn snake_keys(params: Map<String, Value>) -> Map<String, Value> {
    params.into_iter().map(|(k, v)| (snake(&k), v)).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_spelling_reads_as_snake_case() {
        assert_eq!(snake("hashString"), "hash_string");
        assert_eq!(snake("peersGettingFromUs"), "peers_getting_from_us");
        assert_eq!(snake("download-dir"), "download_dir");
        assert_eq!(snake("seedRatioLimited"), "seed_ratio_limited");
        assert_eq!(snake("delete_local_data"), "delete_local_data");
        assert_eq!(snake("recently-active"), "recently_active");
        assert_eq!(snake("cache-size-mb"), "cache_size_mib");
        assert_eq!(snake("isUTP"), "is_utp");
        assert_eq!(snake("trackerAdd"), "tracker_add");
    }

    #[test]
    fn legacy_spellings_follow_transmission_4_0() {
        assert_eq!(legacy("hash_string", Style::Camel), "hashString");
        assert_eq!(legacy("download_dir", Style::Camel), "downloadDir");
        assert_eq!(legacy("download_dir", Style::Kebab), "download-dir");
        assert_eq!(legacy("file_count", Style::Camel), "file-count");
        assert_eq!(legacy("seed_ratio_limit", Style::Kebab), "seedRatioLimit");
        assert_eq!(legacy("cumulative_stats", Style::Camel), "cumulative-stats");
        assert_eq!(legacy("is_utp", Style::Camel), "isUTP");
        assert_eq!(legacy("id", Style::Camel), "id");
        for key in [
            "hash_string",
            "rate_download",
            "peers_from",
            "from_dht",
            "left_until_done",
        ] {
            assert_eq!(snake(&legacy(key, Style::Camel)), key);
            assert_eq!(snake(&legacy(key, Style::Kebab)), key);
        }
    }

    #[test]
    fn nested_keys_are_rewritten() {
        let v = json!({"torrents": [{"hash_string": "x", "file_stats": [{"bytes_completed": 1}]}]});
        assert_eq!(
            legacy_keys(v, Style::Camel),
            json!({"torrents": [{"hashString": "x", "fileStats": [{"bytesCompleted": 1}]}]})
        );
    }
}
