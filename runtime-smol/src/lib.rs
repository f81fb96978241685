//! Drives [`sanstorrent_core`] on smol: TCP and UDP sockets, timers, TLS for HTTPS trackers,
//! and a worker pool for disk I/O and piece hashing.

pub use sanstorrent_core as core;

pub mod http_client;
