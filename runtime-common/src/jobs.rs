//! Running one [`DiskJob`](sanstorrent_core::session::DiskJob) against a torrent's
//! [`Storage`]: what a worker thread does.

use std::sync::Arc;

use bytes::Bytes;
use sanstorrent_core::metainfo::PieceHash;
use sanstorrent_core::session::{Completion, DiskJobKind};
use sanstorrent_core::storage::{IoOp, Storage, StorageError, block_digests, piece_matches};

use crate::read_pool::ReadBuffers;

/// The largest block a `Read` job may ask for. The session validates peer requests (16 KiB
/// blocks); this is a second fence so a bad length can never size an allocation.
pub const MAX_READ: u32 = 4 << 20;

/// Runs `kind` on `storage` and answers it through its reply, for the session's
/// `handle_completion`.
///
/// `Verify` and `Check` treat data that was never written as a hash mismatch, not as an error:
/// a missing piece is simply not there yet. Other I/O errors are returned.
pub fn execute(storage: &dyn Storage, kind: DiskJobKind) -> Completion {
    execute_with(storage, kind, None)
}

/// [`execute`], with upload reads served from `buffers` when given.
pub(crate) fn execute_with(
    storage: &dyn Storage,
    kind: DiskJobKind,
    buffers: Option<&Arc<ReadBuffers>>,
) -> Completion {
    match kind {
        DiskJobKind::Write {
            piece,
            offset,
            data,
            reply,
        } => reply.send(storage.write(piece, offset, &data)),
        DiskJobKind::Read {
            piece,
            offset,
            len,
            reply,
        } => reply.send(read(storage, piece, offset, len, buffers)),
        DiskJobKind::Verify {
            piece,
            expected,
            reply,
        } => reply.send(piece_matches(storage, piece, &expected)),
        DiskJobKind::Flush { reply } => reply.send(storage.flush()),
        DiskJobKind::Check { pieces, reply } => reply.send(check(storage, &pieces)),
        DiskJobKind::Stamps { reply } => reply.send(storage.stamps()),
        DiskJobKind::Create { files, reply } => reply.send(create(storage, &files)),
        DiskJobKind::BlockDigests { piece, reply } => reply.send(block_digests(storage, piece)),
        // A job kind added to core after this runtime was written.
        other => other.fail(StorageError::Io {
            op: IoOp::Read,
            path: Default::default(),
            error: std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "this runtime does not know the disk job kind",
            ),
        }),
    }
}

/// Reads `len` bytes at `offset` in `piece` (at most [`MAX_READ`]), into a buffer from
/// `buffers` if given.
fn read(
    storage: &dyn Storage,
    piece: u32,
    offset: u32,
    len: u32,
    buffers: Option<&Arc<ReadBuffers>>,
) -> Result<Bytes, StorageError> {
    if len > MAX_READ {
        return Err(StorageError::OutOfRange {
            piece,
            offset,
            len: len as usize,
        });
    }
    let fill = |buf: &mut [u8]| storage.read(piece, offset, buf);
    match buffers {
        Some(pool) => pool.fill(len as usize, fill),
        None => {
            let mut buf = vec![0; len as usize];
            fill(&mut buf)?;
            Ok(Bytes::from(buf))
        }
    }
}

/// The pieces whose data hashes to the expected hash.
fn check(storage: &dyn Storage, pieces: &[(u32, PieceHash)]) -> Result<Vec<u32>, StorageError> {
    let mut good = Vec::new();
    for (piece, expected) in pieces {
        if piece_matches(storage, *piece, expected)? {
            good.push(*piece);
        }
    }
    Ok(good)
}

