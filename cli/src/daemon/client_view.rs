//! A torrent's [`TorrentView`] from the daemon's entry and the client's snapshot of it (its
//! statistics, pieces, per-file bytes, peers, trackers and error), with the totals of every
//! run; `Instant`s become Unix seconds.

use std::time::Instant;

use sanstorrent_core::magnet::MagnetLink;
use sanstorrent_core::metainfo::{Metainfo, RelativePath};
use sanstorrent_core::session::{
    AnnounceResult, PeerInfo, PeerSource, ScrapeStatus, SnapshotDetail, TorrentError as CoreError,
    TorrentErrorKind, TorrentPhase, TorrentSnapshot, TrackerStatus,
};
use sanstorrent_core::webseed::WebSeedProtocol;

use super::Entry;
use super::live::FileState;
use super::magnet::{Shown, display_magnet};
use super::metas::Summary;
use crate::daemon::backend::*;
use crate::daemon::rpc::unix_now;

/// What the client must build for `detail` (trackers always: front ends list them cheaply).
pub(super) fn snapshot_detail(detail: Detail) -> SnapshotDetail {
    SnapshotDetail {
        pieces: detail.pieces,
        files: detail.files,
        peers: detail.peers,
        trackers: true,
        availability: detail.availability,
    }
}

/// Unix seconds of `at`, given that `now` is `unix`.
fn unix_of(at: Instant, now: Instant, unix: u64) -> u64 {
    match at.checked_duration_since(now) {
        Some(ahead) => unix.saturating_add(ahead.as_secs()),
        None => unix.saturating_sub(now.saturating_duration_since(at).as_secs()),
    }
}

