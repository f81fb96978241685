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