/// Creates each listed file, stopping at the first that fails.
fn create(storage: &dyn Storage, files: &[usize]) -> Result<(), StorageError> {
    for file in files {
        storage.create_file(*file)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sanstorrent_core::id::sha1_digest;
    use sanstorrent_core::layout::Layout;
    use sanstorrent_core::session::{Answer, JobId, TorrentId};
    use sanstorrent_core::storage::MemoryStorage;
    use sanstorrent_core::testing::{flush_job, verify_job, write_job};

    /// Two files (1000 + 1500 bytes) in 1024-byte pieces, filled with a pattern.
    fn filled() -> (MemoryStorage, Vec<u8>) {
        let layout = Layout::new(1024, [(1000, false), (1500, false)]).expect("valid layout");
        let storage = MemoryStorage::new(layout);
        let data: Vec<u8> = (0..2500u32).map(|i| (i * 7 + i / 13) as u8).collect();
        (storage, data)
    }

    fn write(storage: &MemoryStorage, piece: u32, offset: u32, data: &[u8]) {
        let data = Bytes::copy_from_slice(data);
        let job = write_job(JobId(1), TorrentId(1), piece, offset, data);
        let done = execute(storage, job.kind);
        assert!(matches!(done.result(), Ok(Answer::Written)), "{done:?}");
    }

    #[test]
    fn write_read_verify_check_round_trip() {
        let (storage, data) = filled();
        // Piece 0 written in two blocks that straddle the file boundary; piece 2 left empty.
        write(&storage, 0, 0, &data[..600]);
        write(&storage, 0, 600, &data[600..1024]);
        write(&storage, 1, 0, &data[1024..2048]);

        let read = read(&storage, 0, 900, 124, None).expect("reads");
        assert_eq!(&read[..], &data[900..1024]);

        let hash = |r: std::ops::Range<usize>| sha1_digest(&data[r]);
        let verify = |piece, expected| {
            let job = verify_job(JobId(2), TorrentId(1), piece, expected);
            match execute(&storage, job.kind).result() {
                Ok(Answer::Verified(ok)) => ok,
                other => panic!("unexpected {other:?}"),
            }
        };
        assert!(verify(0, hash(0..1024)));
        assert!(!verify(0, hash(1..1025)), "a wrong hash must not verify");
        assert!(!verify(2, hash(2048..2500)), "unwritten data is a mismatch");

        let pieces = vec![
            (0, hash(0..1024).into()),
            (1, [0; 20].into()),
            (2, hash(2048..2500).into()),
        ];
        assert_eq!(check(&storage, &pieces).expect("checks"), vec![0]);
        let flush = execute(&storage, flush_job(JobId(3), TorrentId(1)).kind);
        assert!(matches!(flush.result(), Ok(Answer::Flushed)), "{flush:?}");
        assert_eq!(storage.stamps().expect("stamps").len(), 2);
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
        let created = create(&storage, &[0, 2]);
        assert!(created.is_ok(), "{created:?}");
        assert_eq!(std::fs::metadata(dir.join("a")).expect("a").len(), 1000);
        assert_eq!(std::fs::metadata(dir.join("sub/b")).expect("b").len(), 1500);
        let padding = create(&storage, &[1]);
        assert!(matches!(padding, Err(StorageError::NoSuchFile(1))));
        assert!(!dir.join(".pad").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_ranges_are_errors_not_panics() {
        let (storage, _) = filled();
        assert!(matches!(
            read(&storage, 0, 0, u32::MAX, None),
            Err(StorageError::OutOfRange { .. })
        ));
        assert!(read(&storage, 9, 0, 16, None).is_err());
        let data = Bytes::from_static(&[1; 100]);
        let overflow = write_job(JobId(4), TorrentId(1), 2, 400, data);
        assert!(execute(&storage, overflow.kind).result().is_err());
    }

    #[test]
    fn block_digests_hash_each_block_of_the_piece() {
        // Two pieces of 40 KiB: blocks of 16, 16 and 8 KiB.
        let layout = Layout::new(40 * 1024, [(80 * 1024, false)]).expect("valid layout");
        let storage = MemoryStorage::new(layout);
        let data: Vec<u8> = (0..80 * 1024u32).map(|i| (i % 251) as u8).collect();
        write(&storage, 1, 0, &data[40 * 1024..]);
        match block_digests(&storage, 1) {
            Ok(d) => {
                let base = 40 * 1024;
                let block = |i: usize| {
                    let start = base + i * 16 * 1024;
                    sanstorrent_core::merkle::sha256(
                        &data[start..(start + 16 * 1024).min(80 * 1024)],
                    )
                };
                assert_eq!(d, vec![block(0), block(1), block(2)]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
