//! Where a torrent's bytes live: piece and offset ↔ (file, file offset, length) spans.
//!
//! A torrent is one byte stream cut into pieces; a multi-file torrent lays its files end to end
//! in that stream. [`Layout`] maps a range of the stream to the file spans that hold it, so
//! storage can read and write a block or a piece that crosses file boundaries. Padding files
//! (BEP 47) occupy the stream but are never written to disk; zero-length files occupy nothing.

use std::fmt;
use std::ops::Range;

/// One file's place in the torrent's byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileExtent {
    /// Offset of the file's first byte in the torrent's byte stream.
    pub offset: u64,
    /// The file's length in bytes.
    pub length: u64,
    /// A BEP 47 padding file: zeros, never stored.
    pub padding: bool,
}

/// Part of a byte range of the torrent that lies in one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSpan {
    /// Index of the file in the torrent's file list.
    pub file: usize,
    /// Offset inside that file.
    pub file_offset: u64,
    /// Offset of this span inside the requested range (where its bytes go in a buffer).
    pub buffer_offset: usize,
    /// Number of bytes.
    pub len: usize,
    /// The file is a padding file: its bytes are zeros and are not stored.
    pub padding: bool,
}

/// The piece geometry and file extents of a torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    piece_length: u32,
    total_length: u64,
    piece_count: u32,
    files: Vec<FileExtent>,
    /// Bytes in padding files.
    padding_length: u64,
}

/// Why a layout cannot exist.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayoutError {
    /// The piece length is zero.
    ZeroPieceLength,
    /// The file lengths add up to more than 2^63 bytes.
    TotalLengthOverflow,
    /// The torrent would have more than 2^32 - 1 pieces.
    TooManyPieces,
}

impl Layout {
    /// Lays out files of the given `(length, is_padding)` end to end.
    pub fn new(
        piece_length: u32,
        files: impl IntoIterator<Item = (u64, bool)>,
    ) -> Result<Self, LayoutError> {
        if piece_length == 0 {
            return Err(LayoutError::ZeroPieceLength);
        }
        let mut offset: u64 = 0;
        let mut extents = Vec::new();
        let mut padding_length = 0;
        for (length, padding) in files {
            extents.push(FileExtent {
                offset,
                length,
                padding,
            });
            offset = offset
                .checked_add(length)
                .filter(|o| *o <= i64::MAX as u64)
                .ok_or(LayoutError::TotalLengthOverflow)?;
            if padding {
                // At most `offset`, which was just checked.
                padding_length += length;
            }
        }
        let piece_count = offset.div_ceil(u64::from(piece_length));
        let piece_count = u32::try_from(piece_count)
            .ok()
            .filter(|c| *c < u32::MAX)
            .ok_or(LayoutError::TooManyPieces)?;
        Ok(Self {
            piece_length,
            total_length: offset,
            piece_count,
            files: extents,
            padding_length,
        })
    }

    /// The nominal piece length (every piece but the last has it).
    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }

    /// The total length of the torrent's byte stream, padding included.
    pub fn total_length(&self) -> u64 {
        self.total_length
    }

    /// The bytes of the torrent that are data: its length less its padding files (the figure
    /// libtorrent reports as the torrent's wanted size).
    pub fn data_length(&self) -> u64 {
        self.total_length - self.padding_length
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.piece_count
    }

    /// The files' extents, in torrent order.
    pub fn files(&self) -> &[FileExtent] {
        &self.files
    }

    /// The length of `piece` (the last one may be shorter); 0 for an index past the end.
    pub fn piece_len(&self, piece: u32) -> u32 {
        if piece >= self.piece_count {
            return 0;
        }
        let start = self.piece_offset(piece);
        (self.total_length - start).min(u64::from(self.piece_length)) as u32
    }

    /// How many of the `len` bytes at `offset` inside `piece` lie in padding files (0 for a
    /// range outside the piece).
    pub fn padding_in(&self, piece: u32, offset: u32, len: u32) -> u32 {
        if self.padding_length == 0 {
            return 0;
        }
        self.spans(piece, offset, len).map_or(0, |spans| {
            spans.filter(|s| s.padding).map(|s| s.len as u32).sum()
        })
    }

    /// The bytes of `piece` that are data, not padding.
    pub fn piece_data_len(&self, piece: u32) -> u32 {
        let len = self.piece_len(piece);
        len - self.padding_in(piece, 0, len)
    }

    /// Offset of the first byte of `piece` in the torrent's byte stream.
    pub fn piece_offset(&self, piece: u32) -> u64 {
        u64::from(piece) * u64::from(self.piece_length)
    }

    /// The range of pieces that hold any byte of `file` (empty for a zero-length file).
    pub fn file_pieces(&self, file: usize) -> Range<u32> {
        let Some(extent) = self.files.get(file) else {
            return 0..0;
        };
        if extent.length == 0 {
            return 0..0;
        }
        let pl = u64::from(self.piece_length);
        let first = extent.offset / pl;
        let last = (extent.offset + extent.length - 1) / pl;
        first as u32..last as u32 + 1
    }

    /// The file spans holding `len` bytes at `offset` inside `piece`, in stream order. Returns
    /// `None` if there is no such piece or the range does not lie inside it. Zero-length files
    /// produce no span.
    pub fn spans(&self, piece: u32, offset: u32, len: u32) -> Option<Spans<'_>> {
        if piece >= self.piece_count {
            return None;
        }
        let end = offset.checked_add(len)?;
        if end > self.piece_len(piece) {
            return None;
        }
        let start = self.piece_offset(piece) + u64::from(offset);
        Some(self.stream_spans(start, u64::from(len)))
    }

    /// The file spans holding `len` bytes at `start` in the torrent's byte stream (the range
    /// must lie within the torrent).
    pub fn stream_spans(&self, start: u64, len: u64) -> Spans<'_> {
        debug_assert!(start + len <= self.total_length);
        // First file whose extent ends after `start`.
        let file = self.files.partition_point(|f| f.offset + f.length <= start);
        Spans {
            layout: self,
            file,
            pos: start,
            end: start + len,
            base: start,
        }
    }
}

