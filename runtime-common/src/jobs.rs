//! Running one [`DiskJob`](sanstorrent_core::session::io::DiskJob) against a torrent's
//! [`Storage`]: what a worker thread does.

use bytes::Bytes;
use sanstorrent_core::session::io::{CompletionKind, DiskJobKind};
use sanstorrent_core::storage::{Storage, StorageError, block_digests, piece_matches};

/// The largest block a `Read` job may ask for. The session validates peer requests (16 KiB
/// blocks); this is a second fence so a bad length can never size an allocation.
pub const MAX_READ: u32 = 4 << 20;

/// Runs `kind` on `storage` and returns what the session's `handle_completion` expects.
///
/// `Verify` and `Check` treat data that was never written as a hash mismatch, not as an error:
/// a missing piece is simply not there yet. Other I/O errors are returned.
pub fn execute(storage: &dyn Storage, kind: DiskJobKind) -> Result<CompletionKind, StorageError> {
    match kind {
        DiskJobKind::Write {
            piece,
            offset,
            data,
        } => {
            storage.write(piece, offset, &data)?;
            Ok(CompletionKind::Written)
        }
        DiskJobKind::Read { piece, offset, len } => {
            if len > MAX_READ {
                return Err(StorageError::OutOfRange {
                    piece,
                    offset,
                    len: len as usize,
                });
            }
            let mut buf = vec![0; len as usize];
            storage.read(piece, offset, &mut buf)?;
            Ok(CompletionKind::Read(Bytes::from(buf)))
        }
        DiskJobKind::Verify { piece, expected } => Ok(CompletionKind::Verified(piece_matches(
            storage, piece, &expected,
        )?)),
        DiskJobKind::Flush => {
            storage.flush()?;
            Ok(CompletionKind::Flushed)
        }
        DiskJobKind::Check { pieces } => {
            let mut good = Vec::new();
            for (piece, expected) in pieces {
                if piece_matches(storage, piece, &expected)? {
                    good.push(piece);
                }
            }
            Ok(CompletionKind::Checked(good))
        }
        DiskJobKind::Stamps => Ok(CompletionKind::Stamps(storage.stamps()?)),
        DiskJobKind::Create { files } => {
            for file in files {
                storage.create_file(file)?;
            }
            Ok(CompletionKind::Created)
        }
        DiskJobKind::BlockDigests { piece } => {
            Ok(CompletionKind::BlockDigests(block_digests(storage, piece)?))
        }
        // A job kind added to core after this runtime was written.
        _ => Err(StorageError::Io {
            op: sanstorrent_core::storage::IoOp::Read,
            path: Default::default(),
            error: std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "this runtime does not know the disk job kind",
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sanstorrent_core::id::sha1_digest;
    use sanstorrent_core::layout::Layout;
    use sanstorrent_core::storage::MemoryStorage;

    /// Two files (1000 + 1500 bytes) in 1024-byte pieces, filled with a pattern.
    fn filled() -> (MemoryStorage, Vec<u8>) {
        let layout = Layout::new(1024, [(1000, false), (1500, false)]).expect("valid layout");
        let storage = MemoryStorage::new(layout);
        let data: Vec<u8> = (0..2500u32).map(|i| (i * 7 + i / 13) as u8).collect();
        (storage, data)
    }

    fn write(storage: &MemoryStorage, piece: u32, offset: u32, data: &[u8]) {
        let kind = DiskJobKind::Write {
            piece,
            offset,
            data: Bytes::copy_from_slice(data),
        };
        assert!(matches!(
            execute(storage, kind),
            Ok(CompletionKind::Written)
        ));
    }

    #[test]
    fn write_read_verify_check_round_trip() {
        let (storage, data) = filled();
        // Piece 0 written in two blocks that straddle the file boundary; piece 2 left empty.
        write(&storage, 0, 0, &data[..600]);
        write(&storage, 0, 600, &data[600..1024]);
        write(&storage, 1, 0, &data[1024..2048]);

        let read = execute(
            &storage,
            DiskJobKind::Read {
                piece: 0,
                offset: 900,
                len: 124,
            },
        );
        match read {
            Ok(CompletionKind::Read(b)) => assert_eq!(&b[..], &data[900..1024]),
            other => panic!("unexpected {other:?}"),
        }

        let hash = |r: std::ops::Range<usize>| sha1_digest(&data[r]);
        let verify =
            |piece, expected| match execute(&storage, DiskJobKind::Verify { piece, expected }) {
                Ok(CompletionKind::Verified(ok)) => ok,
                other => panic!("unexpected {other:?}"),
            };
        assert!(verify(0, hash(0..1024)));
        assert!(!verify(0, hash(1..1025)), "a wrong hash must not verify");
        assert!(!verify(2, hash(2048..2500)), "unwritten data is a mismatch");

        let pieces = vec![(0, hash(0..1024)), (1, [0; 20]), (2, hash(2048..2500))];
        match execute(&storage, DiskJobKind::Check { pieces }) {
            Ok(CompletionKind::Checked(good)) => assert_eq!(good, vec![0]),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            execute(&storage, DiskJobKind::Flush),
            Ok(CompletionKind::Flushed)
        ));
        match execute(&storage, DiskJobKind::Stamps) {
            Ok(CompletionKind::Stamps(s)) => assert_eq!(s.len(), 2),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn create_makes_each_listed_file_and_fails_on_the_first_it_cannot() {
        let dir = std::env::temp_dir().join(format!("st-jobs-create-{}", std::process::id()));
        let layout =
            Layout::new(1024, [(1000, false), (24, true), (1500, false)]).expect("valid layout");
        let paths = ["a", ".pad/24", "sub/b"].map(|p| {
            sanstorrent_core::metainfo::RelativePath::from_components(p.split('/'))
                .expect("valid path")
        });
        let storage = crate::storage::FileStorage::open(&dir, layout, &paths).expect("opens");
        let created = execute(&storage, DiskJobKind::Create { files: vec![0, 2] });
        assert!(
            matches!(created, Ok(CompletionKind::Created)),
            "{created:?}"
        );
        assert_eq!(std::fs::metadata(dir.join("a")).expect("a").len(), 1000);
        assert_eq!(std::fs::metadata(dir.join("sub/b")).expect("b").len(), 1500);
        let padding = execute(&storage, DiskJobKind::Create { files: vec![1] });
        assert!(matches!(padding, Err(StorageError::NoSuchFile(1))));
        assert!(!dir.join(".pad").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_ranges_are_errors_not_panics() {
        let (storage, _) = filled();
        let huge = DiskJobKind::Read {
            piece: 0,
            offset: 0,
            len: u32::MAX,
        };
        assert!(matches!(
            execute(&storage, huge),
            Err(StorageError::OutOfRange { .. })
        ));
        let past = DiskJobKind::Read {
            piece: 9,
            offset: 0,
            len: 16,
        };
        assert!(execute(&storage, past).is_err());
        let overflow = DiskJobKind::Write {
            piece: 2,
            offset: 400,
            data: Bytes::from_static(&[1; 100]),
        };
        assert!(execute(&storage, overflow).is_err());
    }

    #[test]
    fn block_digests_hash_each_block_of_the_piece() {
        // Two pieces of 40 KiB: blocks of 16, 16 and 8 KiB.
        let layout = Layout::new(40 * 1024, [(80 * 1024, false)]).expect("valid layout");
        let storage = MemoryStorage::new(layout);
        let data: Vec<u8> = (0..80 * 1024u32).map(|i| (i % 251) as u8).collect();
        write(&storage, 1, 0, &data[40 * 1024..]);
        match execute(&storage, DiskJobKind::BlockDigests { piece: 1 }) {
            Ok(CompletionKind::BlockDigests(d)) => {
                let base = 40 * 1024;
                let block = |i: usize| {
                    let start = base + i * 16 * 1024;
                    sha1_digest(&data[start..(start + 16 * 1024).min(80 * 1024)])
                };
                assert_eq!(d, vec![block(0), block(1), block(2)]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
