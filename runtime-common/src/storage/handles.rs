//! [`HandleCache`]: one bounded least-recently-used cache of open file handles, shared by every
//! torrent's [`FileStorage`](super::FileStorage) of a session (or of several), so 100,000
//! torrents or one torrent of 10,000 files never hold more than a fixed number of descriptors.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Which storage a handle belongs to (one per [`FileStorage`](super::FileStorage)).
pub(super) type Owner = u64;

/// One open file.
#[derive(Debug)]
struct Entry {
    handle: Arc<File>,
    writable: bool,
    /// Its key in `Inner::order`.
    last_use: u64,
}

#[derive(Debug, Default)]
struct Inner {
    tick: u64,
    entries: HashMap<(Owner, usize), Entry>,
    /// Entries by last use, least recent first.
    order: BTreeMap<u64, (Owner, usize)>,
    /// Most entries held at once.
    peak: usize,
}

/// Open file handles by storage and file index, at most `capacity` of them; the least recently
/// used one is closed to make room. A handle taken out of the cache closes once the last
/// in-flight operation using it finishes.
#[derive(Debug)]
pub struct HandleCache {
    capacity: usize,
    next_owner: AtomicU64,
    inner: Mutex<Inner>,
}

impl HandleCache {
    /// A cache of at most `capacity` open files (at least 1).
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            capacity: capacity.max(1),
            next_owner: AtomicU64::new(0),
            inner: Mutex::new(Inner::default()),
        })
    }

    /// The most files it keeps open.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of open handles it holds now.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether it holds no handle.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most handles it has held at once.
    pub fn peak(&self) -> usize {
        self.lock().peak
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves only a cache behind: keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new owner id, for one storage.
    pub(super) fn owner(&self) -> Owner {
        self.next_owner.fetch_add(1, Ordering::Relaxed)
    }

    /// The cached handle of `owner`'s `file` if it is open with at least the needed access.
    pub(super) fn get(&self, owner: Owner, file: usize, write: bool) -> Option<Arc<File>> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let entry = inner.entries.get_mut(&(owner, file))?;
        if write && !entry.writable {
            return None;
        }
        inner.tick += 1;
        inner.order.remove(&entry.last_use);
        entry.last_use = inner.tick;
        inner.order.insert(inner.tick, (owner, file));
        Some(Arc::clone(&entry.handle))
    }

    /// Caches a freshly opened handle of `owner`'s `file` (replacing one it had), closing the
    /// least recently used one if full.
    pub(super) fn insert(&self, owner: Owner, file: usize, handle: Arc<File>, writable: bool) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner.tick += 1;
        let entry = Entry {
            handle,
            writable,
            last_use: inner.tick,
        };
        if let Some(old) = inner.entries.insert((owner, file), entry) {
            inner.order.remove(&old.last_use);
        }
        inner.order.insert(inner.tick, (owner, file));
        while inner.entries.len() > self.capacity {
            let Some((_, victim)) = inner.order.pop_first() else {
                break;
            };
            inner.entries.remove(&victim);
        }
        inner.peak = inner.peak.max(inner.entries.len());
    }

    /// Closes every handle of `owner` (a torrent stopped, moved, renamed or removed).
    pub(super) fn close(&self, owner: Owner) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let mut gone = Vec::new();
        inner.entries.retain(|&(o, _), e| {
            let keep = o != owner;
            if !keep {
                gone.push(e.last_use);
            }
            keep
        });
        for tick in gone {
            inner.order.remove(&tick);
        }
    }

    /// Drops `owner`'s cached handle of `file`, if any (it closes once the operations using it
    /// finish).
    pub(super) fn remove(&self, owner: Owner, file: usize) {
        let mut inner = self.lock();
        if let Some(old) = inner.entries.remove(&(owner, file)) {
            inner.order.remove(&old.last_use);
        }
    }

    /// Number of open handles of `owner`.
    pub(super) fn count(&self, owner: Owner) -> usize {
        self.lock()
            .entries
            .keys()
            .filter(|(o, _)| *o == owner)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle() -> Arc<File> {
        Arc::new(File::open("/dev/null").expect("opens /dev/null"))
    }

    #[test]
    fn least_recently_used_goes_first_across_owners() {
        let cache = HandleCache::new(3);
        let (a, b) = (cache.owner(), cache.owner());
        cache.insert(a, 0, handle(), false);
        cache.insert(b, 0, handle(), false);
        cache.insert(a, 1, handle(), false);
        assert!(
            cache.get(a, 0, false).is_some(),
            "a/0 is now the most recent"
        );
        cache.insert(b, 1, handle(), true);
        assert_eq!(cache.len(), 3);
        assert!(cache.get(b, 0, false).is_none(), "b/0 was the least recent");
        assert!(cache.get(a, 0, false).is_some());
        assert!(cache.get(a, 1, false).is_some());
        assert!(cache.get(b, 1, true).is_some());
        assert!(
            cache.get(a, 1, true).is_none(),
            "read-only handle does not serve a write"
        );
        assert_eq!(cache.peak(), 3);
    }

    #[test]
    fn closing_an_owner_frees_its_slots_only() {
        let cache = HandleCache::new(4);
        let (a, b) = (cache.owner(), cache.owner());
        for f in 0..2 {
            cache.insert(a, f, handle(), false);
            cache.insert(b, f, handle(), false);
        }
        cache.close(a);
        assert_eq!((cache.count(a), cache.count(b)), (0, 2));
        cache.insert(b, 2, handle(), false);
        cache.insert(b, 3, handle(), false);
        assert_eq!(cache.count(b), 4, "a's slots were given back");
        cache.insert(b, 4, handle(), false);
        assert_eq!(cache.len(), 4);
        assert!(cache.get(b, 0, false).is_none());
    }

    #[test]
    fn replacing_a_handle_keeps_one_entry() {
        let cache = HandleCache::new(2);
        let a = cache.owner();
        cache.insert(a, 0, handle(), false);
        cache.insert(a, 0, handle(), true);
        cache.insert(a, 1, handle(), false);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(a, 0, true).is_some());
    }
}
