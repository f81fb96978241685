//! The torrent methods other than `torrent-get`: add, actions, remove, set, set-location,
//! queue moves.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::error::{self, MethodError};
use super::params::{AllowedDirs, Params, Selector};
use super::torrent_get::SPEED_K;
use crate::daemon::backend::{
    Action, AddTorrent, Added, Backend, Detail, FileChanges, Id, LimitMode, PAGE, PathKind,
    Priority, QueueMove, Source, TorrentChanges, TrackerEdit, WebSeedEdit,
};
use crate::daemon::rename::transmission_target;

/// The ids `selector` names, in id order (torrents viewed a page at a time, and only when
/// the selector needs their views).
pub(crate) async fn resolve<B: Backend>(backend: &B, selector: &Selector, now: u64) -> Vec<Id> {
    let mut ids = backend.torrent_ids().await;
    if let Some(named) = selector.only_ids() {
        ids.retain(|id| named.contains(id));
        return ids;
    }
    if *selector == Selector::All {
        return ids;
    }
    let mut named = Vec::new();
    for page in ids.chunks(PAGE) {
        let views = backend.torrents_of(page, Detail::default()).await;
        named.extend(
            views
                .iter()
                .filter(|v| selector.matches(v, now))
                .map(|v| v.id),
        );
    }
    named
}

/// Answers `torrent-add`.
pub(crate) async fn add<B: Backend>(
    backend: &B,
    params: &Params<'_>,
    allowed: &AllowedDirs,
) -> Result<Map<String, Value>, MethodError> {
    let source = match (params.str("metainfo")?, params.str("filename")?) {
        (Some(metainfo), _) => Source::Metainfo(decode_base64(metainfo)?),
        (None, Some(filename)) => source_of(filename, allowed)?,
        (None, None) => {
            return Err(MethodError::invalid_params(
                "`filename` (a path, magnet link or URL) or `metainfo` (base64) is required",
            ));
        }
    };
    let download_dir = params
        .str("download_dir")?
        .map(|d| allowed.check("download_dir", d))
        .transpose()?;
    let add = AddTorrent {
        source: Some(source),
        download_dir,
        paused: params.bool("paused")?,
        files: file_changes(params)?,
        labels: params.labels("labels")?.unwrap_or_default(),
        category: String::new(),
        peer_limit: params.u32("peer_limit")?,
        bandwidth_priority: priority(params, "bandwidth_priority")?,
        sequential: params.bool("sequential_download")?,
        first_last_pieces: None,
        name: None,
        choose_files: params.bool("choose_files")?.unwrap_or(false),
        stop_on_metadata: false,
    };
    let (key, id, hash, name) = match backend.add(add).await? {
        Added::New { id, hash, name } => ("torrent_added", id, hash, name),
        Added::Duplicate { id, hash, name } => ("torrent_duplicate", id, hash, name),
    };
    let mut out = Map::new();
    out.insert(
        key.into(),
        json!({"id": id.0, "name": name, "hash_string": hash.to_hex()}),
    );
    Ok(out)
}

/// What a `filename` names: a magnet link, an HTTP(S) URL, or a .torrent on this machine.
fn source_of(filename: &str, allowed: &AllowedDirs) -> Result<Source, MethodError> {
    let trimmed = filename.trim();
    if trimmed
        .get(..7)
        .is_some_and(|head| head.eq_ignore_ascii_case("magnet:"))
    {
        return Ok(Source::Magnet(trimmed.to_owned()));
    }
    if let Some((scheme, _)) = trimmed.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        return if scheme == "http" || scheme == "https" {
            Ok(Source::Url(trimmed.to_owned()))
        } else {
            Err(MethodError::new(
                error::HTTP_ERROR,
                format!("refusing to fetch a `{scheme}` URL: only http and https URLs are fetched"),
            ))
        };
    }
    Ok(Source::File(allowed.check("filename", trimmed)?))
}

/// Base64 as clients send it: with or without padding, maybe with line breaks.
fn decode_base64(text: &str) -> Result<Vec<u8>, MethodError> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT.decode(compact.as_bytes()).map_err(|e| {
        MethodError::new(
            error::CORRUPT_TORRENT,
            format!("`metainfo` is not base64: {e}"),
        )
    })
}

fn file_changes(params: &Params<'_>) -> Result<FileChanges, MethodError> {
    Ok(FileChanges {
        wanted: params.files("files_wanted")?,
        unwanted: params.files("files_unwanted")?,
        high: params.files("priority_high")?,
        normal: params.files("priority_normal")?,
        low: params.files("priority_low")?,
    })
}

fn priority(params: &Params<'_>, key: &str) -> Result<Option<Priority>, MethodError> {
    params
        .i64(key)?
        .map(|n| match n {
            -1 => Ok(Priority::Low),
            0 => Ok(Priority::Normal),
            1 => Ok(Priority::High),
            _ => Err(MethodError::invalid_params(format!(
                "`{key}` must be -1, 0 or 1"
            ))),
        })
        .transpose()
}

