//! How much the daemon keeps per listed torrent: 10,000 idle torrents are 10,000 entries,
//! so a byte added to [`Entry`] is 10 KB (`bench/README.md`, session 22).

use super::*;

/// An entry as a restore lists a seed: options as the settings give, nothing rare.
fn seed(id: u32, options: Arc<TorrentOptions>) -> Entry {
    Entry {
        id: Id(id),
        handle: TorrentHandle {
            id: TorrentId(id),
            info_hash: sanstorrent_core::InfoHash([id as u8; 20]),
        },
        name: "a".into(),
        dir: Path::new("/dl").into(),
        meta: None,
        added: 7,
        stopped: false,
        running: true,
        position: id,
        complete: true,
        forced: false,
        finished: None,
        started_at: 0,
        options,
        files: Default::default(),
        totals: TorrentTotals::default(),
        seen: Seen::default(),
        moving: false,
        rare: None,
    }
}

#[test]
fn an_entry_stays_small() {
    // 440 B before its options were shared, its magnet link made rare and its v2 hash boxed.
    assert!(size_of::<Entry>() <= 272, "{} B", size_of::<Entry>());
    assert!(size_of::<Option<metas::Summary>>() <= 56);
    assert!(size_of::<Rare>() <= 136, "{} B", size_of::<Rare>());
}

#[test]
fn entries_added_alike_share_their_options() {
    let settings = TorrentOptions {
        peer_limit: 50,
        honors_session_limits: true,
        ..TorrentOptions::default()
    };
    let first = seed(1, shared_options(None, settings.clone()));
    let second = shared_options(Some(&first), settings.clone());
    assert!(Arc::ptr_eq(&first.options, &second));
    let other = TorrentOptions {
        sequential: true,
        ..settings
    };
    let third = shared_options(Some(&first), other.clone());
    assert!(!Arc::ptr_eq(&first.options, &third));
    assert_eq!(*third, other);
}

#[test]
fn a_group_edit_touches_exactly_the_options_it_changes() {
    let tagged = TorrentOptions {
        labels: vec!["x".into(), "y".into()],
        category: "c".into(),
        ..TorrentOptions::default()
    };
    let plain = TorrentOptions::default();
    let edits = [
        GroupEdit::SetCategory("c".into(), PathBuf::new()),
        GroupEdit::RemoveCategories(vec!["c".into()]),
        GroupEdit::RemoveCategories(vec!["d".into()]),
        GroupEdit::AddTags(vec!["x".into()]),
        GroupEdit::RemoveTags(vec!["y".into()]),
        GroupEdit::RemoveTags(vec!["z".into()]),
    ];
    for edit in &edits {
        for options in [&tagged, &plain] {
            let mut changed = options.clone();
            Groups::default().apply(edit, std::iter::once(&mut changed));
            assert_eq!(
                edit.touches(options),
                changed != *options,
                "{edit:?} {options:?}"
            );
        }
    }
}
