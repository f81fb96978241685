//! A simulated node: a [`Session`] with in-memory storage per torrent, its saved resume data,
//! and its event log.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use sanstorrent_core::session::{Completion, DiskJob, DiskJobKind, Event, Session, TorrentId};
use sanstorrent_core::storage::{MemoryStorage, StorageError};

/// One node of the simulation.
#[derive(Debug)]
pub struct Node {
    /// The session (`None` after a crash or before a restart).
    pub session: Option<Session>,
    /// The TCP listen address.
    pub addr: SocketAddr,
    /// Storage per torrent (kept across session restarts, like files on disk).
    pub storages: BTreeMap<TorrentId, Arc<MemoryStorage>>,
    /// Storage to use for the next `OpenStorage` of a torrent id (pre-seeded data).
    pub preset: BTreeMap<TorrentId, Arc<MemoryStorage>>,
    /// The last resume data saved per torrent.
    pub resume: BTreeMap<TorrentId, Vec<u8>>,
    /// Every event with its instant.
    pub events: Vec<(Instant, Event)>,
    /// Disk jobs run, by kind name.
    pub jobs_run: BTreeMap<&'static str, u64>,
}

impl Node {
    /// The session; panics if crashed.
    pub fn session(&mut self) -> &mut Session {
        self.session.as_mut().expect("node is running")
    }

    /// Runs a disk job against the torrent's storage.
    pub fn run_job(&mut self, job: DiskJob) -> Completion {
        let storage = self.storages.get(&job.torrent).cloned();
        let name = match &job.kind {
            DiskJobKind::Write { .. } => "write",
            DiskJobKind::Read { .. } => "read",
            DiskJobKind::Verify { .. } => "verify",
            DiskJobKind::Flush => "flush",
            DiskJobKind::Check { .. } => "check",
            DiskJobKind::Stamps => "stamps",
            _ => "other",
        };
        *self.jobs_run.entry(name).or_default() += 1;
        let result = match storage {
            None => Err(StorageError::NoSuchFile(usize::MAX)),
            Some(s) => sanstorrent_runtime_common::jobs::execute(&*s, job.kind),
        };
        Completion {
            id: job.id,
            torrent: job.torrent,
            result,
        }
    }
}
