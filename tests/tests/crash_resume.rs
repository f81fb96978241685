//! A node that crashes mid-download (its session state thrown away; what it wrote to storage and
//! the last resume data it saved stay) restarts and resumes without losing verified pieces:
//! the restarted torrent starts with at least every piece verified before the crash, does not
//! download them again, and completes with the right bytes. Run with the saved resume data and
//! without it (a full recheck of the storage).

use std::time::Duration;

use sanstorrent_core::session::{Event, SessionConfig, TorrentOptions};
use sanstorrent_tests::sim::{LinkConfig, Sim, Summary, TestFile, TestTorrent, sweep};

fn scenario(seed: u64, with_resume: bool) -> Summary {
    let mut sim = Sim::new(seed, LinkConfig::default());
    // Four files, downloaded in order: the first ones are finished (and their stamps saved in
    // the resume data) before the crash, the one being written is not.
    let files: Vec<TestFile> = (0..4)
        .map(|k| TestFile::new(&format!("crash/part{k}"), 512 * 1024))
        .collect();
    let t = TestTorrent::multi("crash", &files, 64 * 1024, seed);
    let seeder = sim.add_node_with(
        SessionConfig::default(),
        LinkConfig::new(Duration::from_millis(20), 256 * 1024),
    );
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let config = SessionConfig {
        resume_save_interval: Duration::from_secs(2),
        ..SessionConfig::default()
    };
    let leecher = sim.add_node(config.clone());
    let sequential = TorrentOptions {
        sequential: true,
        ..TorrentOptions::default()
    };
    let id = sim.add_torrent(leecher, &t, false, sequential);
    let seeder_addr = sim.nodes[seeder].addr;
    sim.add_peers(leecher, id, &[seeder_addr]);
    let pieces = t.meta.piece_count() as usize;
    sim.run_until(
        |s| s.nodes[leecher].verified(id).len() * 2 >= pieces,
        500_000,
    )
    .expect("half downloaded");
    // A little more, so the crash lands between resume saves with writes in flight.
    sim.run_for(Duration::from_millis(2900), 100_000)
        .expect("more");
    let before = sim.nodes[leecher].verified(id);
    let resume = sim.nodes[leecher].resume.get(&id).cloned();
    assert!(
        !with_resume || resume.is_some(),
        "seed {seed}: no resume data was saved"
    );
    sim.crash(leecher);
    sim.run_for(Duration::from_secs(5), 100_000).expect("down");

    sim.start_session(leecher, config);
    let options = TorrentOptions {
        resume: if with_resume { resume } else { None },
        peers: vec![seeder_addr],
        sequential: true,
        ..TorrentOptions::default()
    };
    let marker = sim.nodes[leecher].events.len();
    let id2 = sim.add_torrent(leecher, &t, false, options);
    assert_eq!(id2, id, "the restarted torrent reuses its storage");
    sim.run_until(|s| s.is_complete(leecher, id2), 500_000)
        .expect("the restarted download completes");
    assert!(
        sim.has_content(leecher, id2, &t),
        "seed {seed}: wrong bytes"
    );
    let checked = sim.nodes[leecher].events[marker..]
        .iter()
        .find_map(|(_, e)| match e {
            Event::Checked { have, .. } => Some(*have as usize),
            _ => None,
        })
        .expect("the restart checked its data");
    let stats = sim.nodes[leecher]
        .session()
        .torrent_stats(id2)
        .expect("torrent");
    let hashed = sim.nodes[leecher].events[marker..]
        .iter()
        .find_map(|(_, e)| match e {
            Event::Checking { pieces, .. } => Some(*pieces as usize),
            _ => None,
        })
        .unwrap_or(0);
    if with_resume {
        assert!(
            hashed < before.len(),
            "seed {seed}: the resume data saved no hashing ({hashed} pieces hashed)"
        );
    } else {
        assert_eq!(hashed, pieces, "seed {seed}: a recheck hashes every piece");
    }
    let piece = u64::from(t.meta.layout().piece_len(0));
    let missing = (pieces - before.len()) as u64 * piece;
    let name = if with_resume {
        "crash_resume (resume data)"
    } else {
        "crash_resume (recheck)"
    };
    eprintln!(
        "{name}: seed {seed}: {} pieces verified before the crash, {checked} had after the \
         restart's check ({hashed} hashed); downloaded {} bytes after it for {missing} missing",
        before.len(),
        stats.downloaded
    );
    assert!(
        checked >= before.len(),
        "seed {seed}: the restart lost verified pieces ({checked} < {})",
        before.len()
    );
    assert!(
        stats.downloaded <= missing + 4 * piece,
        "seed {seed}: downloaded {} after the restart for {missing} missing",
        stats.downloaded
    );
    sim.print_summary(name)
}

#[test]
fn crash_then_resume_with_resume_data() {
    sweep("crash_resume (resume data)", 1, 2, |seed| {
        scenario(seed, true)
    });
}

#[test]
fn crash_then_resume_by_recheck() {
    sweep("crash_resume (recheck)", 1, 2, |seed| scenario(seed, false));
}