/// The view of `entry`; `snap`: the client's snapshot taken at `now` (`None`: the client
/// no longer has the torrent, or is stopping); `full`: its whole metainfo if read for this
/// view (see [`needs_metainfo`]).
pub(super) fn view(
    entry: &Entry,
    snap: Option<&TorrentSnapshot>,
    full: Option<&Metainfo>,
    detail: Detail,
    now: Instant,
) -> TorrentView {
    let unix = unix_now();
    let stats = snap.map(|s| &s.stats);
    let (status, total, wanted, have, rate_down, rate_up, peers, checked, pieces) = match stats {
        Some(s) => (
            match s.phase {
                TorrentPhase::Checking => Status::Checking,
                TorrentPhase::FetchingMetadata | TorrentPhase::Downloading => Status::Downloading,
                TorrentPhase::Seeding => Status::Seeding,
                _ => Status::Stopped,
            },
            s.total_bytes,
            s.wanted_bytes,
            (s.have_bytes, s.wanted_have_bytes),
            s.download_rate,
            s.upload_rate,
            u32::try_from(s.peers_connected).unwrap_or(u32::MAX),
            (s.pieces_checked, s.piece_count),
            s.piece_count,
        ),
        None => (Status::Stopped, 0, 0, (0, 0), 0, 0, 0, (0, 0), 0),
    };
    let (have, wanted_have) = have;
    let left = wanted.saturating_sub(wanted_have);
    let status = match (entry.stopped, entry.running) {
        (true, _) => Status::Stopped,
        (false, false) if total > 0 && left == 0 => Status::SeedWait,
        (false, false) => Status::DownloadWait,
        (false, true) => status,
    };
    // The whole metainfo: the client's, else one read for this view (files, piece hashes);
    // what the lists show comes from the entry's summary.
    let meta = snap.and_then(|s| s.metainfo.as_deref()).or(full);
    let made;
    let summary = match (entry.meta.as_ref(), meta) {
        (Some(s), _) => Some(s),
        (None, Some(m)) => {
            made = Summary::of(m);
            Some(&made)
        }
        (None, None) => None,
    };
    let name = meta.map_or(&*entry.name, Metainfo::name);
    let file_bytes = snap.map_or(&[][..], |s| s.file_bytes.as_slice());
    let files = match (meta, summary) {
        (Some(m), _) => files(m, entry.paths(), file_bytes, &entry.files),
        (None, Some(s)) if s.single => vec![one_file(entry, s, file_bytes)],
        _ => Vec::new(),
    };
    let trackers = snap.map_or_else(Vec::new, |s| {
        let in_use = s.trackers.iter().any(|t| t.in_use);
        s.trackers
            .iter()
            .map(|t| tracker_view(t, in_use, now, unix))
            .collect()
    });
    let magnet_link = match summary {
        _ if !detail.magnet => String::new(),
        Some(sum) => {
            let (announce, seeds): (Vec<&str>, Vec<&str>) = match (snap, meta) {
                (Some(s), _) => (
                    trackers.iter().map(|t| t.announce.as_str()).collect(),
                    (s.web_seeds.iter())
                        .filter(|w| w.protocol == WebSeedProtocol::UrlList)
                        .map(|w| w.url.as_str())
                        .collect(),
                ),
                (None, Some(m)) => (
                    m.trackers().iter().flatten().map(String::as_str).collect(),
                    m.url_list().iter().map(String::as_str).collect(),
                ),
                (None, None) => (Vec::new(), Vec::new()),
            };
            display_magnet(&Shown {
                hashes: sum.hashes(),
                name,
                trackers: &announce,
                web_seeds: &seeds,
            })
        }
        // No metadata yet: the link the torrent was added by.
        None => entry.magnet_link().to_owned(),
    };
    // Bytes counted this run since the daemon last read the client's statistics.
    let (up_unseen, down_unseen) = stats.map_or((0, 0), |s| entry.seen.unseen(s));
    let totals = entry.totals;
    let u32_of = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    TorrentView {
        id: entry.id,
        hash: Hash(entry.handle.info_hash.0),
        hash_v2: summary.and_then(|s| s.hashes().v2).map(|h| h.0),
        has_v1: match summary {
            Some(s) => s.hashes().v1.is_some(),
            None => MagnetLink::parse(entry.magnet_link()).map_or(true, |l| l.has_v1),
        },
        name: if entry.options.name.is_empty() {
            name.to_owned()
        } else {
            entry.options.name.clone()
        },
        status,
        moving: entry.moving,
        error: (entry.rare().move_error)
            .as_ref()
            .map(|message| TorrentError {
                kind: ErrorKind::Local,
                message: message.clone(),
                missing_files: false,
            })
            .or_else(|| {
                // The client's disk error, else the one kept (from before a restart), else
                // the client's tracker error.
                let client = snap.and_then(|s| s.error.as_ref()).map(error_view);
                match client {
                    Some(e) if e.kind == ErrorKind::Local => Some(e),
                    client => super::faults::kept_error(entry).or(client),
                }
            }),
        download_dir: entry.dir.to_path_buf(),
        total_size: total,
        size_when_done: wanted,
        left_until_done: left,
        have_valid: have,
        have_unchecked: 0,
        desired_available: snap.map_or(0, |s| s.desired_available),
        downloaded_ever: totals.downloaded.saturating_add(down_unseen),
        uploaded_ever: totals.uploaded.saturating_add(up_unseen),
        corrupt_ever: snap.map_or(0, |s| s.corrupt_bytes),
        metadata_done: if total > 0 { 1.0 } else { 0.0 },
        recheck_progress: if checked.1 > 0 {
            f64::from(checked.0) / f64::from(checked.1)
        } else {
            0.0
        },
        piece_count: pieces,
        piece_size: summary.map_or(0, |s| u64::from(s.piece_length)),
        pieces: snap
            .and_then(|s| s.pieces.as_ref())
            .map_or_else(Vec::new, |p| p.to_bitfield()),
        piece_hashes: meta
            .filter(|_| detail.piece_hashes)
            .map_or_else(Vec::new, |m| m.piece_hashes().to_vec()),
        availability: snap.map_or_else(Vec::new, |s| s.availability.clone()),
        rate_download: rate_down,
        rate_upload: rate_up,
        peers_connected: peers,
        peers_sending_to_us: snap.map_or(0, |s| u32_of(s.peers_sending_to_us)),
        peers_getting_from_us: snap.map_or(0, |s| u32_of(s.peers_getting_from_us)),
        seeds_connected: stats.map_or(0, |s| u32_of(s.seeds_connected)),
        downloaded_session: stats.map_or(0, |s| s.downloaded),
        uploaded_session: stats.map_or(0, |s| s.uploaded),
        torrent_file: String::new(),
        is_stalled: false,
        eta: (status == Status::Downloading && rate_down > 0).then(|| left / rate_down),
        added_date: entry.added,
        done_date: totals.done_date,
        activity_date: if rate_down + rate_up > 0 {
            unix
        } else {
            totals.activity_date
        },
        start_date: entry.started_at,
        date_created: summary
            .and_then(Summary::created)
            .and_then(|d| u64::try_from(d).ok())
            .unwrap_or(0),
        comment: summary.and_then(Summary::comment).unwrap_or("").to_owned(),
        creator: summary.and_then(Summary::creator).unwrap_or("").to_owned(),
        is_private: summary.is_some_and(|s| s.private),
        magnet_link,
        queue_position: entry.position,
        forced: entry.forced,
        is_finished: entry.stopped && entry.finished.is_some(),
        seconds_downloading: totals.seconds_downloading,
        seconds_seeding: totals.seconds_seeding,
        options: TorrentOptions::clone(&entry.options),
        files,
        trackers,
        peers: snap.map_or_else(Vec::new, |s| {
            s.peers.iter().map(|p| peer_view(p, pieces)).collect()
        }),
        web_seeds: snap.map_or_else(Vec::new, |s| {
            s.web_seeds
                .iter()
                .map(|w| WebSeedView {
                    url: w.url.clone(),
                    download_rate: w.download_rate,
                    downloading: w.active && w.dropped.is_none(),
                })
                .collect()
        }),
    }
}

