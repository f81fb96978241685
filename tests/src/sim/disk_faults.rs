//! A simulated disk that fails: [`DiskFaults`] a host's torrent suffers (EIO reading a piece,
//! a disk that fills up, a read-only directory), applied by [`FaultyStorage`] around the
//! torrent's in-memory storage to every job the host runs for it. Files deleted or truncated
//! under a torrent are [`MemoryStorage::remove_file`] and [`MemoryStorage::truncate_file`].

use std::cell::Cell;
use std::io;

use sanstorrent_core::layout::Layout;
use sanstorrent_core::storage::{FileStamp, IoOp, MemoryStorage, Storage, StorageError};

/// Linux's EIO, ENOSPC and EROFS: what a failing disk, a full one and a read-only mount say.
const EIO: i32 = 5;
const ENOSPC: i32 = 28;
const EROFS: i32 = 30;

/// The faults of one torrent's disk (none by default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskFaults {
    /// Every read of this piece fails with EIO (uploads, hash checks, smart-ban reads).
    pub eio_on_piece: Option<u32>,
    /// Bytes that can still be written: a write that does not fit fails with ENOSPC and
    /// writes nothing. `None`: no limit.
    pub space_left: Option<u64>,
    /// Creating or writing a file fails with EROFS; reads work.
    pub read_only: bool,
}

/// A torrent's storage seen through its faults.
#[derive(Debug)]
pub struct FaultyStorage<'a> {
    inner: &'a MemoryStorage,
    faults: DiskFaults,
    space_left: Cell<Option<u64>>,
}

impl<'a> FaultyStorage<'a> {
    /// `inner` failing as `faults` say.
    pub fn new(inner: &'a MemoryStorage, faults: DiskFaults) -> Self {
        let space_left = Cell::new(faults.space_left);
        Self {
            inner,
            faults,
            space_left,
        }
    }

    /// The faults as they are now (the space left shrinks with each write).
    pub fn into_faults(self) -> DiskFaults {
        DiskFaults {
            space_left: self.space_left.get(),
            ..self.faults
        }
    }

    fn os_error(op: IoOp, file: usize, code: i32) -> StorageError {
        StorageError::io(
            op,
            format!("<sim>/{file}"),
            io::Error::from_raw_os_error(code),
        )
    }
}

impl Storage for FaultyStorage<'_> {
    fn layout(&self) -> &Layout {
        self.inner.layout()
    }

    fn read_file(&self, file: usize, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.inner.read_file(file, offset, buf)
    }

    fn read(&self, piece: u32, offset: u32, buf: &mut [u8]) -> Result<(), StorageError> {
        if self.faults.eio_on_piece == Some(piece) {
            let file = self
                .layout()
                .spans(piece, offset, 1)
                .and_then(|mut s| s.next())
                .map_or(0, |s| s.file);
            return Err(Self::os_error(IoOp::Read, file, EIO));
        }
        self.inner.read(piece, offset, buf)
    }

    fn write_file(&self, file: usize, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        if self.faults.read_only {
            return Err(Self::os_error(IoOp::Open, file, EROFS));
        }
        if let Some(left) = self.space_left.get() {
            let len = data.len() as u64;
            if len > left {
                return Err(Self::os_error(IoOp::Write, file, ENOSPC));
            }
            self.space_left.set(Some(left - len));
        }
        self.inner.write_file(file, offset, data)
    }

    fn create_file(&self, file: usize) -> Result<(), StorageError> {
        if self.faults.read_only {
            return Err(Self::os_error(IoOp::Open, file, EROFS));
        }
        self.inner.create_file(file)
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.inner.flush()
    }

    fn stamps(&self) -> Result<Vec<Option<FileStamp>>, StorageError> {
        self.inner.stamps()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fault_fails_its_operation_with_its_os_error() {
        let layout = Layout::new(4, [(8, false)]).unwrap();
        let memory = MemoryStorage::new(layout);
        let faults = DiskFaults {
            eio_on_piece: Some(1),
            space_left: Some(6),
            ..DiskFaults::default()
        };
        let disk = FaultyStorage::new(&memory, faults);
        disk.write(0, 0, &[1; 4]).unwrap();
        let full = disk.write(1, 0, &[2; 4]).unwrap_err();
        assert_eq!(full.kind(), Some(io::ErrorKind::StorageFull), "{full}");
        disk.write(1, 0, &[2; 2]).unwrap();
        let mut buf = [0; 2];
        disk.read(0, 0, &mut buf).unwrap();
        let eio = disk.read(1, 0, &mut buf).unwrap_err();
        assert!(eio.to_string().contains("Input/output error"), "{eio}");
        assert!(!eio.is_missing_data());
        assert_eq!(disk.into_faults().space_left, Some(0));

        let read_only = DiskFaults {
            read_only: true,
            ..DiskFaults::default()
        };
        let disk = FaultyStorage::new(&memory, read_only);
        let rofs = disk.create_file(0).unwrap_err();
        assert_eq!(rofs.kind(), Some(io::ErrorKind::ReadOnlyFilesystem));
        assert!(disk.write(0, 0, &[3]).is_err());
        disk.read(0, 0, &mut buf).unwrap();
        assert_eq!(buf, [1, 1], "reads work");
    }
}
