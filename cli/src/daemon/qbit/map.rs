//! qBittorrent's view of a torrent: its state strings, the `torrents/info` object, and the
//! units it uses (bytes, bytes/s, seconds, progress 0-1, `eta` 8640000 when unknown, -1 for
//! "no limit").

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use std::collections::HashMap;

use super::pages;
use crate::daemon::backend::{
    Backend, Detail, ErrorKind, FileView, Id, LimitMode, Settings, Status, TorrentView, TrackerView,
};

/// qBittorrent's "infinite" eta (100 days).
pub(super) const ETA_UNKNOWN: u64 = 8_640_000;

/// The `state` string (qBittorrent 5 spells "paused" as "stopped").
pub(super) fn state(t: &TorrentView) -> &'static str {
    let complete = t.metadata_done >= 1.0 && t.left_until_done == 0;
    if t.moving {
        return "moving";
    }
    if let Some(e) = &t.error
        && e.kind == ErrorKind::Local
    {
        return if e.missing_files {
            "missingFiles"
        } else {
            "error"
        };
    }
    match t.status {
        Status::Stopped if complete => "stoppedUP",
        Status::Stopped => "stoppedDL",
        Status::CheckWait | Status::Checking if complete => "checkingUP",
        Status::CheckWait | Status::Checking => "checkingDL",
        Status::DownloadWait => "queuedDL",
        Status::SeedWait => "queuedUP",
        Status::Downloading if t.metadata_done < 1.0 && t.forced => "forcedMetaDL",
        Status::Downloading if t.metadata_done < 1.0 => "metaDL",
        Status::Downloading if t.forced => "forcedDL",
        Status::Downloading if t.rate_download > 0 => "downloading",
        Status::Downloading => "stalledDL",
        Status::Seeding if t.forced => "forcedUP",
        Status::Seeding if t.rate_upload > 0 => "uploading",
        Status::Seeding => "stalledUP",
    }
}

/// Whether `state` passes a `filter` of `torrents/info`.
pub(super) fn filter_matches(filter: &str, t: &TorrentView) -> bool {
    let s = state(t);
    let complete = t.metadata_done >= 1.0 && t.left_until_done == 0;
    let stopped = t.status == Status::Stopped;
    let active = t.rate_download > 0 || t.rate_upload > 0;
    match filter {
        "all" | "" => true,
        "downloading" => !complete && !s.starts_with("checking") && s != "error",
        "seeding" => complete && !stopped && !s.starts_with("checking"),
        "completed" => complete,
        "paused" | "stopped" => stopped,
        "resumed" | "running" => !stopped,
        "active" => active,
        "inactive" => !active,
        "stalled" => s == "stalledDL" || s == "stalledUP",
        "stalled_uploading" => s == "stalledUP",
        "stalled_downloading" => s == "stalledDL",
        "checking" => s.starts_with("checking"),
        "moving" => t.moving,
        "errored" => s == "error" || s == "missingFiles",
        _ => false,
    }
}

/// The tags of a torrent, qBittorrent's way: `"a, b"`.
pub(super) fn tags(t: &TorrentView) -> String {
    t.options.labels.join(", ")
}

/// The `save_path` (a trailing separator-free absolute path).
fn save_path(t: &TorrentView) -> String {
    t.download_dir.display().to_string()
}

/// qBittorrent's largest ratio (`Torrent::MAX_RATIO` in 5.0).
const MAX_RATIO: f64 = 9999.0;

/// The ratio as qBittorrent 5.0 computes it (`TorrentImpl::realRatio`): uploaded over
/// downloaded, where the verified bytes had stand for the downloaded ones when fewer than 1 %
/// of them were downloaded (a seeder that lost its totals); `MAX_RATIO` when something was
/// uploaded and nothing downloaded, and at most that.
fn ratio(t: &TorrentView) -> f64 {
    let download = if (t.downloaded_ever as f64) < t.have_valid as f64 * 0.01 {
        t.have_valid
    } else {
        t.downloaded_ever
    };
    if download == 0 {
        return if t.uploaded_ever == 0 { 0.0 } else { MAX_RATIO };
    }
    (t.uploaded_ever as f64 / download as f64).min(MAX_RATIO)
}

