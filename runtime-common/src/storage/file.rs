//! [`FileStorage`]: a torrent's files under a download directory, with positional I/O.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::UNIX_EPOCH;

use sanstorrent_core::layout::Layout;
use sanstorrent_core::metainfo::RelativePath;
use sanstorrent_core::storage::{FileStamp, IoOp, Storage, StorageError, spans};

use super::gather::{BlockCursor, grid_chunks, write_all_vectored_at, write_grid};
use super::handles::{HandleCache, Owner};
use super::links::{self, Links};
use super::sync_files::sync_each;

/// Options of a [`FileStorage`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FileStorageOptions {
    /// Most file handles kept open at once, by the storage's own cache (see `cache`).
    pub max_open_files: usize,
    /// A cache of open files to share with other storages (every torrent of a session, or
    /// several sessions); `None`: each storage opened with these options gets its own, of
    /// `max_open_files` handles.
    pub cache: Option<Arc<HandleCache>>,
    /// Reserve each file's whole length on disk when it is created (`fallocate`), instead of
    /// leaving it sparse. A full disk then fails the file's creation (or first write), not one
    /// in the middle of the download; the file is laid out in few extents; and each later write skips the file
    /// system's delayed allocation (measured: 0.1 CPU-s less per GiB downloaded on ext4).
    /// Where the file system cannot reserve space, files are sparse.
    pub preallocate: bool,
}

impl Default for FileStorageOptions {
    fn default() -> Self {
        Self {
            max_open_files: 512,
            cache: None,
            preallocate: true,
        }
    }
}

/// Files on disk under a root directory.
///
/// Files are created at their full length with their parent directories, by
/// [`Storage::create_file`] (reserved on disk, or sparse: see
/// [`FileStorageOptions::preallocate`]) or, sparse, when first written: a file the session
/// skips is created only when a piece it shares with a wanted file is written, and then holds
/// only that part. Padding files never touch the disk. BEP 47 symbolic links are created by
/// [`Storage::create_file`] when their target is a path of the torrent (see
/// [`FileStorage::open_linked`]); no data file is read or written through a link at its path,
/// or through a directory leading outside `root` ([`StorageError::UnsafeLink`]). Reads and writes
/// are positional (`pread`/`pwrite`), so worker threads share one `FileStorage` without
/// seeking; file handles live in a bounded LRU [`HandleCache`], possibly shared with other
/// storages, and close when the storage is dropped or [`FileStorage::close_handles`] is called.
///
/// Files can be renamed while the storage is in use ([`FileStorage::rename_live`]): a file is
/// opened only under the paths lock's read side, so no handle is opened by an old name once
/// the rename holds it; an operation that took its handle before goes on through it, and
/// its bytes land in the renamed file (a rename keeps the file, and open descriptors with it).
#[derive(Debug)]
pub struct FileStorage {
    layout: Layout,
    root: PathBuf,
    paths: RwLock<Vec<PathBuf>>,
    links: Links,
    preallocate: bool,
    handles: Arc<HandleCache>,
    owner: Owner,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Files written since the last flush.
    dirty: BTreeSet<usize>,
}

impl FileStorage {
    /// Storage for `layout`'s files at `paths` (one per file, padding included) under `root`,
    /// with default options. Creates nothing yet.
    pub fn open(
        root: impl Into<PathBuf>,
        layout: Layout,
        paths: &[RelativePath],
    ) -> Result<Self, StorageError> {
        Self::open_with(root, layout, paths, FileStorageOptions::default())
    }

    /// Like [`FileStorage::open`] with explicit options.
    pub fn open_with(
        root: impl Into<PathBuf>,
        layout: Layout,
        paths: &[RelativePath],
        options: FileStorageOptions,
    ) -> Result<Self, StorageError> {
        Self::open_linked(root, layout, paths, &[], options)
    }

