use super::*;
use crate::storage::file::tests::TempDir;

fn rel(s: &str) -> RelativePath {
    RelativePath::from_components(s.split('/')).expect("safe path")
}

/// `t/a`, `t/.pad/1` (padding), `t/sub/b`, `t/sub/c`.
fn original() -> (Vec<RelativePath>, Vec<bool>) {
    (
        vec![rel("t/a"), rel("t/.pad/1"), rel("t/sub/b"), rel("t/sub/c")],
        vec![false, true, false, false],
    )
}

#[test]
fn renames_change_paths_and_list_the_moves() {
    let (orig, pad) = original();
    let map = FileMap::default();
    let (map, moves) = map
        .with_renames(&orig, &pad, &[(0, rel("t/A")), (2, rel("u/b"))])
        .unwrap();
    assert_eq!(
        map.paths(&orig),
        vec![rel("t/A"), rel("t/.pad/1"), rel("u/b"), rel("t/sub/c")]
    );
    assert_eq!(moves.len(), 2);
    assert_eq!(
        (moves[1].from.clone(), moves[1].to.clone()),
        (rel("t/sub/b"), rel("u/b"))
    );
    // Renamed again: the move starts from the current name; back to the metainfo's name
    // leaves the map.
    let (map, moves) = map.with_renames(&orig, &pad, &[(0, rel("t/a"))]).unwrap();
    assert_eq!(moves[0].from, rel("t/A"));
    let (map, moves) = map.with_renames(&orig, &pad, &[(2, rel("u/b"))]).unwrap();
    assert!(moves.is_empty(), "same path: nothing to move");
    let (map, _) = map
        .with_renames(&orig, &pad, &[(2, rel("t/sub/b"))])
        .unwrap();
    assert!(map.is_empty());
}

#[test]
fn clashes_and_bad_indices_are_refused() {
    let (orig, pad) = original();
    let map = FileMap::default();
    let refused = |renames: &[(usize, RelativePath)]| map.with_renames(&orig, &pad, renames).err();
    assert!(matches!(
        refused(&[(0, rel("t/sub/b"))]),
        Some(RenameError::Collision(_))
    ));
    assert!(matches!(
        refused(&[(0, rel("t/sub"))]),
        Some(RenameError::FolderConflict(_))
    ));
    assert!(matches!(
        refused(&[(0, rel("t/sub/c/x"))]),
        Some(RenameError::FolderConflict(_))
    ));
    assert!(matches!(
        refused(&[(1, rel("t/p"))]),
        Some(RenameError::NoSuchFile(1))
    ));
    assert!(matches!(
        refused(&[(9, rel("t/p"))]),
        Some(RenameError::NoSuchFile(9))
    ));
    assert!(matches!(
        refused(&[(0, rel("t/x")), (0, rel("t/y"))]),
        Some(RenameError::Twice(0))
    ));
    // A swap within one request is a valid map (on disk it needs a free name: see below).
    assert!(refused(&[(2, rel("t/sub/c")), (3, rel("t/sub/b"))]).is_none());
    // A padding file's path may be taken: it is never on disk.
    assert!(refused(&[(0, rel("t/.pad/1"))]).is_none());
}

#[test]
fn the_state_file_round_trips_and_refuses_hostile_content() {
    let (orig, pad) = original();
    let (map, moves) = FileMap::default()
        .with_renames(&orig, &pad, &[(3, rel("x/y z"))])
        .unwrap();
    let bytes = map.encode(&moves);
    assert_eq!(FileMap::decode(&bytes, 4).unwrap(), (map.clone(), moves));
    assert_eq!(FileMap::decode(&map.encode(&[]), 4).unwrap(), (map, vec![]));
    assert!(FileMap::decode(&bytes, 3).is_err(), "index past the files");
    for hostile in [
        &b"d5:fileslli0el2:..eee7:versioni1ee"[..],
        b"d5:fileslli0el4:/etceee7:versioni1ee",
        b"d5:fileslli0el1:a2:..1:beee7:versioni1ee",
        b"d5:fileslli0el0:eee7:versioni1ee",
        b"d5:fileslli-1el1:aeee7:versioni1ee",
        b"d5:fileslli0el1:aeee7:versioni2ee",
        b"garbage",
    ] {
        assert!(
            matches!(FileMap::decode(hostile, 4), Err(RenameError::Format(_))),
            "{hostile:?}"
        );
    }
    assert!(FileMap::decode(b"d5:fileslli0el1:aeee7:versioni1ee", 4).is_ok());
}

#[test]
fn moves_on_disk_rename_files_and_leave_no_empty_folders() {
    let tmp = TempDir::new("file-map-moves");
    let dir = &tmp.0;
    std::fs::create_dir_all(dir.join("t/sub")).unwrap();
    std::fs::write(dir.join("t/sub/b"), b"bee").unwrap();
    let moves = [
        FileMove {
            file: 2,
            from: rel("t/sub/b"),
            to: rel("u/v/b2"),
        },
        // Not created yet: nothing to move.
        FileMove {
            file: 3,
            from: rel("t/sub/c"),
            to: rel("u/c"),
        },
    ];
    apply_moves(dir, &moves).unwrap();
    assert_eq!(std::fs::read(dir.join("u/v/b2")).unwrap(), b"bee");
    assert!(!dir.join("t").exists(), "emptied folders removed");
    assert!(!dir.join("u/c").exists());

    // Something else at the new path: nothing moves, nothing is overwritten.
    std::fs::write(dir.join("u/c"), b"stranger").unwrap();
    std::fs::write(dir.join("u/a"), b"ay").unwrap();
    let clash = [
        FileMove {
            file: 0,
            from: rel("u/a"),
            to: rel("w/a"),
        },
        FileMove {
            file: 2,
            from: rel("u/v/b2"),
            to: rel("u/c"),
        },
    ];
    assert!(matches!(
        apply_moves(dir, &clash),
        Err(RenameError::Exists(_))
    ));
    assert_eq!(std::fs::read(dir.join("u/c")).unwrap(), b"stranger");
    assert_eq!(std::fs::read(dir.join("u/a")).unwrap(), b"ay", "undone");
    assert_eq!(std::fs::read(dir.join("u/v/b2")).unwrap(), b"bee");
    assert!(!dir.join("w").exists());
}

#[test]
fn pending_moves_are_finished_after_a_crash() {
    let tmp = TempDir::new("file-map-pending");
    let dir = &tmp.0;
    std::fs::create_dir_all(dir.join("t")).unwrap();
    std::fs::write(dir.join("t/a"), b"one").unwrap();
    std::fs::create_dir_all(dir.join("n")).unwrap();
    std::fs::write(dir.join("n/b"), b"two").unwrap();
    let moves = [
        // Crashed before this one.
        FileMove {
            file: 0,
            from: rel("t/a"),
            to: rel("n/a"),
        },
        // Already done.
        FileMove {
            file: 1,
            from: rel("t/b"),
            to: rel("n/b"),
        },
    ];
    finish_pending(dir, &moves).unwrap();
    assert_eq!(std::fs::read(dir.join("n/a")).unwrap(), b"one");
    assert_eq!(std::fs::read(dir.join("n/b")).unwrap(), b"two");
    assert!(!dir.join("t").exists());
}
