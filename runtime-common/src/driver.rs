//! [`Core`]: the runtime-independent part of a runtime's loop. It owns the [`Session`] (by
//! value, so the loop owns it by `&mut`) and the [`DiskIo`], performs [`Command`]s and
//! [`Done`]s, and drains the session's outputs into a [`NetIo`] the runtime implements.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::Sender;

use sanstorrent_core::session::{
    Action, ControlError, Event, LoadError, Session, SessionError, TorrentId, Transmit,
};

use crate::client::{ClientConfig, ClientError, Command};
use crate::disk::{DiskConfig, DiskIo};
use crate::events::EventSender;
use crate::location::StopWaiter;
use crate::pool::{Done, Sink};
use crate::rename::RenameWaiter;
use crate::storage::RenameError;

/// The network half of a runtime: what [`Core::drain`] hands over.
pub trait NetIo {
    /// Sends `transmit` (append to a connection's write stream, or send a datagram).
    fn transmit(&mut self, transmit: Transmit);
    /// Performs a network action: `Connect`, `Close`, `PauseReading`, `ResumeReading`,
    /// `HttpRequest`, `Resolve` (disk actions never get here).
    fn act(&mut self, action: Action);
    /// Sends what [`NetIo::transmit`] held back (called at the end of every drain).
    fn flush(&mut self) {}
}

/// A session, its disk I/O, and the application's event channel.
pub struct Core {
    /// The session (call its `handle_*` methods, then [`Core::drain`]).
    pub session: Session,
    /// The disk half.
    pub disk: DiskIo,
    events: EventSender,
    stop_waiters: Vec<Sender<()>>,
    /// Who waits for a torrent to stop ([`crate::Client::stopped`]).
    pub(crate) stopped_waiters: HashMap<TorrentId, Vec<StopWaiter>>,
    /// Who waits for a torrent's renames.
    pub(crate) rename_waiters: HashMap<TorrentId, RenameWaiter>,
    /// Torrents being removed whose files go too.
    delete_on_removal: HashSet<TorrentId>,
    stopping: Option<Instant>,
    shutdown_complete: bool,
    give_up_after: Duration,
    /// Applied to added torrents whose options leave it unset (see
    /// [`ClientConfig::release_idle_after`]).
    pub(crate) release_idle_after: Option<Duration>,
}

/// Most inputs (or completions) already waiting that one turn of a loop takes after its
/// wake-up, before draining the session's actions: fewer turns, each of which registers a
/// listener per channel (measured on smol: half the context switches on a 1 GiB download).
pub const BATCH: usize = 32;

/// Hands up to [`BATCH`] items already waiting in `rx` to `handle`, without waiting.
pub fn take_waiting<T>(rx: &async_channel::Receiver<T>, mut handle: impl FnMut(T)) {
    for _ in 0..BATCH {
        match rx.try_recv() {
            Ok(item) => handle(item),
            Err(_) => return,
        }
    }
}

/// How long past the session's own shutdown timeout a loop waits before it gives up.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("disk", &self.disk)
            .field("stopping", &self.stopping)
            .finish_non_exhaustive()
    }
}

impl Core {
    /// A session configured from `config`, listening on `listen` (already bound), with disk
    /// workers reporting to `sink` and events going to `events`. Loads the DHT state.
    ///
    /// Send accounting is turned on: the runtime must report the bytes each peer socket
    /// accepted with `core.session.handle_peer_sent` after every write, or uploads to that
    /// peer stop at `SessionConfig::max_send_backlog`.
    pub fn new(
        config: &ClientConfig,
        listen: SocketAddr,
        sink: Sink,
        events: EventSender,
        now: Instant,
    ) -> Result<Self, ClientError> {
        let disk = DiskIo::new(
            DiskConfig {
                threads: config.disk_threads,
                state_dir: config.state_dir.clone(),
                storage: config.storage.clone(),
                metainfo: config.metainfo.clone(),
            },
            sink,
        )?;
        let mut session_config = config.session.clone();
        session_config.listen_port = listen.port();
        // Runtimes built on `Core` report what their sockets wrote (`handle_peer_sent`), so
        // the session bounds each connection's write queue.
        session_config.send_accounting = true;
        if session_config.dht_state.is_none() {
            session_config.dht_state = disk.load_dht_state();
        }
        let mut session = Session::new(session_config, now, config.seed_or_random());
        session.set_listen_addr(listen);
        Ok(Self {
            session,
            disk,
            events,
            stop_waiters: Vec::new(),
            stopped_waiters: HashMap::new(),
            rename_waiters: HashMap::new(),
            delete_on_removal: HashSet::new(),
            stopping: None,
            shutdown_complete: false,
            give_up_after: config.session.shutdown_timeout + SHUTDOWN_GRACE,
            release_idle_after: config.release_idle_after,
        })
    }

