//! [`MemoryStorage`]: a torrent's files in memory, for simulations and tests.

use std::cell::{Ref, RefCell, RefMut};
use std::io;

use super::{FileStamp, IoOp, Storage, StorageError};
use crate::layout::Layout;

/// Files held in memory. Like the runtime's file storage, a file exists only once written (zero-length
/// files exist from the start) and reading data never written is a missing-data error. Each
/// write bumps the file's modification "time" (a counter), so resume logic sees changes.
///
/// It serves one thread, as a simulation runs: a runtime that shares storage between worker
/// threads needs a `Sync` back-end (or wraps this one in its own lock).
#[derive(Debug)]
pub struct MemoryStorage {
    layout: Layout,
    files: RefCell<Vec<MemFile>>,
}

#[derive(Clone, Debug, Default)]
struct MemFile {
    data: Option<Vec<u8>>,
    writes: i64,
}

impl MemoryStorage {
    /// Empty storage for `layout`.
    pub fn new(layout: Layout) -> Self {
        let files = layout
            .files()
            .iter()
            .map(|f| MemFile {
                data: (f.length == 0 && !f.padding).then(Vec::new),
                writes: 0,
            })
            .collect();
        Self {
            layout,
            files: RefCell::new(files),
        }
    }

    /// A copy of file `file`'s bytes, if it exists.
    pub fn file_data(&self, file: usize) -> Option<Vec<u8>> {
        self.files().get(file)?.data.clone()
    }

    /// Shortens file `file` to `len` bytes, as a user truncating it under the torrent would
    /// (reads past the new end are missing data; the next write grows it back). A file that
    /// does not exist or is shorter already stays as it is.
    pub fn truncate_file(&self, file: usize, len: u64) {
        if let Some(f) = self.files_mut().get_mut(file)
            && let Some(data) = &mut f.data
            && (len as usize) < data.len()
        {
            data.truncate(len as usize);
            f.writes += 1;
        }
    }

    /// Deletes file `file`, as a user deleting it under the torrent would.
    pub fn remove_file(&self, file: usize) {
        if let Some(f) = self.files_mut().get_mut(file) {
            f.data = None;
            f.writes += 1;
        }
    }

    fn files(&self) -> Ref<'_, Vec<MemFile>> {
        self.files.borrow()
    }

    fn files_mut(&self) -> RefMut<'_, Vec<MemFile>> {
        self.files.borrow_mut()
    }

    fn check_file(&self, file: usize) -> Result<u64, StorageError> {
        match self.layout.files().get(file) {
            Some(f) if !f.padding => Ok(f.length),
            _ => Err(StorageError::NoSuchFile(file)),
        }
    }
}

/// The byte range `offset..offset + len` of a file of `length` bytes, if inside it.
fn range(offset: u64, len: usize, length: u64) -> Option<std::ops::Range<usize>> {
    let end = offset.checked_add(len as u64)?;
    (end <= length).then_some(offset as usize..end as usize)
}

fn name(file: usize) -> String {
    format!("<memory>/{file}")
}

impl Storage for MemoryStorage {
    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn read_file(&self, file: usize, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let length = self.check_file(file)?;
        let files = self.files();
        let Some(data) = &files[file].data else {
            return Err(StorageError::io(
                IoOp::Open,
                name(file),
                io::ErrorKind::NotFound.into(),
            ));
        };
        let Some(r) = range(offset, buf.len(), length.min(data.len() as u64)) else {
            return Err(StorageError::io(
                IoOp::Read,
                name(file),
                io::ErrorKind::UnexpectedEof.into(),
            ));
        };
        buf.copy_from_slice(&data[r]);
        Ok(())
    }

    fn write_file(&self, file: usize, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let length = self.check_file(file)?;
        let Some(r) = range(offset, data.len(), length) else {
            return Err(StorageError::io(
                IoOp::Write,
                name(file),
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "write past the end of the file",
                ),
            ));
        };
        let mut files = self.files_mut();
        let f = &mut files[file];
        // Allocated at full length on first write, as the runtime's file storage creates its files.
        let stored = f.data.get_or_insert_with(|| vec![0; length as usize]);
        // A truncated file grows back to full length, as the runtime's `set_len` does.
        stored.resize(length as usize, 0);
        stored[r].copy_from_slice(data);
        f.writes += 1;
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }

    fn stamps(&self) -> Result<Vec<Option<FileStamp>>, StorageError> {
        let files = self.files();
        Ok(self
            .layout
            .files()
            .iter()
            .zip(files.iter())
            .map(|(extent, f)| {
                if extent.padding {
                    return Some(FileStamp::padding(extent.length));
                }
                f.data.as_ref().map(|d| FileStamp {
                    size: d.len() as u64,
                    mtime_secs: f.writes,
                    mtime_nanos: 0,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing_files() {
        let layout = Layout::new(8, [(5, false), (3, true), (0, false), (6, false)]).unwrap();
        let s = MemoryStorage::new(layout);
        assert_eq!(s.file_data(2), Some(Vec::new()), "zero-length file exists");
        assert!(s.read(1, 0, &mut [0; 6]).unwrap_err().is_missing_data());
        s.write(0, 0, &[1, 2, 3, 4, 5, 9, 9, 9]).unwrap();
        s.write(1, 0, &[6, 7, 8, 9, 10, 11]).unwrap();
        let mut buf = [0xff; 8];
        s.read(0, 0, &mut buf).unwrap();
        assert_eq!(buf, [1, 2, 3, 4, 5, 0, 0, 0], "padding reads as zeros");
        assert_eq!(s.file_data(3).unwrap(), [6, 7, 8, 9, 10, 11]);
        assert!(s.write_file(3, 4, &[0; 3]).is_err());
        let stamps = s.stamps().unwrap();
        assert_eq!(stamps[3].unwrap().mtime_secs, 1);
        s.write(1, 0, &[0]).unwrap();
        assert_ne!(s.stamps().unwrap()[3], stamps[3]);
    }

    #[test]
    fn truncated_and_removed_files_read_as_missing_data() {
        let layout = Layout::new(4, [(8, false)]).unwrap();
        let s = MemoryStorage::new(layout);
        s.write(0, 0, &[1, 2, 3, 4]).unwrap();
        s.write(1, 0, &[5, 6, 7, 8]).unwrap();
        let before = s.stamps().unwrap()[0].unwrap();
        s.truncate_file(0, 6);
        let after = s.stamps().unwrap()[0].unwrap();
        assert_eq!(after.size, 6);
        assert_ne!(after.mtime_secs, before.mtime_secs);
        let mut buf = [0; 4];
        s.read(0, 0, &mut buf).unwrap();
        assert_eq!(buf, [1, 2, 3, 4]);
        assert!(s.read(1, 0, &mut buf).unwrap_err().is_missing_data());
        s.write(1, 2, &[9, 9]).unwrap();
        assert_eq!(
            s.file_data(0).unwrap(),
            [1, 2, 3, 4, 5, 6, 9, 9],
            "grown back"
        );
        s.remove_file(0);
        assert_eq!(s.stamps().unwrap()[0], None);
        assert!(s.read(0, 0, &mut buf).unwrap_err().is_missing_data());
    }
}