/// Whether viewing `entry` with `detail` needs its whole metainfo read (the client's snapshot
/// `snap` has none): its files asked for (a single file named as the torrent is known
/// without), renamed files (qBittorrent's `content_path` may follow them), its piece hashes,
/// or, with no snapshot, its magnet link (which then names the metainfo's trackers).
pub(super) fn needs_metainfo(
    entry: &Entry,
    snap: Option<&TorrentSnapshot>,
    detail: Detail,
) -> bool {
    let Some(summary) = entry.meta.as_ref() else {
        return false;
    };
    let parts = detail.piece_hashes || entry.paths().is_some() || (detail.files && !summary.single);
    match snap {
        Some(s) if s.metainfo.is_some() => false,
        Some(_) => parts,
        None => parts || detail.magnet,
    }
}

/// The one file of a single-file torrent named as the torrent (`summary.single`), as
/// [`files`] would list it.
fn one_file(entry: &Entry, summary: &Summary, file_bytes: &[u64]) -> FileView {
    let state = entry.files.first();
    FileView {
        name: match entry.paths().and_then(|p| p.first()) {
            Some(path) => path.components().join("/"),
            None => entry.name.to_string(),
        },
        length: summary.total_length,
        bytes_completed: file_bytes.first().copied().unwrap_or(0),
        wanted: state.is_none_or(|s| s.wanted),
        priority: state.map_or(Priority::Normal, |s| s.priority),
        begin_piece: 0,
        end_piece: summary.piece_count(),
    }
}

/// What a front end shows of the client's error: its kind (Transmission's numbers), its
/// text, and whether the data is missing (a disk error of that kind, not a broken disk).
fn error_view(e: &CoreError) -> TorrentError {
    TorrentError {
        kind: match e.kind() {
            TorrentErrorKind::TrackerWarning => ErrorKind::TrackerWarning,
            TorrentErrorKind::TrackerError => ErrorKind::TrackerError,
            _ => ErrorKind::Local,
        },
        message: e.to_string(),
        missing_files: match e {
            CoreError::Disk(d) => d.is_missing_data(),
            CoreError::DataMissing { .. } => true,
            _ => false,
        },
    }
}

/// The files (padding left out) with their verified bytes (`file_bytes` in the metainfo's
/// order, padding included; empty when not asked for), named by `paths` (the client's, after
/// renames; padding included) or else the metainfo.
fn files(
    meta: &Metainfo,
    paths: Option<&[RelativePath]>,
    file_bytes: &[u64],
    states: &[FileState],
) -> Vec<FileView> {
    let piece = u64::from(meta.piece_length().max(1));
    let mut offset = 0u64;
    let mut states = states.iter();
    meta.files()
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let begin = offset / piece;
            offset += f.length;
            (!f.padding).then(|| {
                let state = states.next();
                let path = paths.and_then(|p| p.get(i)).unwrap_or(&f.path);
                FileView {
                    name: path.components().join("/"),
                    length: f.length,
                    bytes_completed: file_bytes.get(i).copied().unwrap_or(0),
                    wanted: state.is_none_or(|s| s.wanted),
                    priority: state.map_or(Priority::Normal, |s| s.priority),
                    begin_piece: u32::try_from(begin).unwrap_or(u32::MAX),
                    end_piece: u32::try_from(offset.div_ceil(piece)).unwrap_or(u32::MAX),
                }
            })
        })
        .collect()
}

