//! Storages sharing one [`HandleCache`]: the bound holds across torrents, and a storage's
//! handles go when it is closed or dropped.

use std::sync::Arc;

use sanstorrent_core::layout::Layout;
use sanstorrent_core::metainfo::RelativePath;
use sanstorrent_core::storage::{Storage, hash_piece};

use super::file::tests::TempDir;
use super::{FileStorage, FileStorageOptions, HandleCache};

fn storage(root: &std::path::Path, cache: &Arc<HandleCache>, files: usize) -> FileStorage {
    let layout = Layout::new(8, (0..files).map(|_| (8u64, false))).unwrap();
    let paths: Vec<RelativePath> = (0..files)
        .map(|i| {
            RelativePath::from_components([format!("f{i}")].iter().map(String::as_str)).unwrap()
        })
        .collect();
    FileStorage::open_with(
        root,
        layout,
        &paths,
        FileStorageOptions {
            cache: Some(Arc::clone(cache)),
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn torrents_sharing_a_cache_stay_within_its_bound() {
    let tmp = TempDir::new("shared-cache");
    let cache = HandleCache::new(4);
    let a = storage(&tmp.0.join("a"), &cache, 20);
    let b = storage(&tmp.0.join("b"), &cache, 20);
    for piece in 0..20u32 {
        a.write(piece, 0, &[piece as u8; 8]).unwrap();
        b.write(piece, 0, &[!(piece as u8); 8]).unwrap();
        assert!(cache.len() <= 4);
    }
    for piece in 0..20u32 {
        assert_eq!(
            hash_piece(&a, piece).unwrap(),
            sanstorrent_core::id::sha1_digest(&[piece as u8; 8])
        );
        assert_eq!(
            hash_piece(&b, piece).unwrap(),
            sanstorrent_core::id::sha1_digest(&[!(piece as u8); 8])
        );
    }
    assert_eq!(cache.peak(), 4, "the bound is reached and never passed");
    let held_by_b = b.open_handles();
    assert_eq!(a.open_handles() + held_by_b, 4);
    assert!(held_by_b > 0);

    a.close_handles();
    assert_eq!((a.open_handles(), b.open_handles()), (0, held_by_b));
    drop(b);
    assert!(cache.is_empty(), "a dropped storage closes its handles");
    // A closed storage opens files again when used.
    assert_eq!(
        hash_piece(&a, 3).unwrap(),
        sanstorrent_core::id::sha1_digest(&[3; 8])
    );
    assert_eq!(a.open_handles(), 1);
}

#[test]
fn a_file_deleted_while_its_handle_is_cached_reads_as_missing() {
    let tmp = TempDir::new("deleted-open");
    let cache = HandleCache::new(4);
    let a = storage(&tmp.0, &cache, 2);
    a.write(0, 0, &[1; 8]).unwrap();
    a.write(1, 0, &[2; 8]).unwrap();
    a.flush().unwrap();
    let mut buf = [0; 8];
    a.read(0, 0, &mut buf).unwrap();
    assert_eq!(a.open_handles(), 2, "both files' handles are cached");

    std::fs::remove_file(tmp.0.join("f0")).unwrap();
    let error = a.read(0, 0, &mut buf).unwrap_err();
    assert!(error.is_missing_data(), "{error}");
    assert!(error.to_string().contains("deleted while open"), "{error}");
    assert_eq!(a.open_handles(), 1, "the deleted file's handle is closed");
    let error = a.read(0, 0, &mut buf).unwrap_err();
    assert!(error.is_missing_data(), "opened again: {error}");
    a.read(1, 0, &mut buf).unwrap();
    assert_eq!(buf, [2; 8], "the other file reads on");

    // Bytes written to a deleted file are lost: its flush says so.
    a.write(1, 0, &[3; 8]).unwrap();
    std::fs::remove_file(tmp.0.join("f1")).unwrap();
    let error = a.flush().unwrap_err();
    assert!(error.is_missing_data(), "{error}");
}
