//! [`Bitfield`]: one bit per piece, in the wire order of BEP 3 (piece 0 is the high bit of the
//! first byte).

use std::fmt;

/// A fixed-length set of piece indices, stored as 64-bit words, with a cached count of set bits.
///
/// Bit `i` of the wire form is bit `7 - i % 8` of byte `i / 8`; the words hold the wire bytes
/// big-endian, so piece `i` is bit `63 - i % 64` of word `i / 64`. Bits past `len` are always
/// zero.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Bitfield {
    words: Vec<u64>,
    len: u32,
    ones: u32,
}

/// Why bytes could not become a [`Bitfield`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BitfieldError {
    /// The byte length is not `ceil(len / 8)`.
    WrongLength {
        /// The number of bytes given.
        got: usize,
        /// The number of bytes `len` pieces need.
        expected: usize,
    },
    /// A bit past the last piece is set.
    SpareBitsSet,
}

impl Bitfield {
    /// A bitfield of `len` pieces, none set.
    pub fn new(len: u32) -> Self {
        Self {
            words: vec![0; words_for(len)],
            len,
            ones: 0,
        }
    }

    /// A bitfield of `len` pieces, all set.
    pub fn full(len: u32) -> Self {
        let mut bf = Self {
            words: vec![u64::MAX; words_for(len)],
            len,
            ones: len,
        };
        bf.clear_spare();
        bf
    }

    /// Parses the wire form: exactly `ceil(len / 8)` bytes with every spare bit zero.
    pub fn from_bytes(bytes: &[u8], len: u32) -> Result<Self, BitfieldError> {
        let expected = byte_len(len);
        if bytes.len() != expected {
            return Err(BitfieldError::WrongLength {
                got: bytes.len(),
                expected,
            });
        }
        let mut words = vec![0u64; words_for(len)];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks(8)) {
            let mut be = [0u8; 8];
            be[..chunk.len()].copy_from_slice(chunk);
            *word = u64::from_be_bytes(be);
        }
        let mut bf = Self {
            words,
            len,
            ones: 0,
        };
        if bf.spare_mask_hit() {
            return Err(BitfieldError::SpareBitsSet);
        }
        bf.ones = bf.words.iter().map(|w| w.count_ones()).sum();
        Ok(bf)
    }

    /// The number of pieces (bits) in the set.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the bitfield covers no piece at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The length of the wire form in bytes: `ceil(len / 8)`.
    pub fn byte_len(&self) -> usize {
        byte_len(self.len)
    }

    /// How many bits are set (O(1): the count is kept up to date).
    pub fn count_ones(&self) -> u32 {
        self.ones
    }

    /// Whether every piece is set.
    pub fn is_full(&self) -> bool {
        self.ones == self.len
    }

    /// Whether no piece is set.
    pub fn is_clear(&self) -> bool {
        self.ones == 0
    }

    /// Whether piece `index` is set (`false` past the end).
    pub fn get(&self, index: u32) -> bool {
        if index >= self.len {
            return false;
        }
        let (w, mask) = locate(index);
        self.words[w] & mask != 0
    }

    /// Sets piece `index`; returns whether it was newly set. Indices past the end are ignored
    /// and return `false`.
    pub fn set(&mut self, index: u32) -> bool {
        if index >= self.len {
            return false;
        }
        let (w, mask) = locate(index);
        let was = self.words[w] & mask != 0;
        self.words[w] |= mask;
        if !was {
            self.ones += 1;
        }
        !was
    }

    /// Clears piece `index`; returns whether it was set. Indices past the end are ignored.
    pub fn clear(&mut self, index: u32) -> bool {
        if index >= self.len {
            return false;
        }
        let (w, mask) = locate(index);
        let was = self.words[w] & mask != 0;
        self.words[w] &= !mask;
        if was {
            self.ones -= 1;
        }
        was
    }

    /// Sets every piece.
    pub fn set_all(&mut self) {
        self.words.fill(u64::MAX);
        self.clear_spare();
        self.ones = self.len;
    }

    /// Clears every piece.
    pub fn clear_all(&mut self) {
        self.words.fill(0);
        self.ones = 0;
    }

    /// Whether `self` has a piece that `other` lacks (for example: the peer has something we
    /// want). Pieces past the shorter length count as absent.
    pub fn has_any_not_in(&self, other: &Self) -> bool {
        self.words.iter().enumerate().any(|(i, w)| {
            let theirs = other.words.get(i).copied().unwrap_or(0);
            w & !theirs != 0
        })
    }

    /// The indices of the set pieces, ascending.
    pub fn iter_ones(&self) -> Ones<'_> {
        Ones {
            words: &self.words,
            word: 0,
            current: self.words.first().copied().unwrap_or(0),
        }
    }

    /// The wire form: `ceil(len / 8)` bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.byte_len());
        self.write_bytes(&mut out);
        out
    }

    /// Appends the wire form to `out`.
    pub fn write_bytes(&self, out: &mut impl Extend<u8>) {
        let mut remaining = self.byte_len();
        for w in &self.words {
            let bytes = w.to_be_bytes();
            let n = remaining.min(8);
            out.extend(bytes[..n].iter().copied());
            remaining -= n;
        }
    }

    /// Changes the number of pieces: new pieces are clear, pieces past the new length are
    /// dropped.
    pub fn resize(&mut self, len: u32) {
        self.words.resize(words_for(len), 0);
        self.len = len;
        self.clear_spare();
        self.ones = self.words.iter().map(|w| w.count_ones()).sum();
    }

    /// The index of the highest set piece, if any.
    pub fn last_one(&self) -> Option<u32> {
        let (i, w) = self
            .words
            .iter()
            .enumerate()
            .rev()
            .find(|(_, w)| **w != 0)?;
        Some(i as u32 * 64 + 63 - w.trailing_zeros())
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

impl fmt::Debug for Bitfield {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bitfield({}/{} set)", self.ones, self.len)
    }
}

