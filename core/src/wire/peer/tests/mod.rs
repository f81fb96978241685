//! Connection tests: a quinn-style `Pair` (two connections over an in-memory pipe with virtual
//! time and latency) and a scripted peer (raw messages in, decoded messages out).

mod pair;
mod scripted;
mod transport;
mod upgrade;

use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::id::PeerId;
use crate::rng::Rng;
use crate::wire::extension_handshake::UT_METADATA;
use crate::wire::handshake::Reserved;

const PIECE_LEN: u32 = 64 * 1024;
const PIECES: u32 = 4;
const BLOCK: u32 = 16 * 1024;

fn hash() -> InfoHash {
    InfoHash([0x42; 20])
}

fn geometry() -> PieceGeometry {
    PieceGeometry::new(PIECE_LEN, u64::from(PIECE_LEN * PIECES) - 1000).unwrap()
}

fn data() -> Bytes {
    let mut rng = Rng::new(7);
    let mut d = vec![0u8; (PIECE_LEN * PIECES) as usize - 1000];
    rng.fill(&mut d);
    Bytes::from(d)
}

fn config(seed: u64, fast: bool) -> Arc<Config> {
    let mut c = Config::new(PeerId::generate(&mut Rng::new(seed)));
    c.fast = fast;
    c.extensions.register(UT_METADATA);
    // Two of the four pieces are allowed fast, so tests see both kinds.
    c.allowed_fast_count = 2;
    Arc::new(c)
}