    /// Like [`FileStorage::open_with`], for a torrent with BEP 47 symbolic links: `symlinks`
    /// lists `(file index, target)` as core gives them
    /// ([`Metainfo::symlinks`](sanstorrent_core::metainfo::Metainfo::symlinks)). A link is
    /// created (instead of an empty file) only if its file is empty and its target is another
    /// of `paths` or a directory holding one; it is written relative to its own directory.
    pub fn open_linked(
        root: impl Into<PathBuf>,
        layout: Layout,
        paths: &[RelativePath],
        symlinks: &[(usize, RelativePath)],
        options: FileStorageOptions,
    ) -> Result<Self, StorageError> {
        if paths.len() != layout.files().len() {
            return Err(StorageError::FileCount {
                expected: layout.files().len(),
                actual: paths.len(),
            });
        }
        let root = root.into();
        let links = Links::new(&layout, paths, symlinks);
        let paths: Vec<PathBuf> = paths.iter().map(|p| root.join(p.to_path_buf())).collect();
        let handles = options
            .cache
            .unwrap_or_else(|| HandleCache::new(options.max_open_files));
        Ok(Self {
            state: Mutex::new(State {
                dirty: BTreeSet::new(),
            }),
            owner: handles.owner(),
            handles,
            layout,
            root,
            paths: RwLock::new(paths),
            links,
            preallocate: options.preallocate,
        })
    }

    /// The absolute path of file `file`.
    pub fn path(&self, file: usize) -> Option<PathBuf> {
        self.paths().get(file).cloned()
    }

    /// Renames files while the storage may be in use: `rename` moves them on disk (it runs
    /// while no file is being opened), then `files` (file index, new absolute path) become
    /// their paths and their cached handles close, so the next operation on each opens it
    /// under its new name. If `rename` fails, nothing changes.
    pub fn rename_live<E>(
        &self,
        files: &[(usize, PathBuf)],
        rename: impl FnOnce() -> Result<(), E>,
    ) -> Result<(), E> {
        let mut paths = self.paths.write().unwrap_or_else(|e| e.into_inner());
        rename()?;
        for (file, path) in files {
            if let Some(slot) = paths.get_mut(*file) {
                slot.clone_from(path);
                self.handles.remove(self.owner, *file);
            }
        }
        Ok(())
    }

    fn paths(&self) -> RwLockReadGuard<'_, Vec<PathBuf>> {
        // A panic while holding the lock cannot leave the list half written (each path is
        // replaced whole): keep using it.
        self.paths.read().unwrap_or_else(|e| e.into_inner())
    }

    fn path_error(&self, op: IoOp, file: usize, e: io::Error) -> StorageError {
        let path = self.path(file).unwrap_or_default();
        StorageError::io(op, path, e)
    }

    /// Number of this storage's file handles currently cached.
    pub fn open_handles(&self) -> usize {
        self.handles.count(self.owner)
    }

    /// Closes this storage's cached file handles (each once the operations using it finish);
    /// later I/O opens files again.
    pub fn close_handles(&self) {
        self.handles.close(self.owner);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves only a cache behind: keep using it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check_file(&self, file: usize) -> Result<u64, StorageError> {
        match self.layout.files().get(file) {
            Some(f) if !f.padding => Ok(f.length),
            _ => Err(StorageError::NoSuchFile(file)),
        }
    }

    /// A handle of `file`, opened (and for writing, created at full length) if needed.
    fn handle(&self, file: usize, write: bool) -> Result<Arc<File>, StorageError> {
        self.handle_with(file, write, false)
    }

    /// [`FileStorage::handle`]; `reserve`: a file created now gets its space reserved if
    /// [`FileStorageOptions::preallocate`] says so (else it is sparse).
    fn handle_with(
        &self,
        file: usize,
        write: bool,
        reserve: bool,
    ) -> Result<Arc<File>, StorageError> {
        let length = self.check_file(file)?;
        if let Some(h) = self.handles.get(self.owner, file, write) {
            return Ok(h);
        }
        // Opened without holding the handles' lock: creating and reserving a file takes a
        // while, and I/O on files already open must not wait for it. Two threads opening the
        // same file both succeed (neither truncates it); the handle cached first is kept.
        // The paths' read side is held until the handle is cached: a rename waits for it.
        let paths = self.paths();
        let path = &paths[file];
        if let Some(dir) = path.parent() {
            links::check_inside(&self.root, dir)?;
        }
        let (handle, writable) = if write {
            (
                open_for_write(&self.root, path, length, reserve && self.preallocate)?,
                true,
            )
        } else {
            open_for_read(path)?
        };
        if let Some(h) = self.handles.get(self.owner, file, write) {
            return Ok(h);
        }
        let handle = Arc::new(handle);
        self.handles
            .insert(self.owner, file, Arc::clone(&handle), writable);
        Ok(handle)
    }
}