/// Iterator over the [`FileSpan`]s of a byte range; see [`Layout::spans`].
#[derive(Clone, Debug)]
pub struct Spans<'a> {
    layout: &'a Layout,
    file: usize,
    pos: u64,
    end: u64,
    base: u64,
}

impl Iterator for Spans<'_> {
    type Item = FileSpan;

    fn next(&mut self) -> Option<FileSpan> {
        while self.pos < self.end {
            let extent = self.layout.files.get(self.file)?;
            let file_end = extent.offset + extent.length;
            if file_end <= self.pos {
                self.file += 1;
                continue;
            }
            let take = file_end.min(self.end) - self.pos;
            let span = FileSpan {
                file: self.file,
                file_offset: self.pos - extent.offset,
                buffer_offset: (self.pos - self.base) as usize,
                len: take as usize,
                padding: extent.padding,
            };
            self.pos += take;
            self.file += 1;
            return Some(span);
        }
        None
    }
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ZeroPieceLength => "piece length is zero",
            Self::TotalLengthOverflow => "total length of the files overflows",
            Self::TooManyPieces => "torrent has too many pieces",
        })
    }
}

impl std::error::Error for LayoutError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        // files: 10 bytes, 0 bytes, 6 bytes padding, 20 bytes; piece length 16 → 36 bytes, 3 pieces.
        Layout::new(16, [(10, false), (0, false), (6, true), (20, false)]).unwrap()
    }

    #[test]
    fn geometry() {
        let l = layout();
        assert_eq!(l.total_length(), 36);
        assert_eq!(l.piece_count(), 3);
        assert_eq!(
            [
                l.piece_len(0),
                l.piece_len(1),
                l.piece_len(2),
                l.piece_len(3)
            ],
            [16, 16, 4, 0]
        );
        assert_eq!(l.file_pieces(0), 0..1);
        assert_eq!(l.file_pieces(1), 0..0);
        assert_eq!(l.file_pieces(3), 1..3);
    }

    #[test]
    fn piece_spans_cross_files_and_skip_empty_ones() {
        let l = layout();
        let spans: Vec<_> = l.spans(0, 0, 16).unwrap().collect();
        assert_eq!(
            spans,
            [
                FileSpan {
                    file: 0,
                    file_offset: 0,
                    buffer_offset: 0,
                    len: 10,
                    padding: false
                },
                FileSpan {
                    file: 2,
                    file_offset: 0,
                    buffer_offset: 10,
                    len: 6,
                    padding: true
                },
            ]
        );
        let spans: Vec<_> = l.spans(1, 2, 14).unwrap().collect();
        assert_eq!(
            spans,
            [FileSpan {
                file: 3,
                file_offset: 2,
                buffer_offset: 0,
                len: 14,
                padding: false
            }]
        );
        assert!(l.spans(2, 0, 5).is_none());
        assert!(l.spans(2, u32::MAX, 2).is_none());
        assert!(l.spans(9, 0, 1).is_none());
    }

    #[test]
    fn spans_cover_every_byte_exactly_once() {
        let l = Layout::new(
            32,
            [
                (7, false),
                (0, false),
                (50, false),
                (9, true),
                (1, false),
                (33, false),
            ],
        )
        .unwrap();
        for piece in 0..l.piece_count() {
            let len = l.piece_len(piece);
            let covered: usize = l.spans(piece, 0, len).unwrap().map(|s| s.len).sum();
            assert_eq!(covered, len as usize);
        }
    }

    #[test]
    fn padding_bytes_of_a_range_and_of_pieces() {
        let l = layout();
        assert_eq!(l.data_length(), 30);
        assert_eq!(l.padding_in(0, 0, 16), 6);
        assert_eq!(l.padding_in(0, 12, 2), 2);
        assert_eq!(l.padding_in(0, 0, 10), 0);
        assert_eq!(l.padding_in(1, 0, 16), 0);
        assert_eq!(l.padding_in(0, 10, 7), 0, "past the piece: no range");
        assert_eq!(
            (0..3).map(|p| l.piece_data_len(p)).collect::<Vec<_>>(),
            [10, 16, 4]
        );
        let plain = Layout::new(16, [(20, false)]).unwrap();
        assert_eq!((plain.data_length(), plain.piece_data_len(1)), (20, 4));
    }

    #[test]
    fn hostile_geometry_is_rejected() {
        assert_eq!(
            Layout::new(0, [(1, false)]),
            Err(LayoutError::ZeroPieceLength)
        );
        assert_eq!(
            Layout::new(16, [(u64::MAX, false), (1, false)]),
            Err(LayoutError::TotalLengthOverflow)
        );
        assert_eq!(
            Layout::new(16384, [(1 << 62, false)]),
            Err(LayoutError::TooManyPieces)
        );
    }
}
