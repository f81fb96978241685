//! Wire codec throughput for a stream of 16 KiB `piece` messages: decode (zero-copy split of
//! the receive buffer), the connection's whole receive path (copy into its buffer, decode,
//! request bookkeeping), and encode (copying, and header-only with the block shared).
//!
//! `cargo bench -p sanstorrent-core --bench wire`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use sanstorrent_core::pieces::BlockRef;
use sanstorrent_core::wire::message::encode_piece_header;
use sanstorrent_core::wire::{
    Config, Connection, Decoder, Event, Handshake, Message, PieceCount, PieceGeometry, Reserved,
    TorrentParams,
};
use sanstorrent_core::{InfoHash, PeerId, Rng};

const BLOCK: usize = 16 * 1024;
const PIECE_LEN: u32 = 256 * 1024;
const MESSAGES: usize = 4096; // 64 MiB per round
const ROUNDS: usize = 8;

fn main() {
    let mut block = vec![0u8; BLOCK];
    Rng::new(1).fill(&mut block);
    let block = Bytes::from(block);
    let blocks_per_piece = PIECE_LEN as usize / BLOCK;
    let refs: Vec<BlockRef> = (0..MESSAGES)
        .map(|i| {
            BlockRef::new(
                (i / blocks_per_piece) as u32,
                ((i % blocks_per_piece) * BLOCK) as u32,
                BLOCK as u32,
            )
        })
        .collect();
    let mut stream = BytesMut::with_capacity(MESSAGES * (BLOCK + 13));
    for r in &refs {
        Message::Piece {
            piece: r.piece,
            offset: r.offset,
            data: block.clone(),
        }
        .encode(&mut stream);
    }
    let stream = stream.freeze();
    let bytes = stream.len() as f64;
    println!(
        "wire bench: {MESSAGES} piece messages of {BLOCK} bytes ({:.0} MiB) per round, best of {ROUNDS}",
        bytes / (1 << 20) as f64
    );

    // 1. Decoder alone: whole messages taken off a filled receive buffer.
    let dec = Decoder::new(PieceCount::Known(1 << 20));
    let best = best_of(|| {
        let mut buf = BytesMut::from(&stream[..]);
        let start = Instant::now();
        let mut n = 0usize;
        while let Ok(Some(m)) = dec.decode(&mut buf) {
            if let Message::Piece { data, .. } = m {
                n += data.len();
            }
            black_box(&n);
        }
        let t = start.elapsed();
        assert_eq!(n, MESSAGES * BLOCK);
        t
    });
    report("decode (split_to + freeze, no copy)", bytes, best);
    println!(
        "{:<52} {:>7.1} ns per message",
        "",
        best.as_secs_f64() * 1e9 / MESSAGES as f64
    );

    // 2. The connection's receive path: 64 KiB reads copied into its buffer, decoded, matched
    //    against requests (250 in flight), reported as events.
    let geometry = PieceGeometry::new(PIECE_LEN, (MESSAGES * BLOCK) as u64).expect("geometry");
    let best = best_of(|| {
        let now = Instant::now();
        let mut conn = established(now, geometry);
        let start = Instant::now();
        let mut fed = 0usize;
        let mut received = 0usize;
        for window in refs.chunks(250) {
            for r in window {
                conn.request(now, *r).expect("request slot");
            }
            while conn.poll_transmit().is_some() {}
            let len = window.len() * (BLOCK + 13);
            for chunk in stream[fed..fed + len].chunks(64 * 1024) {
                conn.handle_input(now, chunk);
                while let Some(e) = conn.poll_event() {
                    if let Event::BlockReceived { data, .. } = e {
                        received += data.len();
                    }
                }
            }
            fed += len;
        }
        let t = start.elapsed();
        assert_eq!(received, MESSAGES * BLOCK);
        t
    });
    report(
        "connection receive (copy + decode + bookkeeping)",
        bytes,
        best,
    );

    // 3a. Encoding with a copy of each block into a send buffer, drained (cleared) every
    //     1 MiB as a socket write would.
    let best = best_of(|| {
        let mut out = BytesMut::with_capacity(1 << 20);
        let mut total = 0;
        let start = Instant::now();
        for r in &refs {
            if out.len() + BLOCK + 17 > 1 << 20 {
                total += out.len();
                black_box(&out[..]);
                out.clear();
            }
            Message::Piece {
                piece: r.piece,
                offset: r.offset,
                data: block.clone(),
            }
            .encode(&mut out);
        }
        let t = start.elapsed();
        assert_eq!(total + out.len(), stream.len());
        t
    });
    report(
        "encode (block copied into a 1 MiB send buffer)",
        bytes,
        best,
    );

    // 3b. Zero-copy framing: 13-byte header written, block shared (what send_block does).
    let best = best_of(|| {
        let mut headers = BytesMut::with_capacity(MESSAGES * 13);
        let mut chunks = Vec::with_capacity(MESSAGES * 2);
        let start = Instant::now();
        for r in &refs {
            encode_piece_header(r.piece, r.offset, BLOCK as u32, &mut headers);
            chunks.push(headers.split().freeze());
            chunks.push(block.clone());
        }
        let t = start.elapsed();
        black_box(chunks);
        t
    });
    report("encode (header only, block shared)", bytes, best);
}

fn established(now: Instant, geometry: PieceGeometry) -> Connection {
    let config = Arc::new(Config::new(PeerId::generate(&mut Rng::new(5))));
    let mut conn = Connection::outbound(
        now,
        config,
        Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        TorrentParams {
            info_hash: InfoHash([1; 20]),
            geometry: Some(geometry),
            our_pieces: None,
            metadata_size: None,
            v2: None,
        },
    )
    .expect("outbound");
    let peer = Handshake {
        reserved: Reserved::FAST,
        info_hash: InfoHash([1; 20]),
        peer_id: PeerId([2; 20]),
    };
    let mut opening = peer.to_bytes().to_vec();
    Message::HaveAll.encode(&mut opening);
    Message::Unchoke.encode(&mut opening);
    conn.handle_input(now, &opening);
    while conn.poll_transmit().is_some() {}
    while conn.poll_event().is_some() {}
    conn
}

fn best_of(mut f: impl FnMut() -> Duration) -> Duration {
    (0..ROUNDS).map(|_| f()).min().expect("ROUNDS > 0")
}

fn report(name: &str, bytes: f64, t: Duration) {
    println!(
        "{name:<52} {:>7.2} GB/s  ({:.2} ms per 64 MiB)",
        bytes / t.as_secs_f64() / 1e9,
        t.as_secs_f64() * 1e3
    );
}
