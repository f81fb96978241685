//! A fixed set of std threads that run disk jobs and piece hashing, one thread that writes
//! received blocks, and one that writes (and deletes) state files in order. Results go to a sink the runtime
//! supplies (a channel sender into its loop), so the pool knows nothing about smol, tokio or
//! any event loop.
//!
//! Block writes have a thread of their own (`block_writer.rs`): two threads writing the same
//! file contend for its inode lock in the kernel (measured: 6 % of the downloader's CPU spinning on it), while
//! hashing and reads run in parallel on the other workers.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use sanstorrent_core::id::InfoHash;
use sanstorrent_core::metainfo::Metainfo;
use sanstorrent_core::session::{Completion, DiskJob, DiskJobKind, TorrentId};
use sanstorrent_core::storage::{IoOp, StorageError};

use crate::block_writer::{self, BlockWrite};
use crate::jobs::execute_with;
use crate::metainfo_source::SharedSource;
use crate::read_pool::ReadBuffers;
use crate::storage::{
    FileMap, FileMove, FileStorage, RenameError, SharedStorage, apply_moves, delete_files,
    save_atomically, save_many,
};

/// What the pool reports back to the loop.
#[derive(Debug)]
#[non_exhaustive]
pub enum Done {
    /// A disk job finished: pass it to `Session::handle_completion`.
    Disk(Completion),
    /// A removed torrent's state file (and data, if asked) was deleted (or not).
    Removed {
        /// The torrent.
        torrent: TorrentId,
        /// The first failure, if any.
        result: Result<(), StorageError>,
    },
    /// A torrent's files were renamed (or not: then none was, and its file map was saved
    /// back as it was).
    Renamed {
        /// The torrent.
        torrent: TorrentId,
        /// Whether the renames were made.
        result: Result<(), RenameError>,
    },
    /// A released torrent's metainfo was loaded (or not): pass it to
    /// `Session::handle_metainfo` (`Session::handle_loaded` with its resume data).
    Metainfo {
        /// The torrent.
        torrent: TorrentId,
        /// Its metainfo, or the source's reason.
        result: Result<Arc<Metainfo>, String>,
        /// Its resume data, when asked for: `Some(None)` if there is none (or it cannot be
        /// read).
        resume: Option<Option<Vec<u8>>>,
    },
    /// A state file was written (or not).
    Saved {
        /// The file.
        path: PathBuf,
        /// Whether it was written and made durable.
        result: Result<(), StorageError>,
    },
}

/// Where the pool delivers [`Done`] values; called from worker threads, so it must not block
/// for long (an unbounded channel's send is the usual choice).
pub type Sink = Arc<dyn Fn(Done) + Send + Sync>;

enum Work {
    Disk {
        storage: SharedStorage,
        job: DiskJob,
    },
    Load {
        torrent: TorrentId,
        info_hash: InfoHash,
        source: SharedSource,
        resume: Option<PathBuf>,
    },
}

/// Spare upload read buffers the workers keep (256 KiB each, see `read_pool`): as many as a
/// seeder has in flight to a few fast peers at once.
const SPARE_READ_BUFFERS: usize = 16;

/// Work for the state writer, done one at a time in the order queued.
enum Save {
    Write {
        path: PathBuf,
        bytes: Vec<u8>,
    },
    Remove {
        torrent: TorrentId,
        state: Vec<PathBuf>,
        data: Option<(PathBuf, Vec<PathBuf>)>,
    },
    Rename(Rename),
}

/// Renames of a torrent's files for the state writer (see [`WorkerPool::rename`]).
#[derive(Debug)]
pub struct Rename {
    /// The torrent.
    pub torrent: TorrentId,
    /// Its download directory.
    pub dir: PathBuf,
    /// Its file-map state file, if state is kept.
    pub state: Option<PathBuf>,
    /// The map after the renames.
    pub map: FileMap,
    /// The map before them (saved back if they fail).
    pub previous: FileMap,
    /// The files to rename on disk.
    pub moves: Vec<FileMove>,
    /// The torrent's open storage, if any: the files are renamed under it while it is in use.
    pub live: Option<LiveRename>,
}

