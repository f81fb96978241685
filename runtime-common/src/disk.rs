//! [`DiskIo`]: the disk half of a runtime's loop. It takes the session's disk-related actions
//! (`OpenStorage`, `Disk`, `SaveResume`, `SaveDhtState`), keeps each torrent's storage and
//! download directory, and runs the work on a [`WorkerPool`].

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sanstorrent_core::id::InfoHash;
use sanstorrent_core::layout::Layout;
use sanstorrent_core::metainfo::{Metainfo, RelativePath};
#[cfg(doc)]
use sanstorrent_core::session::Event;
use sanstorrent_core::session::{Action, DiskJob, TorrentId};
use sanstorrent_core::storage::{IoOp, StorageError};

use crate::metainfo_source::SharedSource;
use crate::packed_paths::PackedPaths;
use crate::pool::{Done, Rename, Sink, WorkerPool};
use crate::storage::{
    FileMap, FileStorage, FileStorageOptions, HandleCache, RenameError, SharedStorage,
    finish_pending, save_atomically,
};

/// The name of the DHT state file in the state directory.
pub const DHT_STATE_FILE: &str = "dht.state";

/// Most entries a file map's state file may hold.
const MAX_MAPPED_FILES: usize = 1 << 20;

/// Settings of a [`DiskIo`].
#[derive(Clone, Debug, Default)]
pub struct DiskConfig {
    /// Disk worker threads; 0 means one per available core.
    pub threads: usize,
    /// Where resume data (`<info-hash>.resume`) and the DHT state go; `None` keeps nothing.
    pub state_dir: Option<PathBuf>,
    /// How torrents' files are opened and created. Every torrent's files share one cache of
    /// [`FileStorageOptions::max_open_files`] handles (or the options' own cache).
    pub storage: FileStorageOptions,
    /// Where released torrents' metainfo is loaded back from; `None`: such loads fail.
    pub metainfo: Option<SharedSource>,
}

/// One torrent's disk state. Kept small (10,000 idle seeds hold 10,000 of these): the
/// directory is shared with the torrent added before when the same, what only a rename, a
/// failed open or BEP 47 links need is boxed or absent, and the files a removal deletes are
/// worked out when it happens.
struct TorrentDisk {
    dir: Arc<Path>,
    info_hash: InfoHash,
    storage: Slot,
    /// Its files renamed by the application.
    map: FileMap,
    /// The metainfo's paths (padding included), once the add or an `OpenStorage` gave them.
    original: Option<PackedPaths>,
    /// Which of `original` are padding files (empty: none is).
    padding: Box<[bool]>,
    /// Its BEP 47 symbolic links (file index, target), as the last `OpenStorage` gave them
    /// (`None`: none).
    symlinks: Option<Arc<[(usize, RelativePath)]>>,
    /// While files are being renamed: the map before.
    renaming: Option<Box<FileMap>>,
    /// The [`fingerprint`] of the resume data its state file holds as far as this process
    /// knows (0: not known): a save of the same bytes is skipped.
    saved: u64,
}

impl TorrentDisk {
    /// Closes its storage: its cached file handles close once queued jobs finish with them.
    fn close(&mut self) {
        if let Slot::Open(s) = std::mem::replace(&mut self.storage, Slot::Closed) {
            s.close_handles();
        }
    }

    /// Which files are padding, one flag per file of `original`.
    fn padding(&self, files: usize) -> Vec<bool> {
        match self.padding.is_empty() {
            true => vec![false; files],
            false => self.padding.to_vec(),
        }
    }

    /// The paths storage uses: the map's over the metainfo's (the metainfo's alone if the map
    /// does not fit them: a state file from elsewhere).
    fn paths(&self) -> Option<Vec<RelativePath>> {
        let original = self.original.as_ref()?.to_vec();
        Some(if self.map.fits(&original, &self.padding(original.len())) {
            self.map.paths(&original)
        } else {
            original
        })
    }