/// The share limits that apply to a torrent (qBittorrent's `max_ratio`, `max_seeding_time`,
/// `max_inactive_seeding_time`; negative: none).
#[derive(Clone, Copy, Debug, PartialEq)]
struct ShareLimits {
    ratio: f64,
    seeding_minutes: i64,
    inactive_minutes: i64,
}

/// The `eta` as qBittorrent 5.0 computes it (`TorrentImpl::eta`): unknown while stopped; while
/// seeding, the soonest of the share limits that apply (the ratio's at the current upload
/// rate, unknown without one; the seeding time's; the inactive time's), each at least 0;
/// while downloading, the wanted bytes left at the current rate.
fn eta(t: &TorrentView, limits: ShareLimits, now: u64) -> u64 {
    if t.status == Status::Stopped {
        return ETA_UNKNOWN;
    }
    if !complete(t) {
        return t.eta.unwrap_or(ETA_UNKNOWN).min(ETA_UNKNOWN);
    }
    let mut soonest = ETA_UNKNOWN;
    if limits.ratio >= 0.0 && t.rate_upload > 0 {
        let downloaded = if t.downloaded_ever > 0 {
            t.downloaded_ever
        } else {
            t.size_when_done
        };
        let goal = downloaded as f64 * limits.ratio;
        let left = (goal - t.uploaded_ever as f64).max(0.0);
        soonest = soonest.min((left / t.rate_upload as f64) as u64);
    }
    if let Ok(minutes) = u64::try_from(limits.seeding_minutes) {
        soonest = soonest.min((minutes * 60).saturating_sub(t.seconds_seeding));
    }
    if let Ok(minutes) = u64::try_from(limits.inactive_minutes) {
        let since = t.activity_date.max(t.start_date);
        let idle = if since == 0 {
            0
        } else {
            now.saturating_sub(since)
        };
        soonest = soonest.min((minutes * 60).saturating_sub(idle));
    }
    soonest
}

/// A limit in bytes/s, -1 (qBittorrent 5: 0) meaning none.
fn limit(l: crate::daemon::backend::SpeedLimit) -> i64 {
    if l.enabled {
        i64::try_from(l.bytes_per_sec).unwrap_or(i64::MAX)
    } else {
        0
    }
}

/// Unix seconds now.
pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What `torrents/info` shows besides a torrent's own fields: the session's share limits
/// and each unfinished torrent's place among the unfinished ones (qBittorrent's `priority`,
/// from 1; 0 for a finished torrent, which has no place in its queue).
pub(super) struct Context {
    max_ratio: f64,
    max_seeding_time: i64,
    max_inactive_seeding_time: i64,
    places: HashMap<Id, u32>,
}

/// The unfinished torrents' queue positions, gathered a view at a time for a [`Context`].
#[derive(Debug, Default)]
pub(super) struct Places(Vec<(u32, Id)>);

impl Places {
    /// Notes `t`'s queue position if it is unfinished.
    pub(super) fn see(&mut self, t: &TorrentView) {
        if !complete(t) {
            self.0.push((t.queue_position, t.id));
        }
    }
}

impl Context {
    /// The context of `list` (every torrent) under settings `s`.
    #[cfg(test)]
    pub(super) fn new(list: &[TorrentView], s: &Settings) -> Self {
        let mut places = Places::default();
        list.iter().for_each(|t| places.see(t));
        Self::with_places(places, s)
    }

    /// The context of every torrent, viewed a page at a time.
    pub(super) async fn of_all<B: Backend>(backend: &B) -> Self {
        let ids = backend.torrent_ids().await;
        let mut places = Places::default();
        pages::each_view(backend, &ids, Detail::default(), |t| places.see(&t)).await;
        Self::with_places(places, &backend.settings().await)
    }

