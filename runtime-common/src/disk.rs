//! [`DiskIo`]: the disk half of a runtime's loop. It takes the session's disk-related actions
//! (`OpenStorage`, `Disk`, `SaveResume`, `SaveDhtState`), keeps each torrent's storage and
//! download directory, and runs the work on a [`WorkerPool`].

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sanstorrent_core::id::InfoHash;
use sanstorrent_core::layout::Layout;
use sanstorrent_core::metainfo::RelativePath;
use sanstorrent_core::session::{Action, DiskJob, TorrentId};
use sanstorrent_core::storage::{IoOp, StorageError};

use crate::pool::{Done, Sink, WorkerPool};
use crate::storage::{FileStorage, FileStorageOptions, SharedStorage};

/// The name of the DHT state file in the state directory.
pub const DHT_STATE_FILE: &str = "dht.state";

/// Settings of a [`DiskIo`].
#[derive(Clone, Debug, Default)]
pub struct DiskConfig {
    /// Disk worker threads; 0 means one per available core.
    pub threads: usize,
    /// Where resume data (`<info-hash>.resume`) and the DHT state go; `None` keeps nothing.
    pub state_dir: Option<PathBuf>,
    /// How torrents' files are opened and created.
    pub storage: FileStorageOptions,
}

struct TorrentDisk {
    dir: PathBuf,
    info_hash: InfoHash,
    storage: Slot,
    /// Its files' paths (padding left out) once known: what a removal may delete.
    files: Vec<PathBuf>,
}

enum Slot {
    /// No `OpenStorage` yet (a magnet link still fetching metadata).
    Closed,
    Open(SharedStorage),
    /// Opening failed; retried by each job so the job reports the real error.
    Failed(Layout, Arc<[RelativePath]>),
}

/// Storage, disk jobs and state files for every torrent of one session.
pub struct DiskIo {
    pool: WorkerPool,
    sink: Sink,
    state_dir: Option<PathBuf>,
    storage: FileStorageOptions,
    torrents: HashMap<TorrentId, TorrentDisk>,
    pending: usize,
}

impl std::fmt::Debug for DiskIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskIo")
            .field("pool", &self.pool)
            .field("state_dir", &self.state_dir)
            .field("torrents", &self.torrents.len())
            .field("pending", &self.pending)
            .finish()
    }
}

impl DiskIo {
    /// Starts the worker pool (reporting to `sink`) and creates the state directory.
    pub fn new(config: DiskConfig, sink: Sink) -> io::Result<Self> {
        if let Some(dir) = &config.state_dir {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Self {
            pool: WorkerPool::new(config.threads, Arc::clone(&sink))?,
            sink,
            state_dir: config.state_dir,
            storage: config.storage,
            torrents: HashMap::new(),
            pending: 0,
        })
    }

    /// The number of disk worker threads.
    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// Saved resume data for `info_hash`, if the state directory has some.
    pub fn load_resume(&self, info_hash: InfoHash) -> Option<Vec<u8>> {
        std::fs::read(self.resume_path(info_hash)?).ok()
    }

    /// The saved DHT state, if any.
    pub fn load_dht_state(&self) -> Option<Vec<u8>> {
        std::fs::read(self.state_dir.as_ref()?.join(DHT_STATE_FILE)).ok()
    }

    fn resume_path(&self, info_hash: InfoHash) -> Option<PathBuf> {
        Some(
            self.state_dir
                .as_ref()?
                .join(format!("{}.resume", info_hash.to_hex())),
        )
    }

    /// Records a torrent the session accepted: its files go under `download_dir`.
    pub fn add_torrent(&mut self, torrent: TorrentId, info_hash: InfoHash, download_dir: PathBuf) {
        self.torrents.insert(
            torrent,
            TorrentDisk {
                dir: download_dir,
                info_hash,
                storage: Slot::Closed,
                files: Vec::new(),
            },
        );
    }

    /// Forgets a torrent (after it stopped). Jobs already queued finish on the old storage.
    pub fn remove_torrent(&mut self, torrent: TorrentId) {
        self.torrents.remove(&torrent);
    }

