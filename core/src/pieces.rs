//! The vocabulary of pieces and blocks that the wire protocol, the picker, the session and
//! storage share: [`PieceSet`], a set of piece indices whose wire form is BEP 3's bitfield,
//! and [`BlockRef`], one block of a piece.

use std::fmt;

pub use crate::picker::BLOCK_LEN;

/// A set of the pieces of a torrent with `len` pieces, stored as 64-bit words, with a cached
/// count of members.
///
/// The wire form ([`PieceSet::from_bitfield`], [`PieceSet::to_bitfield`]) is BEP 3's: piece
/// `i` is bit `7 - i % 8` of byte `i / 8`. The words hold the wire bytes big-endian, so piece
/// `i` is bit `63 - i % 64` of word `i / 64`. Bits past `len` are always zero.
///
/// An empty or a full set holds no words (a seed's sets, and a peer's before its bitfield,
/// cost nothing on the heap): `words` is empty exactly when the count is 0 or `len`, so equal
/// sets have equal fields.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PieceSet {
    words: Vec<u64>,
    len: u32,
    count: u32,
}

/// Why a BEP 3 bitfield does not describe a torrent's pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// One block of a piece: `length` bytes at `offset` in `piece`. It is what a `request`,
/// `cancel` or `reject request` message names, and what the picker hands out and takes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct BlockRef {
    /// The piece index.
    pub piece: u32,
    /// Byte offset of the block inside the piece.
    pub offset: u32,
    /// Length of the block in bytes.
    pub length: u32,
}

impl PieceSet {
    /// The empty set for a torrent of `len` pieces.
    pub fn new(len: u32) -> Self {
        Self {
            words: Vec::new(),
            len,
            count: 0,
        }
    }

    /// The set of all `len` pieces.
    pub fn full(len: u32) -> Self {
        Self {
            words: Vec::new(),
            len,
            count: len,
        }
    }

