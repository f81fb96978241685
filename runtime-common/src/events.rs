//! The application's event queue: bounded memory whether or not the application reads it,
//! and no event that changes a torrent's state is ever lost.
//!
//! Events are of three kinds ([`Kind`]):
//! - kept: a torrent added, checked, complete, stopped or removed, its metadata, a ban, an
//!   error (a data-missing recheck among them), the shutdown; and any event this queue does
//!   not know. Never dropped: they come at the pace of the torrents' lives, not of the
//!   network.
//! - coalesced: `Stats` (per torrent) and `DhtStatus` are snapshots; an unread one is
//!   replaced in place by the newer one.
//! - informational: peers connected and closed, PEX peers, pieces verified or failed,
//!   tracker answers and errors. A flood makes thousands a second: past `capacity` unread
//!   ones, the oldest is dropped (and counted).
//!
//! An application that reads promptly gets every event, in order.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_channel::{Receiver, Sender};
use sanstorrent_core::session::{Event, TorrentId};

/// Unread informational events kept at most before the oldest is dropped.
pub const EVENT_CAPACITY: usize = 4096;

/// How the queue treats an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    /// Never dropped.
    Kept,
    /// An unread one with the same key is replaced.
    Coalesced(Key),
    /// Dropped, oldest first, past the capacity.
    Informational,
}

/// What a coalesced event replaces: the unread one with the same key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Stats(TorrentId),
    Dht,
}

fn kind(event: &Event) -> Kind {
    match event {
        Event::Stats { torrent, .. } => Kind::Coalesced(Key::Stats(*torrent)),
        Event::DhtStatus { .. } => Kind::Coalesced(Key::Dht),
        Event::PieceVerified { .. }
        | Event::PieceFailed { .. }
        | Event::PeerConnected { .. }
        | Event::PeerClosed { .. }
        | Event::PexPeers { .. }
        | Event::TrackerAnnounced { .. }
        | Event::TrackerScraped { .. }
        | Event::TrackerError { .. } => Kind::Informational,
        _ => Kind::Kept,
    }
}

/// Events an emptied queue keeps room for.
const KEPT_ROOM: usize = 256;

#[derive(Debug, Default)]
struct State {
    /// Kept and coalesced events, with their sequence numbers.
    kept: VecDeque<(u64, Event)>,
    /// Informational events, with their sequence numbers.
    info: VecDeque<(u64, Event)>,
    /// The sequence number of each unread coalesced event, by key.
    coalesced: HashMap<Key, u64>,
    next_seq: u64,
    dropped: u64,
    closed: bool,
}

impl State {
    fn push(&mut self, event: Event, capacity: usize) {
        let kind = kind(&event);
        if let Kind::Coalesced(key) = kind
            && let Some(&seq) = self.coalesced.get(&key)
            && let Ok(i) = self.kept.binary_search_by_key(&seq, |(s, _)| *s)
        {
            self.kept[i].1 = event;
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        match kind {
            Kind::Informational => {
                if self.info.len() >= capacity {
                    self.info.pop_front();
                    self.dropped += 1;
                }
                if capacity > 0 {
                    self.info.push_back((seq, event));
                } else {
                    self.dropped += 1;
                }
            }
            Kind::Coalesced(key) => {
                self.coalesced.insert(key, seq);
                self.kept.push_back((seq, event));
            }
            Kind::Kept => self.kept.push_back((seq, event)),
        }
    }

    fn pop(&mut self) -> Option<Event> {
        let from_kept = match (self.kept.front(), self.info.front()) {
            (Some((k, _)), Some((i, _))) => k < i,
            (k, _) => k.is_some(),
        };
        let (seq, event) = if from_kept {
            self.kept.pop_front()?
        } else {
            self.info.pop_front()?
        };
        if let Kind::Coalesced(key) = kind(&event)
            && self.coalesced.get(&key) == Some(&seq)
        {
            self.coalesced.remove(&key);
        }
        if self.len() == 0 {
            self.release();
        }
        Some(event)
    }

    /// Gives back the memory a burst left (a start with many torrents queues an event or
    /// more for each): an emptied queue keeps room for [`KEPT_ROOM`] events only.
    fn release(&mut self) {
        if self.kept.capacity() > KEPT_ROOM {
            self.kept.shrink_to(KEPT_ROOM);
        }
        if self.info.capacity() > KEPT_ROOM {
            self.info.shrink_to(KEPT_ROOM);
        }
        if self.coalesced.capacity() > KEPT_ROOM {
            self.coalesced.shrink_to(KEPT_ROOM);
        }
    }

    fn len(&self) -> usize {
        self.kept.len() + self.info.len()
    }
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    capacity: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The loop's end of the queue.
#[derive(Debug)]
pub struct EventSender {
    shared: Arc<Shared>,
    /// Holds one token while events wait (a reader woken takes it).
    wake: Sender<()>,
}

/// The application's end of the queue.
#[derive(Debug)]
pub struct EventReceiver {
    shared: Arc<Shared>,
    wake: Receiver<()>,
    /// To put the token back when events remain after a read (another reader may wait).
    rewake: Sender<()>,
}

/// A queue that keeps at most `capacity` unread informational events (see the module doc).
pub fn event_queue(capacity: usize) -> (EventSender, EventReceiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        capacity,
    });
    let (wake, wake_rx) = async_channel::bounded(1);
    let sender = EventSender {
        shared: shared.clone(),
        wake: wake.clone(),
    };
    let receiver = EventReceiver {
        shared,
        wake: wake_rx,
        rewake: wake,
    };
    (sender, receiver)
}

impl EventSender {
    /// Queues an event (an informational one may push out the oldest unread one).
    pub fn send(&self, event: Event) {
        {
            let mut state = self.shared.lock();
            if state.closed {
                return;
            }
            state.push(event, self.shared.capacity);
        }
        // Full: a token already waits.
        let _ = self.wake.try_send(());
    }

    /// No more events: readers get the ones queued, then `None`.
    pub fn close(&self) {
        self.shared.lock().closed = true;
        self.wake.close();
    }
}

impl EventReceiver {
    /// The next event, without waiting: `None` if none is queued, `Some(None)` once the
    /// queue is closed and empty.
    pub fn try_recv(&self) -> Option<Option<Event>> {
        let mut state = self.shared.lock();
        match state.pop() {
            Some(event) => {
                if state.len() > 0 {
                    let _ = self.rewake.try_send(());
                }
                Some(Some(event))
            }
            None if state.closed => Some(None),
            None => None,
        }
    }

    /// The next event, waiting for one; `None` once the queue is closed and empty.
    /// Cancel-safe: an event is taken only when it is returned.
    pub async fn recv(&self) -> Option<Event> {
        loop {
            if let Some(event) = self.try_recv() {
                return event;
            }
            // A token sent after the check above is still there; closed: look once more.
            let _ = self.wake.recv().await;
        }
    }

    /// Informational events dropped so far because the application read too slowly.
    pub fn dropped(&self) -> u64 {
        self.shared.lock().dropped
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
