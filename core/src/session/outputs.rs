//! What the session hands out: transmits and actions for the runtime, events for the
//! application, each queued in the order produced. Every part pushes here (it needs no other
//! state of the session to do so); the runtime drains the queues with
//! [`Session::poll_transmit`](super::Session::poll_transmit),
//! [`Session::poll_action`](super::Session::poll_action) and
//! [`Session::poll_event`](super::Session::poll_event).

use std::collections::VecDeque;

use super::event::Event;
use super::io::{Action, Transmit};

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
        self.transmits.pop_front()
    }

    /// The oldest action.
    pub(crate) fn pop_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
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
        self.events.pop_front()
    }
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