fn limit_mode(params: &Params<'_>, key: &str) -> Result<Option<LimitMode>, MethodError> {
    params
        .i64(key)?
        .map(|n| {
            LimitMode::from_number(n)
                .ok_or_else(|| MethodError::invalid_params(format!("`{key}` must be 0, 1 or 2")))
        })
        .transpose()
}

/// Answers `torrent-start`, `-start-now`, `-stop`, `-verify`, `-reannounce`.
pub(crate) async fn act<B: Backend>(
    backend: &B,
    params: &Params<'_>,
    action: Action,
    now: u64,
) -> Result<Map<String, Value>, MethodError> {
    let ids = resolve(backend, &params.ids()?, now).await;
    backend.act(ids, action).await?;
    Ok(Map::new())
}

/// Answers `torrent-remove`.
pub(crate) async fn remove<B: Backend>(
    backend: &B,
    params: &Params<'_>,
    now: u64,
) -> Result<Map<String, Value>, MethodError> {
    let ids = resolve(backend, &params.ids()?, now).await;
    let delete = params.bool("delete_local_data")?.unwrap_or(false);
    backend.remove(ids, delete).await?;
    Ok(Map::new())
}

/// Answers `torrent-set`.
pub(crate) async fn set<B: Backend>(
    backend: &B,
    params: &Params<'_>,
    allowed: &AllowedDirs,
    now: u64,
) -> Result<Map<String, Value>, MethodError> {
    let selector = params.ids()?;
    let changes = TorrentChanges {
        download_limit: params
            .u64("download_limit")?
            .map(|k| k.saturating_mul(SPEED_K)),
        download_limited: params.bool("download_limited")?,
        upload_limit: params
            .u64("upload_limit")?
            .map(|k| k.saturating_mul(SPEED_K)),
        upload_limited: params.bool("upload_limited")?,
        honors_session_limits: params.bool("honors_session_limits")?,
        seed_ratio_limit: match params.f64("seed_ratio_limit")? {
            Some(r) if r < 0.0 => {
                return Err(MethodError::invalid_params(
                    "`seed_ratio_limit` must not be negative",
                ));
            }
            r => r,
        },
        seed_ratio_mode: limit_mode(params, "seed_ratio_mode")?,
        seed_idle_limit: params.u32("seed_idle_limit")?,
        seed_idle_mode: limit_mode(params, "seed_idle_mode")?,
        seed_time_limit: None,
        seed_time_mode: None,
        peer_limit: params.u32("peer_limit")?,
        bandwidth_priority: priority(params, "bandwidth_priority")?,
        sequential: params.bool("sequential_download")?,
        first_last_pieces: None,
        name: None,
        labels: params.labels("labels")?,
        category: None,
        queue_position: params.u32("queue_position")?,
        files: file_changes(params)?,
        trackers: tracker_edits(params)?,
        web_seeds: web_seed_edits(params)?,
        location: params
            .str("location")?
            .map(|l| allowed.check("location", l))
            .transpose()?,
    };
    let ids = resolve(backend, &selector, now).await;
    if changes != TorrentChanges::default() {
        backend.change(ids, changes).await?;
    }
    Ok(Map::new())
}

/// Tracker ids and URLs alternating, checked.
fn replace_pairs(flat: &[Value]) -> Result<Vec<(u32, String)>, MethodError> {
    let pairs = flat
        .chunks_exact(2)
        .map(|pair| {
            let id = pair[0].as_u64().and_then(|n| u32::try_from(n).ok())?;
            Some((id, pair[1].as_str()?.to_owned()))
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            MethodError::new(
                error::INVALID_TRACKER_LIST,
                "`tracker_replace` must alternate tracker ids and URLs",
            )
        })?;
    check_urls(pairs.iter().map(|(_, url)| url))?;
    Ok(pairs)
}