impl Drop for FileStorage {
    fn drop(&mut self) {
        self.close_handles();
    }
}

impl Storage for FileStorage {
    fn layout(&self) -> &Layout {
        &self.layout
    }

    /// A file deleted while its handle is cached still reads, from data no path leads to any
    /// more: the read fails as the file's absence (`NotFound`), so that the torrent checks its
    /// data again instead of serving what the user removed.
    fn read_file(&self, file: usize, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let handle = self.handle(file, false)?;
        let read = read_exact_at(&handle, buf, offset).and_then(|()| still_linked(&handle));
        if read
            .as_ref()
            .is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
        {
            // The next use opens the path again (and finds the file, if it came back).
            self.handles.remove(self.owner, file);
        }
        read.map_err(|e| self.path_error(IoOp::Read, file, e))
    }

    fn write_file(&self, file: usize, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let handle = self.handle(file, true)?;
        write_all_at(&handle, data, offset).map_err(|e| self.path_error(IoOp::Write, file, e))?;
        self.lock().dirty.insert(file);
        Ok(())
    }

    /// Writes the blocks' bytes file by file, cut on each file's own grid rather than on
    /// block boundaries, each cut with one vectored write (see the `gather` module).
    fn write_blocks(&self, piece: u32, offset: u32, blocks: &[&[u8]]) -> Result<(), StorageError> {
        let total = blocks.iter().map(|b| b.len()).sum();
        let mut source = BlockCursor::new(blocks);
        let mut slices = Vec::new();
        for span in spans(&self.layout, piece, offset, total)? {
            if span.padding {
                source.skip(span.len);
                continue;
            }
            let handle = self.handle(span.file, true)?;
            let len = span.len as u64;
            for (at, len) in grid_chunks(span.file_offset, len, write_grid(span.file_offset, len)) {
                slices.clear();
                source.take(len as usize, &mut slices);
                write_all_vectored_at(&handle, &mut slices, at)
                    .map_err(|e| self.path_error(IoOp::Write, span.file, e))?;
            }
            self.lock().dirty.insert(span.file);
        }
        Ok(())
    }

    fn create_file(&self, file: usize) -> Result<(), StorageError> {
        match self.links.target(file) {
            Some(target) => links::create(&self.root, &self.paths()[file], target),
            None => self.handle_with(file, true, true).map(drop),
        }
    }

    /// Syncs every file written since the last flush, several at once (see `sync_files`; as
    /// many as half the handle cache holds, so that files held open by syncs beyond the cache
    /// stay within the open-files bound). Files that fail stay dirty, so the next flush retries
    /// them; the first failure (in file order) is returned.
    fn flush(&self) -> Result<(), StorageError> {
        let dirty: Vec<usize> = std::mem::take(&mut self.lock().dirty).into_iter().collect();
        let threads = (self.handles.capacity() / 2).max(1);
        let failed = sync_each(&dirty, threads, |file| {
            self.handle(file, true).and_then(|h| {
                h.sync_data()
                    .and_then(|()| still_linked(&h))
                    .map_err(|e| self.path_error(IoOp::Flush, file, e))
            })
        });
        let mut first = None;
        if !failed.is_empty() {
            let mut state = self.lock();
            for (file, e) in failed {
                state.dirty.insert(file);
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn stamps(&self) -> Result<Vec<Option<FileStamp>>, StorageError> {
        let paths = self.paths();
        self.layout
            .files()
            .iter()
            .zip(paths.iter())
            .enumerate()
            .map(|(i, (f, path))| {
                if f.padding {
                    return Ok(Some(FileStamp::padding(f.length)));
                }
                if self.links.contains(i) {
                    // The link itself (it holds no data), never what it points to.
                    return match fs::symlink_metadata(path) {
                        Ok(meta) => Ok(Some(FileStamp {
                            size: 0,
                            ..stamp_of(&meta)
                        })),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                        Err(e) => Err(StorageError::io(IoOp::Metadata, path, e)),
                    };
                }
                match fs::metadata(path) {
                    Ok(meta) => Ok(Some(stamp_of(&meta))),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(StorageError::io(IoOp::Metadata, path, e)),
                }
            })
            .collect()
    }
}

/// Size and modification time from file metadata (the file system's clock, not ours).
fn stamp_of(meta: &fs::Metadata) -> FileStamp {
    let (secs, nanos) = match meta.modified().map(|t| t.duration_since(UNIX_EPOCH)) {
        Ok(Ok(d)) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Ok(Err(before)) => {
            let d = before.duration();
            (
                -i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                d.subsec_nanos(),
            )
        }
        Err(_) => (0, 0),
    };
    FileStamp {
        size: meta.len(),
        mtime_secs: secs,
        mtime_nanos: nanos,
    }
}

/// Creates `path`'s directories, checking that they stay inside `root`.
fn create_parent(root: &Path, path: &Path) -> Result<(), StorageError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| StorageError::io(IoOp::CreateDir, parent, e))?;
        links::check_inside(root, parent)?;
    }
    Ok(())
}

