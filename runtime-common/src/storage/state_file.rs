//! [`save_atomically`]: how the runtime writes its state files (resume data, DHT state).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use sanstorrent_core::storage::{IoOp, StorageError};

/// Replaces the file at `path` with `bytes` atomically: writes a temporary file beside it,
/// fsyncs it, renames it over `path`, then fsyncs the directory. A crash at any instant leaves
/// either the old file or the new one, never a mix.
pub fn save_atomically(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = dir.join(name);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| StorageError::io(IoOp::Open, &tmp, e))?;
    file.write_all(bytes)
        .map_err(|e| StorageError::io(IoOp::Write, &tmp, e))?;
    file.sync_all()
        .map_err(|e| StorageError::io(IoOp::Flush, &tmp, e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| StorageError::io(IoOp::Rename, path, e))?;
    #[cfg(unix)]
    {
        let d = File::open(dir).map_err(|e| StorageError::io(IoOp::Open, dir, e))?;
        d.sync_all()
            .map_err(|e| StorageError::io(IoOp::Flush, dir, e))?;
    }
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
}