    /// The context of the torrents whose `places` were gathered, under settings `s`.
    pub(super) fn with_places(mut places: Places, s: &Settings) -> Self {
        places.0.sort_unstable();
        Self {
            max_ratio: if s.seed_ratio_limited {
                s.seed_ratio_limit
            } else {
                -1.0
            },
            max_seeding_time: minutes(s.seeding_time_limit_enabled, s.seeding_time_limit),
            max_inactive_seeding_time: minutes(s.idle_seeding_limit_enabled, s.idle_seeding_limit),
            places: (1u32..).zip(places.0).map(|(n, (_, id))| (id, n)).collect(),
        }
    }
}

impl Context {
    /// The share limits that apply to `t`: its own, or the session's.
    fn limits(&self, t: &TorrentView) -> ShareLimits {
        let o = &t.options;
        let applies = |mode, own, global| match mode {
            LimitMode::Global => global,
            LimitMode::Single => own,
            LimitMode::Unlimited => -1,
        };
        ShareLimits {
            ratio: match o.seed_ratio_mode {
                LimitMode::Global => self.max_ratio,
                LimitMode::Single => o.seed_ratio_limit,
                LimitMode::Unlimited => -1.0,
            },
            seeding_minutes: applies(
                o.seed_time_mode,
                i64::from(o.seed_time_limit),
                self.max_seeding_time,
            ),
            inactive_minutes: applies(
                o.seed_idle_mode,
                i64::from(o.seed_idle_limit),
                self.max_inactive_seeding_time,
            ),
        }
    }
}

/// A limit in minutes, -1 when off.
fn minutes(on: bool, m: u32) -> i64 {
    if on { i64::from(m) } else { -1 }
}

/// Every wanted byte is here.
fn complete(t: &TorrentView) -> bool {
    t.metadata_done >= 1.0 && t.left_until_done == 0
}

/// A torrent's own limit (-2: the session's, -1: none) and the one that applies to it.
fn share_limit<T: Copy>(mode: LimitMode, own: T, global: T, none: T, global_mark: T) -> (T, T) {
    match mode {
        LimitMode::Global => (global_mark, global),
        LimitMode::Single => (own, own),
        LimitMode::Unlimited => (none, none),
    }
}

/// What [`info`] reads of a torrent: its trackers, and while a piece is missing the pieces'
/// availability (the client then gives the pieces too).
pub(super) const INFO_DETAIL: Detail = Detail {
    trackers: true,
    pieces: false,
    availability: true,
    files: false,
    peers: false,
    piece_hashes: false,
    magnet: true,
};

/// Whether we have piece `i` (by the view's bitfield).
fn has_piece(t: &TorrentView, i: usize) -> bool {
    t.pieces
        .get(i / 8)
        .is_some_and(|byte| byte & (0x80 >> (i % 8)) != 0)
}

/// libtorrent's distributed copies, qBittorrent's `availability`: the fewest copies of any
/// piece among the connected peers and us, plus the share (in thousandths) of pieces with
/// more; -1 without the counts (no metadata yet, or every piece had: libtorrent keeps no
/// piece picker then).
fn distributed_copies(t: &TorrentView) -> f64 {
    let n = t.availability.len();
    if n == 0 {
        return -1.0;
    }
    let copies = |i: usize| t.availability[i] + u32::from(has_piece(t, i));
    let fewest = (0..n).map(copies).min().unwrap_or(0);
    let more = (0..n).filter(|&i| copies(i) > fewest).count();
    f64::from(fewest) + (more * 1000 / n) as f64 / 1000.0
}