/// A running torrent's storage and each moved file's new absolute path (file index, path).
pub type LiveRename = (Arc<FileStorage>, Vec<(usize, PathBuf)>);

impl Rename {
    /// Saves the new map with the moves pending, makes them, then saves it without; if a move
    /// fails, the moves made are undone and the previous map is saved back.
    fn run(&self) -> Result<(), RenameError> {
        let save = |bytes: Vec<u8>| match &self.state {
            Some(path) => save_atomically(path, &bytes).map_err(RenameError::Io),
            None => Ok(()),
        };
        save(self.map.encode(&self.moves))?;
        let applied = match &self.live {
            Some((storage, files)) => {
                storage.rename_live(files, || apply_moves(&self.dir, &self.moves))
            }
            None => apply_moves(&self.dir, &self.moves),
        };
        if let Err(e) = applied {
            save(self.previous.encode(&[]))?;
            return Err(e);
        }
        save(self.map.encode(&[]))
    }
}

/// Worker threads for disk I/O and hashing (as many as the machine has cores by default), one
/// block writer and one state-file writer. Dropping the pool lets queued work finish, then
/// joins every thread.
pub struct WorkerPool {
    work: Option<async_channel::Sender<Work>>,
    writes: Option<Sender<BlockWrite>>,
    saves: Option<Sender<Save>>,
    workers: usize,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPool")
            .field("workers", &self.workers)
            .finish()
    }
}

