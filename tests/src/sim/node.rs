//! A simulated node: a [`Session`] with in-memory storage per torrent, its saved resume data,
//! and its event log.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use sanstorrent_core::session::{
    Completion, CompletionKind, DiskJob, DiskJobKind, Event, Session, TorrentId,
};
use sanstorrent_core::storage::{MemoryStorage, Storage, StorageError, hash_piece, verify_piece};

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
            Some(s) => execute(&*s, job.kind),
        };
        Completion {
            id: job.id,
            torrent: job.torrent,
            result,
        }
    }
}

fn execute(s: &MemoryStorage, kind: DiskJobKind) -> Result<CompletionKind, StorageError> {
    Ok(match kind {
        DiskJobKind::Write {
            piece,
            offset,
            data,
        } => {
            s.write(piece, offset, &data)?;
            CompletionKind::Written
        }
        DiskJobKind::Read { piece, offset, len } => {
            let mut buf = vec![0u8; len as usize];
            s.read(piece, offset, &mut buf)?;
            CompletionKind::Read(Bytes::from(buf))
        }
        DiskJobKind::Verify { piece, expected } => {
            CompletionKind::Verified(verify_piece(s, piece, &expected)?.is_some())
        }
        DiskJobKind::Flush => {
            s.flush()?;
            CompletionKind::Flushed
        }
        DiskJobKind::Check { pieces } => {
            let mut good = Vec::new();
            for (piece, expected) in pieces {
                match hash_piece(s, piece) {
                    Ok(h) if h == expected => good.push(piece),
                    Ok(_) => {}
                    Err(e) if e.is_missing_data() => {}
                    Err(e) => return Err(e),
                }
            }
            CompletionKind::Checked(good)
        }
        DiskJobKind::Stamps => CompletionKind::Stamps(s.stamps()?),
        other => panic!("unknown disk job {other:?}"),
    })
}
