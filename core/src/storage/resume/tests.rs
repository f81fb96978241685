use super::*;
use crate::id::sha1_digest;
use crate::rng::Rng;
use crate::storage::{MemoryStorage, Storage, piece_matches};

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

#[test]
fn encode_decode_round_trip() {
    let l = layout();
    let mut pieces = PieceSet::new(5);
    pieces.insert(1);
    pieces.insert(4);
    let r = ResumeData {
        piece_layers: Default::default(),
        pieces,
        files: vec![
            Some(FileStamp {
                size: 1500,
                mtime_secs: 1_700_000_000,
                mtime_nanos: 5,
            }),
            Some(FileStamp {
                size: 0,
                mtime_secs: -3,
                mtime_nanos: 999_999_999,
            }),
            None,
            Some(FileStamp {
                size: 1500,
                mtime_secs: 0,
                mtime_nanos: 0,
            }),
        ],
    };
    let bytes = r.encode();
    assert!(
        Decoder::new(&bytes).strict(true).decode().is_ok(),
        "canonical"
    );
    assert_eq!(ResumeData::decode(&bytes, &l).unwrap(), r);
}

#[test]
fn hostile_resume_files_are_rejected() {
    let l = layout();
    let ok = ResumeData {
        piece_layers: Default::default(),
        pieces: PieceSet::new(5),
        files: vec![None; 4],
    }
    .encode();
    type Check = fn(&ResumeError) -> bool;
    let cases: [(&[u8], Check); 8] = [
        (b"", |e| matches!(e, ResumeError::Bencode(_))),
        (b"le", |e| matches!(e, ResumeError::Field(_))),
        (b"d7:versioni2ee", |e| matches!(e, ResumeError::Version(2))),
        (b"d11:piece counti6e7:versioni1ee", |e| {
            matches!(e, ResumeError::PieceCount { .. })
        }),
        (b"d11:piece counti5e6:pieces2:xx7:versioni1ee", |e| {
            matches!(e, ResumeError::Bitfield(_))
        }),
        (
            b"d5:filesle11:piece counti5e6:pieces1:\x007:versioni1ee",
            |e| matches!(e, ResumeError::FileCount { .. }),
        ),
        (
            b"d5:filesll i-1ei0ei0eelelelee11:piece counti5e6:pieces1:\x007:versioni1ee",
            |e| matches!(e, ResumeError::Bencode(_)),
        ),
        (
            b"d5:filesllli1eeelelelee11:piece counti5e6:pieces1:\x007:versioni1ee",
            |e| matches!(e, ResumeError::Stamp(0)),
        ),
    ];
    for (input, check) in cases {
        let err = ResumeData::decode(input, &l).unwrap_err();
        assert!(check(&err), "{:?}: {err}", String::from_utf8_lossy(input));
    }
    let neg = b"d5:filesli-1ei0ei0eelelelee11:piece counti5e6:pieces1:\x007:versioni1ee";
    assert!(ResumeData::decode(neg, &l).is_err());
    // Random corruption never panics and never yields data for another geometry.
    let mut rng = Rng::new(8);
    for _ in 0..2000 {
        let mut b = ok.clone();
        let i = rng.index(b.len());
        b[i] = rng.next_u32() as u8;
        if let Ok(r) = ResumeData::decode(&b, &l) {
            assert_eq!(r.pieces.len(), 5);
            assert_eq!(r.files.len(), 4);
        }
    }
}

#[test]
fn piece_layers_round_trip_and_malformed_ones_are_rejected() {
    let l = layout();
    let mut r = ResumeData {
        piece_layers: Default::default(),
        pieces: PieceSet::new(5),
        files: vec![None; 4],
    };
    r.piece_layers.insert([7; 32], vec![[1; 32], [2; 32]]);
    r.piece_layers.insert([9; 32], vec![[3; 32]]);
    let bytes = r.encode();
    assert!(Decoder::new(&bytes).strict(true).decode().is_ok());
    assert_eq!(ResumeData::decode(&bytes, &l).unwrap(), r);
    let with_layers = |layers: &[u8]| {
        let files = b"5:filesllelelelee";
        let rest = b"11:piece counti5e6:pieces1:\x007:versioni1ee";
        [&b"d"[..], files, b"12:piece layers", layers, rest].concat()
    };
    assert_eq!(
        ResumeData::decode(&with_layers(b"de"), &l).unwrap(),
        ResumeData {
            piece_layers: Default::default(),
            ..r.clone()
        }
    );
    let root = [b'r'; 32];
    let hash = [b'h'; 32];
    let entry = |key: &[u8], value: &[u8]| {
        let mut d = format!("d{}:", key.len()).into_bytes();
        d.extend_from_slice(key);
        d.extend_from_slice(format!("{}:", value.len()).as_bytes());
        d.extend_from_slice(value);
        d.push(b'e');
        d
    };
    let six = hash.repeat(6);
    let bad: [Vec<u8>; 6] = [
        b"i3e".to_vec(),
        entry(&root[..31], &hash),
        entry(&root, &hash[..31]),
        entry(&root, b""),
        entry(&root, &six),
        b"d32:rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrri1ee".to_vec(),
    ];
    for layers in bad {
        assert_eq!(
            ResumeData::decode(&with_layers(&layers), &l),
            Err(ResumeError::Field("piece layers")),
            "{}",
            String::from_utf8_lossy(&layers)
        );
    }
    assert!(ResumeData::decode(&with_layers(&entry(&root, &hash.repeat(5))), &l).is_ok());
}