impl WorkerPool {
    /// Starts `threads` disk workers (0: one per available core), the block writer and the
    /// state writer, all reporting to `sink`.
    pub fn new(threads: usize, sink: Sink) -> std::io::Result<Self> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        };
        // Workers share one multi-consumer queue: each waits on it without a lock.
        let (work, work_rx) = async_channel::unbounded::<Work>();
        let buffers = ReadBuffers::new(SPARE_READ_BUFFERS);
        let mut handles = Vec::with_capacity(threads + 2);
        for i in 0..threads {
            let rx = work_rx.clone();
            let sink = Arc::clone(&sink);
            let buffers = Arc::clone(&buffers);
            handles.push(
                std::thread::Builder::new()
                    .name(format!("sanstorrent-disk-{i}"))
                    .spawn(move || {
                        while let Ok(work) = rx.recv_blocking() {
                            run(work, &buffers, &*sink);
                        }
                    })?,
            );
        }
        let (writes, writes_rx) = channel::<BlockWrite>();
        let writer_sink = Arc::clone(&sink);
        handles.push(
            std::thread::Builder::new()
                .name("sanstorrent-write".into())
                .spawn(move || block_writer::run(&writes_rx, &*writer_sink))?,
        );
        let (saves, save_rx) = channel::<Save>();
        handles.push(
            std::thread::Builder::new()
                .name("sanstorrent-state".into())
                .spawn(move || state_writer(&save_rx, &*sink))?,
        );
        Ok(Self {
            work: Some(work),
            writes: Some(writes),
            saves: Some(saves),
            workers: threads,
            threads: handles,
        })
    }

    /// How many disk worker threads run (besides the block and state writers).
    pub fn threads(&self) -> usize {
        self.workers
    }

    /// Queues `job` to run on `storage`; its completion goes to the sink. Block writes run in
    /// order on the block writer; everything else on the first free worker.
    pub fn submit(&self, storage: SharedStorage, job: DiskJob) {
        // Sending fails only once the threads are gone, which happens only after drop.
        match job.kind {
            DiskJobKind::Write {
                piece,
                offset,
                data,
                reply,
            } => {
                if let Some(tx) = &self.writes {
                    let _ = tx.send(BlockWrite {
                        storage,
                        piece,
                        offset,
                        data,
                        reply,
                    });
                }
            }
            kind => {
                if let Some(tx) = &self.work {
                    let job = DiskJob { kind, ..job };
                    let _ = tx.send_blocking(Work::Disk { storage, job });
                }
            }
        }
    }

    /// Queues a load of released torrent `torrent`'s metainfo from `source` on the first free
    /// worker, with the bytes of the file at `resume` when given (its resume data); the
    /// answer goes to the sink as [`Done::Metainfo`].
    pub fn load(
        &self,
        torrent: TorrentId,
        info_hash: InfoHash,
        source: SharedSource,
        resume: Option<PathBuf>,
    ) {
        if let Some(tx) = &self.work {
            let _ = tx.send_blocking(Work::Load {
                torrent,
                info_hash,
                source,
                resume,
            });
        }
    }

    /// Queues `bytes` to be written atomically to `path`. Saves run one at a time in the order
    /// queued, so a later save of the same file always wins.
    pub fn save(&self, path: PathBuf, bytes: Vec<u8>) {
        if let Some(tx) = &self.saves {
            let _ = tx.send(Save::Write { path, bytes });
        }
    }

    /// Queues renames of a torrent's files (stopped: no job uses its storage) on the state
    /// writer, after every save queued before; [`Done::Renamed`] reports them.
    pub fn rename(&self, rename: Rename) {
        if let Some(tx) = &self.saves {
            let _ = tx.send(Save::Rename(rename));
        }
    }

    /// Queues the deletion of a removed torrent's state files `state` and, if given, its
    /// `data`: files (relative paths) under a directory, see
    /// [`delete_files`](crate::storage::delete_files). It runs on the state writer after
    /// every save queued before it, so no earlier save of `state` can bring it back.
    pub fn remove(
        &self,
        torrent: TorrentId,
        state: Vec<PathBuf>,
        data: Option<(PathBuf, Vec<PathBuf>)>,
    ) {
        if let Some(tx) = &self.saves {
            let _ = tx.send(Save::Remove {
                torrent,
                state,
                data,
            });
        }
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        self.work = None;
        self.writes = None;
        self.saves = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Runs one piece of work and reports it.
fn run(work: Work, buffers: &Arc<ReadBuffers>, sink: &(dyn Fn(Done) + Send + Sync)) {
    match work {
        Work::Disk { storage, job } => {
            sink(Done::Disk(execute_with(&*storage, job.kind, Some(buffers))));
        }
        Work::Load {
            torrent,
            info_hash,
            source,
            resume,
        } => {
            let result = source.0.load(torrent, info_hash);
            let resume = resume.map(|path| std::fs::read(path).ok());
            sink(Done::Metainfo {
                torrent,
                result,
                resume,
            });
        }
    }
}

/// Most state files the state writer saves as one batch ([`save_many`]).
const MAX_SAVE_BATCH: usize = 1024;

/// Saves, removals and renames one at a time in the order queued; the writes queued back to
/// back are saved as one batch (at most [`MAX_SAVE_BATCH`]): the first resume save of
/// 100,000 checked torrents paid two fsyncs each, one of them of their directory of 200,000
/// files, one after the other.
fn state_writer(rx: &Receiver<Save>, sink: &(dyn Fn(Done) + Send + Sync)) {
    let mut next: Option<Save> = None;
    while let Some(save) = next.take().or_else(|| rx.recv().ok()) {
        match save {
            Save::Write { path, bytes } => {
                let mut batch = vec![(path, bytes)];
                while batch.len() < MAX_SAVE_BATCH {
                    match rx.try_recv() {
                        Ok(Save::Write { path, bytes }) => batch.push((path, bytes)),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let results = save_many(&batch);
                for ((path, _), result) in batch.into_iter().zip(results) {
                    sink(Done::Saved { path, result });
                }
            }
            Save::Remove {
                torrent,
                state,
                data,
            } => {
                let mut result = Ok(());
                if let Some((dir, files)) = data {
                    result = delete_files(&dir, &files);
                }
                for path in state {
                    if let Err(e) = std::fs::remove_file(&path)
                        && e.kind() != std::io::ErrorKind::NotFound
                        && result.is_ok()
                    {
                        result = Err(StorageError::io(IoOp::Write, &path, e));
                    }
                }
                sink(Done::Removed { torrent, result });
            }
            Save::Rename(rename) => {
                let result = rename.run();
                sink(Done::Renamed {
                    torrent: rename.torrent,
                    result,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::shared_memory::SharedMemory;
    use bytes::Bytes;
    use sanstorrent_core::layout::Layout;
    use sanstorrent_core::session::{Answer, JobId, TorrentId};
    use sanstorrent_core::testing::{verify_job, write_job};
    use std::sync::Mutex;
    use std::time::Duration;

    #[test]
    fn writes_run_in_order_and_other_jobs_on_the_workers_each_reported_once() {
        let (tx, rx) = channel();
        let tx = Mutex::new(tx);
        let sink: Sink = Arc::new(move |d| {
            let _ = tx.lock().expect("not poisoned").send(d);
        });
        let pool = WorkerPool::new(3, sink).expect("threads start");
        assert_eq!(pool.threads(), 3);
        let layout = Layout::new(1 << 14, [(40 << 14, false)]).expect("valid layout");
        let storage: SharedStorage = Arc::new(SharedMemory::new(layout));
        let t = TorrentId(7);
        for piece in 0..40u32 {
            let data = Bytes::from(vec![piece as u8; 1 << 14]);
            let write = write_job(JobId(u64::from(piece)), t, piece, 0, data);
            pool.submit(Arc::clone(&storage), write);
        }
        for piece in 0..40u32 {
            let verify = verify_job(JobId(100 + u64::from(piece)), t, piece, [0; 20]);
            pool.submit(Arc::clone(&storage), verify);
        }
        let mut writes = Vec::new();
        let mut verified = [false; 40];
        for _ in 0..80 {
            let done = rx.recv_timeout(Duration::from_secs(10));
            match done.expect("a completion") {
                Done::Disk(c) if c.id().0 < 100 => {
                    assert!(matches!(c.result(), Ok(Answer::Written)));
                    writes.push(c.id().0);
                }
                Done::Disk(c) => {
                    assert_eq!(c.torrent(), TorrentId(7));
                    assert!(matches!(c.result(), Ok(Answer::Verified(false))));
                    let i = (c.id().0 - 100) as usize;
                    assert!(!std::mem::replace(&mut verified[i], true));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            writes,
            (0..40).collect::<Vec<_>>(),
            "writes in submission order"
        );
        let mut buf = [0; 4];
        storage.read(39, 100, &mut buf).expect("written");
        assert_eq!(buf, [39; 4]);
        drop(pool);
        assert!(rx.try_recv().is_err(), "nothing reported twice");
    }

    #[test]
    fn saves_are_atomic_and_in_order() {
        let dir = std::env::temp_dir().join(format!("st-pool-save-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (tx, rx) = channel();
        let tx = Mutex::new(tx);
        let sink: Sink = Arc::new(move |d| {
            let _ = tx.lock().expect("not poisoned").send(d);
        });
        let pool = WorkerPool::new(1, sink).expect("threads start");
        let path = dir.join("x.resume");
        for i in 0..20u8 {
            pool.save(path.clone(), vec![i; 100]);
        }
        pool.save(dir.join("missing-dir").join("y"), vec![1]);
        drop(pool);
        let done: Vec<Done> = rx.try_iter().collect();
        assert_eq!(done.len(), 21);
        let failures = done
            .iter()
            .filter(|d| matches!(d, Done::Saved { result: Err(_), .. }))
            .count();
        assert_eq!(failures, 1, "only the save into a missing directory fails");
        assert_eq!(std::fs::read(&path).expect("saved"), vec![19; 100]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
