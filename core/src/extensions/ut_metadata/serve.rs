//! Serving our `info` dictionary to peers that ask for it.

use std::fmt;

use bytes::Bytes;

use super::{DEFAULT_MAX_METADATA_SIZE, METADATA_PIECE_LEN, MetadataMessage, metadata_piece_len};

/// Answers ut_metadata requests of one torrent: `data` once the info bytes are known,
/// `reject` before and for pieces past the end. Share one per torrent; it holds the info bytes
/// once (each answer is a slice of them).
#[derive(Clone, Debug, Default)]
pub struct MetadataServer {
    info: Option<Bytes>,
}

/// The info bytes given to [`MetadataServer::set_info`] are larger than ut_metadata allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetadataTooLarge(pub usize);

impl MetadataServer {
    /// A server that does not have the metadata yet: it rejects every request.
    pub fn new() -> Self {
        Self::default()
    }

    /// A server for the verified info bytes `info` (e.g. [`Metainfo::info_bytes`]).
    ///
    /// [`Metainfo::info_bytes`]: crate::metainfo::Metainfo::info_bytes
    pub fn with_info(info: Bytes) -> Result<Self, MetadataTooLarge> {
        let mut server = Self::new();
        server.set_info(info)?;
        Ok(server)
    }

    /// Gives the server the verified info bytes, once they are known. Empty bytes or more
    /// than [`DEFAULT_MAX_METADATA_SIZE`] are refused (no peer would fetch them).
    pub fn set_info(&mut self, info: Bytes) -> Result<(), MetadataTooLarge> {
        if info.is_empty() || info.len() as u64 > DEFAULT_MAX_METADATA_SIZE {
            return Err(MetadataTooLarge(info.len()));
        }
        self.info = Some(info);
        Ok(())
    }

    /// Whether the server has the info bytes.
    pub fn has_info(&self) -> bool {
        self.info.is_some()
    }

    /// The `metadata_size` to advertise in our extended handshake (`TorrentParams::
    /// metadata_size`), once known.
    pub fn metadata_size(&self) -> Option<u64> {
        self.info.as_ref().map(|i| i.len() as u64)
    }

    /// The answer to a request for `piece`: its data, or a reject.
    pub fn answer(&self, piece: u32) -> MetadataMessage {
        let Some(info) = &self.info else {
            return MetadataMessage::Reject { piece };
        };
        let total_size = info.len() as u64;
        let Some(len) = metadata_piece_len(total_size, piece) else {
            return MetadataMessage::Reject { piece };
        };
        // piece < piece count ≤ 512 here, so the product fits.
        let start = piece as usize * METADATA_PIECE_LEN as usize;
        MetadataMessage::Data {
            piece,
            total_size,
            data: info.slice(start..start + len),
        }
    }

    /// The payload to send back for a received message: `Some` for a request (data or reject),
    /// `None` for data and reject messages (those are for the fetcher).
    pub fn handle_message(&self, message: &MetadataMessage) -> Option<Bytes> {
        match message {
            MetadataMessage::Request { piece } => Some(self.answer(*piece).encode()),
            _ => None,
        }
    }
}

impl fmt::Display for MetadataTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "info dictionary of {} bytes cannot be served over ut_metadata (1 to {} bytes)",
            self.0, DEFAULT_MAX_METADATA_SIZE
        )
    }
}

impl std::error::Error for MetadataTooLarge {}
