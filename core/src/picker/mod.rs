//! The piece picker: rarest-first, blocks in flight, endgame.
