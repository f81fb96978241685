//! The runtime-independent half of sanstorrent's runtimes (`sanstorrent-smol`,
//! `sanstorrent-tokio`, or a hand-written event loop): a worker pool of std threads for disk
//! I/O and piece hashing, the execution of each [`DiskJob`](sanstorrent_core::session::io::DiskJob)
//! against a torrent's [`Storage`](sanstorrent_core::storage::Storage), and the state files
//! (resume data, DHT state) written atomically.
//!
//! A runtime's loop hands every action it polls from the session to [`DiskIo::perform`]
//! first: disk work is queued on the pool, and network work comes back for the runtime to do.
//! Results arrive through the [`Sink`] the runtime gave the pool, usually a channel into its
//! loop, and go to `Session::handle_completion`.
//!
//! [`Core`] is the rest of a runtime's loop that does not depend on the runtime: it owns the
//! session and the disk half, performs the application's [`Command`]s and drains the session's
//! outputs into a [`NetIo`] (the runtime's sockets). The public client types ([`ClientConfig`],
//! [`ClientError`], [`TorrentHandle`]) live here so both runtimes offer the same API.

mod block_writer;
pub mod client;
pub mod disk;
pub mod driver;
pub mod http;
pub mod jobs;
pub mod pool;
pub mod read_buffer;
pub mod storage;
pub mod write_batch;

pub use client::{ClientConfig, ClientError, Command, TorrentHandle, magnet, torrent_file};
pub use disk::{DiskConfig, DiskIo};
pub use driver::{Core, NetIo, take_waiting};
pub use pool::{Done, Sink, WorkerPool};
pub use read_buffer::ReadBuffer;
pub use write_batch::WriteBatch;
