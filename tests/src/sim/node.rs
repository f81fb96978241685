//! A simulated host: a [`Session`] with in-memory storage per torrent, its saved resume data
//! and its event log; or an [`Agent`] (tracker, DHT node, scripted peer).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sanstorrent_core::metainfo::Metainfo;
use sanstorrent_core::session::{
    Completion, DiskJob, DiskJobKind, Event, RequestId, Session, SessionConfig, TorrentId,
    TorrentStats,
};
use sanstorrent_core::storage::{MemoryStorage, Storage, StorageError};

use super::agent::Agent;
use super::disk_faults::{DiskFaults, FaultyStorage};

/// How long a host's disk and hash jobs take: jobs run one at a time, each taking `latency`
/// plus its bytes at `bytes_per_sec`.
#[derive(Clone, Copy, Debug)]
pub struct DiskModel {
    /// Fixed cost per job.
    pub latency: Duration,
    /// Throughput for the bytes a job reads, writes or hashes.
    pub bytes_per_sec: u64,
}

impl Default for DiskModel {
    fn default() -> Self {
        Self {
            latency: Duration::from_micros(200),
            bytes_per_sec: 1 << 30,
        }
    }
}

/// One host of the simulation.
#[derive(Debug)]
pub struct Node {
    /// The session (`None` for an agent, or after a crash until a restart).
    pub session: Option<Session>,
    /// The participant, for hosts that are not sessions.
    pub agent: Option<Box<dyn Agent>>,
    /// The host's address: TCP listen port and UDP port alike.
    pub addr: SocketAddr,
    /// The session's configuration (kept for restarts).
    pub config: SessionConfig,
    /// The disk's speed.
    pub disk: DiskModel,
    /// When the disk is free again.
    pub disk_busy: Option<Instant>,
    /// Bytes of block writes issued and not yet reported done.
    pub unwritten: u64,
    /// The most `unwritten` ever was.
    pub max_unwritten: u64,
    /// Storage per torrent (kept across session restarts, like files on disk).
    pub storages: BTreeMap<TorrentId, Rc<MemoryStorage>>,
    /// Storage to use for the next `OpenStorage` of a torrent id (pre-seeded data).
    pub preset: BTreeMap<TorrentId, Rc<MemoryStorage>>,
    /// Faults of each torrent's disk (none for a torrent not listed).
    pub faults: BTreeMap<TorrentId, DiskFaults>,
    /// The last resume data saved per torrent.
    pub resume: BTreeMap<TorrentId, Vec<u8>>,
    /// Every event with its instant, except periodic stats.
    pub events: Vec<(Instant, Event)>,
    /// The latest periodic stats per torrent.
    pub stats: BTreeMap<TorrentId, TorrentStats>,
    /// Disk jobs run, by kind name.
    pub jobs_run: BTreeMap<&'static str, u64>,
    /// The metainfo of each torrent added from a .torrent, kept as an application keeps its
    /// .torrent files: what an `Action::LoadMetainfo` is answered with.
    pub metainfo: BTreeMap<TorrentId, Arc<Metainfo>>,
    /// While set, every `Action::LoadMetainfo` is answered with an error.
    pub fail_loads: bool,
    /// `Action::LoadMetainfo`s performed.
    pub loads: u64,
    /// The HTTP tracker announces (not scrapes, not web seeds) sent and not answered yet.
    pub announces_in_flight: BTreeSet<RequestId>,
    /// The most `announces_in_flight` ever held.
    pub max_announces_in_flight: usize,
    /// The HTTP requests (announces, scrapes, web seed requests) the session cancelled
    /// (`Action::CancelHttp`) while they were in flight: their answers were dropped.
    pub http_cancelled: Vec<RequestId>,
    /// The HTTP requests whose answer (or failure) was handed to the session, in order.
    pub http_answered: Vec<RequestId>,
    /// The cached `poll_timeout` of the session or agent (refreshed after every input).
    pub(super) timer: Option<Instant>,
}

impl Node {
    pub(super) fn new(addr: SocketAddr, config: SessionConfig) -> Self {
        Self {
            session: None,
            agent: None,
            addr,
            config,
            disk: DiskModel::default(),
            disk_busy: None,
            unwritten: 0,
            max_unwritten: 0,
            storages: BTreeMap::new(),
            preset: BTreeMap::new(),
            faults: BTreeMap::new(),
            resume: BTreeMap::new(),
            events: Vec::new(),
            stats: BTreeMap::new(),
            jobs_run: BTreeMap::new(),
            metainfo: BTreeMap::new(),
            fail_loads: false,
            loads: 0,
            announces_in_flight: BTreeSet::new(),
            max_announces_in_flight: 0,
            http_cancelled: Vec::new(),
            http_answered: Vec::new(),
            timer: None,
        }
    }

    /// The session; panics if this host has none (an agent, or crashed).
    pub fn session(&mut self) -> &mut Session {
        self.session.as_mut().expect("node is running a session")
    }

    /// The agent as its concrete type; panics if it is another.
    pub fn agent<T: 'static>(&self) -> &T {
        self.agent
            .as_ref()
            .and_then(|a| a.as_any().downcast_ref())
            .expect("agent of this type")
    }

    /// The agent as its concrete type, mutably; panics if it is another.
    pub fn agent_mut<T: 'static>(&mut self) -> &mut T {
        self.agent
            .as_mut()
            .and_then(|a| a.as_any_mut().downcast_mut())
            .expect("agent of this type")
    }

    /// Verified pieces of torrent `t` according to the events (this node's whole life).
    pub fn verified(&self, t: TorrentId) -> BTreeSet<u32> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::PieceVerified { torrent, piece } if *torrent == t => Some(*piece),
                _ => None,
            })
            .collect()
    }

    /// Runs a disk job against the torrent's storage; returns the completion and the time
    /// the job takes on this disk.
    pub fn run_job(&mut self, job: DiskJob) -> (Completion, Duration) {
        let storage = self.storages.get(&job.torrent).cloned();
        let (name, bytes) = match &job.kind {
            DiskJobKind::Write { data, .. } => ("write", data.len() as u64),
            DiskJobKind::Read { len, .. } => ("read", u64::from(*len)),
            DiskJobKind::Verify { piece, .. } => (
                "verify",
                storage
                    .as_ref()
                    .map_or(0, |s| u64::from(s.layout().piece_len(*piece))),
            ),
            DiskJobKind::Flush { .. } => ("flush", 0),
            DiskJobKind::Check { pieces, .. } => (
                "check",
                storage.as_ref().map_or(0, |s| {
                    pieces
                        .iter()
                        .map(|(p, _)| u64::from(s.layout().piece_len(*p)))
                        .sum()
                }),
            ),
            DiskJobKind::Stamps { .. } => ("stamps", 0),
            DiskJobKind::Create { .. } => ("create", 0),
            _ => ("other", 0),
        };
        *self.jobs_run.entry(name).or_default() += 1;
        let done = match (storage, self.faults.remove(&job.torrent)) {
            (None, _) => job.kind.fail(StorageError::NoSuchFile(usize::MAX)),
            (Some(s), None) => sanstorrent_runtime_common::jobs::execute(&*s, job.kind),
            (Some(s), Some(faults)) => {
                let disk = FaultyStorage::new(&s, faults);
                let done = sanstorrent_runtime_common::jobs::execute(&disk, job.kind);
                self.faults.insert(job.torrent, disk.into_faults());
                done
            }
        };
        let took = self.disk.latency
            + Duration::from_nanos(bytes * 1_000_000_000 / self.disk.bytes_per_sec.max(1));
        (done, took)
    }
}