    /// Remembers the metainfo's paths (and which are padding). Paths equal to those known
    /// keep their allocation: learned at the add, beside the other torrents' records, they do
    /// not move among the blocks of the metainfo being opened, which a release frees.
    fn set_original(&mut self, layout: &Layout, paths: Arc<[RelativePath]>) {
        let files = layout.files();
        let padded = files.iter().any(|f| f.padding);
        let same_padding = match padded {
            true => self
                .padding
                .iter()
                .copied()
                .eq(files.iter().map(|f| f.padding)),
            false => self.padding.is_empty(),
        };
        if !same_padding {
            self.padding = match padded {
                true => files.iter().map(|f| f.padding).collect(),
                false => Box::default(),
            };
        }
        let packed = PackedPaths::pack(&paths);
        if self.original.as_ref() != Some(&packed) {
            self.original = Some(packed);
        }
    }

    /// Its files' paths (padding left out), once known: what a removal may delete.
    fn data_files(&self) -> Vec<PathBuf> {
        let Some(paths) = self.paths() else {
            return Vec::new();
        };
        let padding = self.padding(paths.len());
        paths
            .iter()
            .zip(padding)
            .filter(|(_, pad)| !*pad)
            .map(|(p, _)| p.to_path_buf())
            .collect()
    }

    /// Its links, as storage takes them.
    fn symlinks(&self) -> &[(usize, RelativePath)] {
        self.symlinks.as_deref().unwrap_or_default()
    }
}

enum Slot {
    /// No `OpenStorage` yet (a magnet link still fetching metadata), or stopped.
    Closed,
    Open(Arc<FileStorage>),
    /// Opening failed; retried by each job so the job reports the real error.
    Failed(Box<(Layout, Arc<[RelativePath]>)>),
    /// The session released the torrent ([`Event::TorrentReleased`]): its storage (layout,
    /// file paths, handles) is dropped, and opened again from the metainfo the session's
    /// load brings back ([`DiskIo::reopen_released`]).
    Released,
}

