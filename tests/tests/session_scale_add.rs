//! Adding thousands of torrents to a bare session (issue 25): each `add_torrent` is one input,
//! and the work after an input is bounded by what it touched, not by the torrents the session
//! holds; so adding N torrents takes time linear in N. Prints the wall time of each size.

use std::time::{Duration, Instant};

use sanstorrent_core::magnet::MagnetLink;
use sanstorrent_core::session::{Session, SessionConfig, TorrentOptions, TorrentSource};

/// Adds `n` magnet torrents (each with a tracker) to a fresh session at one instant, draining
/// its outputs after each as a runtime does; returns the wall time taken.
fn add(n: usize) -> Duration {
    let now = Instant::now();
    let mut session = Session::new(SessionConfig::default(), now, 1);
    let started = Instant::now();
    for i in 0..n {
        let mut hash = [0u8; 20];
        hash[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        let link = format!("magnet:?xt=urn:btih:{hex}&tr=http://127.0.0.1:1/announce");
        let source = TorrentSource::Magnet(MagnetLink::parse(&link).expect("magnet"));
        session
            .add_torrent(now, source, TorrentOptions::default())
            .expect("added");
        while session.poll_transmit().is_some() {}
        while session.poll_action().is_some() {}
        while session.poll_event().is_some() {}
        let _ = session.poll_timeout();
    }
    let took = started.elapsed();
    assert_eq!(session.torrents().len(), n);
    eprintln!("session_scale_add: {n} torrents added in {took:?}");
    took
}

#[test]
fn adding_torrents_takes_time_linear_in_their_number() {
    let small = add(1_000);
    add(2_000);
    let large = add(10_000);
    // Ten times the torrents: about ten times the time if linear, a hundred if quadratic.
    // The bound leaves room for a loaded machine (and a small run too quick to time well).
    assert!(
        large < small * 40 + Duration::from_secs(2),
        "1,000 torrents in {small:?}, 10,000 in {large:?}"
    );
}
