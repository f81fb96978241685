//! Streaming over the client: a file the user had skipped is turned on (wanted, high
//! priority) when a `GET` asks for its missing bytes, as a player expects; a reader asks the client for the pieces under each read with a
//! deadline (`Change::PieceDeadlines`, the session's time-critical pieces) and for a few
//! pieces after them (read-ahead follows the reader), waits for [`Event::PieceVerified`]
//! (the daemon's event loop wakes it through [`Hub`]), then reads the bytes from disk on a
//! thread of its own. A reader that goes away (the response ends or the player hangs up)
//! clears its deadlines.
//!
//! [`Event::PieceVerified`]: sanstorrent_core::session::Event::PieceVerified

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use sanstorrent_core::session::{
    MAX_DEADLINES_PER_READER, SnapshotDetail, TorrentId, TorrentPhase,
};
use sanstorrent_runtime_common::{Change, Client, Runtime};

use super::ClientBackend;
use crate::daemon::backend::{FileChanges, Files, Hash, TorrentChanges};
use crate::daemon::stream::{OpenError, Read, StreamFile, StreamReader};

/// Bytes asked for ahead of what a reader reads (in whole pieces: at least 2, and at most
/// half of [`MAX_DEADLINES_PER_READER`]).
const READ_AHEAD: u64 = 8 << 20;

/// A read fails (ending its response early) after this long without a piece of its own
/// arriving: no peer has it, or the torrent cannot run.
const STALL: Duration = Duration::from_secs(120);

/// The deadline of the first piece a read waits for is now; each further piece is due this
/// much later, read-ahead pieces after every piece a read waits for.
const STEP: Duration = Duration::from_millis(100);

/// The client, shared with the backend (taken out at shutdown): readers hold it only while
/// they call it.
pub(super) type SharedClient<R> = Arc<Mutex<Option<Arc<Client<R>>>>>;

/// Wakes readers when their torrent's pieces change: the event loop calls
/// [`Hub::notify`] for each verified piece.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    waiters: Mutex<HashMap<TorrentId, Vec<async_channel::Sender<()>>>>,
    next_reader: AtomicU64,
}

impl Hub {
    /// A receiver that gets a message at the next change of `torrent`.
    fn watch(&self, torrent: TorrentId) -> async_channel::Receiver<()> {
        let (tx, rx) = async_channel::bounded(1);
        let mut waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        let list = waiters.entry(torrent).or_default();
        // Readers that stopped waiting leave closed senders behind: dropped here.
        list.retain(|w| !w.is_closed());
        list.push(tx);
        rx
    }

    /// Wakes every reader waiting on `torrent`.
    pub(crate) fn notify(&self, torrent: TorrentId) {
        let mut waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = waiters.remove(&torrent) {
            for w in list {
                let _ = w.try_send(());
            }
        }
    }

    /// Wakes every reader (the daemon stops).
    pub(crate) fn notify_all(&self) {
        let waiters =
            std::mem::take(&mut *self.waiters.lock().unwrap_or_else(PoisonError::into_inner));
        for w in waiters.into_values().flatten() {
            let _ = w.try_send(());
        }
    }
}

