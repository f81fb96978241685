//! Local service discovery in the session: what is announced, what a neighbour's announce
//! does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::create::TorrentBuilder;
use crate::id::InfoHash;
use crate::lsd::{Announce, GROUP_V4, LsdConfig};
use crate::metainfo::Metainfo;
use crate::session::test_support::{add_leecher, answer_no_stamps};
use crate::session::{
    Action, Dest, Session, SessionConfig, TorrentId, TorrentOptions, TorrentSource,
};

fn meta(private: bool) -> Arc<Metainfo> {
    let b = TorrentBuilder::single_file("t.bin", 32 * 1024)
        .unwrap()
        .piece_length(16 * 1024)
        .private(private);
    Arc::new(Metainfo::from_bytes(&b.build(&[[1; 20], [2; 20]]).unwrap()).unwrap())
}

/// A session with discovery on, listening on 10.0.0.1:7000, running `meta` with no data yet.
fn running(meta: &Arc<Metainfo>, now: Instant) -> (Session, TorrentId) {
    let config = SessionConfig {
        local_discovery: Some(LsdConfig::default()),
        ..SessionConfig::default()
    };
    let mut s = Session::new(config, now, 3);
    s.set_listen_addr("10.0.0.1:7000".parse().unwrap());
    let t = add_leecher(&mut s, now, meta);
    for _ in 1..4 {
        answer_no_stamps(&mut s, now, 1);
    }
    (s, t)
}

/// The info-hashes announced at `now` (firing the timer if it is due).
fn announced(s: &mut Session, now: Instant) -> Vec<InfoHash> {
    if s.poll_timeout().is_some_and(|at| at <= now) {
        s.handle_timeout(now);
    }
    let mut hashes = Vec::new();
    while let Some(t) = s.poll_transmit() {
        if let Dest::LocalDiscovery(group) = t.dest {
            assert_eq!(group, GROUP_V4);
            let a = Announce::parse(&t.payload).unwrap();
            assert_eq!(a.port, 7000);
            hashes.extend(a.info_hashes);
        }
    }
    hashes
}

fn dials(s: &mut Session) -> Vec<SocketAddr> {
    let mut addrs = Vec::new();
    while let Some(a) = s.poll_action() {
        if let Action::Connect { addr, .. } = a {
            addrs.push(addr);
        }
    }
    addrs
}

#[test]
fn a_running_torrent_is_announced_and_a_neighbour_it_hears_is_dialled() {
    let now = Instant::now();
    let meta = meta(false);
    let (mut s, _) = running(&meta, now);
    assert_eq!(announced(&mut s, now), vec![meta.info_hash()]);
    assert!(announced(&mut s, now + Duration::from_secs(10)).is_empty());
    let theirs = Announce::encode(GROUP_V4, 5000, "theirs", &[meta.info_hash()]);
    let from: SocketAddr = "10.0.0.2:6771".parse().unwrap();
    s.handle_local_datagram(now, from, &theirs[0]);
    assert_eq!(dials(&mut s), vec!["10.0.0.2:5000".parse().unwrap()]);
    assert_eq!(
        announced(&mut s, now + Duration::from_secs(300)),
        vec![meta.info_hash()]
    );
}

#[test]
fn a_private_torrent_is_neither_announced_nor_told_of_neighbours() {
    let now = Instant::now();
    let meta = meta(true);
    let (mut s, _) = running(&meta, now);
    assert!(announced(&mut s, now).is_empty());
    let theirs = Announce::encode(GROUP_V4, 5000, "theirs", &[meta.info_hash()]);
    s.handle_local_datagram(now, "10.0.0.2:6771".parse().unwrap(), &theirs[0]);
    assert!(dials(&mut s).is_empty());
}

#[test]
fn a_stopped_torrent_is_no_longer_announced() {
    let now = Instant::now();
    let meta = meta(false);
    let (mut s, t) = running(&meta, now);
    assert_eq!(announced(&mut s, now).len(), 1);
    s.stop_torrent(now, t);
    assert!(announced(&mut s, now + Duration::from_secs(600)).is_empty());
}

#[test]
fn without_discovery_configured_nothing_goes_to_the_group() {
    let now = Instant::now();
    let mut s = Session::new(SessionConfig::default(), now, 3);
    let source = TorrentSource::Metainfo(meta(false));
    s.add_torrent(now, source, TorrentOptions::default())
        .unwrap();
    assert!(announced(&mut s, now).is_empty());
}

#[test]
fn discovery_turned_on_at_run_time_announces_running_torrents_and_off_stops() {
    let now = Instant::now();
    let m = meta(false);
    let (mut s, _) = running(&m, now);
    s.set_local_discovery(now, None);
    let later = now + Duration::from_secs(600);
    assert!(
        announced(&mut s, later).is_empty(),
        "off: nothing announced"
    );
    s.set_local_discovery(later, Some(LsdConfig::default()));
    assert_eq!(announced(&mut s, later), vec![m.info_hash()]);
    s.set_local_discovery(later, None);
    let end = later + Duration::from_secs(600);
    assert!(announced(&mut s, end).is_empty(), "off again");
}
