//! [`StorageError`]: what went wrong in storage, with the file path and the I/O error kind.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// The file-system operation that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IoOp {
    /// Creating a directory.
    CreateDir,
    /// Flushing data to stable storage (fsync).
    Flush,
    /// Reading a file's size and modification time.
    Metadata,
    /// Opening or creating a file.
    Open,
    /// Creating a symbolic link (BEP 47).
    Link,
    /// Reading.
    Read,
    /// Renaming a file into place.
    Rename,
    /// Reserving a file's space on disk.
    Reserve,
    /// Setting a file's length.
    SetLen,
    /// Writing.
    Write,
}

/// An error of a [`super::Storage`] operation.
#[derive(Debug)]
#[non_exhaustive]
pub enum StorageError {
    /// A file-system operation failed on `path`.
    Io {
        /// What was being done.
        op: IoOp,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        error: io::Error,
    },
    /// A range does not lie inside its piece.
    OutOfRange {
        /// The piece.
        piece: u32,
        /// Offset inside the piece.
        offset: u32,
        /// Length of the range.
        len: usize,
    },
    /// A file index past the torrent's file list, or a padding file given to per-file I/O.
    NoSuchFile(usize),
    /// A symbolic link stands where storage never follows one: at a torrent file's own path,
    /// or at a directory above it, leading outside the download directory. No byte of the
    /// torrent is read or written through it.
    UnsafeLink {
        /// The link.
        path: PathBuf,
    },
    /// The number of file paths does not match the layout's file count.
    FileCount {
        /// Files in the layout.
        expected: usize,
        /// Paths given.
        actual: usize,
    },
}

impl StorageError {
    /// A failed file-system operation `op` on `path`.
    pub fn io(op: IoOp, path: impl Into<PathBuf>, error: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            error,
        }
    }

    /// The I/O error kind, for [`StorageError::Io`].
    pub fn kind(&self) -> Option<io::ErrorKind> {
        match self {
            Self::Io { error, .. } => Some(error.kind()),
            _ => None,
        }
    }

    /// Whether the data simply is not there (file absent or shorter than the range): the
    /// piece is missing, not the disk broken.
    pub fn is_missing_data(&self) -> bool {
        matches!(
            self.kind(),
            Some(io::ErrorKind::NotFound | io::ErrorKind::UnexpectedEof)
        )
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { op, path, error } => {
                let op = match op {
                    IoOp::CreateDir => "creating directory",
                    IoOp::Flush => "flushing",
                    IoOp::Metadata => "reading metadata of",
                    IoOp::Link => "creating the symbolic link",
                    IoOp::Open => "opening",
                    IoOp::Read => "reading",
                    IoOp::Rename => "renaming",
                    IoOp::Reserve => "reserving disk space for",
                    IoOp::SetLen => "setting the length of",
                    IoOp::Write => "writing",
                };
                write!(f, "{op} {}: {error}", path.display())
            }
            Self::OutOfRange { piece, offset, len } => {
                write!(
                    f,
                    "{len} bytes at offset {offset} do not fit in piece {piece}"
                )
            }
            Self::NoSuchFile(i) => write!(f, "file index {i} is not a stored file"),
            Self::UnsafeLink { path } => write!(
                f,
                "{} is a symbolic link where a torrent's file or directory goes (not followed)",
                path.display()
            ),
            Self::FileCount { expected, actual } => {
                write!(
                    f,
                    "{actual} file paths given for a layout of {expected} files"
                )
            }
        }
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}
