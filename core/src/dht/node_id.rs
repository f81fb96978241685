//! 160-bit node ids, the XOR metric, and BEP 42 node-id security.

use std::fmt;
use std::net::IpAddr;

use crate::id::{InfoHash, to_hex};
use crate::rng::Rng;

/// A DHT node id: 160 bits in the same space as info-hashes.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct NodeId(pub [u8; 20]);

/// The XOR distance between two ids; compares as a 160-bit big-endian number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Distance(pub [u8; 20]);

impl NodeId {
    /// The number of bits in an id.
    pub const BITS: usize = 160;

    /// A uniformly random id.
    pub fn random(rng: &mut Rng) -> Self {
        let mut id = [0u8; 20];
        rng.fill(&mut id);
        Self(id)
    }

    /// A random id sharing exactly the first `prefix_len` bits with `self` (bit `prefix_len`
    /// differs); with `prefix_len >= 160`, `self`. Used to refresh the bucket of that depth.
    pub fn random_with_prefix(&self, prefix_len: usize, rng: &mut Rng) -> Self {
        if prefix_len >= Self::BITS {
            return *self;
        }
        let mut out = Self::random(rng).0;
        for bit in 0..=prefix_len {
            let (byte, mask) = (bit / 8, 0x80u8 >> (bit % 8));
            let ours = self.0[byte] & mask;
            let value = if bit == prefix_len { ours ^ mask } else { ours };
            out[byte] = (out[byte] & !mask) | value;
        }
        Self(out)
    }

    /// The XOR distance to `other`.
    pub fn distance(&self, other: &Self) -> Distance {
        let mut d = [0u8; 20];
        for (i, byte) in d.iter_mut().enumerate() {
            *byte = self.0[i] ^ other.0[i];
        }
        Distance(d)
    }

    /// How many leading bits `self` and `other` share (160 when equal).
    pub fn common_prefix_len(&self, other: &Self) -> usize {
        self.distance(other).leading_zeros()
    }

    /// The bytes of the id.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Takes the first 20 bytes of `bytes` as an id, if it is exactly 20 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// A BEP 42 secure id for a node whose external address is `ip`: the first 21 bits come
    /// from CRC32-C of the masked address, the last byte is the random `r` that went into it.
    pub fn secure(ip: IpAddr, rng: &mut Rng) -> Self {
        let mut id = Self::random(rng).0;
        let r = id[19] & 7;
        let prefix = bep42_prefix(ip, r);
        id[0] = prefix[0];
        id[1] = prefix[1];
        id[2] = (prefix[2] & 0xf8) | (id[2] & 0x07);
        Self(id)
    }

    /// Whether this id is BEP 42 secure for `ip` and `ip` is one the BEP checks (a public
    /// address): what earns a node preference in the routing table, which an exempt address
    /// cannot.
    pub fn proves_address(&self, ip: IpAddr) -> bool {
        !is_exempt(ip) && self.is_secure_for(ip)
    }

    /// Whether this id satisfies BEP 42 for a node at `ip`. Local, private and loopback
    /// addresses are exempt (always true), as the BEP says.
    pub fn is_secure_for(&self, ip: IpAddr) -> bool {
        if is_exempt(ip) {
            return true;
        }
        let prefix = bep42_prefix(ip, self.0[19] & 7);
        self.0[0] == prefix[0] && self.0[1] == prefix[1] && (self.0[2] & 0xf8) == (prefix[2] & 0xf8)
    }
}

impl From<InfoHash> for NodeId {
    fn from(hash: InfoHash) -> Self {
        Self(hash.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", to_hex(&self.0))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl Distance {
    /// The number of leading zero bits (160 for distance zero).
    pub fn leading_zeros(&self) -> usize {
        for (i, byte) in self.0.iter().enumerate() {
            if *byte != 0 {
                return i * 8 + byte.leading_zeros() as usize;
            }
        }
        NodeId::BITS
    }
}

/// The three-byte BEP 42 prefix (only its first 21 bits matter) for `ip` and random `r` (0..8).
pub fn bep42_prefix(ip: IpAddr, r: u8) -> [u8; 3] {
    let crc = match ip {
        IpAddr::V4(v4) => {
            let masked = u32::from_be_bytes(v4.octets()) & 0x030f_3fff;
            let mut bytes = masked.to_be_bytes();
            bytes[0] |= (r & 7) << 5;
            crc32c(&bytes)
        }
        IpAddr::V6(v6) => {
            let octets = v6.octets();
            let mut high = [0u8; 8];
            high.copy_from_slice(&octets[..8]);
            let masked = u64::from_be_bytes(high) & 0x0103_070f_1f3f_7fff;
            let mut bytes = masked.to_be_bytes();
            bytes[0] |= (r & 7) << 5;
            crc32c(&bytes)
        }
    };
    let b = crc.to_be_bytes();
    [b[0], b[1], b[2]]
}

pub(crate) fn is_exempt(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private() || v4.is_loopback() || v4.is_link_local() || v4.is_unspecified()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00
        }
    }
}

/// CRC32-C (Castagnoli), bitwise: only a few bytes per id, so no table.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0x82f6_3b78 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn id_hex(hex: &str) -> NodeId {
        NodeId(crate::id::parse_hex::<20>(hex).unwrap())
    }

    #[test]
    fn bep42_test_vectors() {
        // The table of BEP 42: IP, rand, expected first bytes of the id.
        let cases = [
            ([124, 31, 75, 21], 1u8, "5fbfbf"),
            ([21, 75, 31, 124], 86, "5a3ce9"),
            ([65, 23, 51, 170], 22, "a5d432"),
            ([84, 124, 73, 14], 65, "1b0321"),
            ([43, 213, 53, 83], 90, "e56f6c"),
        ];
        for (ip, rand, want) in cases {
            let prefix = bep42_prefix(IpAddr::V4(Ipv4Addr::from(ip)), rand & 7);
            let want = crate::id::parse_hex::<3>(want).unwrap();
            assert_eq!(prefix[0], want[0], "{ip:?}");
            assert_eq!(prefix[1], want[1], "{ip:?}");
            assert_eq!(prefix[2] & 0xf8, want[2] & 0xf8, "{ip:?}");
        }
        let good = id_hex("5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401");
        assert!(good.is_secure_for(IpAddr::V4(Ipv4Addr::new(124, 31, 75, 21))));
        assert!(!good.is_secure_for(IpAddr::V4(Ipv4Addr::new(21, 75, 31, 124))));
        let mut rng = Rng::new(9);
        let ip = IpAddr::V4(Ipv4Addr::new(84, 124, 73, 14));
        assert!(NodeId::secure(ip, &mut rng).is_secure_for(ip));
        assert!(NodeId::random(&mut rng).is_secure_for(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }

    #[test]
    fn distance_and_prefixes() {
        let a = NodeId([0u8; 20]);
        let mut b = [0u8; 20];
        b[1] = 0x10;
        let b = NodeId(b);
        assert_eq!(a.common_prefix_len(&b), 11);
        assert_eq!(a.common_prefix_len(&a), 160);
        assert!(a.distance(&b) < a.distance(&NodeId([0xff; 20])));
        let mut rng = Rng::new(1);
        for depth in [0, 1, 7, 8, 13, 159] {
            let r = b.random_with_prefix(depth, &mut rng);
            assert_eq!(b.common_prefix_len(&r), depth);
        }
    }
}