/// A tracker's view; `in_use`: some tracker of the torrent is the one in use.
fn tracker_view(t: &TrackerStatus, in_use: bool, now: Instant, unix: u64) -> TrackerView {
    let (ok, result) = match &t.last_result {
        Some(AnnounceResult::Ok { peers, warning }) => (
            true,
            match warning {
                Some(w) => format!("Success (warning: {w})"),
                None => format!("Success ({peers} peers)"),
            },
        ),
        Some(failed @ AnnounceResult::Failed(_)) => (false, failed.to_string()),
        None => (false, String::new()),
    };
    TrackerView {
        id: t.tracker.id,
        announce: t.tracker.url.clone(),
        tier: t.tracker.tier,
        seeders: t.swarm.map(|s| s.seeders),
        leechers: t.swarm.map(|s| s.leechers),
        last_announce: t.last_announce.map_or(0, |at| unix_of(at, now, unix)),
        last_announce_ok: ok,
        last_result: result,
        next_announce: t.next_announce.map_or(0, |at| unix_of(at, now, unix)),
        last_peer_count: match &t.last_result {
            Some(AnnounceResult::Ok { peers, .. }) => u32::try_from(*peers).unwrap_or(u32::MAX),
            _ => 0,
        },
        downloads: t.swarm.map(|s| s.downloaded),
        backup: if in_use {
            !t.in_use
        } else {
            t.tracker.tier > 0
        },
        scrape: t.scrape.as_ref().map(|s| scrape_view(s, now, unix)),
    }
}

/// How a tracker's scrapes went, in Unix seconds.
fn scrape_view(s: &ScrapeStatus, now: Instant, unix: u64) -> ScrapeView {
    let at = |i: Option<Instant>| i.map_or(0, |at| unix_of(at, now, unix));
    let (last_time, last_ok, last_result) = match &s.last_result {
        None => (0, false, String::new()),
        Some((at, Ok(c))) => (
            unix_of(*at, now, unix),
            true,
            format!("Success ({} seeders, {} leechers)", c.seeders, c.leechers),
        ),
        Some((at, Err(why))) => (unix_of(*at, now, unix), false, why.clone()),
    };
    ScrapeView {
        last_start: at(s.last_start),
        last_time,
        last_ok,
        last_result,
        downloaders: s.downloaders,
        active: s.active,
        next: at(s.next),
    }
}