#[test]
fn plan_trusts_unchanged_files_and_rechecks_changed_ones() {
    let l = layout();
    let stamp = |t| {
        Some(FileStamp {
            size: 1,
            mtime_secs: t,
            mtime_nanos: 0,
        })
    };
    let saved = ResumeData {
        piece_layers: Default::default(),
        pieces: PieceSet::full(5),
        files: vec![stamp(1), stamp(2), stamp(3), stamp(4)],
    };
    let plan = saved.plan(&l, &[stamp(1), stamp(2), stamp(3), stamp(4)]);
    assert!(plan.trusted().is_full());
    assert_eq!(plan.recheck().count(), 0);
    // File 2 (bytes 1500..3500 = pieces 1..=3) changed: recheck. File 3 (pieces 3..=4)
    // vanished: its pieces cannot be complete, so they are neither trusted nor hashed.
    let plan = saved.plan(&l, &[stamp(1), stamp(2), stamp(9), None]);
    assert_eq!(plan.trusted().iter().collect::<Vec<_>>(), [0]);
    assert_eq!(plan.recheck().iter().collect::<Vec<_>>(), [1, 2]);
    // Every file gone (the download was deleted): nothing to trust or hash.
    let plan = saved.plan(&l, &[None, None, None, None]);
    assert_eq!(plan.trusted().count() + plan.recheck().count(), 0);
}

#[test]
fn saved_data_never_claims_bytes_past_the_end_of_a_missing_or_short_file() {
    let l = layout();
    let stamp = |size| {
        Some(FileStamp {
            size,
            mtime_secs: 7,
            mtime_nanos: 0,
        })
    };
    let whole = [stamp(1500), stamp(0), stamp(2000), stamp(1500)];
    let saved = ResumeData::of_disk(&l, &PieceSet::full(5), whole.to_vec());
    assert!(saved.pieces.is_full(), "every file there at full length");
    assert_eq!(saved.files, whole);
    // File 2 (bytes 1500..3500, pieces 1..=3) truncated to 1999 bytes: only piece 3 lacks a
    // byte; a zero-length file is never short.
    let short = vec![stamp(1500), None, stamp(1999), stamp(1500)];
    let saved = ResumeData::of_disk(&l, &PieceSet::full(5), short.clone());
    assert_eq!(saved.pieces.iter().collect::<Vec<_>>(), [0, 1, 2, 4]);
    assert_eq!(saved.files, short, "the stamps are saved as they are");
    // Truncated to 600 bytes (up to 2100): pieces 2 and 3 lack bytes, piece 1 holds all its
    // bytes; truncated to nothing, none of its pieces is held.
    let cut = vec![stamp(1500), stamp(0), stamp(600), stamp(1500)];
    let saved = ResumeData::of_disk(&l, &PieceSet::full(5), cut);
    assert_eq!(saved.pieces.iter().collect::<Vec<_>>(), [0, 1, 4]);
    let empty = vec![stamp(1500), stamp(0), stamp(0), stamp(1500)];
    let saved = ResumeData::of_disk(&l, &PieceSet::full(5), empty);
    assert_eq!(saved.pieces.iter().collect::<Vec<_>>(), [0, 4]);
    // File 3 (pieces 3..=4) deleted; piece 0 was never recorded.
    let mut recorded = PieceSet::full(5);
    recorded.remove(0);
    let gone = vec![stamp(1500), stamp(0), stamp(2000), None];
    let saved = ResumeData::of_disk(&l, &recorded, gone);
    assert_eq!(saved.pieces.iter().collect::<Vec<_>>(), [1, 2]);
}

/// What the session saves: the pieces recorded (verified, then flushed) and the stamps.
fn resume_data(recorded: &PieceSet, s: &impl Storage) -> ResumeData {
    ResumeData {
        piece_layers: Default::default(),
        pieces: recorded.clone(),
        files: s.stamps().unwrap(),
    }
}

#[test]
fn crash_at_any_instant_never_makes_a_bad_piece_look_good() {
    let l = Layout::new(1000, [(2500, false), (700, false), (1800, false)]).unwrap();
    let (d, hashes) = data(&l, 2);
    for seed in 0..300 {
        let mut rng = Rng::new(seed);
        let s = MemoryStorage::new(l.clone());
        let mut recorded = PieceSet::new(l.piece_count());
        let mut saved: Option<Vec<u8>> = None;
        let crash_at = rng.below(60);
        for _ in 0..crash_at {
            let p = rng.below(u64::from(l.piece_count())) as u32;
            match rng.below(4) {
                // A block of good or garbage data arrives.
                0 | 1 => {
                    let len = l.piece_len(p);
                    let off = rng.below(u64::from(len)) as u32;
                    let n = 1 + rng.below(u64::from(len - off)) as usize;
                    let mut chunk = piece_bytes(&l, &d, p)[off as usize..off as usize + n].to_vec();
                    if rng.chance(0.3) {
                        chunk[0] ^= 0x55;
                    }
                    s.write(p, off, &chunk).unwrap();
                }
                2 => {
                    if piece_matches(&s, p, &hashes[p as usize].into()).unwrap() {
                        s.flush().unwrap();
                        recorded.insert(p);
                    }
                }
                _ => saved = Some(resume_data(&recorded, &s).encode()),
            }
        }
        // Crash: restart from the last saved resume data and the storage as it is.
        let Some(bytes) = saved else { continue };
        let plan = ResumeData::decode(&bytes, &l)
            .unwrap()
            .plan(&l, &s.stamps().unwrap());
        for p in plan.trusted().iter() {
            assert_eq!(
                crate::storage::hash_piece(&s, p).unwrap(),
                hashes[p as usize],
                "seed {seed}: piece {p} trusted but bad"
            );
        }
    }
}
