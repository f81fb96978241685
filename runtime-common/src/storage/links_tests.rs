//! Links on disk through [`FileStorage`]: created relative and inside the torrent, never
//! written or read through when they lead elsewhere.

use std::fs;
use std::path::Path;

use sanstorrent_core::layout::Layout;
use sanstorrent_core::metainfo::RelativePath;
use sanstorrent_core::storage::{Storage, StorageError};

use super::super::file::tests::TempDir;
use super::super::{FileStorage, FileStorageOptions};

fn rel(s: &str) -> RelativePath {
    RelativePath::from_components(s.split('/')).unwrap()
}

/// `t/d/x` (16 bytes of data), links `t/l` -> `t/d/x` and `t/d/m` -> `t/d`, and `t/bad`, a
/// link core could not resolve (so not listed): a plain empty file.
fn linked(root: &Path) -> FileStorage {
    let layout = Layout::new(16, [(16, false), (0, false), (0, false), (0, false)]).unwrap();
    let paths = [rel("t/d/x"), rel("t/l"), rel("t/d/m"), rel("t/bad")];
    let links = [(1, rel("t/d/x")), (2, rel("t/d"))];
    FileStorage::open_linked(root, layout, &paths, &links, FileStorageOptions::default()).unwrap()
}

#[cfg(unix)]
#[test]
fn links_are_created_relative_and_resolve_inside_the_torrent() {
    let tmp = TempDir::new("links-create");
    let s = linked(&tmp.0);
    for file in 1..4 {
        s.create_file(file).unwrap();
    }
    s.write_file(0, 0, b"0123456789abcdef").unwrap();
    assert_eq!(fs::read_link(tmp.0.join("t/l")).unwrap(), Path::new("d/x"));
    assert_eq!(fs::read_link(tmp.0.join("t/d/m")).unwrap(), Path::new("."));
    assert_eq!(fs::read(tmp.0.join("t/l")).unwrap(), b"0123456789abcdef");
    let bad = fs::symlink_metadata(tmp.0.join("t/bad")).unwrap();
    assert!(
        bad.is_file() && bad.len() == 0,
        "an unresolved link is an empty file"
    );
    // Created again (a restart): kept as they are.
    s.create_file(1).unwrap();
    assert_eq!(fs::read_link(tmp.0.join("t/l")).unwrap(), Path::new("d/x"));
    // The stamps are the links' own, not their targets'.
    let stamps = s.stamps().unwrap();
    assert_eq!(stamps[1].unwrap().size, 0);
    assert_eq!(stamps[2].unwrap().size, 0);
    assert_eq!(stamps[0].unwrap().size, 16);
}

#[cfg(unix)]
#[test]
fn an_empty_file_left_where_a_link_goes_is_replaced_but_data_never_is() {
    let tmp = TempDir::new("links-replace");
    fs::create_dir_all(tmp.0.join("t/d")).unwrap();
    fs::write(tmp.0.join("t/l"), b"").unwrap();
    fs::write(tmp.0.join("t/d/m"), b"user data").unwrap();
    let s = linked(&tmp.0);
    s.create_file(1).unwrap();
    s.create_file(2).unwrap();
    assert_eq!(fs::read_link(tmp.0.join("t/l")).unwrap(), Path::new("d/x"));
    assert_eq!(fs::read(tmp.0.join("t/d/m")).unwrap(), b"user data");
}

#[cfg(unix)]
#[test]
fn no_byte_is_written_or_read_through_a_link_at_a_files_path() {
    let tmp = TempDir::new("links-nofollow");
    let outside = tmp.0.join("outside");
    fs::write(&outside, b"secret, not the torrent's!").unwrap();
    let root = tmp.0.join("dl");
    fs::create_dir_all(root.join("t/d")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("t/d/x")).unwrap();
    let s = linked(&root);
    let unsafe_link = |r: Result<(), StorageError>| match r {
        Err(StorageError::UnsafeLink { path }) => assert_eq!(path, root.join("t/d/x")),
        other => panic!("{other:?}"),
    };
    unsafe_link(s.write_file(0, 0, &[0; 16]));
    unsafe_link(s.create_file(0));
    // Seeding reads nothing through it either.
    let mut buf = [0u8; 16];
    unsafe_link(s.read_file(0, 0, &mut buf));
    assert_eq!(buf, [0; 16]);
    assert_eq!(fs::read(&outside).unwrap(), b"secret, not the torrent's!");
}

#[cfg(unix)]
#[test]
fn no_byte_goes_through_a_directory_link_leading_out_of_the_download_directory() {
    let tmp = TempDir::new("links-dir");
    let elsewhere = tmp.0.join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let root = tmp.0.join("dl");
    fs::create_dir_all(root.join("t")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, root.join("t/d")).unwrap();
    let s = linked(&root);
    match s.write_file(0, 0, &[1; 16]) {
        Err(StorageError::UnsafeLink { path }) => assert!(path.starts_with(root.join("t/d"))),
        other => panic!("{other:?}"),
    }
    match s.create_file(2) {
        Err(StorageError::UnsafeLink { .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "nothing written there"
    );
    // A link inside the download directory is followed: it leads nowhere else.
    fs::remove_file(root.join("t/d")).unwrap();
    fs::create_dir_all(root.join("real")).unwrap();
    std::os::unix::fs::symlink(root.join("real"), root.join("t/d")).unwrap();
    s.write_file(0, 0, &[2; 16]).unwrap();
    assert_eq!(fs::read(root.join("real/x")).unwrap(), [2; 16]);
}
