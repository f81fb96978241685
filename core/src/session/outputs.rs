//! What the session hands out: transmits and actions for the runtime, events for the
//! application, each queued in the order produced. Every part pushes here (it needs no other
//! state of the session to do so); the runtime drains the queues with
//! [`Session::poll_transmit`](super::Session::poll_transmit),
//! [`Session::poll_action`](super::Session::poll_action) and
//! [`Session::poll_event`](super::Session::poll_event).

use std::collections::VecDeque;

use super::event::Event;
use super::io::{Action, Transmit};

/// Most entries of room a queue keeps once drained. A burst (every torrent's statistics on
/// one tick, every torrent's `OpenStorage` at a restore) grows a queue to its size; kept, at
/// 10,000 torrents that was 1.6 MB of event room for the session's whole life.
const KEPT_ROOM: usize = 1024;

/// The session's three output queues.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    transmits: VecDeque<Transmit>,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
}

impl Outputs {
    /// Queues bytes to send.
    pub(crate) fn transmit(&mut self, transmit: Transmit) {
        self.transmits.push_back(transmit);
    }

    /// Queues work for the runtime.
    pub(crate) fn action(&mut self, action: Action) {
        self.actions.push_back(action);
    }

    /// Queues an event for the application.
    pub(crate) fn event(&mut self, event: Event) {
        self.events.push_back(event);
    }

    /// The oldest transmit.
    pub(crate) fn pop_transmit(&mut self) -> Option<Transmit> {
        pop(&mut self.transmits)
    }

    /// The oldest action.
    pub(crate) fn pop_action(&mut self) -> Option<Action> {
        pop(&mut self.actions)
    }

    /// Takes out the queued transmits `take` claims, in order; the rest stay queued.
    pub(crate) fn take_transmits(&mut self, take: impl FnMut(&Transmit) -> bool) -> Vec<Transmit> {
        take_where(&mut self.transmits, take)
    }

    /// The queued actions, oldest first.
    pub(crate) fn actions(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter()
    }

    /// Takes out the queued actions `take` claims, in order; the rest stay queued.
    pub(crate) fn take_actions(&mut self, take: impl FnMut(&Action) -> bool) -> Vec<Action> {
        take_where(&mut self.actions, take)
    }

    /// Transmits, actions and events queued.
    pub(crate) fn len(&self) -> usize {
        self.transmits.len() + self.actions.len() + self.events.len()
    }

    /// The oldest event.
    pub(crate) fn pop_event(&mut self) -> Option<Event> {
        pop(&mut self.events)
    }
}

/// The oldest of `queue`; once it is empty, room beyond [`KEPT_ROOM`] goes back.
fn pop<T>(queue: &mut VecDeque<T>) -> Option<T> {
    let item = queue.pop_front();
    if item.is_none() && queue.capacity() > KEPT_ROOM {
        queue.shrink_to(KEPT_ROOM);
    }
    item
}

fn take_where<T>(queue: &mut VecDeque<T>, mut take: impl FnMut(&T) -> bool) -> Vec<T> {
    if !queue.iter().any(&mut take) {
        return Vec::new();
    }
    let mut taken = Vec::new();
    let mut kept = VecDeque::with_capacity(queue.len());
    for item in queue.drain(..) {
        if take(&item) {
            taken.push(item);
        } else {
            kept.push_back(item);
        }
    }
    *queue = kept;
    taken
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::TorrentId;

    #[test]
    fn a_drained_queue_gives_back_a_burst_s_room() {
        let mut out = Outputs::default();
        for i in 0..10_000 {
            out.event(Event::TorrentReleased {
                torrent: TorrentId(i),
            });
        }
        assert!(out.events.capacity() >= 10_000);
        for i in 0..10_000 {
            assert!(
                matches!(out.pop_event(), Some(Event::TorrentReleased { torrent }) if torrent.0 == i)
            );
        }
        assert!(out.events.capacity() >= 10_000, "kept until drained");
        assert!(out.pop_event().is_none());
        assert!(
            out.events.capacity() <= KEPT_ROOM,
            "{}",
            out.events.capacity()
        );
        out.event(Event::TorrentReleased {
            torrent: TorrentId(1),
        });
        assert_eq!(out.len(), 1, "still usable");
    }
}
