//! Fuzz body: a sequence of picker operations (peers joining and leaving, bitfields, haves,
//! chokes, picks, arrivals in any order, rejects, timeouts, hash verdicts, priorities) with
//! invariant checks after every step.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use arbitrary::Unstructured;

use crate::layout::Layout;
use crate::picker::{
    BLOCK_LEN, PeerKey, PeerRate, Picker, PickerConfig, PieceFailed, Priority, Received,
};
use crate::pieces::{BlockRef, PieceSet};
use crate::rng::Rng;

/// Most operations applied per input.
const MAX_OPS: usize = 3000;

/// Applies the operations encoded in `data` to a picker; panics if an invariant breaks:
/// the picker's own consistency ([`Picker::check_invariants`]), no request for a piece the peer
/// lacks or we have, no block requested twice outside endgame, and endgame cancels naming
/// exactly the other copies in flight. Time starts at `start` (the fuzz target passes the
/// current instant; the picker only ever sees instants derived from it).
pub fn picker_ops(start: Instant, data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut h = Harness::new(start, &mut u);
    for _ in 0..MAX_OPS {
        if u.is_empty() {
            break;
        }
        let op: u8 = u.arbitrary().unwrap_or(0);
        h.apply(op, &mut u);
        if let Err(e) = h.p.check_invariants() {
            panic!("picker invariant broken after op {op}: {e}");
        }
    }
}

struct Harness {
    p: Picker,
    n: u32,
    now: Instant,
    rng: Rng,
    peers: BTreeMap<PeerKey, PieceSet>,
    next_key: u32,
    /// What the harness believes is in flight, per block.
    outstanding: BTreeMap<BlockRef, BTreeSet<PeerKey>>,
}

impl Harness {
    fn new(start: Instant, u: &mut Unstructured<'_>) -> Self {
        let n = u.int_in_range(1..=48u32).unwrap_or(1);
        let blocks_per_piece = u.int_in_range(1..=4u32).unwrap_or(1);
        let piece_length = blocks_per_piece * BLOCK_LEN;
        let tail = u.int_in_range(1..=piece_length).unwrap_or(piece_length);
        let total = u64::from(n - 1) * u64::from(piece_length) + u64::from(tail);
        let layout = Layout::new(piece_length, [(total, false)])
            .expect("at most 48 pieces of at most 64 KiB always make a valid layout");
        let config = PickerConfig {
            sequential: u.arbitrary().unwrap_or(false),
            starting_pieces: u.int_in_range(0..=8).unwrap_or(2),
            refill_batch: u.int_in_range(0..=40).unwrap_or(32),
            ..PickerConfig::default()
        };
        let seed: u64 = u.arbitrary().unwrap_or(0);
        Self {
            p: Picker::new(&layout, config, seed),
            n,
            now: start,
            rng: Rng::new(seed),
            peers: BTreeMap::new(),
            next_key: 0,
            outstanding: BTreeMap::new(),
        }
    }

    fn peer(&self, u: &mut Unstructured<'_>) -> Option<PeerKey> {
        let i: u8 = u.arbitrary().unwrap_or(0);
        self.peers
            .keys()
            .nth(usize::from(i) % self.peers.len().max(1))
            .copied()
    }

    fn piece(&self, u: &mut Unstructured<'_>) -> u32 {
        u.arbitrary::<u32>().unwrap_or(0) % self.n
    }

    fn drop_req(&mut self, peer: PeerKey, r: BlockRef) {
        if let Some(s) = self.outstanding.get_mut(&r) {
            s.remove(&peer);
            if s.is_empty() {
                self.outstanding.remove(&r);
            }
        }
    }

    fn all_outstanding(&self) -> Vec<(BlockRef, PeerKey)> {
        self.outstanding
            .iter()
            .flat_map(|(r, s)| s.iter().map(move |k| (*r, *k)))
            .collect()
    }

