//! Both runtimes against a peer that requests blocks but never reads its socket: the runtime
//! reports what its sockets wrote, so the seeder stops serving at the send backlog cap and
//! closes the peer (`SendStalled`) once nothing moves, instead of queueing blocks forever.

mod runtime_support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sanstorrent_core::id::InfoHash;
use sanstorrent_core::session::PeerCloseReason;

/// Blocks of 16 KiB in the test torrent (16 MiB).
const BLOCKS: u32 = 1024;
/// Piece length of the test torrent.
const PIECE: u32 = 256 * 1024;

/// A hostile leecher: handshakes, says it is interested, reads for a moment (to be unchoked),
/// then never reads again while it keeps 200 requests queued: every 50 ms it cancels them and
/// asks for the next 200 blocks. Runs until `stop` or until the seeder closes the socket.
fn non_reading_leecher(addr: SocketAddr, info_hash: InfoHash, stop: Arc<AtomicBool>) {
    let mut s = TcpStream::connect(addr).expect("connects");
    let mut hello = Vec::new();
    hello.push(19u8);
    hello.extend_from_slice(b"BitTorrent protocol");
    hello.extend_from_slice(&[0; 8]);
    hello.extend_from_slice(&info_hash.0);
    hello.extend_from_slice(b"-XX0001-neverreads01");
    hello.extend_from_slice(&[0, 0, 0, 1, 2]); // interested
    s.write_all(&hello).expect("handshake");
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    let _ = std::io::Read::read(&mut s, &mut buf);
    let mut next = 0u32;
    let mut queued: Vec<u32> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let mut wave = Vec::new();
        for &b in &queued {
            wave.extend_from_slice(&message(8, b));
        }
        queued.clear();
        for _ in 0..200 {
            wave.extend_from_slice(&message(6, next));
            queued.push(next);
            next = (next + 1) % BLOCKS;
        }
        if s.write_all(&wave).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `request` (6) or `cancel` (8) of block `b`.
fn message(id: u8, b: u32) -> Vec<u8> {
    let offset = b * 16384;
    let mut m = vec![0, 0, 0, 13, id];
    m.extend_from_slice(&(offset / PIECE).to_be_bytes());
    m.extend_from_slice(&(offset % PIECE).to_be_bytes());
    m.extend_from_slice(&16384u32.to_be_bytes());
    m
}

macro_rules! send_stall {
    ($name:ident, $rt:ident) => {
        #[allow(dead_code)]
        mod $name {
            use super::*;
            use crate::runtime_support::{bounded, data};
            use sanstorrent_tests::interop::WorkDir;

            crate::runtime_helpers!($rt);

            #[test]
            fn a_peer_that_never_reads_is_closed_not_buffered() {
                bounded(120, || {
                    $rt::block_on(async {
                        let work = WorkDir::new(concat!("rt-stall-", stringify!($name)));
                        let d = data(&work, "single", u64::from(BLOCKS) * 16384, PIECE, &[]);
                        let mut config = ClientConfig {
                            state_dir: Some(work.join("s-state")),
                            ..ClientConfig::loopback()
                        };
                        config.session.max_send_backlog = 1024 * 1024;
                        config.session.send_stall_timeout = Duration::from_secs(2);
                        let seed = Client::new(config).await.expect("client starts");
                        let options = TorrentOptions {
                            seed_only: true,
                            ..TorrentOptions::default()
                        };
                        let st = seed
                            .add_torrent_file(&d.torrent, &d.dir, options)
                            .await
                            .expect("seeder adds the torrent");
                        wait_seeding(&seed, st.id).await;
                        let stop = Arc::new(AtomicBool::new(false));
                        let hash = InfoHash::from_hex(&d.info_hash).expect("hex");
                        let addr = seed.listen_addr();
                        let flag = Arc::clone(&stop);
                        let hostile =
                            std::thread::spawn(move || non_reading_leecher(addr, hash, flag));
                        let started = std::time::Instant::now();
                        let reason = loop {
                            match seed.next_event().await {
                                Some(Event::PeerClosed { reason, .. }) => break reason,
                                Some(_) => {}
                                None => panic!("seeder stopped"),
                            }
                        };
                        stop.store(true, Ordering::Relaxed);
                        let uploaded = seed.stats(st.id).await.expect("runs").expect("t").uploaded;
                        eprintln!(
                            "closed after {:?} ({reason}); {uploaded} bytes handed over",
                            started.elapsed()
                        );
                        assert_eq!(reason, PeerCloseReason::SendStalled);
                        // Kernel buffers plus the cap plus one upload queue, far below what
                        // 200 requests every 50 ms would have queued.
                        assert!(uploaded < 32 * 1024 * 1024, "{uploaded} bytes queued");
                        hostile.join().expect("hostile peer thread");
                        seed.stop().await.expect("seeder stops");
                    })
                })
            }
        }
    };
}

send_stall!(smol, sanstorrent_smol);
send_stall!(tokio, sanstorrent_tokio);
