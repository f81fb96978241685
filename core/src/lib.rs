//! # sanstorrent-core
//!
//! A Sans-IO BitTorrent protocol core: the peer wire protocol, trackers, the DHT, piece
//! scheduling and storage mapping as pure state machines. It opens no socket, reads no clock,
//! spawns no thread and takes no randomness from the OS: time comes in as [`std::time::Instant`]
//! arguments and randomness from a seed the caller gives ([`rng::Rng`]). The same inputs give
//! the same outputs, which is what makes deterministic simulation tests possible.
//!
//! Runtimes (`sanstorrent-smol`, `sanstorrent-tokio`, or your own event loop) move bytes
//! between sockets and these machines, run disk and hash jobs on worker threads, and arm timers
//! from each machine's `poll_timeout`.
//!
//! ## Panics, errors and hostile input
//! Every byte from a peer, tracker, DHT node, .torrent file or magnet link is hostile. Bad input
//! yields a typed error naming what was wrong, never a panic and never memory sized by a length
//! the input claims. A panic in this crate is a bug of ours.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod bencode;
pub mod choker;
pub mod create;
pub mod dht;
pub mod extensions;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod id;
pub mod io;
pub mod layout;
pub mod magnet;
pub mod metainfo;
pub mod picker;
pub mod pieces;
pub mod rng;
pub mod session;
pub mod storage;
pub mod tracker;
pub mod wire;

pub use id::{InfoHash, PeerId};
pub use rng::Rng;