    fn apply(&mut self, op: u8, u: &mut Unstructured<'_>) {
        match op % 16 {
            0 => {
                let key = PeerKey(self.next_key);
                self.next_key += 1;
                self.p.add_peer(key);
                self.peers.insert(key, PieceSet::new(self.n));
            }
            1 => {
                if let Some(k) = self.peer(u) {
                    self.p.remove_peer(k);
                    self.peers.remove(&k);
                    for (r, _) in self.all_outstanding().into_iter().filter(|x| x.1 == k) {
                        self.drop_req(k, r);
                    }
                }
            }
            2 => {
                if let Some(k) = self.peer(u) {
                    let mut set = PieceSet::new(self.n);
                    for p in 0..self.n {
                        if self.rng.chance(0.5) {
                            set.insert(p);
                        }
                    }
                    self.p
                        .peer_bitfield(k, &set.to_bitfield())
                        .expect("a well-formed bitfield of a known peer");
                    self.replace_has(k, set);
                }
            }
            3 => {
                if let Some(k) = self.peer(u) {
                    self.p.peer_have_all(k).expect("known peer");
                    self.replace_has(k, PieceSet::full(self.n));
                }
            }
            4 => {
                if let Some(k) = self.peer(u) {
                    self.p.peer_have_none(k).expect("known peer");
                    self.replace_has(k, PieceSet::new(self.n));
                }
            }
            5 => {
                if let Some(k) = self.peer(u) {
                    let piece = self.piece(u);
                    self.p.peer_have(k, piece).expect("known peer, valid piece");
                    if let Some(set) = self.peers.get_mut(&k) {
                        set.insert(piece);
                    }
                }
            }
            6 => {
                if let Some(k) = self.peer(u) {
                    self.p.peer_unchoked(self.now, k);
                }
            }
            7 => {
                if let Some(k) = self.peer(u) {
                    for r in self.p.peer_choked(k) {
                        self.drop_req(k, r);
                    }
                }
            }
            8 | 9 => {
                if let Some(k) = self.peer(u) {
                    let rate = PeerRate {
                        download_rate: u64::from(u.arbitrary::<u16>().unwrap_or(0)) * 64,
                        rtt: Duration::from_millis(u64::from(u.arbitrary::<u8>().unwrap_or(0))),
                        reqq: u32::from(u.arbitrary::<u8>().unwrap_or(0)),
                    };
                    self.pick(k, rate);
                }
            }
            10 | 11 => {
                let all = self.all_outstanding();
                if !all.is_empty() {
                    let i = usize::from(u.arbitrary::<u16>().unwrap_or(0)) % all.len();
                    let (r, k) = all[i];
                    let good = u.arbitrary::<bool>().unwrap_or(true);
                    self.deliver(k, r, good);
                }
            }
            12 => {
                // A hostile or unsolicited block.
                if let Some(k) = self.peer(u) {
                    let r = BlockRef {
                        piece: u.arbitrary().unwrap_or(0),
                        offset: u.arbitrary().unwrap_or(0),
                        length: u.arbitrary().unwrap_or(0),
                    };
                    let others = self.outstanding.get(&r).cloned().unwrap_or_default();
                    if let Received::Accepted { cancels, .. } =
                        self.p.block_received(self.now, k, r)
                    {
                        self.check_cancels(k, r, &others, &cancels);
                    }
                }
            }
            13 => {
                let all = self.all_outstanding();
                if !all.is_empty() {
                    let (r, k) = all[usize::from(u.arbitrary::<u16>().unwrap_or(0)) % all.len()];
                    self.p.request_rejected(k, r);
                    self.drop_req(k, r);
                }
            }
            14 => {
                self.now += Duration::from_secs(u64::from(u.arbitrary::<u8>().unwrap_or(0)));
                let cancels = self.p.handle_timeout(self.now);
                for (k, r) in cancels {
                    self.drop_req(k, r);
                }
                if let Some(t) = self.p.poll_timeout() {
                    assert!(
                        t > self.now,
                        "poll_timeout in the past after handle_timeout"
                    );
                }
            }
            _ => {
                let piece = self.piece(u);
                match u.arbitrary::<u8>().unwrap_or(0) % 5 {
                    0 => {
                        let passed = self.p.piece_passed(piece);
                        for (k, r) in passed.cancels {
                            self.drop_req(k, r);
                        }
                    }
                    1 => {
                        let failed = self.p.piece_failed(piece);
                        self.apply_failure(failed);
                    }
                    2 => {
                        let prio = [
                            Priority::Skip,
                            Priority::Low,
                            Priority::Normal,
                            Priority::High,
                        ][usize::from(u.arbitrary::<u8>().unwrap_or(0)) % 4];
                        self.p
                            .set_priority(piece, prio)
                            .expect("piece index is in range");
                    }
                    3 => {
                        let on = u.arbitrary().unwrap_or(false);
                        self.p.set_sequential(on);
                    }
                    _ => {
                        if let Some(k) = self.peer(u) {
                            self.p.allowed_fast(k, piece);
                        }
                    }
                }
            }
        }
    }

