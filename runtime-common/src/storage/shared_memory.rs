//! [`SharedMemory`]: core's single-threaded `MemoryStorage` behind a lock, so tests can hand
//! in-memory storage to the worker threads.

use std::sync::{Mutex, MutexGuard};

use sanstorrent_core::layout::Layout;
use sanstorrent_core::storage::{FileStamp, MemoryStorage, Storage, StorageError};

/// A [`MemoryStorage`] that worker threads can share.
#[derive(Debug)]
pub(crate) struct SharedMemory {
    layout: Layout,
    files: Mutex<MemoryStorage>,
}

impl SharedMemory {
    /// Empty storage for `layout`.
    pub(crate) fn new(layout: Layout) -> Self {
        Self {
            files: Mutex::new(MemoryStorage::new(layout.clone())),
            layout,
        }
    }

    fn lock(&self) -> MutexGuard<'_, MemoryStorage> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Storage for SharedMemory {
    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn read_file(&self, file: usize, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.lock().read_file(file, offset, buf)
    }

    fn write_file(&self, file: usize, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.lock().write_file(file, offset, data)
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.lock().flush()
    }

    fn stamps(&self) -> Result<Vec<Option<FileStamp>>, StorageError> {
        self.lock().stamps()
    }
}