/// qBittorrent's per-file `availability`: the share of the file's pieces some connected peer
/// has (-1 without the counts, as for a seed).
fn file_availability(t: &TorrentView, f: &FileView) -> f64 {
    if t.availability.is_empty() {
        return -1.0;
    }
    let pieces = f.begin_piece as usize..(f.end_piece as usize).min(t.availability.len());
    if pieces.is_empty() {
        return 1.0;
    }
    let len = pieces.len();
    let available = pieces.filter(|&p| t.availability[p] > 0).count();
    available as f64 / len as f64
}

/// The `torrents/info` object of one torrent (also what `sync/maindata` lists), from a view
/// with at least [`INFO_DETAIL`].
pub(super) fn info(t: &TorrentView, ctx: &Context) -> Value {
    let progress = if t.size_when_done == 0 {
        if t.metadata_done >= 1.0 { 1.0 } else { 0.0 }
    } else {
        (t.size_when_done - t.left_until_done.min(t.size_when_done)) as f64
            / t.size_when_done as f64
    };
    let tracker = t
        .trackers
        .iter()
        .find(|tr| tr.last_announce_ok)
        .map_or("", |tr| tr.announce.as_str());
    let seeds = swarm(t, |tr| tr.seeders);
    let leechers = swarm(t, |tr| tr.leechers);
    let content_path = match t.files.as_slice() {
        [one] if !one.name.contains('/') => t.download_dir.join(&one.name),
        _ => t.download_dir.join(&t.name),
    };
    let o = &t.options;
    let (ratio_limit, max_ratio) = share_limit(
        o.seed_ratio_mode,
        o.seed_ratio_limit,
        ctx.max_ratio,
        -1.0,
        -2.0,
    );
    let (seeding_time_limit, max_seeding_time) = share_limit(
        o.seed_time_mode,
        i64::from(o.seed_time_limit),
        ctx.max_seeding_time,
        -1,
        -2,
    );
    let (inactive_limit, max_inactive) = share_limit(
        o.seed_idle_mode,
        i64::from(o.seed_idle_limit),
        ctx.max_inactive_seeding_time,
        -1,
        -2,
    );
    let hash = t.hash.to_hex();
    let completed = t.size_when_done.saturating_sub(t.left_until_done);
    let mut first = json!({
        "added_on": t.added_date,
        "amount_left": t.left_until_done,
        "auto_tmm": false,
        "availability": distributed_copies(t),
        "category": t.options.category,
        "comment": t.comment,
        "completed": completed,
        "completion_on": if t.done_date > 0 { t.done_date as i64 } else { -1 },
        "content_path": content_path.display().to_string(),
        "dl_limit": limit(t.options.download_limit),
        "dlspeed": t.rate_download,
        "download_path": "",
        "downloaded": t.downloaded_ever,
        "downloaded_session": t.downloaded_session,
        "eta": eta(t, ctx.limits(t), unix_now()),
        "f_l_piece_prio": t.options.first_last_pieces,
        "force_start": t.forced,
        "has_metadata": t.metadata_done >= 1.0,
        "hash": hash,
        "inactive_seeding_time_limit": inactive_limit,
        "infohash_v1": infohash_v1(t),
        "infohash_v2": infohash_v2(t),
        "last_activity": t.activity_date,
        "magnet_uri": t.magnet_link,
    });
    let second = json!({
        "max_inactive_seeding_time": max_inactive,
        "max_ratio": max_ratio,
        "max_seeding_time": max_seeding_time,
        "name": t.name,
        "num_complete": seeds,
        "num_incomplete": leechers,
        "num_leechs": t.peers_connected.saturating_sub(t.seeds_connected),
        "num_seeds": t.seeds_connected,
        "popularity": 0,
        "priority": ctx.places.get(&t.id).copied().unwrap_or(0),
        "private": t.is_private,
        "progress": progress,
        "ratio": ratio(t),
        "ratio_limit": ratio_limit,
        "reannounce": t.trackers.iter().map(|tr| tr.next_announce).min().unwrap_or(0).saturating_sub(unix_now()),
        "root_path": content_path.display().to_string(),
        "save_path": save_path(t),
        "seeding_time": t.seconds_seeding,
        "seeding_time_limit": seeding_time_limit,
        "seen_complete": t.done_date,
        "seq_dl": t.options.sequential,
        "size": t.size_when_done,
        "state": state(t),
        "super_seeding": false,
        "tags": tags(t),
        "time_active": t.seconds_downloading + t.seconds_seeding,
        "total_size": t.total_size,
        "tracker": tracker,
        "trackers_count": t.trackers.len(),
        "up_limit": limit(t.options.upload_limit),
        "uploaded": t.uploaded_ever,
        "uploaded_session": t.uploaded_session,
        "upspeed": t.rate_upload,
    });
    if let (Value::Object(a), Value::Object(b)) = (&mut first, second) {
        a.extend(b);
    }
    first
}

