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

use super::backend::{Groups, Settings};
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
    /// Its files wait for a choice.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) choose_files: bool,
    /// It stops as its metadata arrives (qBittorrent's stop condition).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) stop_on_metadata: bool,
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
    /// The disk error it showed, if any (see [`SavedError`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<SavedError>,
    /// Its last statistics showed every wanted byte here: a restart adds it released,
    /// reading its resume data only when it loads (see `client_restore`). Missing (a list
    /// saved before this field): restored as any other.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) complete: bool,
}

/// A disk error a torrent showed, kept across restarts as Transmission keeps a torrent's
/// local error: one that stopped it (it stays stopped until started) or data gone missing
/// (it runs on, fetching what is gone, and shows it until it is complete).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SavedError {
    /// The message shown.
    pub(crate) message: String,
    /// The data went missing (qBittorrent's `missingFiles`), rather than the disk failing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) missing_files: bool,
}

/// What of a torrent changes while it runs: files wanted and their priorities (indices
/// among its files, padding left out), its limits, its trackers and web seeds once edited.
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
    /// Its web seeds once edited at run time (`None`: the metainfo's or magnet's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) web_seeds: Option<Vec<String>>,
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

/// The buffer a file is written through (under glibc's least `mmap` threshold, 128 KiB).
const WRITE_BUFFER: usize = 64 * 1024;

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
        let mut torrents = Vec::new();
        self.load_each(|t| torrents.push(t))?;
        Ok(torrents)
    }

    /// Reads the saved list from its file a torrent at a time, handing each to `each` in
    /// order, so that no copy of the whole list (nor of its file) is held: at 10,000 torrents
    /// the list as one `Vec<Saved>` was a 7.2 MB block, and freeing a block that large raises
    /// glibc's trim threshold for good (`bench/README.md`, session 24). No file: nothing is
    /// handed; an unreadable list (or another format version) is an error, possibly after
    /// some torrents were handed (read it once to check it first, as the restore does).
    pub(crate) fn load_each(&self, each: impl FnMut(Saved)) -> io::Result<()> {
        let file = match std::fs::File::open(self.list_path()) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let bad = |e: serde_json::Error| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", self.list_path().display()),
            )
        };
        let mut reader = serde_json::Deserializer::from_reader(io::BufReader::new(file));
        let version = serde::de::DeserializeSeed::deserialize(stream::ListSeed(each), &mut reader)
            .map_err(bad)?;
        reader.end().map_err(bad)?;
        if version != VERSION {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: format version {version} is not {VERSION}",
                    self.list_path().display(),
                ),
            ));
        }
        Ok(())
    }

    /// Replaces the saved list.
    pub(crate) fn save(&self, torrents: &[Saved]) -> io::Result<()> {
        self.save_each(torrents, Saved::clone)
    }

    /// Replaces the saved list with one [`Saved`] per item of `items`, made by `saved` as it
    /// is written: neither a copy of the list nor its whole JSON is held (each was a block of
    /// megabytes at 10,000 torrents, allocated and freed at every save).
    pub(crate) fn save_each<T>(&self, items: &[T], saved: impl Fn(&T) -> Saved) -> io::Result<()> {
        let list = stream::ListOf {
            version: VERSION,
            torrents: stream::Each { items, saved },
        };
        self.write_atomic_with(&self.list_path(), |w| {
            serde_json::to_writer_pretty(w, &list).map_err(io::Error::other)
        })
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

    /// The session settings saved over `base` (the command line's): the saved fields replace
    /// `base`'s, those the file lacks keep their defaults, and the fields never saved (the
    /// directories, the port) stay `base`'s. No file: `base` as it is; an unreadable file is
    /// an error.
    pub(crate) fn load_settings(&self, base: &Settings) -> io::Result<Settings> {
        let path = self.settings_path();
        let bad = |e: serde_json::Error| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        };
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(base.clone()),
            Err(e) => return Err(e),
        };
        let value = serde_json::from_slice(&bytes).map_err(bad)?;
        let saved: Settings = serde_json::from_value(lift_legacy(value)).map_err(bad)?;
        let mut settings = Settings {
            download_dir: base.download_dir.clone(),
            peer_port: base.peer_port,
            start_added_torrents: base.start_added_torrents,
            state_dir: base.state_dir.clone(),
            // What the command line decides is not saved.
            utp_enabled: base.utp_enabled,
            tcp_enabled: base.tcp_enabled,
            ..saved
        };
        settings.clamp();
        Ok(settings)
    }

    /// Saves the session settings.
    pub(crate) fn save_settings(&self, settings: &Settings) -> io::Result<()> {
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

    /// Where the .torrent of `hash` (lowercase hex) is kept.
    pub(crate) fn metainfo_path(&self, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}.torrent"))
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.write_atomic_with(path, |w| w.write_all(bytes))
    }

    /// Rewrites `path` atomically with what `write` writes (through a buffer of its own).
    fn write_atomic_with(
        &self,
        path: &Path,
        write: impl FnOnce(&mut io::BufWriter<std::fs::File>) -> io::Result<()>,
    ) -> io::Result<()> {
        let tmp = path.with_extension("tmp");
        {
            let mut file = io::BufWriter::with_capacity(WRITE_BUFFER, std::fs::File::create(&tmp)?);
            write(&mut file)?;
            let file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&self.dir)?.sync_all()
    }
}

