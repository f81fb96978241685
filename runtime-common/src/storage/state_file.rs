//! [`save_atomically`] and [`save_many`]: how the runtime writes its state files (resume
//! data, DHT state), one at a time or a batch with one flush of the file system.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sanstorrent_core::storage::{IoOp, StorageError};

/// Replaces the file at `path` with `bytes` atomically: writes a temporary file beside it,
/// fsyncs it, renames it over `path`, then fsyncs the directory. A crash at any instant leaves
/// either the old file or the new one, never a mix.
pub fn save_atomically(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let dir = parent(path);
    let tmp = write_temporary(path, bytes, true)?;
    fs::rename(&tmp, path).map_err(|e| StorageError::io(IoOp::Rename, path, e))?;
    sync_dir(dir)
}

/// From how many files a batch is made durable by one flush of each file system it writes
/// to (`syncfs`) instead of an fsync per file.
const SYNC_FS_FROM: usize = 8;

/// Saves a batch of state files as [`save_atomically`] saves one, with the same guarantee
/// for each (a crash leaves the old file or the new one, never a mix), at a fraction of the
/// cost: every temporary file is written first, then all are made durable at once (one
/// `syncfs` per directory on Linux from [`SYNC_FS_FROM`] files, else an fsync each), renamed,
/// and each directory is synced once instead of once per file. A path named twice gets its
/// last bytes (saves apply in order). One result per entry of `files`, in order.
pub fn save_many(files: &[(PathBuf, Vec<u8>)]) -> Vec<Result<(), StorageError>> {
    // The last save of each path is the one written; the earlier ones share its result.
    let mut last: HashMap<&Path, usize> = HashMap::new();
    for (i, (path, _)) in files.iter().enumerate() {
        last.insert(path.as_path(), i);
    }
    let written: Vec<usize> = (0..files.len())
        .filter(|i| last.get(files[*i].0.as_path()) == Some(i))
        .collect();
    let one_flush = cfg!(target_os = "linux") && written.len() >= SYNC_FS_FROM;
    let mut results: Vec<Option<Result<(), StorageError>>> =
        std::iter::repeat_with(|| None).take(files.len()).collect();
    let mut temporaries: Vec<(usize, PathBuf)> = Vec::with_capacity(written.len());
    for &i in &written {
        match write_temporary(&files[i].0, &files[i].1, !one_flush) {
            Ok(tmp) => temporaries.push((i, tmp)),
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    let mut dirs: Vec<&Path> = Vec::new();
    for (i, _) in &temporaries {
        let dir = parent(&files[*i].0);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    // Each directory's flush (or its failure), then each file's rename.
    let mut flushed: HashMap<&Path, Result<(), StorageError>> = HashMap::new();
    for dir in &dirs {
        flushed.insert(dir, if one_flush { sync_fs(dir) } else { Ok(()) });
    }
    let mut renamed: Vec<&Path> = Vec::new();
    for (i, tmp) in temporaries {
        let path = &files[i].0;
        let dir = parent(path);
        results[i] = Some(match &flushed[dir] {
            Err(e) => Err(copy(e)),
            Ok(()) => fs::rename(&tmp, path)
                .map_err(|e| StorageError::io(IoOp::Rename, path, e))
                .map(|()| {
                    if !renamed.contains(&dir) {
                        renamed.push(dir);
                    }
                }),
        });
    }
    for dir in renamed {
        if let Err(e) = sync_dir(dir) {
            for (i, (path, _)) in files.iter().enumerate() {
                if parent(path) == dir && matches!(results[i], Some(Ok(()))) {
                    results[i] = Some(Err(copy(&e)));
                }
            }
        }
    }
    files
        .iter()
        .enumerate()
        .map(|(i, (path, _))| {
            let from = last.get(path.as_path()).copied().unwrap_or(i);
            match &results[from] {
                Some(Err(e)) => Err(copy(e)),
                _ => Ok(()),
            }
        })
        .collect()
}

/// The same failure again (one per file a directory's failure fails).
fn copy(e: &StorageError) -> StorageError {
    match e {
        StorageError::Io { op, path, error } => {
            StorageError::io(*op, path, io::Error::new(error.kind(), error.to_string()))
        }
        other => StorageError::io(
            IoOp::Write,
            PathBuf::new(),
            io::Error::other(other.to_string()),
        ),
    }
}

/// The directory `path` is in.
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to `<path>.tmp` (fsynced if `sync`); its path.
fn write_temporary(path: &Path, bytes: &[u8], sync: bool) -> Result<PathBuf, StorageError> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = parent(path).join(name);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| StorageError::io(IoOp::Open, &tmp, e))?;
    file.write_all(bytes)
        .map_err(|e| StorageError::io(IoOp::Write, &tmp, e))?;
    if sync {
        file.sync_all()
            .map_err(|e| StorageError::io(IoOp::Flush, &tmp, e))?;
    }
    Ok(tmp)
}

/// Makes a rename in `dir` durable (fsync of the directory; nothing to do off Unix).
fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    #[cfg(unix)]
    {
        let d = File::open(dir).map_err(|e| StorageError::io(IoOp::Open, dir, e))?;
        d.sync_all()
            .map_err(|e| StorageError::io(IoOp::Flush, dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes out everything the file system holding `dir` has in memory (Linux `syncfs`).
#[cfg(target_os = "linux")]
fn sync_fs(dir: &Path) -> Result<(), StorageError> {
    let d = File::open(dir).map_err(|e| StorageError::io(IoOp::Open, dir, e))?;
    rustix::fs::syncfs(&d).map_err(|e| StorageError::io(IoOp::Flush, dir, e.into()))
}

/// Never called off Linux (`save_many` fsyncs each file there).
#[cfg(not(target_os = "linux"))]
fn sync_fs(_dir: &Path) -> Result<(), StorageError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::file::tests::TempDir;

    #[test]
    fn save_replaces_atomically() {
        let tmp = TempDir::new("atomic");
        let path = tmp.0.join("r");
        save_atomically(&path, b"one").unwrap();
        fs::write(tmp.0.join("r.tmp"), b"leftover of a crash").unwrap();
        save_atomically(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let err = save_atomically(&tmp.0.join("missing/dir/r"), b"x").unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    /// A batch as large as a start's saves (one flush for all) and one of two (an fsync each):
    /// every file holds its last bytes, leftovers of a crash are replaced, no temporary file
    /// stays, and a file whose directory is missing fails alone.
    #[test]
    fn a_batch_saves_each_file_as_one_save_would() {
        let tmp = TempDir::new("atomic-batch");
        for n in [2, SYNC_FS_FROM * 4] {
            let dir = tmp.0.join(format!("n{n}"));
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("f0"), b"old").unwrap();
            fs::write(dir.join("f1.tmp"), b"leftover of a crash").unwrap();
            let mut batch: Vec<(PathBuf, Vec<u8>)> = (0..n)
                .map(|i| {
                    (
                        dir.join(format!("f{i}")),
                        vec![u8::try_from(i).unwrap(); 10],
                    )
                })
                .collect();
            // The first file again, later in the batch: its last bytes win.
            batch.push((dir.join("f0"), b"last".to_vec()));
            batch.push((tmp.0.join("missing/dir/r"), b"x".to_vec()));
            let results = save_many(&batch);
            assert_eq!(results.len(), batch.len());
            let failed: Vec<usize> = (0..results.len())
                .filter(|i| results[*i].is_err())
                .collect();
            assert_eq!(
                failed,
                [batch.len() - 1],
                "only the file of a missing directory"
            );
            let err = results.last().unwrap().as_ref().unwrap_err();
            assert!(err.to_string().contains("missing"), "{err}");
            assert_eq!(fs::read(dir.join("f0")).unwrap(), b"last");
            for i in 1..n {
                let want = vec![u8::try_from(i).unwrap(); 10];
                assert_eq!(fs::read(dir.join(format!("f{i}"))).unwrap(), want);
            }
            let names: Vec<String> = fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(names.len(), n, "{names:?}");
            assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        }
    }
}