    /// Parses a BEP 3 bitfield of a torrent with `len` pieces: exactly `ceil(len / 8)` bytes
    /// with every spare bit zero.
    pub fn from_bitfield(bytes: &[u8], len: u32) -> Result<Self, BitfieldError> {
        let expected = bitfield_len(len);
        if bytes.len() != expected {
            return Err(BitfieldError::WrongLength {
                expected,
                actual: bytes.len(),
            });
        }
        let mut words = vec![0u64; words_for(len)];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks(8)) {
            let mut be = [0u8; 8];
            be[..chunk.len()].copy_from_slice(chunk);
            *word = u64::from_be_bytes(be);
        }
        let mut set = Self {
            words,
            len,
            count: 0,
        };
        if set.spare_mask_hit() {
            return Err(BitfieldError::SpareBitSet);
        }
        set.count = set.words.iter().map(|w| w.count_ones()).sum();
        set.compact();
        Ok(set)
    }

    /// The BEP 3 bitfield of this set: `ceil(len / 8)` bytes.
    pub fn to_bitfield(&self) -> Vec<u8> {
        let words = words_for(self.len);
        let mut out = Vec::with_capacity(words * 8);
        for i in 0..words {
            out.extend_from_slice(&self.word(i).to_be_bytes());
        }
        out.truncate(self.bitfield_len());
        out
    }

    /// The length of the wire form in bytes: `ceil(len / 8)`.
    pub fn bitfield_len(&self) -> usize {
        bitfield_len(self.len)
    }

    /// Number of pieces of the torrent (the universe size, not the member count).
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the torrent has no pieces at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of pieces in the set (O(1): the count is kept up to date).
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
        let (w, mask) = locate(piece);
        self.word(w) & mask != 0
    }

    /// Adds `piece`; returns whether it was newly added (false if present or past the end).
    pub fn insert(&mut self, piece: u32) -> bool {
        if piece >= self.len || self.is_full() {
            return false;
        }
        self.expand();
        let (w, mask) = locate(piece);
        let was = self.words[w] & mask != 0;
        self.words[w] |= mask;
        if !was {
            self.count += 1;
        }
        self.compact();
        !was
    }

    /// Removes `piece`; returns whether it was present.
    pub fn remove(&mut self, piece: u32) -> bool {
        if piece >= self.len || self.count == 0 {
            return false;
        }
        self.expand();
        let (w, mask) = locate(piece);
        let was = self.words[w] & mask != 0;
        self.words[w] &= !mask;
        if was {
            self.count -= 1;
        }
        self.compact();
        was
    }

    /// Adds every piece.
    pub fn insert_all(&mut self) {
        self.words = Vec::new();
        self.count = self.len;
    }

    /// Removes every piece.
    pub fn clear(&mut self) {
        self.words = Vec::new();
        self.count = 0;
    }

    /// Whether `self` has a piece that `other` lacks (for example: the peer has something we
    /// want). Pieces past the shorter length count as absent.
    pub fn has_any_not_in(&self, other: &Self) -> bool {
        (0..words_for(self.len)).any(|i| self.word(i) & !other.word(i) != 0)
    }

    /// The members in increasing order.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0)
    }

    /// The members at or after `start`, in increasing order.
    pub fn iter_from(&self, start: u32) -> Iter<'_> {
        let word = (start / 64) as usize;
        if word >= words_for(self.len) {
            return Iter {
                set: self,
                word: 0,
                current: 0,
                end: 0,
            };
        }
        Iter {
            set: self,
            word,
            current: self.word(word) & (u64::MAX >> (start % 64)),
            end: words_for(self.len),
        }
    }

    /// The highest member, if any.
    pub fn last(&self) -> Option<u32> {
        if self.count == 0 {
            return None;
        }
        let (i, w) = (0..words_for(self.len))
            .map(|i| (i, self.word(i)))
            .rev()
            .find(|(_, w)| *w != 0)?;
        Some(i as u32 * 64 + 63 - w.trailing_zeros())
    }

    /// Changes the number of pieces: new pieces are absent, members past the new length are
    /// dropped.
    pub fn resize(&mut self, len: u32) {
        self.expand();
        self.words.resize(words_for(len), 0);
        self.len = len;
        self.clear_spare();
        self.count = self.words.iter().map(|w| w.count_ones()).sum();
        self.compact();
    }

    /// Word `i` of the wire form (zero past the end).
    fn word(&self, i: usize) -> u64 {
        if let Some(w) = self.words.get(i) {
            return *w;
        }
        let words = words_for(self.len);
        if self.count == 0 || self.count != self.len || i >= words {
            return 0;
        }
        let tail = self.len % 64;
        if i + 1 == words && tail != 0 {
            !(u64::MAX >> tail)
        } else {
            u64::MAX
        }
    }

    /// Gives the set its words (an empty or full set holds none).
    fn expand(&mut self) {
        if self.words.is_empty() {
            self.words = (0..words_for(self.len)).map(|i| self.word(i)).collect();
        }
    }

    /// Drops the words of an empty or full set.
    fn compact(&mut self) {
        if self.count == 0 || self.count == self.len {
            self.words = Vec::new();
        }
    }

    fn spare_mask_hit(&self) -> bool {
        let tail = self.len % 64;
        tail != 0
            && self
                .words
                .last()
                .is_some_and(|w| w & (u64::MAX >> tail) != 0)
    }

    fn clear_spare(&mut self) {
        let tail = self.len % 64;
        if tail != 0
            && let Some(w) = self.words.last_mut()
        {
            *w &= !(u64::MAX >> tail);
        }
    }
}

impl BlockRef {
    /// A block of `length` bytes at `offset` in `piece`.
    pub const fn new(piece: u32, offset: u32, length: u32) -> Self {
        Self {
            piece,
            offset,
            length,
        }
    }
}

impl fmt::Debug for PieceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PieceSet({}/{})", self.count, self.len)
    }
}

impl<'a> IntoIterator for &'a PieceSet {
    type Item = u32;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
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

/// The members of a [`PieceSet`] in increasing order, from [`PieceSet::iter`] or
/// [`PieceSet::iter_from`].
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    set: &'a PieceSet,
    word: usize,
    current: u64,
    /// Words in the set's wire form.
    end: usize,
}

impl Iterator for Iter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        loop {
            if self.current != 0 {
                let bit = self.current.leading_zeros();
                self.current &= !(1u64 << (63 - bit));
                return Some(self.word as u32 * 64 + bit);
            }
            self.word += 1;
            if self.word >= self.end {
                return None;
            }
            self.current = self.set.word(self.word);
        }
    }
}

/// `ceil(pieces / 8)`: the wire length of the bitfield of a torrent of `pieces` pieces.
pub fn bitfield_len(pieces: u32) -> usize {
    (pieces as usize).div_ceil(8)
}

fn words_for(len: u32) -> usize {
    (len as usize).div_ceil(64)
}