/// The v2 info-hash in hex, as qBittorrent shows it (empty for a v1-only torrent).
/// The v1 info-hash, or "" for a v2-only torrent (as qBittorrent shows it; its `hash` is then
/// the truncated v2 hash).
fn infohash_v1(t: &TorrentView) -> String {
    if t.has_v1 {
        t.hash.to_hex()
    } else {
        String::new()
    }
}

fn infohash_v2(t: &TorrentView) -> String {
    t.hash_v2.map_or_else(String::new, |h| {
        h.iter().fold(String::with_capacity(64), |mut s, b| {
            use std::fmt::Write;
            let _ = write!(s, "{b:02x}");
            s
        })
    })
}

/// The largest count the trackers gave (0 when none did): the swarm's seeders or leechers.
fn swarm(t: &TorrentView, count: impl Fn(&TrackerView) -> Option<u32>) -> u32 {
    t.trackers.iter().filter_map(count).max().unwrap_or(0)
}

/// `torrents/properties`.
pub(super) fn properties(t: &TorrentView, ctx: &Context) -> Value {
    let now = unix_now();
    json!({
        "addition_date": t.added_date,
        "comment": t.comment,
        "completion_date": if t.done_date > 0 { t.done_date as i64 } else { -1 },
        "created_by": t.creator,
        "creation_date": if t.date_created > 0 { t.date_created as i64 } else { -1 },
        "dl_limit": limit(t.options.download_limit),
        "dl_speed": t.rate_download,
        "dl_speed_avg": t.downloaded_ever.checked_div(t.seconds_downloading).unwrap_or(0),
        "download_path": "",
        "eta": eta(t, ctx.limits(t), now),
        "has_metadata": t.metadata_done >= 1.0,
        "hash": t.hash.to_hex(),
        "infohash_v1": infohash_v1(t),
        "infohash_v2": infohash_v2(t),
        "is_private": t.is_private,
        "last_seen": if t.done_date > 0 { t.done_date as i64 } else { -1 },
        "name": t.name,
        "nb_connections": t.peers_connected,
        "nb_connections_limit": t.options.peer_limit,
        "peers": t.peers_connected.saturating_sub(t.seeds_connected),
        "peers_total": swarm(t, |tr| tr.leechers),
        "piece_size": t.piece_size,
        "pieces_have": t.pieces.iter().map(|b| b.count_ones()).sum::<u32>(),
        "pieces_num": t.piece_count,
        "popularity": 0,
        "reannounce": t.trackers.iter().map(|tr| tr.next_announce).min().unwrap_or(0).saturating_sub(now),
        "save_path": save_path(t),
        "seeding_time": t.seconds_seeding,
        "seeds": t.seeds_connected,
        "seeds_total": swarm(t, |tr| tr.seeders),
        "share_ratio": ratio(t),
        "time_elapsed": t.seconds_downloading + t.seconds_seeding,
        "total_downloaded": t.downloaded_ever,
        "total_downloaded_session": t.downloaded_session,
        "total_size": t.total_size,
        "total_uploaded": t.uploaded_ever,
        "total_uploaded_session": t.uploaded_session,
        "total_wasted": t.corrupt_ever,
        "up_limit": limit(t.options.upload_limit),
        "up_speed": t.rate_upload,
        "up_speed_avg": t.uploaded_ever.checked_div(t.seconds_seeding + t.seconds_downloading).unwrap_or(0),
    })
}