impl fmt::Display for BitfieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongLength { got, expected } => {
                write!(f, "bitfield has {got} bytes, the torrent needs {expected}")
            }
            Self::SpareBitsSet => write!(f, "bitfield sets a bit past the last piece"),
        }
    }
}

impl std::error::Error for BitfieldError {}

/// Iterator over the set pieces of a [`Bitfield`], from [`Bitfield::iter_ones`].
#[derive(Clone, Debug)]
pub struct Ones<'a> {
    words: &'a [u64],
    word: usize,
    current: u64,
}

impl Iterator for Ones<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        loop {
            if self.current != 0 {
                let bit = self.current.leading_zeros();
                self.current &= !(1u64 << (63 - bit));
                return Some(self.word as u32 * 64 + bit);
            }
            self.word += 1;
            self.current = *self.words.get(self.word)?;
        }
    }
}

/// `ceil(pieces / 8)`: the wire length of a bitfield of `pieces` pieces.
pub fn byte_len(pieces: u32) -> usize {
    (pieces as usize).div_ceil(8)
}

fn words_for(len: u32) -> usize {
    (len as usize).div_ceil(64)
}

fn locate(index: u32) -> (usize, u64) {
    ((index / 64) as usize, 1u64 << (63 - index % 64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_order_is_high_bit_first() {
        let mut bf = Bitfield::new(10);
        bf.set(0);
        bf.set(9);
        assert_eq!(bf.to_bytes(), vec![0b1000_0000, 0b0100_0000]);
        let back = Bitfield::from_bytes(&[0b1000_0000, 0b0100_0000], 10).unwrap();
        assert_eq!(back, bf);
        assert_eq!(back.count_ones(), 2);
        assert!(back.get(0) && back.get(9) && !back.get(1) && !back.get(10));
    }

    #[test]
    fn from_bytes_checks_length_and_spare_bits() {
        assert_eq!(
            Bitfield::from_bytes(&[0, 0], 17),
            Err(BitfieldError::WrongLength {
                got: 2,
                expected: 3
            })
        );
        assert_eq!(
            Bitfield::from_bytes(&[0, 0, 0b0100_0000], 17),
            Err(BitfieldError::SpareBitsSet)
        );
        assert!(Bitfield::from_bytes(&[0, 0, 0b1000_0000], 17).is_ok());
        assert!(Bitfield::from_bytes(&[], 0).is_ok());
        // A spare bit in a full 64-bit word boundary case.
        let mut bytes = vec![0xffu8; 9];
        bytes[8] = 0x80;
        let bf = Bitfield::from_bytes(&bytes, 65).unwrap();
        assert!(bf.is_full());
    }

    #[test]
    fn set_clear_count_and_iterate() {
        let mut bf = Bitfield::new(200);
        for i in [0, 5, 63, 64, 127, 128, 199] {
            assert!(bf.set(i));
        }
        assert!(!bf.set(5));
        assert!(!bf.set(200));
        assert_eq!(bf.count_ones(), 7);
        assert_eq!(
            bf.iter_ones().collect::<Vec<_>>(),
            vec![0, 5, 63, 64, 127, 128, 199]
        );
        assert_eq!(bf.last_one(), Some(199));
        assert!(bf.clear(63));
        assert!(!bf.clear(63));
        assert_eq!(bf.count_ones(), 6);
        bf.set_all();
        assert!(bf.is_full());
        assert_eq!(bf.iter_ones().count(), 200);
        assert_eq!(bf.to_bytes().len(), 25);
        bf.clear_all();
        assert!(bf.is_clear());
        assert_eq!(bf.last_one(), None);
    }

    #[test]
    fn full_has_no_spare_bits() {
        for len in [0u32, 1, 7, 8, 9, 63, 64, 65, 1000] {
            let bf = Bitfield::full(len);
            assert_eq!(bf.count_ones(), len);
            let bytes = bf.to_bytes();
            assert_eq!(Bitfield::from_bytes(&bytes, len).unwrap(), bf);
        }
    }

    #[test]
    fn resize_drops_and_recounts() {
        let mut bf = Bitfield::full(100);
        bf.resize(10);
        assert_eq!(bf.count_ones(), 10);
        assert_eq!(bf.to_bytes(), vec![0xff, 0xc0]);
        bf.resize(70);
        assert_eq!(bf.count_ones(), 10);
        assert!(!bf.get(69));
    }

    #[test]
    fn has_any_not_in() {
        let mut ours = Bitfield::new(70);
        let mut theirs = Bitfield::new(70);
        assert!(!theirs.has_any_not_in(&ours));
        theirs.set(69);
        assert!(theirs.has_any_not_in(&ours));
        ours.set(69);
        assert!(!theirs.has_any_not_in(&ours));
    }
}