    /// Closes a stopped torrent's storage (its file handles close once queued jobs finish);
    /// its directory and files are remembered for a later `OpenStorage` or removal.
    pub fn close_storage(&mut self, torrent: TorrentId) {
        if let Some(t) = self.torrents.get_mut(&torrent) {
            t.storage = Slot::Closed;
        }
    }

    /// Forgets a torrent removed from the session and deletes its resume data and, if
    /// `delete_data`, its files under its directory (then the directories they leave empty),
    /// on the state writer, after every save queued before ([`Done::Removed`] reports it).
    pub fn forget_torrent(&mut self, torrent: TorrentId, delete_data: bool) {
        let Some(t) = self.torrents.remove(&torrent) else {
            return;
        };
        let state = self.resume_path(t.info_hash);
        let data = delete_data.then_some((t.dir, t.files));
        self.pending += 1;
        self.pool.remove(torrent, state, data);
    }

    /// Gives a torrent (stopped: its storage closed) another download directory; its next
    /// `OpenStorage`, or a removal with its data, uses that.
    pub fn set_download_dir(&mut self, torrent: TorrentId, download_dir: PathBuf) {
        if let Some(t) = self.torrents.get_mut(&torrent) {
            t.dir = download_dir;
            t.storage = Slot::Closed;
        }
    }

    /// The download directory of a torrent.
    pub fn download_dir(&self, torrent: TorrentId) -> Option<&Path> {
        self.torrents.get(&torrent).map(|t| t.dir.as_path())
    }

    /// Performs `action` if it is disk work and returns `None`; any other action (network
    /// work) is returned for the runtime to perform.
    pub fn perform(&mut self, action: Action) -> Option<Action> {
        match action {
            Action::OpenStorage {
                torrent,
                layout,
                paths,
            } => {
                self.open_storage(torrent, layout, paths);
                None
            }
            Action::Disk(job) => {
                self.submit(job);
                None
            }
            Action::SaveResume { torrent, data } => {
                let path = self
                    .torrents
                    .get(&torrent)
                    .and_then(|t| self.resume_path(t.info_hash));
                if let Some(path) = path {
                    self.pending += 1;
                    self.pool.save(path, data);
                }
                None
            }
            Action::SaveDhtState { data } => {
                if let Some(dir) = &self.state_dir {
                    self.pending += 1;
                    self.pool.save(dir.join(DHT_STATE_FILE), data);
                }
                None
            }
            other => Some(other),
        }
    }

    fn open_storage(&mut self, torrent: TorrentId, layout: Layout, paths: Arc<[RelativePath]>) {
        if let Some(t) = self.torrents.get_mut(&torrent) {
            t.files = layout
                .files()
                .iter()
                .zip(paths.iter())
                .filter(|(f, _)| !f.padding)
                .map(|(_, p)| p.to_path_buf())
                .collect();
            t.storage = match FileStorage::open_with(
                &t.dir,
                layout.clone(),
                &paths,
                self.storage.clone(),
            ) {
                Ok(s) => Slot::Open(Arc::new(s)),
                Err(_) => Slot::Failed(layout, paths),
            };
        }
    }

    /// Queues a disk job; a job for a torrent without storage completes at once with an error.
    pub fn submit(&mut self, job: DiskJob) {
        self.pending += 1;
        let storage = match self.storage(job.torrent) {
            Ok(s) => s,
            Err(e) => {
                (self.sink)(Done::Disk(job.kind.fail(e)));
                return;
            }
        };
        self.pool.submit(storage, job);
    }

    fn storage(&mut self, torrent: TorrentId) -> Result<SharedStorage, StorageError> {
        let Some(t) = self.torrents.get_mut(&torrent) else {
            return Err(no_storage(format!("torrent {} is not known", torrent.0)));
        };
        match &t.storage {
            Slot::Open(s) => Ok(Arc::clone(s)),
            Slot::Closed => Err(no_storage(format!(
                "torrent {} has no storage open yet",
                torrent.0
            ))),
            Slot::Failed(layout, paths) => {
                let s: SharedStorage = Arc::new(FileStorage::open_with(
                    &t.dir,
                    layout.clone(),
                    paths,
                    self.storage.clone(),
                )?);
                t.storage = Slot::Open(Arc::clone(&s));
                Ok(s)
            }
        }
    }