/// A file priority in qBittorrent's numbers: 0 skip, 1 normal, 6 high, 7 maximal.
pub(super) fn file_priority(f: &FileView) -> u8 {
    use crate::daemon::backend::Priority;
    match (f.wanted, f.priority) {
        (false, _) => 0,
        (true, Priority::Low | Priority::Normal) => 1,
        (true, Priority::High) => 6,
    }
}

/// `torrents/files`.
pub(super) fn files(t: &TorrentView) -> Value {
    let files: Vec<Value> = t
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            json!({
                "index": i,
                "name": f.name,
                "size": f.length,
                "progress": if f.length == 0 { 1.0 } else { f.bytes_completed as f64 / f.length as f64 },
                "priority": file_priority(f),
                "is_seed": f.bytes_completed == f.length,
                "piece_range": [f.begin_piece, f.end_piece.saturating_sub(1)],
                "availability": file_availability(t, f),
            })
        })
        .collect();
    Value::Array(files)
}

/// `torrents/pieceStates`: 0 not downloaded, 2 downloaded, per piece.
pub(super) fn piece_states(t: &TorrentView) -> Value {
    let states: Vec<u8> = (0..t.piece_count)
        .map(|i| {
            let byte = t.pieces.get((i / 8) as usize).copied().unwrap_or(0);
            if byte & (0x80 >> (i % 8)) != 0 { 2 } else { 0 }
        })
        .collect();
    json!(states)
}