/// Storage, disk jobs and state files for every torrent of one session.
pub struct DiskIo {
    pool: WorkerPool,
    sink: Sink,
    state_dir: Option<PathBuf>,
    storage: FileStorageOptions,
    /// Boxed: a table of 10,000 records inline is 16,384 slots of 152 B (2.5 MB), boxed
    /// 16,384 of 16 B and the records themselves (1.9 MB), 100,000 alike (19.9 / 18.1 MB).
    torrents: HashMap<TorrentId, Box<TorrentDisk>>,
    /// The download directory of the torrent added last, shared with the next one when the
    /// same.
    last_dir: Option<Arc<Path>>,
    pending: usize,
    metainfo: Option<SharedSource>,
    /// The info-hashes that may have a saved file map (`<hash>.paths`): those the state
    /// directory held when listed at start, and those renamed since. A torrent not among
    /// them has none, so a restore of 100,000 torrents tries no 100,000 opens of missing
    /// files (5 % of a restart's CPU). `None`: the listing failed, every add tries.
    maps: Option<HashSet<InfoHash>>,
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
        let maps = match &config.state_dir {
            Some(dir) => saved_maps(dir),
            None => Some(HashSet::new()),
        };
        let mut storage = config.storage;
        if storage.cache.is_none() {
            storage.cache = Some(HandleCache::new(storage.max_open_files));
        }
        Ok(Self {
            pool: WorkerPool::new(config.threads, Arc::clone(&sink))?,
            sink,
            state_dir: config.state_dir,
            storage,
            torrents: HashMap::new(),
            last_dir: None,
            pending: 0,
            metainfo: config.metainfo,
            maps,
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
        self.state_file(info_hash, "resume")
    }

    /// The file map's state file, beside the resume data.
    fn map_path(&self, info_hash: InfoHash) -> Option<PathBuf> {
        self.state_file(info_hash, "paths")
    }

    fn state_file(&self, info_hash: InfoHash, extension: &str) -> Option<PathBuf> {
        Some(
            self.state_dir
                .as_ref()?
                .join(format!("{}.{extension}", info_hash.to_hex())),
        )
    }

    /// Records a torrent the session accepted: its files go under `download_dir`, renamed as
    /// its saved file map says (renames a crash interrupted are finished first).
    pub fn add_torrent(&mut self, torrent: TorrentId, info_hash: InfoHash, download_dir: PathBuf) {
        let map = self.load_map(info_hash, &download_dir);
        let dir = match &self.last_dir {
            Some(last) if **last == *download_dir => Arc::clone(last),
            _ => Arc::from(download_dir),
        };
        self.last_dir = Some(Arc::clone(&dir));
        self.torrents.insert(
            torrent,
            Box::new(TorrentDisk {
                dir,
                info_hash,
                storage: Slot::Closed,
                map,
                original: None,
                padding: Box::default(),
                symlinks: None,
                renaming: None,
                saved: 0,
            }),
        );
    }

    /// Tells that `torrent`'s state file holds resume data of [`fingerprint`] `print` (as
    /// [`DiskIo::load_resume`] read them): a save of the same bytes is skipped.
    pub(crate) fn resume_on_disk(&mut self, torrent: TorrentId, print: u64) {
        if let Some(t) = self.torrents.get_mut(&torrent) {
            t.saved = print;
        }
    }

    /// The saved file map of `info_hash`; a damaged one is dropped (the metainfo's names are
    /// used), and moves left pending are made now.
    fn load_map(&self, info_hash: InfoHash, dir: &Path) -> FileMap {
        if self.maps.as_ref().is_some_and(|m| !m.contains(&info_hash)) {
            return FileMap::default();
        }
        let Some(path) = self.map_path(info_hash) else {
            return FileMap::default();
        };
        let Ok(bytes) = std::fs::read(&path) else {
            return FileMap::default();
        };
        let Ok((map, pending)) = FileMap::decode(&bytes, MAX_MAPPED_FILES) else {
            return FileMap::default();
        };
        if !pending.is_empty() {
            // What cannot move now stays where it is: its data is checked and fetched again.
            let _ = finish_pending(dir, &pending);
            let _ = save_atomically(&path, &map.encode(&[]));
        }
        map
    }

    /// Every file's path (padding included) as storage uses it, once the metadata is known.
    pub fn file_paths(&self, torrent: TorrentId) -> Option<Vec<RelativePath>> {
        self.torrents.get(&torrent)?.paths()
    }

    /// Whether `torrent`'s saved file map renames any file (without one, storage uses the
    /// metainfo's paths).
    pub fn has_renames(&self, torrent: TorrentId) -> bool {
        self.torrents
            .get(&torrent)
            .is_some_and(|t| !t.map.is_empty())
    }

    /// Learns a torrent's metainfo paths before its storage opens (to tell its file paths).
    pub fn learn_paths(&mut self, torrent: TorrentId, layout: &Layout, paths: Arc<[RelativePath]>) {
        if let Some(t) = self.torrents.get_mut(&torrent) {
            t.set_original(layout, paths);
        }
    }

    /// Learns a torrent's paths from its metainfo before its storage opens, if not known yet
    /// (see [`Self::learn_paths`]).
    pub fn learn_metainfo_paths(&mut self, torrent: TorrentId, meta: &Metainfo) {
        if self.file_paths(torrent).is_none() {
            let paths = meta.files().iter().map(|f| f.path.clone()).collect();
            self.learn_paths(torrent, meta.layout(), paths);
        }
    }

    /// Whether `torrent` is renaming files.
    pub fn is_renaming(&self, torrent: TorrentId) -> bool {
        self.torrents
            .get(&torrent)
            .is_some_and(|t| t.renaming.is_some())
    }

    /// Renames files of a torrent (file index, new path): checked at once, then made on the
    /// state writer ([`Done::Renamed`]; call [`DiskIo::renamed`] with it). A torrent whose
    /// storage is open keeps it: the files are renamed under it
    /// ([`FileStorage::rename_live`]), their handles closed and opened again by their new
    /// names, while its other jobs go on; a closed one uses the new paths from its next
    /// start.
    pub fn rename_files(
        &mut self,
        torrent: TorrentId,
        renames: &[(usize, RelativePath)],
    ) -> Result<(), RenameError> {
        let map_path = {
            let t = self.torrents.get(&torrent).ok_or(RenameError::NoMetadata)?;
            if let Some(maps) = &mut self.maps {
                maps.insert(t.info_hash);
            }
            self.map_path(t.info_hash)
        };
        let Some(t) = self.torrents.get_mut(&torrent) else {
            return Err(RenameError::NoMetadata);
        };
        if t.renaming.is_some() {
            return Err(RenameError::Busy);
        }
        let original = t.original.as_ref().ok_or(RenameError::NoMetadata)?.to_vec();
        let padding = t.padding(original.len());
        let base = if t.map.fits(&original, &padding) {
            t.map.clone()
        } else {
            FileMap::default()
        };
        let (map, moves) = base.with_renames(&original, &padding, renames)?;
        let previous = std::mem::replace(&mut t.map, map.clone());
        t.renaming = Some(Box::new(previous.clone()));
        let new_paths = t.paths().unwrap_or_default();
        let live = match &mut t.storage {
            Slot::Open(storage) => {
                let files = moves
                    .iter()
                    .map(|m| (m.file, t.dir.join(m.to.to_path_buf())))
                    .collect();
                Some((Arc::clone(storage), files))
            }
            Slot::Failed(failed) => {
                // Opened again by the next job: under the new paths (the old ones if the
                // renames fail, see `renamed`).
                failed.1 = new_paths.into();
                None
            }
            Slot::Closed | Slot::Released => None,
        };
        self.pending += 1;
        self.pool.rename(Rename {
            torrent,
            dir: t.dir.to_path_buf(),
            state: map_path,
            map,
            previous,
            moves,
            live,
        });
        Ok(())
    }

    /// The renames of `torrent` are over: kept if `made`, else its map is what it was.
    pub fn renamed(&mut self, torrent: TorrentId, made: bool) {
        if let Some(t) = self.torrents.get_mut(&torrent)
            && let Some(previous) = t.renaming.take()
            && !made
        {
            t.map = *previous;
            let paths = t.paths().unwrap_or_default();
            if let Slot::Failed(failed) = &mut t.storage {
                failed.1 = paths.into();
            }
        }
    }

    /// Forgets a torrent (after it stopped). Jobs already queued finish on the old storage.
    pub fn remove_torrent(&mut self, torrent: TorrentId) {
        if let Some(mut t) = self.torrents.remove(&torrent) {
            t.close();
        }
    }

    /// Closes a stopped torrent's storage (its file handles close once queued jobs finish);
    /// its directory and files are remembered for a later `OpenStorage` or removal.
    pub fn close_storage(&mut self, torrent: TorrentId) {
        if let Some(t) = self.torrents.get_mut(&torrent) {
            t.close();
        }
    }

    /// Drops the storage of a torrent the session released ([`Event::TorrentReleased`]): its
    /// file handles close once queued jobs finish with them, its layout and file paths go;
    /// what it was told of its files (to rename or remove them) stays. Its next load of the
    /// metainfo opens it again ([`DiskIo::reopen_released`]).
    pub fn release_storage(&mut self, torrent: TorrentId) {
        if let Some(t) = self.torrents.get_mut(&torrent)
            && matches!(t.storage, Slot::Open(_) | Slot::Failed(_))
        {
            t.close();
            t.storage = Slot::Released;
        }
    }

    /// Whether `torrent`'s storage is dropped since the session released it.
    pub fn is_released(&self, torrent: TorrentId) -> bool {
        self.torrents
            .get(&torrent)
            .is_some_and(|t| matches!(t.storage, Slot::Released))
    }

    /// Opens a released torrent's storage again from the metainfo its load brought back
    /// (before the session takes it, so the jobs it then asks for find the storage open).
    /// Nothing happens unless the torrent is released and `meta` has its info-hash.
    pub fn reopen_released(&mut self, torrent: TorrentId, meta: &Metainfo) {
        let matches = self.torrents.get(&torrent).is_some_and(|t| {
            matches!(t.storage, Slot::Released) && t.info_hash == meta.info_hash()
        });
        if matches {
            let paths = meta.files().iter().map(|f| f.path.clone()).collect();
            self.open_storage(torrent, meta.layout().clone(), paths, meta.symlinks());
        }
    }

    /// Forgets a torrent removed from the session and deletes its resume data and, if
    /// `delete_data`, its files under its directory (then the directories they leave empty),
    /// on the state writer, after every save queued before ([`Done::Removed`] reports it).
    pub fn forget_torrent(&mut self, torrent: TorrentId, delete_data: bool) {
        let Some(mut t) = self.torrents.remove(&torrent) else {
            return;
        };
        t.close();
        let state = [self.resume_path(t.info_hash), self.map_path(t.info_hash)]
            .into_iter()
            .flatten()
            .collect();
        let data = delete_data.then(|| (t.dir.to_path_buf(), t.data_files()));
        self.pending += 1;
        self.pool.remove(torrent, state, data);
    }

    /// Gives a torrent (stopped: its storage closed) another download directory; its next
    /// `OpenStorage`, or a removal with its data, uses that.
    pub fn set_download_dir(&mut self, torrent: TorrentId, download_dir: PathBuf) {
        if let Some(t) = self.torrents.get_mut(&torrent) {
            t.dir = Arc::from(download_dir);
            t.close();
        }
    }

    /// The download directory of a torrent.
    pub fn download_dir(&self, torrent: TorrentId) -> Option<&Path> {
        self.torrents.get(&torrent).map(|t| &*t.dir)
    }

    /// Performs `action` if it is disk work and returns `None`; any other action (network
    /// work) is returned for the runtime to perform.
    pub fn perform(&mut self, action: Action) -> Option<Action> {
        match action {
            Action::OpenStorage {
                torrent,
                layout,
                paths,
                symlinks,
            } => {
                self.open_storage(torrent, layout, paths, symlinks);
                None
            }
            Action::Disk(job) => {
                self.submit(job);
                None
            }
            Action::SaveResume { torrent, data } => {
                // The file holds these bytes already (a stop's save after the periodic one,
                // or of what was loaded): nothing to write.
                let print = fingerprint(&data);
                let path = (self.torrents.get(&torrent))
                    .filter(|t| t.saved != print)
                    .and_then(|t| self.resume_path(t.info_hash));
                if let (Some(path), Some(t)) = (path, self.torrents.get_mut(&torrent)) {
                    t.saved = print;
                    self.pending += 1;
                    self.pool.save(path, data);
                }
                None
            }
            Action::LoadMetainfo {
                torrent,
                info_hash,
                resume,
            } => {
                // Its resume data comes with it when asked for (none without a state
                // directory).
                let path = resume.then(|| self.resume_path(info_hash).unwrap_or_default());
                match &self.metainfo {
                    Some(source) => self.pool.load(torrent, info_hash, source.clone(), path),
                    None => (self.sink)(Done::Metainfo {
                        torrent,
                        result: Err("no metainfo source is set".into()),
                        resume: resume.then_some(None),
                    }),
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

    fn open_storage(
        &mut self,
        torrent: TorrentId,
        layout: Layout,
        paths: Arc<[RelativePath]>,
        symlinks: Arc<[(usize, RelativePath)]>,
    ) {
        if let Some(t) = self.torrents.get_mut(&torrent) {
            t.set_original(&layout, paths);
            t.symlinks = (!symlinks.is_empty()).then_some(symlinks);
            let paths: Arc<[RelativePath]> = t.paths().unwrap_or_default().into();
            t.close();
            t.storage = match FileStorage::open_linked(
                &*t.dir,
                layout.clone(),
                &paths,
                t.symlinks(),
                self.storage.clone(),
            ) {
                Ok(s) => Slot::Open(Arc::new(s)),
                Err(_) => Slot::Failed(Box::new((layout, paths))),
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
            Slot::Open(s) => Ok(Arc::clone(s) as SharedStorage),
            Slot::Closed | Slot::Released => Err(no_storage(format!(
                "torrent {} has no storage open",
                torrent.0
            ))),
            Slot::Failed(failed) => {
                let (layout, paths) = &**failed;
                let s = Arc::new(FileStorage::open_linked(
                    &*t.dir,
                    layout.clone(),
                    paths,
                    t.symlinks(),
                    self.storage.clone(),
                )?);
                t.storage = Slot::Open(Arc::clone(&s));
                Ok(s)
            }
        }
    }

    /// Bookkeeping for a [`Done`] the loop received: call it for each one.
    pub fn finished(&mut self, done: &Done) {
        self.pending = self.pending.saturating_sub(1);
        if let Done::Saved { result: Err(_), .. } = done {
            // Which torrent's file holds what is not known any more: the next saves write.
            for t in self.torrents.values_mut() {
                t.saved = 0;
            }
        }
    }

    /// Jobs and saves queued whose [`Done`] has not come back yet (a graceful stop waits for 0).
    pub fn pending(&self) -> usize {
        self.pending
    }
}

/// A 64-bit digest of resume data with its length (never 0, which means "not known").
pub(crate) fn fingerprint(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish().max(1)
}

fn no_storage(message: String) -> StorageError {
    StorageError::Io {
        op: IoOp::Open,
        path: PathBuf::new(),
        error: io::Error::new(io::ErrorKind::NotFound, message),
    }
}

/// The info-hashes of the file maps (`<hash>.paths`) in state directory `dir` (`None`: it
/// cannot be listed).
fn saved_maps(dir: &Path) -> Option<HashSet<InfoHash>> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut maps = HashSet::new();
    for entry in entries {
        let name = entry.ok()?.file_name();
        if let Some(hash) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".paths"))
            .and_then(InfoHash::from_hex)
        {
            maps.insert(hash);
        }
    }
    Some(maps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sanstorrent_core::session::{Answer, JobId};
    use sanstorrent_core::testing::{flush_job, verify_job, write_job};
    use std::sync::Mutex;
    use std::sync::mpsc::{Receiver, channel};
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

    /// A disk I/O of `threads` workers under a fresh directory named after `name`, with
    /// the channel its answers come on.
    fn disk_io(name: &str, threads: usize) -> (Tmp, DiskIo, Receiver<Done>) {
        let tmp = Tmp(std::env::temp_dir().join(format!("{name}-{}", std::process::id())));
        let (tx, rx) = channel();
        let tx = Mutex::new(tx);
        let sink: Sink = Arc::new(move |d| {
            let _ = tx.lock().expect("not poisoned").send(d);
        });
        let config = DiskConfig {
            threads,
            state_dir: Some(tmp.0.join("state")),
            ..Default::default()
        };
        let disk = DiskIo::new(config, sink).expect("pool starts");
        (tmp, disk, rx)
    }

    #[test]
    fn only_file_maps_listed_at_start_or_renamed_since_are_loaded() {
        let original = [rel("t/a"), rel("t/b")];
        let (map, _) = FileMap::default()
            .with_renames(&original, &[false, false], &[(1, rel("t/B"))])
            .expect("a valid rename");
        let (renamed, plain, late) = (
            InfoHash([0x01; 20]),
            InfoHash([0x02; 20]),
            InfoHash([0x03; 20]),
        );
        let dir = std::env::temp_dir().join(format!("st-diskio-maps-{}", std::process::id()));
        let state = dir.join("state");
        std::fs::create_dir_all(&state).expect("state dir");
        let write = |hash: InfoHash| {
            std::fs::write(
                state.join(format!("{}.paths", hash.to_hex())),
                map.encode(&[]),
            )
            .expect("map written");
        };
        write(renamed);
        let (tmp, mut disk, _rx) = disk_io("st-diskio-maps", 1);
        assert_eq!(tmp.0, dir);
        assert_eq!(disk.maps.as_ref().map(HashSet::len), Some(1));
        // A map written behind its back after the listing is not looked for.
        write(late);
        disk.add_torrent(TorrentId(1), renamed, dir.join("dl"));
        disk.add_torrent(TorrentId(2), plain, dir.join("dl"));
        disk.add_torrent(TorrentId(3), late, dir.join("dl"));
        assert!(disk.has_renames(TorrentId(1)));
        assert!(!disk.has_renames(TorrentId(2)));
        assert!(!disk.has_renames(TorrentId(3)));
    }

    #[test]
    fn open_write_verify_and_save_on_disk() {
        let (tmp, mut disk, rx) = disk_io("st-diskio", 2);
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
            symlinks: Arc::new([]),
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

    /// The piece length of the test torrents.
    const PIECE: usize = 16_384;

    /// A single-file .torrent of `data` in pieces of [`PIECE`] bytes.
    fn metainfo(name: &str, data: &[u8]) -> Metainfo {
        let mut pieces = Vec::new();
        for piece in data.chunks(PIECE) {
            pieces.extend_from_slice(&sanstorrent_core::id::sha1_digest(piece));
        }
        let mut bytes = format!(
            "d4:infod6:lengthi{}e4:name{}:{name}12:piece lengthi{PIECE}e6:pieces{}:",
            data.len(),
            name.len(),
            pieces.len()
        )
        .into_bytes();
        bytes.extend_from_slice(&pieces);
        bytes.extend_from_slice(b"ee");
        Metainfo::from_bytes(&bytes).expect("a valid .torrent")
    }

    #[test]
    fn a_torrent_s_disk_state_stays_small() {
        // 10,000 idle seeds hold 10,000 of these, in a table with room to spare.
        let size = size_of::<TorrentDisk>();
        assert!(size <= 144, "TorrentDisk is {size} bytes (256 before)");
    }

    #[test]
    fn released_storage_is_dropped_reopened_by_the_load_and_still_removable() {
        let (tmp, mut disk, rx) = disk_io("st-diskrel", 1);
        let data: Vec<u8> = (0..PIECE + 3_000).map(|i| (i % 251) as u8).collect();
        let meta = metainfo("a.bin", &data);
        let t = TorrentId(7);
        disk.add_torrent(t, meta.info_hash(), tmp.0.join("dl"));
        let paths = meta.files().iter().map(|f| f.path.clone()).collect();
        let open = Action::OpenStorage {
            torrent: t,
            layout: meta.layout().clone(),
            paths,
            symlinks: meta.symlinks(),
        };
        assert!(disk.perform(open).is_none());
        let next = || match rx.recv_timeout(Duration::from_secs(10)).expect("done") {
            Done::Disk(c) => Some(c),
            Done::Removed { result, .. } => {
                result.expect("removed");
                None
            }
            other => panic!("unexpected {other:?}"),
        };
        for (id, piece) in [(1, 0u32), (2, 1)] {
            let block = Bytes::copy_from_slice(
                data[piece as usize * PIECE..]
                    .chunks(PIECE)
                    .next()
                    .expect("a piece"),
            );
            disk.submit(write_job(JobId(id), t, piece, 0, block));
        }
        for _ in 0..2 {
            let c = next().expect("a write");
            assert!(matches!(c.result(), Ok(Answer::Written)), "{c:?}");
        }
        assert!(!disk.is_released(t));

        disk.release_storage(t);
        assert!(disk.is_released(t));
        let piece = |i: usize| {
            sanstorrent_core::id::sha1_digest(
                data[i * PIECE..].chunks(PIECE).next().expect("a piece"),
            )
        };
        disk.submit(verify_job(JobId(3), t, 1, piece(1)));
        assert!(
            next().expect("a verify").result().is_err(),
            "no storage held"
        );
        assert_eq!(
            disk.file_paths(t).map(|p| p.len()),
            Some(1),
            "its paths are still known"
        );

        // Another torrent's metainfo opens nothing; its own opens the same files again.
        disk.reopen_released(t, &metainfo("b.bin", &data[..PIECE]));
        assert!(disk.is_released(t));
        disk.reopen_released(t, &meta);
        assert!(!disk.is_released(t));
        disk.submit(verify_job(JobId(4), t, 1, piece(1)));
        disk.submit(verify_job(JobId(5), t, 0, piece(0)));
        for _ in 0..2 {
            let c = next().expect("a verify");
            assert!(matches!(c.result(), Ok(Answer::Verified(true))), "{c:?}");
        }

        // Released again and removed with its data: the file still goes.
        disk.release_storage(t);
        let file = tmp.0.join("dl/a.bin");
        assert_eq!(std::fs::read(&file).expect("the data"), data);
        disk.forget_torrent(t, true);
        assert!(next().is_none(), "a removal");
        assert!(!file.exists(), "the released torrent's file was deleted");
    }

    /// A save of the bytes the state file holds already is skipped (a stop's save after the
    /// periodic one, or of the resume data loaded at the add); other bytes are written; after
    /// a failed save every torrent's next save writes again.
    #[test]
    fn a_save_of_the_bytes_on_disk_is_skipped() {
        let (tmp, mut disk, rx) = disk_io("st-diskio-same", 1);
        let (a, b) = (TorrentId(1), TorrentId(2));
        disk.add_torrent(a, InfoHash([1; 20]), tmp.0.join("dl"));
        disk.add_torrent(b, InfoHash([2; 20]), tmp.0.join("dl"));
        disk.resume_on_disk(b, fingerprint(b"d1:bi1ee"));
        let save = |disk: &mut DiskIo, torrent, data: &[u8]| {
            let action = Action::SaveResume {
                torrent,
                data: data.to_vec(),
            };
            assert!(disk.perform(action).is_none());
            disk.pending()
        };
        let wait = |disk: &mut DiskIo| {
            while disk.pending() > 0 {
                let done = rx.recv_timeout(Duration::from_secs(10)).expect("saved");
                assert!(
                    matches!(done, Done::Saved { result: Ok(()), .. }),
                    "{done:?}"
                );
                disk.finished(&done);
            }
        };
        assert_eq!(
            save(&mut disk, a, b"d1:ai1ee"),
            1,
            "a's first save is written"
        );
        wait(&mut disk);
        assert_eq!(
            save(&mut disk, a, b"d1:ai1ee"),
            0,
            "the same bytes again: skipped"
        );
        assert_eq!(
            save(&mut disk, b, b"d1:bi1ee"),
            0,
            "b's loaded bytes: skipped"
        );
        assert_eq!(save(&mut disk, a, b"d1:ai2ee"), 1, "new bytes are written");
        wait(&mut disk);
        assert_eq!(
            disk.load_resume(InfoHash([1; 20])).as_deref(),
            Some(&b"d1:ai2ee"[..])
        );
        let failed = Done::Saved {
            path: tmp.0.join("x"),
            result: Err(StorageError::io(IoOp::Write, "x", io::Error::other("full"))),
        };
        disk.pending += 1;
        disk.finished(&failed);
        assert_eq!(
            save(&mut disk, a, b"d1:ai2ee"),
            1,
            "after a failure: written"
        );
        wait(&mut disk);
        assert_eq!(
            save(&mut disk, b, b"d1:bi1ee"),
            1,
            "after a failure: written"
        );
        wait(&mut disk);
    }
}
