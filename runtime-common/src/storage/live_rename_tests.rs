//! Files renamed while worker threads write: every byte lands in the renamed file.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sanstorrent_core::layout::Layout;
use sanstorrent_core::metainfo::RelativePath;
use sanstorrent_core::storage::Storage;

use super::file::tests::TempDir;
use super::{FileMap, FileStorage, FileStorageOptions, apply_moves};

fn rel(s: &str) -> RelativePath {
    RelativePath::from_components(s.split('/')).expect("safe path")
}

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 + 5) as u8).collect()
}

#[test]
fn writes_during_renames_land_in_the_renamed_files() {
    let tmp = TempDir::new("live-rename");
    let layout = Layout::new(1024, (0..4).map(|i| (40_000 + i * 1000, false))).expect("layout");
    let original: Vec<RelativePath> = (0..4).map(|i| rel(&format!("t/f{i}"))).collect();
    let padding = vec![false; 4];
    let storage = Arc::new(
        FileStorage::open_with(
            &tmp.0,
            layout.clone(),
            &original,
            FileStorageOptions {
                max_open_files: 2,
                ..Default::default()
            },
        )
        .expect("opens"),
    );
    let data = Arc::new(content(layout.total_length() as usize));
    let done = Arc::new(AtomicBool::new(false));
    // Writers go over every piece again and again until the renames are over, then once more.
    let writers: Vec<_> = (0..3u32)
        .map(|w| {
            let (s, data, layout, done) = (
                Arc::clone(&storage),
                Arc::clone(&data),
                layout.clone(),
                Arc::clone(&done),
            );
            std::thread::spawn(move || {
                let mut rounds = 0;
                loop {
                    let last = done.load(Ordering::SeqCst);
                    for piece in (w..layout.piece_count()).step_by(3) {
                        let start = layout.piece_offset(piece) as usize;
                        let len = layout.piece_len(piece) as usize;
                        s.write(piece, 0, &data[start..start + len])
                            .expect("written");
                    }
                    rounds += 1;
                    if last {
                        return rounds;
                    }
                }
            })
        })
        .collect();

    // Rename every file twice (to another folder, then to another name there) while they
    // write, each time crash-safe moves on disk under the storage's paths lock.
    let mut map = FileMap::default();
    for round in 0..2 {
        let renames: Vec<(usize, RelativePath)> = (0..4)
            .map(|i| (i, rel(&format!("r{round}/sub/g{i}"))))
            .collect();
        let (next, moves) = map
            .with_renames(&original, &padding, &renames)
            .expect("renames fit");
        let files: Vec<_> = moves
            .iter()
            .map(|m| (m.file, tmp.0.join(m.to.to_path_buf())))
            .collect();
        storage
            .rename_live(&files, || apply_moves(&tmp.0, &moves))
            .expect("renamed");
        map = next;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    done.store(true, Ordering::SeqCst);
    for w in writers {
        assert!(w.join().expect("writer") >= 1);
    }
    storage.flush().expect("flushed");

    let mut offset = 0;
    for (i, file) in layout.files().iter().enumerate() {
        let path = tmp.0.join(format!("r1/sub/g{i}"));
        assert_eq!(storage.path(i).as_deref(), Some(path.as_path()));
        let bytes = std::fs::read(&path).expect("the renamed file");
        let len = file.length as usize;
        assert!(
            bytes == data[offset..offset + len],
            "file {i} holds its bytes"
        );
        offset += len;
    }
    assert!(
        !tmp.0.join("t").exists(),
        "nothing left under the old names"
    );
    assert!(!tmp.0.join("r0").exists(), "nor under the first new ones");
}

#[test]
fn a_failed_rename_changes_no_path() {
    let tmp = TempDir::new("live-rename-fail");
    let layout = Layout::new(16, [(20, false)]).expect("layout");
    let storage = FileStorage::open(&tmp.0, layout, &[rel("a")]).expect("opens");
    storage.write(0, 0, &[7; 16]).expect("written");
    let refused: Result<(), &str> =
        storage.rename_live(&[(0, tmp.0.join("b"))], || Err("the disk refused"));
    assert_eq!(refused, Err("the disk refused"));
    assert_eq!(storage.path(0), Some(tmp.0.join("a")));
    storage.write(1, 0, &[8; 4]).expect("written");
    assert_eq!(std::fs::read(tmp.0.join("a")).expect("a").len(), 20);
    assert!(!tmp.0.join("b").exists());
}
