//! Pieces ordered by availability, in O(1) per availability change (libtorrent's layout).
//!
//! [`Buckets`] keeps the candidate pieces of one priority class in one vector sorted by
//! availability: bucket `k` (the pieces `k` non-seed peers have) is a contiguous run starting at
//! `starts[k]`. Moving a piece one bucket up or down swaps it with the bucket's boundary
//! element and shifts the boundary: O(1). Inside a bucket the order is random (every move swaps
//! the piece with a random member of its new bucket), which gives rarest-first its random
//! tie-break. Inserting or removing a piece costs O(number of buckets), bounded by the peer
//! count, never by the piece count.

use crate::rng::Rng;

const ABSENT: u32 = u32::MAX;

/// Pieces of one priority class ordered by availability; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Buckets {
    order: Vec<u32>,
    /// `starts[k]`: index in `order` of bucket `k`'s first piece; bucket `k` ends where bucket
    /// `k + 1` starts, the last bucket at `order.len()`.
    starts: Vec<u32>,
    /// Each piece's index in `order`, or `ABSENT`.
    pos: Vec<u32>,
}

impl Buckets {
    pub(crate) fn new(piece_count: u32) -> Self {
        Self {
            order: Vec::new(),
            starts: vec![0],
            pos: vec![ABSENT; piece_count as usize],
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    pub(crate) fn contains(&self, piece: u32) -> bool {
        self.pos[piece as usize] != ABSENT
    }

    /// The pieces, rarest first (random order among equals).
    pub(crate) fn order(&self) -> &[u32] {
        &self.order
    }

    /// The position of `piece` in [`Self::order`] (smaller is picked first).
    pub(crate) fn position(&self, piece: u32) -> u32 {
        self.pos[piece as usize]
    }

    /// Whether some piece here has availability above zero (excluding seeds).
    pub(crate) fn any_above_zero(&self) -> bool {
        self.starts.len() > 1 && (self.starts[1] as usize) < self.order.len()
    }

    /// Adds `piece` (not present) with availability `avail`.
    pub(crate) fn insert(&mut self, piece: u32, avail: u32, rng: &mut Rng) {
        debug_assert!(!self.contains(piece));
        let k = avail as usize;
        self.ensure(k);
        self.order.push(piece);
        let mut i = self.order.len() - 1;
        self.pos[piece as usize] = i as u32;
        // Walk down from the last bucket: each step swaps the piece with the first element of
        // bucket `c` and shrinks `c` from the front, leaving the piece at the end of `c - 1`.
        for c in (k + 1..self.starts.len()).rev() {
            let first = self.starts[c] as usize;
            self.swap(i, first);
            self.starts[c] += 1;
            i = first;
        }
        self.shuffle_into(i, k, rng);
    }

    /// Removes `piece` (present, with availability `avail`).
    pub(crate) fn remove(&mut self, piece: u32, avail: u32) {
        debug_assert!(self.contains(piece));
        let k = avail as usize;
        let mut i = self.pos[piece as usize] as usize;
        // Walk up: move the piece to the end of each bucket, then make it the first element of
        // the next one, until it is the very last element.
        for c in k..self.starts.len() {
            let last = self.end(c) - 1;
            self.swap(i, last);
            i = last;
            if c + 1 < self.starts.len() {
                self.starts[c + 1] -= 1;
            }
        }
        debug_assert_eq!(i, self.order.len() - 1);
        self.order.pop();
        self.pos[piece as usize] = ABSENT;
    }

    /// Moves `piece` from bucket `avail` to bucket `avail + 1`.
    pub(crate) fn increment(&mut self, piece: u32, avail: u32, rng: &mut Rng) {
        let k = avail as usize;
        self.ensure(k + 1);
        let i = self.pos[piece as usize] as usize;
        let last = self.end(k) - 1;
        self.swap(i, last);
        self.starts[k + 1] -= 1;
        self.shuffle_into(last, k + 1, rng);
    }

    /// Moves `piece` from bucket `avail` (> 0) to bucket `avail - 1`.
    pub(crate) fn decrement(&mut self, piece: u32, avail: u32, rng: &mut Rng) {
        let k = avail as usize;
        debug_assert!(k > 0);
        let i = self.pos[piece as usize] as usize;
        let first = self.starts[k] as usize;
        self.swap(i, first);
        self.starts[k] += 1;
        self.shuffle_into(first, k - 1, rng);
    }

    /// Checks the structure against the availability of each piece (for tests and fuzzing).
    pub(crate) fn check(&self, avail: impl Fn(u32) -> u32) -> Result<(), String> {
        for (i, &p) in self.order.iter().enumerate() {
            if self.pos[p as usize] != i as u32 {
                return Err(format!(
                    "piece {p} at {i} but pos says {}",
                    self.pos[p as usize]
                ));
            }
            let k = avail(p) as usize;
            if k >= self.starts.len() || (self.starts[k] as usize) > i || self.end(k) <= i {
                return Err(format!(
                    "piece {p} with availability {k} in the wrong bucket"
                ));
            }
        }
        let present = self.pos.iter().filter(|p| **p != ABSENT).count();
        if present != self.order.len() {
            return Err("pos and order disagree on membership".into());
        }
        if self.starts.windows(2).any(|w| w[0] > w[1]) {
            return Err("bucket starts not sorted".into());
        }
        Ok(())
    }

    fn end(&self, k: usize) -> usize {
        match self.starts.get(k + 1) {
            Some(&s) => s as usize,
            None => self.order.len(),
        }
    }

    fn ensure(&mut self, k: usize) {
        while self.starts.len() <= k {
            self.starts.push(self.order.len() as u32);
        }
    }

    /// Swaps the piece at `i` (in bucket `k`) with a random member of bucket `k`.
    fn shuffle_into(&mut self, i: usize, k: usize, rng: &mut Rng) {
        let start = self.starts[k] as usize;
        let n = self.end(k) - start;
        if n > 1 {
            let j = start + rng.index(n);
            self.swap(i, j);
        }
    }

    fn swap(&mut self, i: usize, j: usize) {
        if i == j {
            return;
        }
        self.order.swap(i, j);
        self.pos[self.order[i] as usize] = i as u32;
        self.pos[self.order[j] as usize] = j as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_operations_keep_buckets_sorted() {
        let n = 200u32;
        let mut rng = Rng::new(5);
        let mut b = Buckets::new(n);
        let mut avail = vec![0u32; n as usize];
        for p in 0..n {
            if p % 3 != 0 {
                b.insert(p, 0, &mut rng);
            }
        }
        for step in 0..20_000 {
            let p = rng.below(u64::from(n)) as u32;
            match rng.below(4) {
                0 => {
                    if b.contains(p) {
                        b.increment(p, avail[p as usize], &mut rng);
                    }
                    avail[p as usize] += 1;
                }
                1 if avail[p as usize] > 0 => {
                    if b.contains(p) {
                        b.decrement(p, avail[p as usize], &mut rng);
                    }
                    avail[p as usize] -= 1;
                }
                2 if b.contains(p) => b.remove(p, avail[p as usize]),
                3 if !b.contains(p) => b.insert(p, avail[p as usize], &mut rng),
                _ => {}
            }
            if step % 97 == 0 {
                b.check(|p| avail[p as usize]).unwrap();
            }
        }
        b.check(|p| avail[p as usize]).unwrap();
        let keys: Vec<u32> = b.order().iter().map(|&p| avail[p as usize]).collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "rarest first");
    }

    #[test]
    fn ties_are_broken_randomly() {
        let first = |seed| {
            let mut rng = Rng::new(seed);
            let mut b = Buckets::new(50);
            for p in 0..50 {
                b.insert(p, 0, &mut rng);
            }
            b.order()[0]
        };
        let firsts: std::collections::BTreeSet<u32> = (0..20).map(first).collect();
        assert!(firsts.len() > 5, "{firsts:?}");
        assert_eq!(first(7), first(7));
    }
}