/// The settings file as earlier versions wrote it, read as today's: the queue settings sat in
/// an object of their own (`queue`), and a setting never changed was `null`.
fn lift_legacy(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let Value::Object(mut fields) = value else {
        return value;
    };
    if let Some(Value::Object(queue)) = fields.remove("queue") {
        for (key, v) in queue {
            fields.entry(key).or_insert(v);
        }
    }
    fields.retain(|_, v| !v.is_null());
    Value::Object(fields)
}

#[path = "store_stream.rs"]
mod stream;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::backend::{AltSpeed, SpeedLimit};

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
            choose_files: true,
            stop_on_metadata: true,
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
                web_seeds: Some(vec!["http://mirror.example/pub/".into()]),
            },
            totals: TorrentTotals {
                uploaded: 5,
                done_date: 9,
                ..TorrentTotals::default()
            },
            queue_position: Some(3),
            forced: true,
            finished: Some(Reached::Ratio),
            error: Some(SavedError {
                message: "writing /dl/a: No space left on device".into(),
                missing_files: false,
            }),
            complete: true,
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
        let base = Settings::new("/dl".into(), 6881, "/state".into());
        assert_eq!(store.load_settings(&base).unwrap(), base);
        let mut settings = base.clone();
        settings.download_limit = SpeedLimit {
            bytes_per_sec: 5000,
            enabled: true,
        };
        settings.dht_enabled = false;
        settings.alt_speed = AltSpeed {
            down: 1000,
            up: 2000,
            enabled: true,
            time_enabled: true,
            time_begin: 60,
            time_end: 120,
            time_day: 2,
        };
        settings.download_queue_enabled = true;
        settings.download_queue_size = 1;
        settings.max_active_torrents = Some(4);
        settings.seeding_time_limit_enabled = true;
        store.save_settings(&settings).unwrap();
        let elsewhere = Settings {
            tcp_enabled: false,
            ..Settings::new("/other".into(), 1, "/s2".into())
        };
        assert_eq!(
            store.load_settings(&elsewhere).unwrap(),
            Settings {
                download_dir: "/other".into(),
                peer_port: 1,
                state_dir: "/s2".into(),
                tcp_enabled: false,
                ..settings
            },
            "the saved settings, over the command line's directories, port and transports"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn settings_files_of_earlier_versions_load() {
        let dir = std::env::temp_dir().join(format!("st-store-old-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(dir.clone()).unwrap();
        let base = Settings::new("/dl".into(), 6881, "/state".into());
        // Before the queue and the seeding limits: no `queue`, some settings never changed.
        std::fs::write(
            dir.join("settings.json"),
            br#"{"download_limit": [5000, true], "upload_limit": null,
                "peer_limit_global": 80, "dht_enabled": false, "pex_enabled": null,
                "alt_speed": {"down": 1000, "up": 2000, "enabled": true,
                              "time_enabled": true, "time_begin": 60, "time_end": 2000,
                              "time_day": 255}}"#,
        )
        .unwrap();
        let loaded = store.load_settings(&base).unwrap();
        let mut expected = base.clone();
        expected.download_limit = SpeedLimit {
            bytes_per_sec: 5000,
            enabled: true,
        };
        expected.peer_limit_global = 80;
        expected.dht_enabled = false;
        expected.alt_speed = AltSpeed {
            down: 1000,
            up: 2000,
            enabled: true,
            time_enabled: true,
            time_begin: 60,
            time_end: 1439,
            time_day: 127,
        };
        assert_eq!(loaded, expected);
        // The queue in an object of its own, from before `max_active_torrents` and the
        // seeding time limit; an alternative-speed object missing fields.
        std::fs::write(
            dir.join("settings.json"),
            br#"{"alt_speed": {"down": 7, "enabled": true},
                "queue": {"download_queue_enabled": true, "download_queue_size": 1,
                          "seed_queue_enabled": false, "seed_queue_size": 3,
                          "queue_stalled_enabled": false, "queue_stalled_minutes": 9,
                          "seed_ratio_limit": 0.5, "seed_ratio_limited": true,
                          "idle_seeding_limit": 12, "idle_seeding_limit_enabled": true}}"#,
        )
        .unwrap();
        let loaded = store.load_settings(&base).unwrap();
        let expected = Settings {
            alt_speed: AltSpeed {
                down: 7,
                enabled: true,
                ..AltSpeed::default()
            },
            download_queue_enabled: true,
            download_queue_size: 1,
            seed_queue_size: 3,
            queue_stalled_enabled: false,
            queue_stalled_minutes: 9,
            seed_ratio_limit: 0.5,
            seed_ratio_limited: true,
            idle_seeding_limit: 12,
            idle_seeding_limit_enabled: true,
            ..base.clone()
        };
        assert_eq!(loaded, expected);
        std::fs::write(dir.join("settings.json"), br#"{"download_limit": "fast"}"#).unwrap();
        assert!(
            store.load_settings(&base).is_err(),
            "a damaged file is an error"
        );
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