/// The word of `piece` and its bit there: piece 0 is the most significant bit (BEP 3 order).
fn locate(piece: u32) -> (usize, u64) {
    ((piece / 64) as usize, 1u64 << (63 - piece % 64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_order_is_high_bit_first() {
        let mut s = PieceSet::new(10);
        s.insert(0);
        s.insert(9);
        assert_eq!(s.to_bitfield(), [0b1000_0000, 0b0100_0000]);
        let back = PieceSet::from_bitfield(&[0b1000_0000, 0b0100_0000], 10).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.count(), 2);
        assert!(back.contains(0) && back.contains(9) && !back.contains(1) && !back.contains(10));
    }

    #[test]
    fn from_bitfield_checks_length_and_spare_bits() {
        assert_eq!(
            PieceSet::from_bitfield(&[0, 0], 17),
            Err(BitfieldError::WrongLength {
                expected: 3,
                actual: 2
            })
        );
        assert_eq!(
            PieceSet::from_bitfield(&[0xff], 10),
            Err(BitfieldError::WrongLength {
                expected: 2,
                actual: 1
            })
        );
        assert_eq!(
            PieceSet::from_bitfield(&[0, 0, 0b0100_0000], 17),
            Err(BitfieldError::SpareBitSet)
        );
        assert_eq!(
            PieceSet::from_bitfield(&[0, 0b0010_0000], 10),
            Err(BitfieldError::SpareBitSet)
        );
        assert!(PieceSet::from_bitfield(&[0, 0, 0b1000_0000], 17).is_ok());
        assert!(PieceSet::from_bitfield(&[], 0).is_ok());
        assert!(PieceSet::from_bitfield(&[0xff; 9], 72).unwrap().is_full());
        // A spare bit in a full 64-bit word boundary case.
        let mut bytes = vec![0xffu8; 9];
        bytes[8] = 0x80;
        assert!(PieceSet::from_bitfield(&bytes, 65).unwrap().is_full());
    }

    #[test]
    fn insert_remove_count_and_iterate() {
        let mut s = PieceSet::new(200);
        for i in [0, 5, 63, 64, 127, 128, 199] {
            assert!(s.insert(i));
        }
        assert!(!s.insert(5));
        assert!(!s.insert(200));
        assert_eq!(s.count(), 7);
        assert_eq!(s.iter().collect::<Vec<_>>(), [0, 5, 63, 64, 127, 128, 199]);
        assert_eq!(s.last(), Some(199));
        assert!(s.remove(63));
        assert!(!s.remove(63));
        assert!(!s.remove(200));
        assert_eq!(s.count(), 6);
        s.insert_all();
        assert!(s.is_full());
        assert_eq!(s.iter().count(), 200);
        assert_eq!(s.to_bitfield().len(), 25);
        s.clear();
        assert_eq!(s.count(), 0);
        assert_eq!(s.last(), None);
    }

    #[test]
    fn iter_from_starts_inside_a_word() {
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
    fn full_has_no_spare_bits() {
        for len in [0u32, 1, 7, 8, 9, 63, 64, 65, 1000] {
            let s = PieceSet::full(len);
            assert_eq!(s.count(), len);
            let bytes = s.to_bitfield();
            assert_eq!(bytes.len(), s.bitfield_len());
            assert_eq!(PieceSet::from_bitfield(&bytes, len).unwrap(), s);
        }
    }

    #[test]
    fn resize_drops_and_recounts() {
        let mut s = PieceSet::full(100);
        s.resize(10);
        assert_eq!(s.count(), 10);
        assert_eq!(s.to_bitfield(), [0xff, 0xc0]);
        s.resize(70);
        assert_eq!(s.count(), 10);
        assert!(!s.contains(69));
    }

    #[test]
    fn has_any_not_in() {
        let mut ours = PieceSet::new(70);
        let mut theirs = PieceSet::new(70);
        assert!(!theirs.has_any_not_in(&ours));
        theirs.insert(69);
        assert!(theirs.has_any_not_in(&ours));
        ours.insert(69);
        assert!(!theirs.has_any_not_in(&ours));
        let mut a = PieceSet::new(100);
        let mut b = PieceSet::new(100);
        a.insert(70);
        assert!(a.has_any_not_in(&b));
        b.insert(70);
        assert!(!a.has_any_not_in(&b));
        // Pieces past the shorter set count as absent from it.
        let short = PieceSet::new(10);
        assert!(theirs.has_any_not_in(&short));
        assert!(!short.has_any_not_in(&theirs));
    }
}