    /// Bookkeeping for a [`Done`] the loop received: call it for each one.
    pub fn finished(&mut self, _done: &Done) {
        self.pending = self.pending.saturating_sub(1);
    }

    /// Jobs and saves queued whose [`Done`] has not come back yet (a graceful stop waits for 0).
    pub fn pending(&self) -> usize {
        self.pending
    }
}

fn no_storage(message: String) -> StorageError {
    StorageError::Io {
        op: IoOp::Open,
        path: PathBuf::new(),
        error: io::Error::new(io::ErrorKind::NotFound, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sanstorrent_core::session::{Answer, JobId};
    use sanstorrent_core::testing::{flush_job, verify_job, write_job};
    use std::sync::Mutex;
    use std::sync::mpsc::channel;
    use std::time::Duration;

    struct Tmp(PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn rel(s: &str) -> RelativePath {
        RelativePath::from_components(s.split('/')).expect("safe path")
    }

    #[test]
    fn open_write_verify_and_save_on_disk() {
        let tmp = Tmp(std::env::temp_dir().join(format!("st-diskio-{}", std::process::id())));
        let (tx, rx) = channel();
        let tx = Mutex::new(tx);
        let sink: Sink = Arc::new(move |d| {
            let _ = tx.lock().expect("not poisoned").send(d);
        });
        let config = DiskConfig {
            threads: 2,
            state_dir: Some(tmp.0.join("state")),
            ..Default::default()
        };
        let mut disk = DiskIo::new(config, sink).expect("pool starts");
        let t = TorrentId(1);
        let hash = InfoHash([0xab; 20]);
        disk.add_torrent(t, hash, tmp.0.join("dl"));

        // A job before OpenStorage fails cleanly.
        disk.submit(flush_job(JobId(1), t));
        let next = || match rx.recv_timeout(Duration::from_secs(10)).expect("done") {
            Done::Disk(c) => c,
            other => panic!("unexpected {other:?}"),
        };
        let c = next();
        assert!(c.result().is_err());
        disk.finished(&Done::Disk(c));

        let layout = Layout::new(16, [(20, false), (12, false)]).expect("layout");
        let paths: Arc<[RelativePath]> = vec![rel("d/a"), rel("d/sub/b")].into();
        let open = Action::OpenStorage {
            torrent: t,
            layout,
            paths,
        };
        assert!(disk.perform(open).is_none());
        let data: Vec<u8> = (0..32).collect();
        for (id, piece) in [(2, 0u32), (3, 1)] {
            let block = Bytes::copy_from_slice(&data[piece as usize * 16..][..16]);
            let job = write_job(JobId(id), t, piece, 0, block);
            assert!(disk.perform(Action::Disk(job)).is_none());
        }
        for _ in 0..2 {
            let c = next();
            assert!(matches!(c.result(), Ok(Answer::Written)), "{c:?}");
        }
        let expected = sanstorrent_core::id::sha1_digest(&data[16..]);
        disk.submit(verify_job(JobId(4), t, 1, expected));
        assert!(matches!(next().result(), Ok(Answer::Verified(true))));
        assert_eq!(
            std::fs::read(tmp.0.join("dl/d/a")).expect("file a"),
            &data[..20]
        );
        assert_eq!(
            std::fs::read(tmp.0.join("dl/d/sub/b")).expect("file b"),
            &data[20..]
        );

        let save = Action::SaveResume {
            torrent: t,
            data: b"d1:xi1ee".to_vec(),
        };
        assert!(disk.perform(save).is_none());
        assert!(matches!(
            rx.recv_timeout(Duration::from_secs(10)),
            Ok(Done::Saved { result: Ok(()), .. })
        ));
        assert_eq!(disk.load_resume(hash).as_deref(), Some(&b"d1:xi1ee"[..]));
        assert_eq!(disk.load_resume(InfoHash([1; 20])), None);

        // Network actions are handed back.
        let connect = Action::Connect {
            conn: sanstorrent_core::session::ConnId(1),
            addr: "127.0.0.1:1".parse().expect("addr"),
        };
        assert!(matches!(
            disk.perform(connect),
            Some(Action::Connect { .. })
        ));
    }
}