/// `torrents/trackers`: the DHT, PEX and LSD rows first, as qBittorrent lists them.
pub(super) fn trackers(t: &TorrentView) -> Value {
    let mut rows = Vec::new();
    for url in ["** [DHT] **", "** [PeX] **", "** [LSD] **"] {
        rows.push(json!({
            "url": url, "status": 2, "tier": -1, "num_peers": 0, "num_seeds": 0,
            "num_leeches": 0, "num_downloaded": -1, "msg": "",
        }));
    }
    for tr in &t.trackers {
        // 0 disabled, 1 not contacted, 2 working, 3 updating, 4 not working.
        let status = if tr.last_announce == 0 {
            1
        } else if tr.last_announce_ok {
            2
        } else {
            4
        };
        rows.push(json!({
            "url": tr.announce,
            "status": status,
            "tier": tr.tier,
            "num_peers": tr.last_peer_count,
            "num_seeds": tr.seeders.map_or(-1, i64::from),
            "num_leeches": tr.leechers.map_or(-1, i64::from),
            "num_downloaded": tr.downloads.map_or(-1, i64::from),
            "msg": if tr.last_announce_ok { String::new() } else { tr.last_result.clone() },
        }));
    }
    Value::Array(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::fake::view;

    #[test]
    fn the_ratio_is_qbittorrents_real_ratio() {
        let mut t = view(1, "a");
        (t.uploaded_ever, t.downloaded_ever, t.have_valid) = (500, 1000, 1000);
        assert_eq!(ratio(&t), 0.5);
        // A seeder that lost its totals: the bytes had stand for the downloaded ones.
        (t.uploaded_ever, t.downloaded_ever, t.have_valid) = (3000, 5, 1000);
        assert_eq!(ratio(&t), 3.0);
        (t.uploaded_ever, t.downloaded_ever, t.have_valid) = (3000, 10, 1000);
        assert_eq!(ratio(&t), 300.0, "1 % downloaded counts as downloaded");
        (t.uploaded_ever, t.downloaded_ever, t.have_valid) = (7, 0, 0);
        assert_eq!(ratio(&t), MAX_RATIO);
        (t.uploaded_ever, t.downloaded_ever, t.have_valid) = (0, 0, 0);
        assert_eq!(ratio(&t), 0.0);
        (t.uploaded_ever, t.downloaded_ever, t.have_valid) = (u64::MAX / 2, 1, 0);
        assert_eq!(ratio(&t), MAX_RATIO, "capped");
    }

    #[test]
    fn missing_files_comes_from_the_typed_error_not_its_text() {
        let mut t = view(1, "a");
        let error = |message: &str, missing_files| {
            Some(crate::daemon::backend::TorrentError {
                kind: ErrorKind::Local,
                message: message.into(),
                missing_files,
            })
        };
        t.error = error("reading /dl/a/x: gone", true);
        assert_eq!(state(&t), "missingFiles");
        assert!(filter_matches("errored", &t));
        t.error = error("reading /dl/a/x: missing permission (No such file)", false);
        assert_eq!(state(&t), "error");
        t.error = None;
        assert_ne!(state(&t), "error");
    }

    fn seeding() -> TorrentView {
        let mut t = view(1, "a");
        t.status = Status::Seeding;
        t.left_until_done = 0;
        (t.size_when_done, t.downloaded_ever, t.uploaded_ever) = (1000, 1000, 500);
        t.rate_upload = 10;
        t.seconds_seeding = 600;
        (t.start_date, t.activity_date) = (1_000, 9_000);
        t
    }

    const NONE: ShareLimits = ShareLimits {
        ratio: -1.0,
        seeding_minutes: -1,
        inactive_minutes: -1,
    };

    #[test]
    fn a_seeding_eta_is_the_soonest_share_limit_as_qbittorrent_computes_it() {
        let t = seeding();
        let now = 10_000;
        assert_eq!(eta(&t, NONE, now), ETA_UNKNOWN, "no limit");
        let ratio_two = ShareLimits { ratio: 2.0, ..NONE };
        assert_eq!(eta(&t, ratio_two, now), 150, "1500 bytes to go at 10 B/s");
        let mut idle = t.clone();
        idle.rate_upload = 0;
        assert_eq!(eta(&idle, ratio_two, now), ETA_UNKNOWN, "no upload rate");
        let reached = ShareLimits {
            ratio: 0.25,
            ..NONE
        };
        assert_eq!(eta(&t, reached, now), 0);
        let time = ShareLimits {
            seeding_minutes: 12,
            ..ratio_two
        };
        assert_eq!(eta(&t, time, now), 120, "12 minutes less 600 s seeded");
        let inactive = ShareLimits {
            inactive_minutes: 20,
            ..time
        };
        assert_eq!(eta(&t, inactive, now), 120);
        let inactive = ShareLimits {
            inactive_minutes: 17,
            ..NONE
        };
        assert_eq!(eta(&t, inactive, now), 20, "17 minutes less 1000 s idle");
        let mut stopped = t.clone();
        stopped.status = Status::Stopped;
        assert_eq!(eta(&stopped, time, now), ETA_UNKNOWN);
        let mut downloading = view(1, "a");
        downloading.eta = Some(42);
        assert_eq!(eta(&downloading, time, now), 42);
    }

    #[test]
    fn info_reports_the_seeding_eta_of_the_limits_that_apply() {
        let mut t = seeding();
        t.activity_date = unix_now();
        let mut s = Settings::new("/dl".into(), 1, "/s".into());
        (s.seed_ratio_limited, s.seed_ratio_limit) = (true, 2.0);
        let ctx = Context::new(std::slice::from_ref(&t), &s);
        assert_eq!(info(&t, &ctx)["eta"], 150);
        assert_eq!(properties(&t, &ctx)["eta"], 150);
        t.options.seed_ratio_mode = LimitMode::Unlimited;
        assert_eq!(info(&t, &ctx)["eta"], ETA_UNKNOWN);
        t.options.seed_ratio_mode = LimitMode::Single;
        t.options.seed_ratio_limit = 1.0;
        assert_eq!(info(&t, &ctx)["eta"], 50);
    }
}
