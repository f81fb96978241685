//! The torrent list in the state dir (`<state>/daemon/`): `torrents.json` names each torrent
//! with its options and totals, each .torrent's bytes sit beside it as `<info-hash>.torrent`
//! (a magnet's too, once its metadata is fetched), `stats.json` holds the session's
//! cumulative statistics, and `groups.json` qBittorrent's categories and tags.
//!
//! Every change rewrites the list atomically (write a temporary file, fsync, rename, fsync the
//! directory), and a .torrent is saved before the list names it, so a crash (even kill -9)
//! loses no torrent that an answer called added.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::backend::Groups;
use super::seed_limits::Reached;
use super::totals::{SessionTotals, TorrentTotals};

/// The list's format version.
const VERSION: u32 = 1;

/// One saved torrent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Saved {
    /// The info-hash, lowercase hex.
    pub(crate) hash: String,
    /// A magnet link, for a torrent added by one (otherwise `<hash>.torrent` holds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) magnet: Option<String>,
    /// Where its name goes.
    pub(crate) download_dir: PathBuf,
    /// Stopped by the user.
    #[serde(default)]
    pub(crate) paused: bool,
    /// Its labels.
    #[serde(default)]
    pub(crate) labels: Vec<String>,
    /// Its category (qBittorrent's).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) category: String,
    /// Sequential download.
    #[serde(default)]
    pub(crate) sequential: bool,
    /// Every wanted file's first and last piece first.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) first_last_pieces: bool,
    /// The name a front end gave it (empty: its own).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) name: String,
    /// When it was added (Unix seconds).
    #[serde(default)]
    pub(crate) added_date: u64,
    /// Files, limits and trackers changed from their defaults.
    #[serde(flatten, default)]
    pub(crate) live: SavedLive,
    /// Its totals over every run.
    #[serde(default)]
    pub(crate) totals: TorrentTotals,
    /// Its place in the queue (`None`: its place in the list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) queue_position: Option<u32>,
    /// Started ahead of the queue.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) forced: bool,
    /// The seeding limit that stopped it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) finished: Option<Reached>,
}

/// What of a torrent changes while it runs: files wanted and their priorities (indices
/// among its files, padding left out), its limits, its trackers once edited.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedLive {
    /// Files not downloaded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) unwanted: Vec<u32>,
    /// Files at high priority.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) high: Vec<u32>,
    /// Files at low priority.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) low: Vec<u32>,
    /// Its own limits (`None`: the defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) limits: Option<SavedLimits>,
    /// Its announce-list once edited (`None`: the metainfo's or magnet's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) trackers: Option<Vec<Vec<String>>>,
    /// Its seeding limits (`None`: the session's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) seed_limits: Option<SavedSeedLimits>,
}

/// A torrent's seeding limits: each a value and a mode (Transmission's numbers: 0 the
/// session's, 1 its own, 2 none).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedSeedLimits {
    /// Ratio.
    pub(crate) ratio: f64,
    /// Which ratio limit applies.
    pub(crate) ratio_mode: i64,
    /// Idle minutes.
    pub(crate) idle_minutes: u32,
    /// Which idle limit applies.
    pub(crate) idle_mode: i64,
    /// Seeding minutes.
    #[serde(default)]
    pub(crate) seeding_minutes: u32,
    /// Which seeding time limit applies.
    #[serde(default)]
    pub(crate) seeding_mode: i64,
}

/// A torrent's own limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SavedLimits {
    /// Download limit, bytes per second.
    pub(crate) download: u64,
    /// Whether it applies.
    pub(crate) download_limited: bool,
    /// Upload limit, bytes per second.
    pub(crate) upload: u64,
    /// Whether it applies.
    pub(crate) upload_limited: bool,
    /// Whether the session's limits apply too.
    pub(crate) honors_session_limits: bool,
    /// Most peers.
    pub(crate) peer_limit: u32,
}

