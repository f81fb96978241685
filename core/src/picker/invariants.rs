//! [`Picker::check_invariants`]: a full consistency check, for tests and fuzzing.

use std::collections::BTreeSet;

use super::blocks::block_request;
use super::{BlockRef, Has, PeerKey, Picker};

impl Picker {
    /// Checks every internal invariant; for tests and fuzzing. Costs O(pieces × peers).
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        let mut avail = vec![0u32; self.piece_count as usize];
        let mut seeds = 0;
        for state in self.peers.values() {
            match &state.has {
                Has::All => seeds += 1,
                Has::Some(set) => set.iter().for_each(|p| avail[p as usize] += 1),
            }
        }
        let stored = (0..self.piece_count).map(|p| self.avail_of(p));
        if !avail.iter().copied().eq(stored) || seeds != self.seeds {
            return Err("availability counts disagree with peers".into());
        }
        for buckets in &self.tiers {
            buckets.check(|p| avail[p as usize])?;
        }
        let mut wanted_missing = 0;
        for p in 0..self.piece_count {
            let listed = self.listed(p);
            let should = self.wants(p) && !self.downloading.contains_key(&p);
            if listed != should {
                return Err(format!("piece {p}: listed {listed}, should be {should}"));
            }
            let lists = self.tiers.iter().filter(|b| b.contains(p)).count();
            let right = super::tier(self.priority(p)).is_some_and(|t| self.tiers[t].contains(p));
            if lists > 1 || (listed && !right) {
                return Err(format!("piece {p} in the wrong priority list"));
            }
            wanted_missing += u32::from(self.wants(p));
        }
        if wanted_missing != self.wanted_missing {
            return Err("wanted_missing is off".into());
        }
        let mut inflight: BTreeSet<(PeerKey, BlockRef)> = BTreeSet::new();
        for (&key, state) in &self.peers {
            for (r, _) in &state.inflight {
                if !inflight.insert((key, *r)) {
                    return Err(format!("{key:?} has {r:?} twice in flight"));
                }
                if !state.has(r.piece) {
                    return Err(format!("{key:?} asked for {r:?} it does not have"));
                }
            }
        }
        let mut counted = 0;
        for (&p, dl) in &self.downloading {
            if self.have.contains(p) {
                return Err(format!("piece {p} both had and downloading"));
            }
            let free = dl.blocks.iter().filter(|b| b.is_free()).count() as u32;
            let received = dl.blocks.iter().filter(|b| b.is_received()).count() as u32;
            if free != dl.free || received != dl.received {
                return Err(format!("piece {p}: block counters are off"));
            }
            if (dl.free > 0) != self.partial.contains(&p) {
                return Err(format!("piece {p}: partial set membership is off"));
            }
            for (i, b) in dl.blocks.iter().enumerate() {
                if b.is_received() && !b.reqs.is_empty() {
                    return Err(format!("piece {p} block {i}: received yet requested"));
                }
                for &peer in &b.reqs {
                    let r = block_request(p, self.piece_len(p), i as u32);
                    if !inflight.contains(&(peer, r)) {
                        return Err(format!("{r:?} requested from {peer:?} not in flight"));
                    }
                    counted += 1;
                }
            }
        }
        if counted != inflight.len() {
            return Err("requests in flight missing from block states".into());
        }
        if self
            .partial
            .iter()
            .any(|p| !self.downloading.contains_key(p))
        {
            return Err("partial piece not downloading".into());
        }
        Ok(())
    }
}