impl<R: Runtime> ClientBackend<R> {
    /// [`Backend::open_stream`](crate::daemon::backend::Backend::open_stream) on the client.
    pub(super) async fn open_stream_file(
        &self,
        hash: Hash,
        index: usize,
        fetch: bool,
    ) -> Result<StreamFile, OpenError> {
        let (id, handle, dir, wanted, paths) = {
            let state = self.lock();
            let entry = state
                .torrents
                .iter()
                .find(|t| t.handle.info_hash.0 == hash.0)
                .ok_or_else(|| {
                    OpenError::NotFound(format!("no torrent {} in this daemon", hash.to_hex()))
                })?;
            if entry.meta.is_none() {
                return Err(OpenError::Unavailable(format!(
                    "torrent {}: its metadata is still being fetched",
                    hash.to_hex()
                )));
            }
            let wanted = entry.files.get(index).is_none_or(|f| f.wanted);
            let paths = entry.rare().paths.clone();
            (
                entry.id,
                entry.handle,
                entry.dir.to_path_buf(),
                wanted,
                paths,
            )
        };
        let meta = self
            .metainfo_of(handle)
            .await
            .map_err(|e| OpenError::Unavailable(e.to_string()))?;
        let torrent = handle.id;
        let (file, path) = super::renaming::shown_files(&meta, paths.as_deref())
            .nth(index)
            .map(|(i, p)| (i, p.clone()))
            .ok_or_else(|| {
                OpenError::NotFound(format!(
                    "torrent {} has no file {index} (files are numbered from 0)",
                    hash.to_hex()
                ))
            })?;
        let layout = meta.layout();
        let extent = layout.files()[file];
        let piece_length = u64::from(layout.piece_length());
        let pieces = layout.file_pieces(file);
        let (first_piece, last_piece) = (pieces.start, pieces.end.saturating_sub(1));
        let client = self
            .client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| OpenError::Unavailable("the daemon is stopping".into()))?;
        if fetch && !wanted && extent.length > 0 {
            let (have, _) = have_pieces(&client, torrent)
                .await
                .map_err(OpenError::Unavailable)?;
            if (first_piece..=last_piece).any(|p| !have.contains(p)) {
                self.turn_on(id, index).await?;
            }
        }
        let ahead = READ_AHEAD
            .div_ceil(piece_length)
            .clamp(2, (MAX_DEADLINES_PER_READER / 2) as u64) as u32;
        let reader = ClientStream::<R> {
            client: Arc::clone(&self.client),
            hub: Arc::clone(&self.streams),
            torrent,
            reader: self.streams.next_reader.fetch_add(1, Ordering::Relaxed),
            path: dir.join(path.to_path_buf()),
            start: extent.offset,
            length: extent.length,
            piece_length,
            last_piece,
            ahead,
            asked: Mutex::new(Vec::new()),
        };
        Ok(StreamFile {
            name: path.to_string(),
            length: extent.length,
            reader: Arc::new(reader),
        })
    }
}

impl<R: Runtime> ClientBackend<R> {
    /// Makes file `index` of torrent `id` wanted, at high priority (a reader waits for it).
    async fn turn_on(&self, id: crate::daemon::backend::Id, index: usize) -> Result<(), OpenError> {
        let file =
            u32::try_from(index).map_err(|_| OpenError::NotFound(format!("no file {index}")))?;
        let changes = TorrentChanges {
            files: FileChanges {
                wanted: Some(Files::Some(vec![file])),
                high: Some(Files::Some(vec![file])),
                ..FileChanges::default()
            },
            ..TorrentChanges::default()
        };
        self.change_torrents(vec![id], changes)
            .await
            .map_err(|e| OpenError::Unavailable(format!("file {index} cannot be turned on: {e}")))
    }
}

/// The pieces `torrent` has, from a snapshot, and whether it runs (a stopped torrent gets no
/// more).
async fn have_pieces<R: Runtime>(
    client: &Client<R>,
    torrent: TorrentId,
) -> Result<(sanstorrent_core::pieces::PieceSet, bool), String> {
    let detail = SnapshotDetail {
        pieces: true,
        ..SnapshotDetail::default()
    };
    let snap = client
        .snapshots(vec![torrent], detail)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .flatten()
        .ok_or("the torrent was removed")?;
    let running = !matches!(
        snap.stats.phase,
        TorrentPhase::Stopping | TorrentPhase::Stopped
    );
    let have = snap
        .pieces
        .ok_or_else(|| "the torrent's metadata is not known".to_string())?;
    Ok((have, running))
}

/// One reader of one file.
struct ClientStream<R: Runtime> {
    client: SharedClient<R>,
    hub: Arc<Hub>,
    torrent: TorrentId,
    /// Its number in the session's deadlines.
    reader: u64,
    /// The file on disk.
    path: PathBuf,
    /// The file's first byte in the torrent, its length.
    start: u64,
    length: u64,
    piece_length: u64,
    /// The file's last piece (read-ahead stops there).
    last_piece: u32,
    /// Pieces asked for ahead of a read.
    ahead: u32,
    /// The pieces last given deadlines (not asked again while they stay the same).
    asked: Mutex<Vec<u32>>,
}