/// Options that never follow a symbolic link at the file's own path.
fn no_follow() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    options
}

fn open_for_write(
    root: &Path,
    path: &Path,
    length: u64,
    preallocate: bool,
) -> Result<File, StorageError> {
    let open = || {
        no_follow()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
    };
    let file = match open() {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create_parent(root, path)?;
            open().map_err(|e| links::open_error(path, e))?
        }
        Err(e) => return Err(links::open_error(path, e)),
    };
    let current = file
        .metadata()
        .map_err(|e| StorageError::io(IoOp::Metadata, path, e))?
        .len();
    if current < length {
        let reserved = preallocate
            && reserve(&file, length).map_err(|e| StorageError::io(IoOp::Reserve, path, e))?;
        if !reserved {
            // Sparse: the file system allocates blocks only where data is written.
            file.set_len(length)
                .map_err(|e| StorageError::io(IoOp::SetLen, path, e))?;
        }
    }
    Ok(file)
}

/// Allocates `length` bytes of disk space for `file` (growing it to `length`), keeping what
/// it holds. `Ok(false)`: the file system cannot do that, so the caller leaves the file sparse;
/// a full disk is an error.
#[cfg(target_os = "linux")]
fn reserve(file: &File, length: u64) -> io::Result<bool> {
    use rustix::fs::{FallocateFlags, fallocate};
    use rustix::io::Errno;
    loop {
        match fallocate(file, FallocateFlags::empty(), 0, length) {
            Ok(()) => return Ok(true),
            // A signal arrived while a large file was being reserved: try again.
            Err(Errno::INTR) => {}
            Err(Errno::OPNOTSUPP | Errno::NOSYS | Errno::INVAL) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Elsewhere files stay sparse.
#[cfg(not(target_os = "linux"))]
fn reserve(_file: &File, _length: u64) -> io::Result<bool> {
    Ok(false)
}

/// Opens read-write if allowed (so the handle serves later writes), else read-only: a file
/// without write permission, or on a read-only file system (data seeded from read-only media).
fn open_for_read(path: &Path) -> Result<(File, bool), StorageError> {
    match no_follow().read(true).write(true).open(path) {
        Ok(f) => Ok((f, true)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            no_follow()
                .read(true)
                .open(path)
                .map(|f| (f, false))
                .map_err(|e| links::open_error(path, e))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StorageError::io(IoOp::Open, path, e)),
        Err(e) => Err(links::open_error(path, e)),
    }
}

/// `NotFound` if `file` was deleted since it was opened: it still reads and writes, but
/// nothing will find what it holds (a flush of it keeps failing, so the torrent stops before
/// recording pieces that are gone).
fn still_linked(file: &File) -> io::Result<()> {
    if unlinked(file) {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the file was deleted while open",
        ));
    }
    Ok(())
}

/// Whether `file` no longer has a name.
#[cfg(unix)]
fn unlinked(file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    file.metadata().is_ok_and(|m| m.nlink() == 0)
}

/// Windows does not delete a file that is open, so a handle always has a name.
#[cfg(not(unix))]
fn unlinked(_: &File) -> bool {
    false
}

/// Fills `buf` from `file` at `offset` without moving its cursor (so threads can share the
/// handle); a file that ends first is `UnexpectedEof`.
#[cfg(unix)]
pub fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(unix)]
pub(super) fn write_all_at(file: &File, data: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, data, offset)
}

