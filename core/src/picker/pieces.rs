//! [`PieceSet`]: a fixed-size set of piece indices (a bitfield with a population count).
//!
//! The picker, the resume state and recheck all speak this type. Its wire form
//! ([`PieceSet::from_bitfield`], [`PieceSet::to_bitfield`]) is BEP 3's: piece 0 is the high bit
//! of the first byte.

use std::fmt;

/// A set of pieces of a torrent with `len` pieces.
#[derive(Clone, PartialEq, Eq)]
pub struct PieceSet {
    words: Vec<u64>,
    len: u32,
    count: u32,
}

/// Why a BEP 3 bitfield does not describe a torrent's pieces.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BitfieldError {
    /// The bitfield has the wrong number of bytes for the piece count.
    WrongLength {
        /// Bytes expected: `ceil(pieces / 8)`.
        expected: usize,
        /// Bytes given.
        actual: usize,
    },
    /// A bit past the last piece is set (BEP 3 requires spare bits to be zero).
    SpareBitSet,
}

impl PieceSet {
    /// The empty set for a torrent of `len` pieces.
    pub fn new(len: u32) -> Self {
        Self {
            words: vec![0; len.div_ceil(64) as usize],
            len,
            count: 0,
        }
    }

    /// The set of all `len` pieces.
    pub fn full(len: u32) -> Self {
        let mut set = Self::new(len);
        for w in &mut set.words {
            *w = u64::MAX;
        }
        set.clear_spare();
        set.count = len;
        set
    }

    /// Parses a BEP 3 bitfield of a torrent with `len` pieces.
    pub fn from_bitfield(bytes: &[u8], len: u32) -> Result<Self, BitfieldError> {
        let expected = len.div_ceil(8) as usize;
        if bytes.len() != expected {
            return Err(BitfieldError::WrongLength {
                expected,
                actual: bytes.len(),
            });
        }
        let mut set = Self::new(len);
        for (i, chunk) in bytes.chunks(8).enumerate() {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            set.words[i] = u64::from_be_bytes(buf);
        }
        let before: u32 = set.words.iter().map(|w| w.count_ones()).sum();
        set.clear_spare();
        let after: u32 = set.words.iter().map(|w| w.count_ones()).sum();
        if before != after {
            return Err(BitfieldError::SpareBitSet);
        }
        set.count = after;
        Ok(set)
    }

    /// The BEP 3 bitfield bytes of this set.
    pub fn to_bitfield(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len.div_ceil(8) as usize);
        for w in &self.words {
            out.extend_from_slice(&w.to_be_bytes());
        }
        out.truncate(self.len.div_ceil(8) as usize);
        out
    }

    /// Number of pieces of the torrent (the universe size, not the member count).
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the torrent has no pieces at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of pieces in the set.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether every piece is in the set.
    pub fn is_full(&self) -> bool {
        self.count == self.len
    }

    /// Whether `piece` is in the set (false for an index past the end).
    pub fn contains(&self, piece: u32) -> bool {
        if piece >= self.len {
            return false;
        }
        self.words[(piece / 64) as usize] & bit(piece) != 0
    }

    /// Adds `piece`; returns whether it was newly added (false if present or out of range).
    pub fn insert(&mut self, piece: u32) -> bool {
        if piece >= self.len || self.contains(piece) {
            return false;
        }
        self.words[(piece / 64) as usize] |= bit(piece);
        self.count += 1;
        true
    }

    /// Removes `piece`; returns whether it was present.
    pub fn remove(&mut self, piece: u32) -> bool {
        if !self.contains(piece) {
            return false;
        }
        self.words[(piece / 64) as usize] &= !bit(piece);
        self.count -= 1;
        true
    }

    /// The members in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.iter_from(0)
    }

    /// The members at or after `start`, in increasing order.
    pub fn iter_from(&self, start: u32) -> impl Iterator<Item = u32> + '_ {
        let first_word = (start / 64) as usize;
        let mask = u64::MAX >> (start % 64);
        self.words
            .iter()
            .enumerate()
            .skip(first_word)
            .flat_map(move |(i, &w)| {
                let mut w = if i == first_word { w & mask } else { w };
                std::iter::from_fn(move || {
                    if w == 0 {
                        return None;
                    }
                    let b = w.leading_zeros();
                    w &= !(1u64 << (63 - b));
                    Some(i as u32 * 64 + b)
                })
            })
    }

    /// Whether some member of `self` is not in `other` (both must have the same `len`).
    pub fn has_any_not_in(&self, other: &Self) -> bool {
        self.words
            .iter()
            .zip(&other.words)
            .any(|(a, b)| a & !b != 0)
    }

    fn clear_spare(&mut self) {
        let rem = self.len % 64;
        if rem != 0
            && let Some(last) = self.words.last_mut()
        {
            *last &= !(u64::MAX >> rem);
        }
    }
}

/// Piece `p`'s bit in its word: piece 0 is the most significant bit (BEP 3 order).
fn bit(piece: u32) -> u64 {
    1u64 << (63 - piece % 64)
}

impl fmt::Debug for PieceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PieceSet({}/{})", self.count, self.len)
    }
}

impl fmt::Display for BitfieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongLength { expected, actual } => {
                write!(f, "bitfield has {actual} bytes, expected {expected}")
            }
            Self::SpareBitSet => f.write_str("bitfield sets a bit past the last piece"),
        }
    }
}

impl std::error::Error for BitfieldError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_count_iter() {
        let mut s = PieceSet::new(130);
        assert!(s.insert(0));
        assert!(s.insert(129));
        assert!(s.insert(64));
        assert!(!s.insert(64));
        assert!(!s.insert(130));
        assert_eq!(s.count(), 3);
        assert_eq!(s.iter().collect::<Vec<_>>(), [0, 64, 129]);
        assert_eq!(s.iter_from(1).collect::<Vec<_>>(), [64, 129]);
        assert_eq!(s.iter_from(64).collect::<Vec<_>>(), [64, 129]);
        assert_eq!(s.iter_from(65).collect::<Vec<_>>(), [129]);
        assert_eq!(s.iter_from(130).count(), 0);
        assert_eq!(s.iter_from(5000).count(), 0);
        assert!(s.remove(64));
        assert!(!s.remove(64));
        assert_eq!(s.count(), 2);
        assert!(PieceSet::full(130).is_full());
        assert_eq!(PieceSet::full(130).iter().count(), 130);
    }

    #[test]
    fn bitfield_round_trip_and_hostile_input() {
        let mut s = PieceSet::new(10);
        s.insert(0);
        s.insert(9);
        let b = s.to_bitfield();
        assert_eq!(b, [0b1000_0000, 0b0100_0000]);
        assert_eq!(PieceSet::from_bitfield(&b, 10).unwrap(), s);
        assert_eq!(
            PieceSet::from_bitfield(&[0xff], 10),
            Err(BitfieldError::WrongLength {
                expected: 2,
                actual: 1
            })
        );
        assert_eq!(
            PieceSet::from_bitfield(&[0, 0b0010_0000], 10),
            Err(BitfieldError::SpareBitSet)
        );
        let full = PieceSet::from_bitfield(&[0xff; 9], 72).unwrap();
        assert!(full.is_full());
    }

    #[test]
    fn difference_test() {
        let mut a = PieceSet::new(100);
        let mut b = PieceSet::new(100);
        a.insert(70);
        assert!(a.has_any_not_in(&b));
        b.insert(70);
        assert!(!a.has_any_not_in(&b));
    }
}
