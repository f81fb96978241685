//! A torrent's files on disk: [`FileStorage`], the runtime's back-end of core's
//! [`Storage`](sanstorrent_core::storage::Storage) (positional reads and writes, a bounded
//! cache of file handles shared by every torrent ([`HandleCache`]), preallocation, and block writes cut on each file's page-cache grid),
//! [`save_atomically`] for the state files (resume data, DHT state), [`Relocation`] to move
//! a torrent's files to another directory, crash-safe, [`FileMap`] for files renamed by the
//! application (crash-safe too), and [`delete_files`] for a removed torrent's data. BEP 47
//! symbolic links are created only inside the torrent, and no data is read or written through
//! a link leading elsewhere (`links.rs`).
//!
//! This is where the file system is touched; core only maps pieces to file spans and decides
//! what to read, write, hash and save. Storage code never reads a clock: file modification
//! times come from file metadata.

mod file;
mod file_map;
mod gather;
mod handles;
mod links;
mod relocate;
mod remove;
mod state_file;
mod sync_files;

use std::sync::Arc;

use sanstorrent_core::storage::Storage;

pub use file::{FileStorage, FileStorageOptions, read_exact_at};
pub use file_map::{FileMap, FileMove, RenameError, apply_moves, finish_pending};
pub use handles::HandleCache;
pub use relocate::{RelocateError, Relocation};
pub use remove::delete_files;
pub use state_file::{save_atomically, save_many};

/// A torrent's storage as the worker threads share it.
pub type SharedStorage = Arc<dyn Storage + Send + Sync>;

#[cfg(test)]
mod handles_tests;
#[cfg(test)]
mod live_rename_tests;
#[cfg(test)]
mod resume_tests;
#[cfg(test)]
pub(crate) mod shared_memory;