fn peer_view(p: &PeerInfo, piece_count: u32) -> PeerView {
    PeerView {
        address: p.addr,
        client: p.client.clone(),
        progress: if piece_count > 0 {
            f64::from(p.pieces.min(piece_count)) / f64::from(piece_count)
        } else {
            0.0
        },
        rate_to_client: p.download_rate,
        rate_to_peer: p.upload_rate,
        downloaded: p.downloaded,
        uploaded: p.uploaded,
        incoming: p.incoming,
        utp: p.utp,
        from: match p.source {
            PeerSource::Tracker => PeerFrom::Tracker,
            PeerSource::Dht => PeerFrom::Dht,
            PeerSource::Pex => PeerFrom::Pex,
            PeerSource::Incoming => PeerFrom::Incoming,
            PeerSource::Lsd => PeerFrom::Lsd,
            PeerSource::Ltep => PeerFrom::Ltep,
            _ => PeerFrom::Given,
        },
        encrypted: p.encrypted,
        peer_choked: p.am_choking,
        peer_interested: p.peer_interested,
        client_choked: p.peer_choking,
        client_interested: p.am_interested,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A listed torrent with metainfo `meta` known by its summary only.
    fn entry(meta: &Metainfo) -> Entry {
        use sanstorrent_core::session::TorrentId;
        use sanstorrent_runtime_common::TorrentHandle;
        Entry {
            id: Id(1),
            handle: TorrentHandle {
                id: TorrentId(1),
                info_hash: meta.info_hash(),
            },
            name: meta.name().into(),
            dir: std::path::Path::new("/dl").into(),
            meta: Some(Summary::of(meta)),
            added: 7,
            stopped: true,
            running: false,
            position: 0,
            complete: false,
            forced: false,
            finished: None,
            started_at: 0,
            options: std::sync::Arc::default(),
            files: super::super::live::initial_files(meta).into(),
            totals: Default::default(),
            seen: Default::default(),
            moving: false,
            rare: None,
        }
    }

    fn torrent(info: &str, extra: &str) -> Metainfo {
        let bytes = format!(
            "d{extra}4:infod{info}12:piece lengthi16384e6:pieces60:{}ee",
            "x".repeat(60)
        );
        Metainfo::from_bytes(bytes.as_bytes()).unwrap()
    }

    #[test]
    fn a_summary_views_as_the_whole_metainfo_does() {
        let all = Detail {
            files: true,
            magnet: true,
            piece_hashes: false,
            ..Detail::default()
        };
        let now = Instant::now();
        let about = "7:comment2:hi10:created by3:me!13:creation datei1700000000e";
        // One file named as the torrent: everything, its file too, comes from the summary.
        let one = torrent("6:lengthi40000e4:name5:b.iso", about);
        let e = entry(&one);
        // Without a snapshot the magnet link names the metainfo's trackers: it is read.
        assert!(needs_metainfo(&e, None, all));
        // Unless the link is not asked for: it is not built, and the summary is enough.
        let lean = Detail {
            magnet: false,
            ..all
        };
        assert!(!needs_metainfo(&e, None, lean));
        assert!(view(&e, None, None, lean, now).magnet_link.is_empty());
        assert!(!view(&e, None, None, all, now).magnet_link.is_empty());
        let whole = view(&e, None, Some(&one), all, now);
        assert_eq!(whole.files.len(), 1);
        assert_eq!(whole.comment, "hi");
        assert_eq!(whole.piece_size, 16384);
        assert_eq!(view(&e, None, None, all, now), whole);
        // Several files: the summary lists none (the view reads the metainfo when they are
        // asked for), the rest is the same.
        let two = torrent(
            "5:filesld6:lengthi20000e4:pathl1:xeed6:lengthi20000e4:pathl1:yeee4:name1:a",
            "",
        );
        let e = entry(&two);
        let mut whole = view(&e, None, Some(&two), all, now);
        assert_eq!(whole.files.len(), 2);
        whole.files.clear();
        assert_eq!(view(&e, None, None, all, now), whole);
    }

    #[test]
    fn instants_become_unix_seconds_both_ways() {
        let now = Instant::now();
        let s = Duration::from_secs;
        assert_eq!(unix_of(now, now, 1000), 1000);
        assert_eq!(unix_of(now + s(30), now, 1000), 1030);
        assert_eq!(unix_of(now - s(40), now, 1000), 960);
    }

    #[test]
    fn only_a_disk_error_of_missing_data_is_missing_files() {
        use sanstorrent_core::session::TorrentError as Core;
        use sanstorrent_core::storage::{IoOp, StorageError};
        use std::io::{Error, ErrorKind as Io};
        use std::sync::Arc;
        let disk = |kind: Io, text: &str| {
            Core::Disk(Arc::new(StorageError::io(
                IoOp::Read,
                "/dl/t/a",
                Error::new(kind, text.to_owned()),
            )))
        };
        for kind in [Io::NotFound, Io::UnexpectedEof] {
            let e = error_view(&disk(kind, "gone"));
            assert!(e.missing_files, "{kind:?}");
            assert_eq!(e.kind, ErrorKind::Local);
        }
        // The text says "missing", but the disk is broken: an error, not missing files.
        let broken = error_view(&disk(Io::PermissionDenied, "missing permission"));
        assert!(!broken.missing_files);
        assert_eq!(broken.kind, ErrorKind::Local);
        let warning = error_view(&Core::TrackerWarning("No such file".into()));
        assert!(!warning.missing_files);
        assert_eq!(warning.kind, ErrorKind::TrackerWarning);
    }
}