    /// Performs an application command.
    pub fn command(&mut self, now: Instant, command: Command) {
        match command {
            Command::AddTorrent {
                source,
                dir,
                options,
                reply,
            } => {
                let one = crate::add_batch::NewTorrent {
                    source,
                    dir,
                    options,
                };
                let result = (self.add_batch(now, vec![one]).pop())
                    .unwrap_or(Err(ClientError::Stopped))
                    .map(|added| added.handle);
                let _ = reply.try_send(result);
            }
            Command::AddTorrents { torrents, reply } => {
                let _ = reply.try_send(self.add_batch(now, torrents));
            }
            Command::AddPeers { torrent, peers } => self.session.add_peers(now, torrent, &peers),
            Command::Stats { torrent, reply } => {
                let _ = reply.try_send(self.session.torrent_stats(torrent));
            }
            Command::Change { change, reply } => {
                let _ = reply.try_send(self.change(now, change));
            }
            Command::Trackers { torrent, reply } => {
                let _ = reply.try_send(self.session.torrent_trackers(torrent));
            }
            Command::DhtNodes { reply } => {
                let _ = reply.try_send(self.session.dht_nodes());
            }
            Command::WebSeeds { torrent, reply } => {
                let _ = reply.try_send(self.session.web_seeds(torrent));
            }
            Command::Snapshots {
                torrents,
                detail,
                reply,
            } => {
                let snapshots = torrents
                    .into_iter()
                    .map(|t| self.session.torrent_snapshot(now, t, detail))
                    .collect();
                let _ = reply.try_send(snapshots);
            }
            Command::StopTorrent { torrent } => self.session.stop_torrent(now, torrent),
            Command::StartTorrent { torrent, reply } => {
                if self.disk.is_renaming(torrent) {
                    let _ = reply.try_send(Err(ClientError::Rename(RenameError::Busy)));
                    return;
                }
                let result = self.session.start_torrent(now, torrent);
                let _ = reply.try_send(result.map_err(ClientError::Control));
            }
            Command::RecheckTorrent { torrent, reply } => {
                if self.disk.is_renaming(torrent) {
                    let _ = reply.try_send(Err(ClientError::Rename(RenameError::Busy)));
                    return;
                }
                let result = self.session.recheck_torrent(now, torrent);
                let _ = reply.try_send(result.map_err(ClientError::Control));
            }
            Command::Reannounce { torrent, reply } => {
                let result = self.session.reannounce(now, torrent);
                let _ = reply.try_send(result.map_err(ClientError::Control));
            }
            Command::RemoveTorrent {
                torrent,
                delete_data,
                reply,
            } => {
                let result = self.session.remove_torrent(now, torrent);
                if result.is_ok() && delete_data {
                    self.delete_on_removal.insert(torrent);
                }
                let _ = reply.try_send(result.map_err(ClientError::Control));
            }
            Command::WhenStopped { torrent, reply } => self.when_stopped(torrent, reply),
            Command::SetDownloadDir {
                torrent,
                dir,
                reply,
            } => {
                let _ = reply.try_send(self.set_download_dir(torrent, dir));
            }
            Command::RenameFiles {
                torrent,
                renames,
                reply,
            } => self.rename_files(torrent, &renames, reply),
            Command::FilePaths { torrent, reply } => {
                let _ = reply.try_send(self.file_paths(now, torrent));
            }
            Command::Shutdown { reply } => {
                self.stop_waiters.push(reply);
                self.shutdown(now);
            }
        }
    }

    /// Starts a graceful shutdown (also when the application dropped its client).
    pub fn shutdown(&mut self, now: Instant) {
        if self.stopping.is_none() {
            self.stopping = Some(now);
            self.session.shutdown(now);
        }
    }

