//! Pieces ordered by availability, in O(1) per availability change (libtorrent's layout).
//!
//! [`Buckets`] keeps the candidate pieces of one priority class in one vector sorted by
//! availability, most common first and rarest last: bucket `k` (the pieces `k` non-seed peers
//! have) is a contiguous run. Moving a piece one bucket up or down swaps it with the bucket's
//! boundary element and shifts the boundary: O(1). Inside a bucket the order is random (every
//! move swaps the piece with a random member of its new bucket), which gives rarest-first its
//! random tie-break. Inserting or removing a piece of availability `k` walks the `k` rarer
//! buckets between it and the end of the vector: O(k), and rare pieces (the ones picked, and so
//! removed) are near the end; never O(piece count).
//!
//! An empty [`Buckets`] holds no memory (a seed's lists are all empty): its vectors are
//! allocated by the first insert and given back when the last piece leaves.

use crate::rng::Rng;

const ABSENT: u32 = u32::MAX;

/// Pieces of one priority class ordered by availability; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Buckets {
    /// Most common first, rarest last.
    order: Vec<u32>,
    /// `top[k]`: index in `order` of bucket `k`'s first piece. Bucket `k` ends where bucket
    /// `k - 1` starts (bucket 0 at `order.len()`); the highest bucket starts at 0. Empty
    /// (as `[0]`) while `order` is.
    top: Vec<u32>,
    /// Each piece's index in `order`, or `ABSENT`; empty (every piece absent) while `order`
    /// is.
    pos: Vec<u32>,
    piece_count: u32,
}

impl Buckets {
    pub(crate) fn new(piece_count: u32) -> Self {
        Self {
            order: Vec::new(),
            top: Vec::new(),
            pos: Vec::new(),
            piece_count,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    pub(crate) fn contains(&self, piece: u32) -> bool {
        self.pos.get(piece as usize).is_some_and(|p| *p != ABSENT)
    }

    /// The pieces, rarest first (random order among equals).
    pub(crate) fn rarest_first(&self) -> impl Iterator<Item = u32> + '_ {
        self.order.iter().rev().copied()
    }

    /// The rank of `piece` in [`Self::rarest_first`] (smaller is picked first).
    pub(crate) fn rank(&self, piece: u32) -> usize {
        self.order.len() - 1 - self.pos[piece as usize] as usize
    }

    /// Whether some piece here has availability above zero (excluding seeds).
    pub(crate) fn any_above_zero(&self) -> bool {
        self.top.first().is_some_and(|t| *t > 0)
    }

    /// Adds `piece` (not present) with availability `avail`.
    pub(crate) fn insert(&mut self, piece: u32, avail: u32, rng: &mut Rng) {
        debug_assert!(!self.contains(piece));
        if self.pos.is_empty() {
            self.pos = vec![ABSENT; self.piece_count as usize];
        }
        let k = avail as usize;
        self.ensure(k);
        self.order.push(piece);
        let mut i = self.order.len() - 1;
        self.pos[piece as usize] = i as u32;
        // The piece starts as the last element of bucket 0. Each step swaps it with the first
        // element of bucket `c` and shrinks `c` from the front, leaving it last in `c + 1`.
        for c in 0..k {
            let first = self.top[c] as usize;
            self.swap(i, first);
            self.top[c] += 1;
            i = first;
        }
        self.shuffle_into(i, k, rng);
    }

    /// Removes `piece` (present, with availability `avail`).
    pub(crate) fn remove(&mut self, piece: u32, avail: u32) {
        debug_assert!(self.contains(piece));
        let k = avail as usize;
        let mut i = self.pos[piece as usize] as usize;
        // Walk towards the end: move the piece to the end of each bucket, then make it the
        // first element of the next rarer one, until it is the very last element.
        for c in (1..=k).rev() {
            let last = self.end(c) - 1;
            self.swap(i, last);
            self.top[c - 1] -= 1;
            i = last;
        }
        let last = self.order.len() - 1;
        self.swap(i, last);
        self.order.pop();
        self.pos[piece as usize] = ABSENT;
        if self.order.is_empty() {
            *self = Self::new(self.piece_count);
        }
    }

    /// Moves `piece` from bucket `avail` to bucket `avail + 1`.
    pub(crate) fn increment(&mut self, piece: u32, avail: u32, rng: &mut Rng) {
        let k = avail as usize;
        self.ensure(k + 1);
        let i = self.pos[piece as usize] as usize;
        let first = self.top[k] as usize;
        self.swap(i, first);
        self.top[k] += 1;
        self.shuffle_into(first, k + 1, rng);
    }

    /// Moves `piece` from bucket `avail` (> 0) to bucket `avail - 1`.
    pub(crate) fn decrement(&mut self, piece: u32, avail: u32, rng: &mut Rng) {
        let k = avail as usize;
        debug_assert!(k > 0);
        let i = self.pos[piece as usize] as usize;
        let last = self.end(k) - 1;
        self.swap(i, last);
        self.top[k - 1] -= 1;
        self.shuffle_into(last, k - 1, rng);
    }

    /// Checks the structure against the availability of each piece (for tests and fuzzing).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn check(&self, avail: impl Fn(u32) -> u32) -> Result<(), String> {
        for (i, &p) in self.order.iter().enumerate() {
            if self.pos[p as usize] != i as u32 {
                return Err(format!(
                    "piece {p} at {i} but pos says {}",
                    self.pos[p as usize]
                ));
            }
            let k = avail(p) as usize;
            if k >= self.top.len() || (self.top[k] as usize) > i || self.end(k) <= i {
                return Err(format!(
                    "piece {p} with availability {k} in the wrong bucket"
                ));
            }
        }
        let present = self.pos.iter().filter(|p| **p != ABSENT).count();
        if present != self.order.len() {
            return Err("pos and order disagree on membership".into());
        }
        if self.top.windows(2).any(|w| w[0] < w[1]) || self.top.last().is_some_and(|t| *t != 0) {
            return Err("bucket boundaries out of order".into());
        }
        Ok(())
    }

    fn end(&self, k: usize) -> usize {
        if k == 0 {
            self.order.len()
        } else {
            self.top[k - 1] as usize
        }
    }

    fn ensure(&mut self, k: usize) {
        while self.top.len() <= k {
            self.top.push(0);
        }
    }

    /// Swaps the piece at `i` (in bucket `k`) with a random member of bucket `k`.
    fn shuffle_into(&mut self, i: usize, k: usize, rng: &mut Rng) {
        let start = self.top[k] as usize;
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
        assert!(!b.contains(n), "a piece past the end is never contained");
        let keys: Vec<u32> = b.rarest_first().map(|p| avail[p as usize]).collect();
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
            b.rarest_first().next().unwrap()
        };
        let firsts: std::collections::BTreeSet<u32> = (0..20).map(first).collect();
        assert!(firsts.len() > 5, "{firsts:?}");
        assert_eq!(first(7), first(7));
    }
}
