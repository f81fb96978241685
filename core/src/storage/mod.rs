//! Storage: where a torrent's pieces lie in its files, piece hashing, and resume data.
//!
//! [`Storage`] is positional I/O over a torrent's [`Layout`], as an interface: [`Storage::read`]
//! and [`Storage::write`] take a piece and an offset and split the range into file spans;
//! padding files (BEP 47) are never written and read as zeros. Core does no I/O itself: the
//! session only asks for disk work (`Action::Disk`) and sees the results. The runtime's
//! back-end keeps files under a download directory (`sanstorrent_runtime_common::storage`);
//! [`MemoryStorage`] keeps them in memory, for simulations and tests.

mod error;
mod hash;
mod memory;
mod resume;

use crate::layout::Layout;
pub use error::{IoOp, StorageError};
pub use hash::{block_digests, hash_piece, merkle_piece_root, piece_matches};
pub use memory::MemoryStorage;
pub use resume::{FileStamp, LoadPlan, ResumeData, ResumeError};

/// Positional storage of a torrent's files.
///
/// Implementors provide per-file I/O ([`Storage::read_file`], [`Storage::write_file`]); the
/// piece-level [`Storage::read`] and [`Storage::write`] are derived from the [`Layout`]. Every
/// method takes `&self`: a back-end shared by worker threads (the runtime's file storage is
/// `Send + Sync`) synchronises itself.
pub trait Storage {
    /// The torrent's piece and file geometry.
    fn layout(&self) -> &Layout;

    /// Reads exactly `buf.len()` bytes at `offset` of (non-padding) file `file`. Data never
    /// written is an error whose [`StorageError::is_missing_data`] is true.
    fn read_file(&self, file: usize, offset: u64, buf: &mut [u8]) -> Result<(), StorageError>;

    /// Writes `data` at `offset` of (non-padding) file `file`, creating the file if needed.
    fn write_file(&self, file: usize, offset: u64, data: &[u8]) -> Result<(), StorageError>;

    /// Creates file `file` if it does not exist yet, as its first write would (so that write
    /// does not wait for it). Storage without files does nothing.
    fn create_file(&self, file: usize) -> Result<(), StorageError> {
        let _ = file;
        Ok(())
    }

    /// Makes every byte written so far durable (fsync of the files written since the last
    /// flush).
    fn flush(&self) -> Result<(), StorageError>;

    /// Each file's size and modification time, `None` for a file that does not exist.
    fn stamps(&self) -> Result<Vec<Option<FileStamp>>, StorageError>;

    /// Reads `buf.len()` bytes at `offset` of `piece`; padding reads as zeros.
    fn read(&self, piece: u32, offset: u32, buf: &mut [u8]) -> Result<(), StorageError> {
        let spans = spans(self.layout(), piece, offset, buf.len())?;
        for span in spans {
            let part = &mut buf[span.buffer_offset..span.buffer_offset + span.len];
            if span.padding {
                part.fill(0);
            } else {
                self.read_file(span.file, span.file_offset, part)?;
            }
        }
        Ok(())
    }

    /// Writes `blocks`, adjacent runs of bytes of `piece` starting at `offset`, as if they were
    /// one buffer; bytes falling in padding files are dropped. A writer holding several blocks
    /// that continue each other calls this once instead of [`Storage::write`] per block, so the
    /// back-end can shape the writes for its medium (the runtime's file storage aligns them
    /// to each file's page cache). The default writes block by block.
    fn write_blocks(&self, piece: u32, offset: u32, blocks: &[&[u8]]) -> Result<(), StorageError> {
        let mut at = offset;
        for block in blocks {
            self.write(piece, at, block)?;
            at = u32::try_from(block.len())
                .ok()
                .and_then(|len| at.checked_add(len))
                .ok_or(StorageError::OutOfRange {
                    piece,
                    offset: at,
                    len: block.len(),
                })?;
        }
        Ok(())
    }

    /// Writes `data` at `offset` of `piece`; bytes falling in padding files are dropped.
    fn write(&self, piece: u32, offset: u32, data: &[u8]) -> Result<(), StorageError> {
        let spans = spans(self.layout(), piece, offset, data.len())?;
        for span in spans {
            if !span.padding {
                let part = &data[span.buffer_offset..span.buffer_offset + span.len];
                self.write_file(span.file, span.file_offset, part)?;
            }
        }
        Ok(())
    }
}

/// The file spans of `len` bytes at `offset` of `piece`, or [`StorageError::OutOfRange`] if
/// the range does not lie inside the piece.
pub fn spans(
    layout: &Layout,
    piece: u32,
    offset: u32,
    len: usize,
) -> Result<crate::layout::Spans<'_>, StorageError> {
    u32::try_from(len)
        .ok()
        .and_then(|l| layout.spans(piece, offset, l))
        .ok_or(StorageError::OutOfRange { piece, offset, len })
}
