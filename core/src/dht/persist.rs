//! What a node saves between runs: its id and the good nodes of its routing table, as
//! bencode (`d2:id20:…5:nodes<compact>6:nodes6<compact>e`). The runtime writes and reads the
//! file; a damaged one decodes to a [`PersistError`] that the caller reports and ignores.

use std::fmt;
use std::net::SocketAddr;

use super::krpc::{NodeInfo, decode_nodes, encode_nodes};
use super::node_id::NodeId;
use crate::bencode::{DecodeError, Decoder, Encoder};

/// The most nodes saved or loaded.
pub const MAX_SAVED_NODES: usize = 400;

/// A node's saved state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedState {
    /// Our node id, to keep our place in the DHT.
    pub id: NodeId,
    /// Nodes that answered us, to bootstrap from without routers.
    pub nodes: Vec<NodeInfo>,
}

/// Why saved DHT state could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PersistError {
    /// Not bencode.
    Bencode(DecodeError),
    /// Not a dictionary.
    NotADict,
    /// The `id` key is missing or not 20 bytes.
    BadId,
    /// `nodes` or `nodes6` is not a byte string of whole compact entries.
    BadNodes(&'static str),
}

impl fmt::Display for PersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bencode(e) => write!(f, "DHT state file is not bencode: {e}"),
            Self::NotADict => f.write_str("DHT state file is not a dictionary"),
            Self::BadId => f.write_str("DHT state file has no valid 20-byte `id`"),
            Self::BadNodes(k) => write!(f, "DHT state file has an invalid `{k}` list"),
        }
    }
}

impl std::error::Error for PersistError {}

impl SavedState {
    /// Canonical bencode of the state (at most [`MAX_SAVED_NODES`] nodes).
    pub fn encode(&self) -> Vec<u8> {
        let nodes = &self.nodes[..self.nodes.len().min(MAX_SAVED_NODES)];
        let mut enc = Encoder::new();
        enc.dict().bytes(b"id").bytes(&self.id.0);
        enc.bytes(b"nodes").bytes(&encode_nodes(nodes, false));
        enc.bytes(b"nodes6").bytes(&encode_nodes(nodes, true));
        enc.end();
        enc.finish()
    }

    /// Reads state written by [`SavedState::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Self, PersistError> {
        let value = Decoder::new(bytes)
            .max_depth(2)
            .decode()
            .map_err(PersistError::Bencode)?;
        let dict = value.as_dict().ok_or(PersistError::NotADict)?;
        let id = dict
            .bytes(b"id")
            .and_then(NodeId::from_slice)
            .ok_or(PersistError::BadId)?;
        let mut nodes = Vec::new();
        for (key, v6) in [("nodes", false), ("nodes6", true)] {
            let Some(value) = dict.get(key.as_bytes()) else {
                continue;
            };
            let bytes = value.as_bytes().ok_or(PersistError::BadNodes(key))?;
            let size = if v6 { 38 } else { 26 };
            if !bytes.len().is_multiple_of(size) {
                return Err(PersistError::BadNodes(key));
            }
            for chunk in bytes.chunks(size * 64) {
                let decoded = decode_nodes(chunk, v6).map_err(|_| PersistError::BadNodes(key))?;
                nodes.extend(decoded);
                if nodes.len() >= MAX_SAVED_NODES {
                    break;
                }
            }
        }
        nodes.truncate(MAX_SAVED_NODES);
        Ok(Self { id, nodes })
    }

    /// The saved nodes' addresses, to pass to [`super::Dht::bootstrap`].
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.addr).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let state = SavedState {
            id: NodeId([7; 20]),
            nodes: vec![
                NodeInfo {
                    id: NodeId([1; 20]),
                    addr: "10.0.0.1:6881".parse().unwrap(),
                },
                NodeInfo {
                    id: NodeId([2; 20]),
                    addr: "[2001:db8::2]:6882".parse().unwrap(),
                },
            ],
        };
        let bytes = state.encode();
        assert_eq!(SavedState::decode(&bytes).unwrap(), state);
        assert_eq!(state.addrs().len(), 2);

        let damaged: &[(&[u8], PersistError)] = &[
            (b"le", PersistError::NotADict),
            (b"d2:id3:abce", PersistError::BadId),
            (
                b"d2:id20:aaaaaaaaaaaaaaaaaaaa5:nodes5:abcdee",
                PersistError::BadNodes("nodes"),
            ),
            (
                b"d2:id20:aaaaaaaaaaaaaaaaaaaa6:nodes6i1ee",
                PersistError::BadNodes("nodes6"),
            ),
        ];
        for (input, want) in damaged {
            assert_eq!(SavedState::decode(input).as_ref().err(), Some(want));
            assert!(!want.to_string().is_empty());
        }
        // Truncation anywhere is an error, never a panic.
        for cut in 0..bytes.len() {
            assert!(SavedState::decode(&bytes[..cut]).is_err());
        }
        // Many nodes are capped.
        let many = SavedState {
            id: NodeId([0; 20]),
            nodes: (0..1000u32)
                .map(|i| NodeInfo {
                    id: NodeId([1; 20]),
                    addr: SocketAddr::new(std::net::Ipv4Addr::from(i + 1).into(), 1),
                })
                .collect(),
        };
        assert_eq!(
            SavedState::decode(&many.encode()).unwrap().nodes.len(),
            MAX_SAVED_NODES
        );
    }
}
