//! The selective ACK extension: a bitmask of packets received past the first gap.
//!
//! Bit `i` (bit `i % 8` of byte `i / 8`, least significant first) says that packet
//! `ack_nr + 2 + i` was received: `ack_nr + 1` is missing by definition, or `ack_nr` would be
//! larger. The mask is a multiple of four bytes long.

use super::seq::Seq;

/// The longest selective ACK we send: 32 bytes, 256 packets past the gap.
pub const MAX_SACK_BYTES: usize = 32;

/// A received selective ACK, borrowing its bitmask from the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelectiveAck<'a>(&'a [u8]);

impl<'a> SelectiveAck<'a> {
    /// Wraps a bitmask (as parsed; any length).
    pub fn new(bits: &'a [u8]) -> Self {
        Self(bits)
    }

    /// The raw bitmask.
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }

    /// How many packets the mask covers.
    pub fn span(&self) -> usize {
        self.0.len() * 8
    }

    /// Whether the mask says `seq` was received, for a packet whose `ack_nr` is `ack_nr`.
    pub fn acks(&self, ack_nr: Seq, seq: Seq) -> bool {
        let Ok(offset) = usize::try_from(i32::from(seq.since(ack_nr)) - 2) else {
            return false;
        };
        self.0
            .get(offset / 8)
            .is_some_and(|byte| byte & (1 << (offset % 8)) != 0)
    }

    /// Every sequence number the mask says was received, in order.
    pub fn acked(&self, ack_nr: Seq) -> impl Iterator<Item = Seq> + '_ {
        (0..self.span())
            .filter(|i| self.0[i / 8] & (1 << (i % 8)) != 0)
            .map(move |i| ack_nr.plus(2 + i as u16))
    }
}

/// Builds a mask from `received[i]` (packet `ack_nr + 2 + i` is held), cut to
/// [`MAX_SACK_BYTES`] and rounded up to four bytes; `None` if no bit would be set.
pub fn encode(received: impl IntoIterator<Item = bool>) -> Option<Vec<u8>> {
    let mut bits = vec![0u8; MAX_SACK_BYTES];
    let mut last = None;
    for (i, held) in received.into_iter().take(MAX_SACK_BYTES * 8).enumerate() {
        if held {
            bits[i / 8] |= 1 << (i % 8);
            last = Some(i);
        }
    }
    let bytes = (last? / 8 + 1).div_ceil(4) * 4;
    bits.truncate(bytes);
    Some(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_layout_matches_bep29() {
        // Packets ack+2 and ack+4 and ack+2+31 received.
        let mask = encode((0..32).map(|i| i == 0 || i == 2 || i == 31)).unwrap();
        assert_eq!(mask, vec![0b0000_0101, 0, 0, 0x80]);
        let sack = SelectiveAck::new(&mask);
        let ack = Seq(65534);
        assert!(sack.acks(ack, Seq(0)));
        assert!(!sack.acks(ack, Seq(65535)));
        assert!(sack.acks(ack, Seq(2)));
        assert!(!sack.acks(ack, Seq(1)));
        assert!(!sack.acks(ack, ack));
        assert!(!sack.acks(ack, Seq(100)));
        assert_eq!(
            sack.acked(ack).collect::<Vec<_>>(),
            vec![Seq(0), Seq(2), Seq(31)]
        );
    }

    #[test]
    fn empty_and_long_masks() {
        assert_eq!(encode([false, false]), None);
        assert_eq!(encode([]), None);
        let long = encode(std::iter::repeat_n(true, 1000)).unwrap();
        assert_eq!(long.len(), MAX_SACK_BYTES);
        assert_eq!(encode((0..40).map(|i| i == 39)).unwrap().len(), 8);
    }
}
