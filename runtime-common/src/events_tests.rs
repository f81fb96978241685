use std::net::SocketAddr;
use std::sync::Arc;

use sanstorrent_core::id::InfoHash;
use sanstorrent_core::session::{
    Event, PeerCloseReason, SessionError, TorrentId, TorrentPhase, TorrentStats,
};
use sanstorrent_core::storage::{IoOp, StorageError};

use super::*;

fn peer_closed(n: u16) -> Event {
    Event::PeerClosed {
        torrent: Some(TorrentId(1)),
        addr: SocketAddr::from(([10, 0, 0, 1], n)),
        reason: PeerCloseReason::Evicted,
    }
}

fn stats(torrent: u32, uploaded: u64) -> Event {
    let stats = TorrentStats {
        phase: TorrentPhase::Downloading,
        info_hash: InfoHash([0; 20]),
        info_hash_v2: None,
        total_bytes: 0,
        wanted_bytes: 0,
        have_bytes: 0,
        wanted_have_bytes: 0,
        downloaded: 0,
        uploaded,
        download_rate: 0,
        upload_rate: 0,
        peers_connected: 0,
        peers_connecting: 0,
        peers_known: 0,
        seeds_connected: 0,
        pieces_have: 0,
        piece_count: 0,
        pieces_checked: 0,
        hash_failures: 0,
        swarm: None,
    };
    Event::Stats {
        torrent: TorrentId(torrent),
        stats,
    }
}

fn data_missing(piece: u32) -> Event {
    Event::Error {
        torrent: Some(TorrentId(1)),
        error: SessionError::DataMissing {
            piece,
            error: Arc::new(StorageError::Io {
                op: IoOp::Read,
                path: "gone.bin".into(),
                error: std::io::Error::from(std::io::ErrorKind::NotFound),
            }),
        },
    }
}

fn drain(rx: &EventReceiver) -> Vec<Event> {
    let mut out = Vec::new();
    while let Some(Some(e)) = rx.try_recv() {
        out.push(e);
    }
    out
}

fn uploaded(e: &Event) -> Option<(u32, u64)> {
    match e {
        Event::Stats { torrent, stats } => Some((torrent.0, stats.uploaded)),
        _ => None,
    }
}

#[test]
fn a_prompt_reader_gets_every_event_in_order() {
    let (tx, rx) = event_queue(4);
    tx.send(peer_closed(1));
    tx.send(Event::TorrentComplete {
        torrent: TorrentId(1),
    });
    tx.send(peer_closed(2));
    tx.send(stats(1, 5));
    let got = drain(&rx);
    assert_eq!(got.len(), 4);
    assert!(matches!(got[0], Event::PeerClosed { .. }));
    assert!(matches!(got[1], Event::TorrentComplete { .. }));
    assert!(matches!(got[2], Event::PeerClosed { .. }));
    assert_eq!(uploaded(&got[3]), Some((1, 5)));
    assert_eq!(rx.dropped(), 0);
    assert!(rx.try_recv().is_none(), "empty, not closed");
}

#[test]
fn a_flood_of_peer_events_stays_bounded_and_loses_no_state_change() {
    let (tx, rx) = event_queue(100);
    for round in 0..1_000u32 {
        for n in 0..50 {
            tx.send(peer_closed(n));
        }
        tx.send(stats(1, u64::from(round)));
        tx.send(stats(2, u64::from(round) * 2));
        if round % 100 == 0 {
            tx.send(data_missing(round));
        }
    }
    tx.send(Event::TorrentStopped {
        torrent: TorrentId(1),
    });
    let state = rx.shared.lock();
    let queued = state.len();
    drop(state);
    // 100 peer events, one Stats per torrent, 10 errors, the stop.
    assert_eq!(queued, 100 + 2 + 10 + 1, "bounded whatever was sent");
    assert_eq!(rx.dropped(), 50_000 - 100);
    let got = drain(&rx);
    let missing: Vec<u32> = got
        .iter()
        .filter_map(|e| match e {
            Event::Error {
                error: SessionError::DataMissing { piece, .. },
                ..
            } => Some(*piece),
            _ => None,
        })
        .collect();
    assert_eq!(missing, (0..10).map(|k| k * 100).collect::<Vec<_>>());
    let latest: Vec<(u32, u64)> = got.iter().filter_map(uploaded).collect();
    assert_eq!(
        latest,
        vec![(1, 999), (2, 1998)],
        "the newest Stats, in place"
    );
    assert!(matches!(got.last(), Some(Event::TorrentStopped { .. })));
    // The peer events kept are the newest, in order.
    let ports: Vec<u16> = got
        .iter()
        .filter_map(|e| match e {
            Event::PeerClosed { addr, .. } => Some(addr.port()),
            _ => None,
        })
        .collect();
    assert_eq!(
        ports,
        [(0..50).collect::<Vec<u16>>(), (0..50).collect()].concat()
    );
}

#[test]
fn a_read_stats_is_not_replaced_and_order_holds_around_coalescing() {
    let (tx, rx) = event_queue(8);
    tx.send(stats(1, 1));
    tx.send(Event::TorrentComplete {
        torrent: TorrentId(1),
    });
    tx.send(stats(1, 2));
    // Coalesced in place: before the completion, with the newest figures.
    let got = drain(&rx);
    assert_eq!(got.len(), 2);
    assert_eq!(uploaded(&got[0]), Some((1, 2)));
    tx.send(stats(1, 3));
    let got = drain(&rx);
    assert_eq!(got.len(), 1, "read ones are not replaced: a new one queues");
    assert_eq!(uploaded(&got[0]), Some((1, 3)));
}

#[test]
fn closing_delivers_what_is_queued_then_ends() {
    let (tx, rx) = event_queue(8);
    tx.send(Event::ShutdownComplete);
    tx.close();
    tx.send(peer_closed(1));
    assert!(matches!(rx.try_recv(), Some(Some(Event::ShutdownComplete))));
    assert!(matches!(rx.try_recv(), Some(None)));
}

#[test]
fn a_waiting_reader_wakes_for_each_event_and_at_the_close() {
    let (tx, rx) = event_queue(8);
    let reader = std::thread::spawn(move || {
        futures_lite::future::block_on(async {
            let mut n = 0;
            while rx.recv().await.is_some() {
                n += 1;
            }
            n
        })
    });
    for k in 0..20 {
        tx.send(peer_closed(k));
        tx.send(data_missing(u32::from(k)));
        if k % 5 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
    tx.close();
    let n = reader.join().expect("the reader");
    assert!(
        (20..=40).contains(&n),
        "{n} events (every error, some peer events)"
    );
}

#[test]
fn an_emptied_queue_gives_back_the_room_a_burst_took() {
    let (tx, rx) = event_queue(100);
    for t in 0..10_000u32 {
        tx.send(Event::TorrentComplete {
            torrent: TorrentId(t),
        });
        tx.send(stats(t, 1));
    }
    assert!(rx.shared.lock().kept.capacity() >= 20_000);
    assert_eq!(drain(&rx).len(), 20_000);
    let state = rx.shared.lock();
    assert!(
        state.kept.capacity() <= KEPT_ROOM,
        "{}",
        state.kept.capacity()
    );
    assert!(state.coalesced.capacity() <= 2 * KEPT_ROOM);
}
