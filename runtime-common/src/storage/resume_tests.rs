//! Resume data over files on disk: what a crash at any point of a download leaves trusted.

use std::fs::{self, File};
use std::time::{Duration, SystemTime};

use sanstorrent_core::Rng;
use sanstorrent_core::id::sha1_digest;
use sanstorrent_core::layout::Layout;
use sanstorrent_core::metainfo::RelativePath;
use sanstorrent_core::pieces::PieceSet;
use sanstorrent_core::storage::{ResumeData, Storage, piece_matches};

use super::file::tests::TempDir;
use super::{FileStorage, save_atomically};

fn layout() -> Layout {
    // 5 pieces of 1000 bytes over files of 1500, 0, 2000 and 1500 bytes.
    Layout::new(
        1000,
        [(1500, false), (0, false), (2000, false), (1500, false)],
    )
    .unwrap()
}

fn data(layout: &Layout, seed: u64) -> (Vec<u8>, Vec<[u8; 20]>) {
    let mut d = vec![0; layout.total_length() as usize];
    Rng::new(seed).fill(&mut d);
    let hashes = (0..layout.piece_count())
        .map(|p| sha1_digest(piece_bytes(layout, &d, p)))
        .collect();
    (d, hashes)
}

fn piece_bytes<'a>(layout: &Layout, d: &'a [u8], p: u32) -> &'a [u8] {
    let start = layout.piece_offset(p) as usize;
    &d[start..start + layout.piece_len(p) as usize]
}

/// What the session saves: the pieces recorded (verified, then flushed) and the stamps.
fn resume_data(recorded: &PieceSet, s: &impl Storage) -> ResumeData {
    ResumeData {
        piece_layers: Default::default(),
        pieces: recorded.clone(),
        files: s.stamps().unwrap(),
    }
}

fn rel(s: &str) -> RelativePath {
    RelativePath::from_components(s.split('/')).unwrap()
}

#[test]
fn crash_mid_write_on_disk_never_trusts_unrecorded_pieces() {
    let tmp = TempDir::new("crash");
    let l = layout();
    let (d, hashes) = data(&l, 1);
    let paths = [rel("x/a"), rel("x/empty"), rel("x/b"), rel("x/c")];
    let resume_path = tmp.0.join("resume.dat");

    // Run 1: pieces 0 and 1 verified, flushed, recorded and saved.
    let s = FileStorage::open(&tmp.0, l.clone(), &paths).unwrap();
    let mut recorded = PieceSet::new(5);
    for p in [0, 1] {
        s.write(p, 0, piece_bytes(&l, &d, p)).unwrap();
        assert!(piece_matches(&s, p, &hashes[p as usize].into()).unwrap());
        s.flush().unwrap();
        recorded.insert(p);
    }
    save_atomically(&resume_path, &resume_data(&recorded, &s).encode()).unwrap();
    // Then piece 3 fully written and piece 4 half written, neither recorded: crash.
    s.write(3, 0, piece_bytes(&l, &d, 3)).unwrap();
    s.write(4, 0, &piece_bytes(&l, &d, 4)[..300]).unwrap();
    drop(s);

    // Run 2.
    let s = FileStorage::open(&tmp.0, l.clone(), &paths).unwrap();
    let saved = ResumeData::decode(&fs::read(&resume_path).unwrap(), &l).unwrap();
    let plan = saved.plan(&l, &s.stamps().unwrap());
    assert!(
        !plan.trusted().contains(3) && !plan.trusted().contains(4),
        "never trusted"
    );
    assert!(
        plan.recheck().contains(3) && plan.recheck().contains(4),
        "file c changed"
    );
    let mut recorded = plan.trusted().clone();
    for p in plan.recheck().iter() {
        if piece_matches(&s, p, &hashes[p as usize].into()).unwrap() {
            recorded.insert(p);
        }
    }
    assert_eq!(recorded.iter().collect::<Vec<_>>(), [0, 1, 3]);
    save_atomically(&resume_path, &resume_data(&recorded, &s).encode()).unwrap();
    drop(s);

    // Run 3: a byte of trusted piece 0 is damaged behind our back (mtime changes).
    let file_a = tmp.0.join("x/a");
    let mut bytes = fs::read(&file_a).unwrap();
    bytes[10] ^= 1;
    fs::write(&file_a, &bytes).unwrap();
    let f = File::options().write(true).open(&file_a).unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(12_345))
        .unwrap();
    drop(f);
    let s = FileStorage::open(&tmp.0, l.clone(), &paths).unwrap();
    let saved = ResumeData::decode(&fs::read(&resume_path).unwrap(), &l).unwrap();
    let plan = saved.plan(&l, &s.stamps().unwrap());
    assert!(!plan.trusted().contains(0) && plan.recheck().contains(0));
    assert!(
        !piece_matches(&s, 0, &hashes[0].into()).unwrap(),
        "damage found"
    );
    assert!(!tmp.0.join("resume.dat.tmp").exists());
}