    /// Cancels of a failed piece, and every request of a banned peer, are gone.
    fn apply_failure(&mut self, failed: PieceFailed) {
        for (k, r) in failed.cancels {
            self.drop_req(k, r);
        }
        for b in failed.banned {
            assert!(self.p.is_banned(b));
            assert!(
                self.p.requests(b).next().is_none(),
                "banned peer keeps requests"
            );
            for (r, _) in self.all_outstanding().into_iter().filter(|x| x.1 == b) {
                self.drop_req(b, r);
            }
        }
    }

    /// A peer's claimed pieces changed: its requests for pieces it no longer has are void.
    fn replace_has(&mut self, k: PeerKey, set: PieceSet) {
        for (r, _) in self.all_outstanding().into_iter().filter(|x| x.1 == k) {
            if !set.contains(r.piece) {
                self.drop_req(k, r);
            }
        }
        self.peers.insert(k, set);
    }

    fn pick(&mut self, k: PeerKey, rate: PeerRate) {
        let picked = self.p.pick(self.now, k, rate);
        let endgame = self.p.in_endgame();
        for r in picked {
            assert!(
                self.peers[&k].contains(r.piece),
                "{r:?} requested from {k:?}, which lacks it"
            );
            assert!(!self.p.have().contains(r.piece), "{r:?}: piece already had");
            assert_ne!(
                self.p.priority(r.piece),
                Priority::Skip,
                "{r:?}: piece skipped"
            );
            let reqs = self.outstanding.entry(r).or_default();
            assert!(reqs.insert(k), "{r:?} requested twice from {k:?}");
            assert!(
                reqs.len() == 1 || endgame,
                "{r:?} requested twice outside endgame"
            );
        }
    }

    fn deliver(&mut self, k: PeerKey, r: BlockRef, good: bool) {
        self.drop_req(k, r);
        let others = self.outstanding.get(&r).cloned().unwrap_or_default();
        match self.p.block_received(self.now, k, r) {
            Received::Accepted {
                piece_complete,
                cancels,
            } => {
                self.check_cancels(k, r, &others, &cancels);
                if piece_complete {
                    if good {
                        for (k, r) in self.p.piece_passed(r.piece).cancels {
                            self.drop_req(k, r);
                        }
                    } else {
                        let failed = self.p.piece_failed(r.piece);
                        self.apply_failure(failed);
                    }
                }
            }
            Received::Invalid => panic!("the picker's own request {r:?} is invalid"),
            _ => {}
        }
    }

    fn check_cancels(
        &mut self,
        k: PeerKey,
        r: BlockRef,
        others: &BTreeSet<PeerKey>,
        cancels: &[(PeerKey, BlockRef)],
    ) {
        let cancelled: BTreeSet<PeerKey> = cancels
            .iter()
            .map(|(p, c)| {
                assert_eq!(*c, r, "cancel of another block");
                *p
            })
            .collect();
        let mut expected = others.clone();
        expected.remove(&k);
        assert_eq!(
            cancelled, expected,
            "cancels must name every other copy of {r:?}"
        );
        self.outstanding.remove(&r);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("picker_ops");
        assert!(!corpus.is_empty(), "fuzz/corpus/picker_ops is empty");
        for input in corpus {
            super::picker_ops(std::time::Instant::now(), &input);
        }
    }

    #[test]
    fn random_inputs_hold_the_invariants() {
        let mut rng = crate::rng::Rng::new(11);
        for len in [0, 1, 10, 100, 1000, 4000] {
            for _ in 0..40 {
                let mut data = vec![0; len];
                rng.fill(&mut data);
                super::picker_ops(std::time::Instant::now(), &data);
            }
        }
    }
}
