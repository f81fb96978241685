//! A bounded least-recently-used cache of open file handles, so a torrent with 10 000 files
//! never holds more than a fixed number of descriptors.

use std::fs::File;
use std::sync::Arc;

/// One open file.
#[derive(Debug)]
struct Entry {
    file: usize,
    handle: Arc<File>,
    writable: bool,
    last_use: u64,
}

/// Open handles by file index, at most `capacity` of them.
#[derive(Debug)]
pub(super) struct Handles {
    capacity: usize,
    tick: u64,
    /// Index into `entries` of each file's handle.
    slot: Vec<Option<usize>>,
    entries: Vec<Entry>,
}

impl Handles {
    pub(super) fn new(files: usize, capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            tick: 0,
            slot: vec![None; files],
            entries: Vec::new(),
        }
    }

    /// The cached handle of `file` if it is open with at least the needed access.
    pub(super) fn get(&mut self, file: usize, write: bool) -> Option<Arc<File>> {
        let i = (*self.slot.get(file)?)?;
        let entry = &mut self.entries[i];
        if write && !entry.writable {
            return None;
        }
        self.tick += 1;
        entry.last_use = self.tick;
        Some(Arc::clone(&entry.handle))
    }

    /// Caches a freshly opened handle of `file`, evicting the least recently used one if full.
    /// The handle closes once the last in-flight operation using it finishes.
    pub(super) fn insert(&mut self, file: usize, handle: Arc<File>, writable: bool) {
        self.tick += 1;
        let entry = Entry {
            file,
            handle,
            writable,
            last_use: self.tick,
        };
        if let Some(Some(i)) = self.slot.get(file).copied() {
            self.entries[i] = entry;
            return;
        }
        let index = if self.entries.len() < self.capacity {
            self.entries.push(entry);
            self.entries.len() - 1
        } else {
            let (victim, _) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.last_use)
                .expect("capacity is at least 1, so a full cache has an entry");
            self.slot[self.entries[victim].file] = None;
            self.entries[victim] = entry;
            victim
        };
        self.slot[file] = Some(index);
    }

    /// Number of open handles.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}