    /// A worker's result: a disk completion goes to the session; a released torrent's
    /// metainfo reopens its storage, then goes to the session; a failed save becomes an
    /// [`Event::Error`].
    pub fn done(&mut self, now: Instant, done: Done) {
        self.disk.finished(&done);
        match done {
            Done::Disk(completion) => self.session.handle_completion(now, completion),
            Done::Metainfo {
                torrent,
                result,
                resume,
            } => {
                if let Ok(meta) = &result {
                    self.disk.reopen_released(torrent, meta);
                }
                let result = result.map_err(LoadError::Source);
                match resume {
                    Some(resume) => {
                        if let Some(print) = resume.as_deref().map(crate::disk::fingerprint) {
                            self.disk.resume_on_disk(torrent, print);
                        }
                        self.session.handle_loaded(now, torrent, result, resume);
                    }
                    None => self.session.handle_metainfo(now, torrent, result),
                }
            }
            Done::Saved {
                result: Err(e),
                path,
            } => {
                self.events.send(Event::Error {
                    torrent: None,
                    error: SessionError::SaveState {
                        path,
                        error: Arc::new(e),
                    },
                });
            }
            Done::Removed {
                torrent,
                result: Err(e),
            } => {
                self.events.send(Event::Error {
                    torrent: Some(torrent),
                    error: SessionError::Disk(Arc::new(e)),
                });
            }
            Done::Renamed { torrent, result } => self.renamed(torrent, result),
            Done::Saved { .. } | Done::Removed { .. } => {}
        }
    }

    /// Drains the session's transmits, actions and events (call after every `handle_*`).
    pub fn drain(&mut self, net: &mut impl NetIo) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.session.poll_transmit() {
                progressed = true;
                net.transmit(t);
            }
            while let Some(a) = self.session.poll_action() {
                progressed = true;
                if let Some(a) = self.disk.perform(a) {
                    net.act(a);
                }
            }
            while let Some(e) = self.session.poll_event() {
                progressed = true;
                match &e {
                    Event::TorrentStopped { torrent } => {
                        self.disk.close_storage(*torrent);
                        self.answer_stopped(*torrent, Ok(()));
                    }
                    Event::TorrentRemoved { torrent, .. } => {
                        let delete = self.delete_on_removal.remove(torrent);
                        self.disk.forget_torrent(*torrent, delete);
                        let gone = ControlError::UnknownTorrent(*torrent);
                        self.answer_stopped(*torrent, Err(gone));
                    }
                    Event::TorrentReleased { torrent } => self.disk.release_storage(*torrent),
                    Event::ShutdownComplete => self.shutdown_complete = true,
                    _ => {}
                }
                // Bounded whether or not the application listens; state changes are kept.
                self.events.send(e);
            }
            if !progressed {
                net.flush();
                return;
            }
        }
    }

    /// Whether a shutdown finished (the session said so and every save is written): the
    /// loop should end and call [`Core::finish`].
    pub fn finished(&self) -> bool {
        self.stopping.is_some() && self.shutdown_complete && self.disk.pending() == 0
    }

    /// When the loop should wake up next: the session's timer, or the moment a shutdown
    /// that is taking too long is abandoned.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let give_up = self.stopping.map(|t| t + self.give_up_after);
        match (self.session.poll_timeout(), give_up) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the loop should end: the shutdown finished (the session said so and every
    /// save is written), or it took longer than the session's shutdown timeout plus a grace.
    /// Then call [`Core::finish`].
    pub fn should_exit(&self, now: Instant) -> bool {
        self.finished() || self.stopping.is_some_and(|t| now >= t + self.give_up_after)
    }

    /// Answers everyone waiting for the shutdown.
    pub fn finish(&mut self) {
        for w in self.stop_waiters.drain(..) {
            let _ = w.try_send(());
        }
        self.events.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_waiting_takes_at_most_a_batch_and_never_waits() {
        let (tx, rx) = async_channel::unbounded();
        for i in 0..BATCH + 8 {
            tx.try_send(i).unwrap();
        }
        let mut taken = Vec::new();
        take_waiting(&rx, |i| taken.push(i));
        assert_eq!(taken, (0..BATCH).collect::<Vec<_>>());
        take_waiting(&rx, |i| taken.push(i));
        assert_eq!(taken.len(), BATCH + 8, "the rest on the next turn");
        take_waiting(&rx, |_| panic!("nothing waits"));
        drop(tx);
        take_waiting(&rx, |_| panic!("closed and empty"));
    }
}