/// Fills `buf` from `file` at `offset` (see the unix version).
#[cfg(windows)]
pub fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(windows)]
pub(super) fn write_all_at(file: &File, mut data: &[u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !data.is_empty() {
        match file.seek_write(data, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                data = &data[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use sanstorrent_core::storage::hash_piece;

    pub(crate) struct TempDir(pub(crate) PathBuf);

    impl TempDir {
        pub(crate) fn new(name: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("sanstorrent-storage-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn rel(s: &str) -> RelativePath {
        RelativePath::from_components(s.split('/')).unwrap()
    }

    /// 5 files: 10 bytes, empty, 6 bytes padding, 30 bytes in a subdirectory, 3 bytes; piece
    /// length 16 → 49 bytes, 4 pieces.
    fn sample(dir: &Path, max_open: usize) -> FileStorage {
        let layout = Layout::new(
            16,
            [(10, false), (0, false), (6, true), (30, false), (3, false)],
        )
        .unwrap();
        let paths = [
            rel("t/a"),
            rel("t/empty"),
            rel("t/.pad/6"),
            rel("t/sub/dir/b"),
            rel("t/c"),
        ];
        FileStorage::open_with(
            dir,
            layout,
            &paths,
            FileStorageOptions {
                max_open_files: max_open,
                ..Default::default()
            },
        )
        .unwrap()
    }

    fn content(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 1) as u8).collect()
    }

    #[test]
    fn round_trip_across_files_and_padding() {
        let tmp = TempDir::new("round-trip");
        let s = sample(&tmp.0, 2);
        assert!(
            !tmp.0.join("t/empty").exists(),
            "nothing created at open, not even empty files"
        );
        s.create_file(1).unwrap();
        assert!(
            tmp.0.join("t/empty").exists(),
            "an empty file is created when asked"
        );
        assert!(
            !tmp.0.join("t/a").exists(),
            "files are created on first write"
        );
        let data = content(49);
        // Padding bytes of the stream are zeros.
        let mut stream = data.clone();
        stream[10..16].fill(0);
        for piece in 0..4u32 {
            let start = piece as usize * 16;
            let end = (start + 16).min(49);
            s.write(piece, 0, &stream[start..end]).unwrap();
        }
        s.flush().unwrap();
        assert!(!tmp.0.join("t/.pad").exists(), "padding never written");
        assert_eq!(fs::read(tmp.0.join("t/a")).unwrap(), &stream[..10]);
        assert_eq!(
            fs::read(tmp.0.join("t/sub/dir/b")).unwrap(),
            &stream[16..46]
        );
        assert!(s.open_handles() <= 2, "LRU bound");
        // A read crossing a padding file and two data files.
        let mut buf = vec![0xAA; 16];
        s.read(0, 0, &mut buf).unwrap();
        assert_eq!(buf, &stream[..16]);
        let mut buf = vec![0; 8];
        s.read(2, 8, &mut buf).unwrap();
        assert_eq!(buf, &stream[40..48]);
        let mut last = [0; 1];
        s.read(3, 0, &mut last).unwrap();
        assert_eq!(last[0], stream[48]);
        assert!(matches!(
            s.read(3, 0, &mut [0; 2]),
            Err(StorageError::OutOfRange { .. })
        ));
        assert!(matches!(
            s.write_file(2, 0, b"x"),
            Err(StorageError::NoSuchFile(2))
        ));
        assert_eq!(s.stamps().unwrap().len(), 5);
    }

    #[test]
    fn joined_blocks_land_as_block_writes_would() {
        let tmp = TempDir::new("write-blocks");
        // Files that start off the 16 KiB grid, a padding file, and a piece spanning three.
        let files = [
            (10_000, false),
            (6_384, true),
            (70_001, false),
            (1, false),
            (50_000, false),
        ];
        let layout = Layout::new(1 << 16, files).unwrap();
        let paths = [rel("a"), rel(".pad/1"), rel("d/b"), rel("c"), rel("e")];
        let s = FileStorage::open(&tmp.0, layout.clone(), &paths).unwrap();
        let total = layout.total_length() as usize;
        let mut stream = content(total);
        stream[10_000..16_384].fill(0);
        for piece in 0..layout.piece_count() {
            let start = piece as usize * (1 << 16);
            let data = &stream[start..start + layout.piece_len(piece) as usize];
            // Blocks of uneven sizes, written in two runs.
            let cuts =
                [0, 1, 16_384, 16_390, 40_000, 50_000, data.len()].map(|c| c.min(data.len()));
            let blocks: Vec<&[u8]> = cuts.windows(2).map(|w| &data[w[0]..w[1]]).collect();
            let (first, second) = blocks.split_at(3);
            let second_at: usize = first.iter().map(|b| b.len()).sum();
            s.write_blocks(piece, 0, first).unwrap();
            s.write_blocks(piece, second_at as u32, second).unwrap();
        }
        assert!(!tmp.0.join(".pad").exists(), "padding never written");
        assert_eq!(fs::read(tmp.0.join("a")).unwrap(), &stream[..10_000]);
        assert_eq!(
            fs::read(tmp.0.join("d/b")).unwrap(),
            &stream[16_384..86_385]
        );
        assert_eq!(fs::read(tmp.0.join("c")).unwrap(), &stream[86_385..86_386]);
        assert_eq!(fs::read(tmp.0.join("e")).unwrap(), &stream[86_386..]);
        let past_end: [&[u8]; 2] = [&[1; 10], &[2; 1 << 16]];
        assert!(matches!(
            s.write_blocks(0, 0, &past_end),
            Err(StorageError::OutOfRange { .. })
        ));
    }

    #[test]
    fn aligned_runs_across_the_coarse_grid_land_whole() {
        let tmp = TempDir::new("write-aligned");
        // One file: every run lies on the block grid, the last block is short.
        let len = 5 * (1 << 16) + 1000;
        let layout = Layout::new(1 << 17, [(len as u64, false)]).unwrap();
        let s = FileStorage::open(&tmp.0, layout.clone(), &[rel("f")]).unwrap();
        let stream = content(len);
        for piece in 0..layout.piece_count() {
            let start = piece as usize * (1 << 17);
            let data = &stream[start..start + layout.piece_len(piece) as usize];
            let blocks: Vec<&[u8]> = data.chunks(1 << 14).collect();
            // Runs of one, five and the rest: they start at 0, 16 and 96 KiB of the piece.
            let mut at = 0;
            for run in [
                &blocks[..1],
                &blocks[1..blocks.len().min(6)],
                &blocks[6.min(blocks.len())..],
            ] {
                if run.is_empty() {
                    continue;
                }
                s.write_blocks(piece, at, run).unwrap();
                at += run.iter().map(|b| b.len() as u32).sum::<u32>();
            }
        }
        assert_eq!(fs::read(tmp.0.join("f")).unwrap(), stream);
    }

    /// Bytes of disk the file at `path` occupies.
    #[cfg(target_os = "linux")]
    fn allocated(path: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(path).unwrap().blocks() * 512
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn preallocation_reserves_the_whole_file_and_sparse_files_only_what_is_written() {
        const LEN: u64 = 4 << 20;
        let tmp = TempDir::new("preallocate");
        let layout = Layout::new(1 << 20, [(LEN, false), (LEN, false)]).unwrap();
        let open = |preallocate, name: &str| {
            FileStorage::open_with(
                &tmp.0,
                layout.clone(),
                &[rel(&format!("{name}/a")), rel(&format!("{name}/b"))],
                FileStorageOptions {
                    preallocate,
                    ..Default::default()
                },
            )
            .unwrap()
        };
        let reserved = open(true, "reserved");
        let sparse = open(false, "sparse");
        for s in [&reserved, &sparse] {
            // The first file is created as the session creates wanted files, then gets its
            // last byte only.
            s.create_file(0).unwrap();
            s.write(3, (1 << 20) - 1, &[7]).unwrap();
        }
        assert!(allocated(&tmp.0.join("reserved/a")) >= LEN);
        assert!(allocated(&tmp.0.join("sparse/a")) < LEN / 4);
        for name in ["reserved/a", "sparse/a"] {
            let data = fs::read(tmp.0.join(name)).unwrap();
            assert_eq!(data.len() as u64, LEN, "{name}: full length");
            assert_eq!(data[LEN as usize - 1], 7);
            assert!(data[..LEN as usize - 1].iter().all(|&b| b == 0));
        }
        assert!(
            !tmp.0.join("reserved/b").exists(),
            "created when first written"
        );
        let mut buf = [0; 1];
        reserved.read(3, (1 << 20) - 1, &mut buf).unwrap();
        assert_eq!(buf, [7]);
        // A file first created by a write (a skipped file's share of a wanted piece) holds
        // only what was written, even with preallocation on.
        reserved.write(4, 0, &[8; 16]).unwrap();
        assert_eq!(fs::metadata(tmp.0.join("reserved/b")).unwrap().len(), LEN);
        assert!(allocated(&tmp.0.join("reserved/b")) < LEN / 4);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn preallocation_keeps_what_a_shorter_file_holds() {
        let tmp = TempDir::new("preallocate-keep");
        let layout = Layout::new(1 << 16, [(1 << 20, false)]).unwrap();
        fs::create_dir_all(tmp.0.join("t")).unwrap();
        fs::write(tmp.0.join("t/a"), content(1000)).unwrap();
        let s = FileStorage::open(&tmp.0, layout, &[rel("t/a")]).unwrap();
        s.create_file(0).unwrap();
        s.write(15, 0, &[9; 16]).unwrap();
        let data = fs::read(tmp.0.join("t/a")).unwrap();
        assert_eq!(data.len(), 1 << 20);
        assert_eq!(&data[..1000], &content(1000)[..]);
        assert_eq!(&data[15 << 16..(15 << 16) + 16], &[9; 16]);
        assert!(allocated(&tmp.0.join("t/a")) >= 1 << 20);
    }

    #[test]
    fn writes_are_sparse_and_missing_data_is_reported() {
        let tmp = TempDir::new("sparse");
        let s = sample(&tmp.0, 4);
        s.write(2, 12, &[1, 2]).unwrap();
        let meta = fs::metadata(tmp.0.join("t/sub/dir/b")).unwrap();
        assert_eq!(meta.len(), 30, "created at full length");
        let mut buf = [0; 1];
        let err = s.read(3, 0, &mut buf).unwrap_err();
        assert!(err.is_missing_data(), "{err}");
        assert!(err.to_string().contains("t/c"), "{err}");
    }

    #[test]
    fn worker_threads_share_one_storage() {
        let tmp = TempDir::new("threads");
        let layout = Layout::new(1000, (0..7).map(|i| (1234 + i * 100, false))).unwrap();
        let paths: Vec<RelativePath> = (0..7).map(|i| rel(&format!("t/f{i}"))).collect();
        let s = Arc::new(
            FileStorage::open_with(
                &tmp.0,
                layout.clone(),
                &paths,
                FileStorageOptions {
                    max_open_files: 3,
                    ..Default::default()
                },
            )
            .unwrap(),
        );
        let data = Arc::new(content(layout.total_length() as usize));
        let workers: Vec<_> = (0..4u32)
            .map(|w| {
                let (s, data, layout) = (s.clone(), data.clone(), layout.clone());
                std::thread::spawn(move || {
                    for piece in (w..layout.piece_count()).step_by(4) {
                        let start = layout.piece_offset(piece) as usize;
                        let len = layout.piece_len(piece) as usize;
                        s.write(piece, 0, &data[start..start + len]).unwrap();
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        s.flush().unwrap();
        let mut all = vec![0; data.len()];
        for piece in 0..layout.piece_count() {
            let start = layout.piece_offset(piece) as usize;
            let len = layout.piece_len(piece) as usize;
            s.read(piece, 0, &mut all[start..start + len]).unwrap();
        }
        assert_eq!(all, *data);
    }

    #[test]
    fn ten_thousand_files_do_not_exhaust_descriptors() {
        let tmp = TempDir::new("many");
        let n = 10_000;
        let layout = Layout::new(64, (0..n).map(|_| (3u64, false))).unwrap();
        let paths: Vec<RelativePath> = (0..n).map(|i| rel(&format!("d{}/f{i}", i % 50))).collect();
        let s = FileStorage::open_with(
            &tmp.0,
            layout.clone(),
            &paths,
            FileStorageOptions {
                max_open_files: 16,
                ..Default::default()
            },
        )
        .unwrap();
        let data = content(layout.total_length() as usize);
        for piece in 0..layout.piece_count() {
            let start = piece as usize * 64;
            let len = layout.piece_len(piece) as usize;
            s.write(piece, 0, &data[start..start + len]).unwrap();
            assert!(s.open_handles() <= 16);
        }
        // Read everything back (reopening evicted files) through the bounded cache.
        for piece in (0..layout.piece_count()).step_by(7) {
            let start = piece as usize * 64;
            let expected = &data[start..start + layout.piece_len(piece) as usize];
            assert_eq!(
                hash_piece(&s, piece).unwrap(),
                sanstorrent_core::id::sha1_digest(expected)
            );
            assert!(s.open_handles() <= 16);
        }
    }
}