/// Session settings changed at run time (`None`: the command line's or the default).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedSettings {
    /// Global download limit, bytes per second, and whether it applies.
    #[serde(default)]
    pub(crate) download_limit: Option<(u64, bool)>,
    /// Global upload limit, bytes per second, and whether it applies.
    #[serde(default)]
    pub(crate) upload_limit: Option<(u64, bool)>,
    /// Most peers overall.
    #[serde(default)]
    pub(crate) peer_limit_global: Option<u32>,
    /// Default most peers per torrent.
    #[serde(default)]
    pub(crate) peer_limit_per_torrent: Option<u32>,
    /// DHT on or off.
    #[serde(default)]
    pub(crate) dht_enabled: Option<bool>,
    /// PEX on or off.
    #[serde(default)]
    pub(crate) pex_enabled: Option<bool>,
    /// The alternative speed limits and their schedule.
    #[serde(default)]
    pub(crate) alt_speed: Option<SavedAltSpeed>,
    /// The queues and seeding limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) queue: Option<SavedQueue>,
}

/// The alternative speed limits as saved ([`AltSpeed`](super::backend::AltSpeed)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SavedAltSpeed {
    /// Download limit, bytes per second.
    pub(crate) down: u64,
    /// Upload limit, bytes per second.
    pub(crate) up: u64,
    /// In force.
    pub(crate) enabled: bool,
    /// The schedule on.
    pub(crate) time_enabled: bool,
    /// Minutes after local midnight the schedule turns them on.
    pub(crate) time_begin: u32,
    /// Minutes after local midnight it turns them off.
    pub(crate) time_end: u32,
    /// The schedule's days (bit 0 Sunday).
    pub(crate) time_day: u32,
}

/// The session's queue settings and default seeding limits, as changed at run time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(clippy::struct_excessive_bools)] // Each is a setting of its own.
pub(crate) struct SavedQueue {
    /// Whether the download queue applies.
    pub(crate) download_queue_enabled: bool,
    /// Most active downloads.
    pub(crate) download_queue_size: u32,
    /// Whether the seed queue applies.
    pub(crate) seed_queue_enabled: bool,
    /// Most active seeds.
    pub(crate) seed_queue_size: u32,
    /// Most active torrents (`None`: no limit).
    #[serde(default)]
    pub(crate) max_active_torrents: Option<u32>,
    /// Whether stalled torrents take no slot.
    pub(crate) queue_stalled_enabled: bool,
    /// Minutes until a torrent is stalled.
    pub(crate) queue_stalled_minutes: u32,
    /// Default ratio limit.
    pub(crate) seed_ratio_limit: f64,
    /// Whether it applies.
    pub(crate) seed_ratio_limited: bool,
    /// Default idle limit, minutes.
    pub(crate) idle_seeding_limit: u32,
    /// Whether it applies.
    pub(crate) idle_seeding_limit_enabled: bool,
    /// Default seeding time limit, minutes.
    pub(crate) seeding_time_limit: u32,
    /// Whether it applies.
    pub(crate) seeding_time_limit_enabled: bool,
}

#[derive(Serialize, Deserialize)]
struct List {
    version: u32,
    torrents: Vec<Saved>,
}

/// The file of the session's cumulative statistics.
const STATS: &str = "stats.json";
/// The file of the categories and tags.
const GROUPS: &str = "groups.json";

/// qBittorrent's categories (with save paths) and tags created but carried by no torrent.
#[derive(Serialize, Deserialize)]
struct SavedGroups {
    #[serde(default)]
    categories: BTreeMap<String, PathBuf>,
    #[serde(default)]
    tags: BTreeSet<String>,
}