impl<R: Runtime> ClientStream<R> {
    fn client(&self) -> Result<Arc<Client<R>>, String> {
        self.client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| "the daemon is stopping".into())
    }

    /// Waits until pieces `first..=last` are verified, asking for them (and the read-ahead
    /// after them) with deadlines.
    async fn wait_verified(&self, first: u32, last: u32) -> Result<(), String> {
        let ahead_last = last.saturating_add(self.ahead).min(self.last_piece);
        let mut progress_at = Instant::now();
        let mut missing_before = usize::MAX;
        loop {
            // Watched before looking, so that no verified piece goes unseen in between.
            let woken = self.hub.watch(self.torrent);
            let client = self.client()?;
            let (have, running) = have_pieces(&client, self.torrent).await?;
            let missing: Vec<u32> = (first..=last).filter(|&p| !have.contains(p)).collect();
            let ahead = (last + 1..=ahead_last).filter(|&p| !have.contains(p));
            let wanted: Vec<u32> = missing.iter().copied().chain(ahead).collect();
            let changed = {
                let mut asked = self.asked.lock().unwrap_or_else(PoisonError::into_inner);
                let changed = *asked != wanted;
                asked.clone_from(&wanted);
                changed
            };
            if changed {
                let now = Instant::now();
                let pieces = wanted
                    .iter()
                    .zip(0u32..)
                    .map(|(&p, i)| (p, now + STEP * i))
                    .collect();
                client
                    .change(Change::PieceDeadlines {
                        torrent: self.torrent,
                        reader: self.reader,
                        pieces,
                    })
                    .await
                    .map_err(|e| e.to_string())?;
            }
            drop(client);
            if missing.is_empty() {
                return Ok(());
            }
            if !running {
                return Err(format!(
                    "piece {} is missing and the torrent is stopped",
                    missing[0]
                ));
            }
            if missing.len() < missing_before {
                missing_before = missing.len();
                progress_at = Instant::now();
            }
            let left = STALL.saturating_sub(progress_at.elapsed());
            if left.is_zero() {
                return Err(format!(
                    "piece {} did not arrive within {} s",
                    missing[0],
                    STALL.as_secs()
                ));
            }
            futures_lite::future::or(
                async {
                    let _ = woken.recv().await;
                },
                R::sleep(left),
            )
            .await;
        }
    }
}

impl<R: Runtime> StreamReader for ClientStream<R> {
    fn read(&self, offset: u64, len: usize) -> Read<'_> {
        Box::pin(async move {
            let end = offset
                .checked_add(len as u64)
                .filter(|&end| end <= self.length)
                .ok_or_else(|| format!("bytes {offset}+{len} are past the file's end"))?;
            if len == 0 {
                return Ok(Bytes::new());
            }
            let first = (self.start + offset) / self.piece_length;
            let last = (self.start + end - 1) / self.piece_length;
            let piece = |p: u64| u32::try_from(p).map_err(|_| "piece index overflow".to_string());
            self.wait_verified(piece(first)?, piece(last)?).await?;
            read_file(self.path.clone(), offset, len).await
        })
    }
}

impl<R: Runtime> Drop for ClientStream<R> {
    fn drop(&mut self) {
        let asked = self.asked.get_mut().unwrap_or_else(PoisonError::into_inner);
        if asked.is_empty() {
            return;
        }
        let Ok(client) = self.client() else {
            return;
        };
        let (torrent, reader) = (self.torrent, self.reader);
        R::spawn(async move {
            let clear = Change::PieceDeadlines {
                torrent,
                reader,
                pieces: Vec::new(),
            };
            if let Err(e) = client.change(clear).await {
                tracing::debug!("clearing a stream's deadlines: {e}");
            }
        });
    }
}

/// Reads `len` bytes at `offset` of the file at `path`, on a thread of its own (the runtime's
/// threads never wait for the disk).
async fn read_file(path: PathBuf, offset: u64, len: usize) -> Result<Bytes, String> {
    let (tx, rx) = async_channel::bounded(1);
    std::thread::Builder::new()
        .name("stream-read".into())
        .spawn(move || {
            let read = File::open(&path).and_then(|file| {
                let mut buf = vec![0; len];
                sanstorrent_runtime_common::storage::read_exact_at(&file, &mut buf, offset)?;
                Ok(Bytes::from(buf))
            });
            let _ = tx.send_blocking(read.map_err(|e| format!("{}: {e}", path.display())));
        })
        .map_err(|e| format!("cannot start a reading thread: {e}"))?;
    rx.recv()
        .await
        .map_err(|_| "the reading thread ended without an answer".to_string())?
}