fn tracker_edits(params: &Params<'_>) -> Result<Vec<TrackerEdit>, MethodError> {
    let mut edits = Vec::new();
    if let Some(list) = params.str("tracker_list")? {
        let tiers: Vec<Vec<String>> = list
            .split("\n\n")
            .map(|tier| {
                tier.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .filter(|tier: &Vec<String>| !tier.is_empty())
            .collect();
        check_urls(tiers.iter().flatten())?;
        edits.push(TrackerEdit::Set(tiers));
    }
    if let Some(urls) = params.strings("tracker_add")? {
        check_urls(urls.iter())?;
        edits.push(TrackerEdit::Add(urls));
    }
    if let Some(ids) = params.numbers("tracker_remove")? {
        edits.push(TrackerEdit::Remove(ids));
    }
    match params.0.get("tracker_replace") {
        None | Some(Value::Null) => {}
        // Transmission's flat [id, url, id, url...], or the [[id, url]...] pairs the Python
        // `transmission-rpc` sends.
        Some(Value::Array(list)) if list.iter().all(Value::is_array) => {
            let flat: Vec<Value> = list
                .iter()
                .filter_map(Value::as_array)
                .filter(|pair| pair.len() == 2)
                .flatten()
                .cloned()
                .collect();
            if flat.len() != list.len() * 2 {
                return Err(MethodError::new(
                    error::INVALID_TRACKER_LIST,
                    "`tracker_replace` pairs must be [tracker id, URL]",
                ));
            }
            edits.push(TrackerEdit::Replace(replace_pairs(&flat)?));
        }
        Some(Value::Array(flat)) if flat.len() % 2 == 0 => {
            edits.push(TrackerEdit::Replace(replace_pairs(flat)?));
        }
        Some(_) => {
            return Err(MethodError::new(
                error::INVALID_TRACKER_LIST,
                "`tracker_replace` must alternate tracker ids and URLs",
            ));
        }
    }
    Ok(edits)
}

/// `webseeds`: the torrent's whole list of web seeds (BEP 19), http or https URLs.
fn web_seed_edits(params: &Params<'_>) -> Result<Vec<WebSeedEdit>, MethodError> {
    let Some(mut urls) = params.strings("webseeds")? else {
        return Ok(Vec::new());
    };
    for url in &urls {
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        if !matches!(scheme.as_deref(), Some("http" | "https")) {
            return Err(MethodError::new(
                error::INVALID_PARAMS,
                format!("{url:?} is not an http or https web seed URL"),
            ));
        }
    }
    urls.dedup();
    Ok(vec![WebSeedEdit::Set(urls)])
}

fn check_urls<'a>(urls: impl Iterator<Item = &'a String>) -> Result<(), MethodError> {
    for url in urls {
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        if !matches!(scheme.as_deref(), Some("http" | "https" | "udp")) {
            return Err(MethodError::new(
                error::INVALID_TRACKER_LIST,
                format!("{url:?} is not an http, https or udp announce URL"),
            ));
        }
    }
    Ok(())
}

/// Answers `torrent-set-location`.
pub(crate) async fn set_location<B: Backend>(
    backend: &B,
    params: &Params<'_>,
    allowed: &AllowedDirs,
    now: u64,
) -> Result<Map<String, Value>, MethodError> {
    let Some(location) = params.str("location")? else {
        return Err(MethodError::invalid_params("`location` is required"));
    };
    let location = allowed.check("location", location)?;
    let move_data = params.bool("move")?.unwrap_or(false);
    let ids = resolve(backend, &params.ids()?, now).await;
    backend.set_location(ids, location, move_data).await?;
    Ok(Map::new())
}

/// Answers `torrent-rename-path`: `ids` names one torrent, `path` one of its files or folders
/// (as `files` shows it), `name` the new name of that path's last component. Answers with
/// `path`, `name` and `id`.
pub(crate) async fn rename_path<B: Backend>(
    backend: &B,
    params: &Params<'_>,
    now: u64,
) -> Result<Map<String, Value>, MethodError> {
    let (Some(path), Some(name)) = (params.str("path")?, params.str("name")?) else {
        return Err(MethodError::invalid_params(
            "`path` and `name` are required",
        ));
    };
    let ids = resolve(backend, &params.ids()?, now).await;
    let [id] = ids[..] else {
        return Err(MethodError::invalid_params(
            "torrent-rename-path requires exactly one torrent",
        ));
    };
    let to = transmission_target(path, name)?;
    backend
        .rename_path(id, path.to_owned(), to, PathKind::Either)
        .await?;
    let mut out = Map::new();
    out.insert("path".into(), json!(path));
    out.insert("name".into(), json!(name));
    out.insert("id".into(), json!(id.0));
    Ok(out)
}

/// Answers `queue-move-top`, `-up`, `-down`, `-bottom`.
pub(crate) async fn queue_move<B: Backend>(
    backend: &B,
    params: &Params<'_>,
    to: QueueMove,
    now: u64,
) -> Result<Map<String, Value>, MethodError> {
    let ids = resolve(backend, &params.ids()?, now).await;
    backend.queue_move(ids, to).await?;
    Ok(Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_name_their_source() {
        let allowed = AllowedDirs::new(vec!["/dl".into()]);
        assert!(matches!(
            source_of("magnet:?xt=urn:btih:x", &allowed),
            Ok(Source::Magnet(_))
        ));
        assert!(matches!(
            source_of("MAGNET:?xt", &allowed),
            Ok(Source::Magnet(_))
        ));
        assert!(matches!(
            source_of("https://a/b.torrent", &allowed),
            Ok(Source::Url(_))
        ));
        assert!(matches!(
            source_of("/dl/a.torrent", &allowed),
            Ok(Source::File(_))
        ));
        let ftp = source_of("ftp://a/b.torrent", &allowed).unwrap_err();
        assert_eq!(ftp.code, error::HTTP_ERROR);
        assert!(ftp.detail.unwrap().contains("ftp"));
        assert!(source_of("file:///etc/passwd", &allowed).is_err());
        assert!(source_of("/etc/passwd", &allowed).is_err());
        assert!(source_of("a.torrent", &allowed).is_err());
        assert!(source_of("mägnet:?x", &allowed).is_err());
        assert!(source_of("ééééé", &allowed).is_err());
    }

    #[test]
    fn base64_is_read_leniently() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVs\nbG8").unwrap(), b"hello");
        assert_eq!(
            decode_base64("!!").unwrap_err().code,
            error::CORRUPT_TORRENT
        );
    }
}