/// The store in one directory.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store in `dir` (made if missing).
    pub(crate) fn open(dir: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    /// The saved torrents (none if the list is missing; an error if it is unreadable, so a
    /// damaged list is never overwritten silently).
    pub(crate) fn load(&self) -> io::Result<Vec<Saved>> {
        let bytes = match std::fs::read(self.list_path()) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let list: List = serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", self.list_path().display()),
            )
        })?;
        if list.version != VERSION {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: format version {} is not {VERSION}",
                    self.list_path().display(),
                    list.version
                ),
            ));
        }
        Ok(list.torrents)
    }

    /// Replaces the saved list.
    pub(crate) fn save(&self, torrents: &[Saved]) -> io::Result<()> {
        let list = List {
            version: VERSION,
            torrents: torrents.to_vec(),
        };
        let bytes = serde_json::to_vec_pretty(&list).map_err(io::Error::other)?;
        self.write_atomic(&self.list_path(), &bytes)
    }

    /// Saves a .torrent's bytes (before the list names it).
    pub(crate) fn save_metainfo(&self, hash: &str, bytes: &[u8]) -> io::Result<()> {
        self.write_atomic(&self.metainfo_path(hash), bytes)
    }

    /// A saved .torrent's bytes.
    pub(crate) fn metainfo(&self, hash: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.metainfo_path(hash))
    }

    /// Forgets a saved .torrent (after the list stopped naming it).
    pub(crate) fn remove_metainfo(&self, hash: &str) {
        let _ = std::fs::remove_file(self.metainfo_path(hash));
    }

    /// The session's cumulative statistics (zero if never saved; an error if unreadable).
    pub(crate) fn load_stats(&self) -> io::Result<SessionTotals> {
        Ok(self.load_json(STATS)?.unwrap_or_default())
    }

    /// The saved categories and tags (none if never saved).
    pub(crate) fn load_groups(&self) -> io::Result<Groups> {
        let saved: Option<SavedGroups> = self.load_json(GROUPS)?;
        Ok(saved.map_or_else(Groups::default, |g| Groups {
            categories: g.categories,
            tags: g.tags,
        }))
    }

    /// Replaces the saved categories and tags.
    pub(crate) fn save_groups(&self, groups: &Groups) -> io::Result<()> {
        self.save_json(
            GROUPS,
            &SavedGroups {
                categories: groups.categories.clone(),
                tags: groups.tags.clone(),
            },
        )
    }

    /// `name`'s value (`None` if the file is missing; an error if it is unreadable).
    fn load_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> io::Result<Option<T>> {
        let path = self.dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the session's cumulative statistics.
    pub(crate) fn save_stats(&self, totals: &SessionTotals) -> io::Result<()> {
        self.save_json(STATS, totals)
    }

    /// The session settings changed at run time (none saved: all `None`).
    pub(crate) fn load_settings(&self) -> io::Result<SavedSettings> {
        match std::fs::read(self.settings_path()) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", self.settings_path().display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(SavedSettings::default()),
            Err(e) => Err(e),
        }
    }

    /// Saves the session settings changed at run time.
    pub(crate) fn save_settings(&self, settings: &SavedSettings) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(settings).map_err(io::Error::other)?;
        self.write_atomic(&self.settings_path(), &bytes)
    }

    fn settings_path(&self) -> PathBuf {
        self.dir.join("settings.json")
    }

    /// Rewrites `name` atomically with `value`.
    fn save_json<T: Serialize>(&self, name: &str, value: &T) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
        self.write_atomic(&self.dir.join(name), &bytes)
    }

    /// Where the journals of moves under way are kept (see `moves.rs`).
    pub(crate) fn moves_dir(&self) -> PathBuf {
        self.dir.join("moves")
    }

    fn list_path(&self) -> PathBuf {
        self.dir.join("torrents.json")
    }

    fn metainfo_path(&self, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}.torrent"))
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let tmp = path.with_extension("tmp");
        {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&self.dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_round_trips_and_damage_is_reported() {
        let dir = std::env::temp_dir().join(format!("st-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(dir.clone()).unwrap();
        assert_eq!(store.load().unwrap(), Vec::new());
        let saved = vec![Saved {
            hash: "ab".repeat(20),
            magnet: None,
            download_dir: "/dl".into(),
            paused: true,
            labels: vec!["tv".into()],
            category: "shows".into(),
            sequential: true,
            first_last_pieces: true,
            name: "renamed".into(),
            added_date: 7,
            live: SavedLive {
                unwanted: vec![1],
                high: vec![0, 2],
                low: Vec::new(),
                limits: Some(SavedLimits {
                    download: 1000,
                    download_limited: true,
                    upload: 0,
                    upload_limited: false,
                    honors_session_limits: false,
                    peer_limit: 9,
                }),
                trackers: Some(vec![vec!["udp://t.example:80".into()]]),
                seed_limits: Some(SavedSeedLimits {
                    ratio: 0.5,
                    ratio_mode: 1,
                    idle_minutes: 30,
                    idle_mode: 2,
                    seeding_minutes: 0,
                    seeding_mode: 0,
                }),
            },
            totals: TorrentTotals {
                uploaded: 5,
                done_date: 9,
                ..TorrentTotals::default()
            },
            queue_position: Some(3),
            forced: true,
            finished: Some(Reached::Ratio),
        }];
        store.save_metainfo(&saved[0].hash, b"d4:infode").unwrap();
        store.save(&saved).unwrap();
        assert_eq!(Store::open(dir.clone()).unwrap().load().unwrap(), saved);
        assert_eq!(store.metainfo(&saved[0].hash).unwrap(), b"d4:infode");
        store.remove_metainfo(&saved[0].hash);
        assert!(store.metainfo(&saved[0].hash).is_err());
        std::fs::write(dir.join("torrents.json"), b"{").unwrap();
        assert!(store.load().is_err());
        assert_eq!(store.load_stats().unwrap(), SessionTotals::default());
        let stats = SessionTotals {
            downloaded: 3,
            session_count: 2,
            ..SessionTotals::default()
        };
        store.save_stats(&stats).unwrap();
        assert_eq!(store.load_stats().unwrap(), stats);
        assert_eq!(store.load_settings().unwrap(), SavedSettings::default());
        let settings = SavedSettings {
            download_limit: Some((5000, true)),
            dht_enabled: Some(false),
            alt_speed: Some(SavedAltSpeed {
                down: 1000,
                up: 2000,
                enabled: true,
                time_enabled: true,
                time_begin: 60,
                time_end: 120,
                time_day: 2,
            }),
            queue: Some(SavedQueue {
                download_queue_enabled: true,
                download_queue_size: 1,
                seed_queue_enabled: false,
                seed_queue_size: 10,
                max_active_torrents: Some(4),
                queue_stalled_enabled: true,
                queue_stalled_minutes: 30,
                seed_ratio_limit: 2.0,
                seed_ratio_limited: true,
                idle_seeding_limit: 30,
                idle_seeding_limit_enabled: false,
                seeding_time_limit: 60,
                seeding_time_limit_enabled: true,
            }),
            ..SavedSettings::default()
        };
        store.save_settings(&settings).unwrap();
        assert_eq!(store.load_settings().unwrap(), settings);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn groups_round_trip() {
        let dir = std::env::temp_dir().join(format!("st-store-groups-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(dir.clone()).unwrap();
        assert_eq!(store.load_groups().unwrap(), Groups::default());
        let mut groups = Groups::default();
        groups.categories.insert("tv".into(), "/dl/tv".into());
        groups.categories.insert("any".into(), PathBuf::new());
        groups.tags.insert("unused".into());
        store.save_groups(&groups).unwrap();
        assert_eq!(
            Store::open(dir.clone()).unwrap().load_groups().unwrap(),
            groups
        );
        std::fs::write(dir.join(GROUPS), b"[").unwrap();
        assert!(store.load_groups().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
