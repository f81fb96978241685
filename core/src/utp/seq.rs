//! 16-bit uTP sequence and acknowledgement numbers, compared with wrap-around.

use std::cmp::Ordering;
use std::fmt;

/// A uTP sequence number (`seq_nr` or `ack_nr`). Numbers wrap at 65,536, so two of them are
/// ordered by their distance: `a` is before `b` when `b - a`, taken modulo 2^16, is in
/// `1..32768`. The order is only meaningful for numbers less than half the space apart,
/// which the windows of a connection guarantee.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Seq(pub u16);

impl Seq {
    /// The number `n` steps after this one (wrapping).
    #[must_use]
    pub fn plus(self, n: u16) -> Self {
        Self(self.0.wrapping_add(n))
    }

    /// The number `n` steps before this one (wrapping).
    #[must_use]
    pub fn minus(self, n: u16) -> Self {
        Self(self.0.wrapping_sub(n))
    }

    /// The next number.
    #[must_use]
    pub fn next(self) -> Self {
        self.plus(1)
    }

    /// The number before this one.
    #[must_use]
    pub fn prev(self) -> Self {
        self.minus(1)
    }

    /// How far `self` is after `earlier`: positive when it is later, negative when earlier.
    pub fn since(self, earlier: Self) -> i16 {
        // Two's complement reinterpretation of the wrapped distance is the definition here.
        self.0.wrapping_sub(earlier.0) as i16
    }

    /// Whether `self` comes strictly before `other` in wrapped order.
    pub fn before(self, other: Self) -> bool {
        other.since(self) > 0
    }

    /// Whether `self` comes strictly after `other` in wrapped order.
    pub fn after(self, other: Self) -> bool {
        self.since(other) > 0
    }

    /// Wrapped comparison (not a total order over all 65,536 values: see the type's docs).
    pub fn cmp_wrapped(self, other: Self) -> Ordering {
        self.since(other).cmp(&0)
    }
}

impl fmt::Debug for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_wraps_around() {
        assert!(Seq(1).after(Seq(0)));
        assert!(Seq(0).after(Seq(65535)));
        assert!(Seq(65535).before(Seq(3)));
        assert!(!Seq(7).before(Seq(7)));
        assert_eq!(Seq(2).since(Seq(65534)), 4);
        assert_eq!(Seq(65534).since(Seq(2)), -4);
        assert_eq!(Seq(65535).next(), Seq(0));
        assert_eq!(Seq(0).prev(), Seq(65535));
        assert_eq!(Seq(10).cmp_wrapped(Seq(65000)), Ordering::Greater);
        assert_eq!(Seq(10).cmp_wrapped(Seq(10)), Ordering::Equal);
    }

    #[test]
    fn half_space_apart_is_the_limit() {
        assert!(Seq(32767).after(Seq(0)));
        // Exactly half the space apart: neither is before the other.
        assert!(!Seq(32768).before(Seq(0)) && !Seq(32768).after(Seq(0)));
        assert!(Seq(32769).before(Seq(0)));
    }
}
