//! Piece picker figures: picks per second for 10 000 and 100 000 pieces with 200 peers, to show
//! that the cost of a pick does not grow with the piece count. Prints, never asserts.
//!
//! `cargo bench -p sanstorrent-core --bench picker`

use std::time::{Duration, Instant};

use sanstorrent_core::Rng;
use sanstorrent_core::layout::Layout;
use sanstorrent_core::pieces::PieceSet;
use sanstorrent_core::testing::picker::{
    BLOCK_LEN, PeerKey, PeerRate, Picker, PickerConfig, Received,
};

const PEERS: u32 = 200;

fn main() {
    println!("picker: {PEERS} peers, 4 blocks per piece, pipelines of up to 64 blocks");
    for pieces in [10_000u32, 100_000] {
        run(pieces);
    }
}

fn run(pieces: u32) {
    let piece_length = 4 * BLOCK_LEN;
    let layout = Layout::new(
        piece_length,
        [(u64::from(pieces) * u64::from(piece_length), false)],
    )
    .expect("valid layout");
    let mut picker = Picker::new(&layout, PickerConfig::default(), 1);
    let mut rng = Rng::new(2);
    let epoch = Instant::now();

    // Peers hold between 5 % and 100 % of the pieces; a few are seeds.
    let setup = Instant::now();
    let mut updates = 0u64;
    for k in 0..PEERS {
        let key = PeerKey(k);
        picker.add_peer(key);
        if k % 20 == 0 {
            picker.peer_have_all(key).expect("known peer");
        } else {
            let share = 0.05 + rng.below(95) as f64 / 100.0;
            let mut set = PieceSet::new(pieces);
            for p in 0..pieces {
                if rng.chance(share) {
                    set.insert(p);
                }
            }
            updates += u64::from(set.count());
            picker
                .peer_bitfield(key, &set.to_bitfield())
                .expect("valid bitfield");
        }
        picker.peer_unchoked(epoch, key);
    }
    let setup = setup.elapsed();

    // Pick for a random peer, deliver what it asked, repeat; time only the picks.
    let mut pick_time = Duration::ZERO;
    let mut arrive_time = Duration::ZERO;
    let mut calls = 0u64;
    let mut blocks = 0u64;
    let mut first_half = (0u64, Duration::ZERO);
    let start = Instant::now();
    while !picker.is_finished() && start.elapsed() < Duration::from_secs(20) {
        let key = PeerKey(rng.below(u64::from(PEERS)) as u32);
        let rate = PeerRate {
            download_rate: rng.below(2 << 20),
            rtt: Duration::from_millis(20),
            reqq: 64,
        };
        let t = Instant::now();
        let requests = picker.pick(epoch, key, rate);
        pick_time += t.elapsed();
        calls += 1;
        blocks += requests.len() as u64;
        let t = Instant::now();
        for r in requests {
            if let Received::Accepted {
                piece_complete: true,
                ..
            } = picker.block_received(epoch, key, r)
            {
                let _ = picker.piece_passed(r.piece);
            }
        }
        arrive_time += t.elapsed();
        if first_half.0 == 0 && picker.have().count() * 2 >= pieces {
            first_half = (calls, pick_time);
        }
    }
    let per_pick = pick_time.as_nanos() as f64 / calls as f64;
    println!(
        "{pieces:>7} pieces: {:>9.0} picks/s ({per_pick:.0} ns/pick, {:.1} blocks/pick, {:.0} blocks/s picked); \
         arrivals {:.0} ns/block; setup {:.0} ns per availability update; finished: {}",
        1e9 / per_pick,
        blocks as f64 / calls as f64,
        blocks as f64 / pick_time.as_secs_f64(),
        arrive_time.as_nanos() as f64 / blocks.max(1) as f64,
        setup.as_nanos() as f64 / updates.max(1) as f64,
        picker.is_finished(),
    );
    if first_half.0 > 0 {
        let late = (pick_time - first_half.1).as_nanos() as f64 / (calls - first_half.0) as f64;
        println!(
            "{:>16} first half of the download {:.0} ns/pick, second half {late:.0} ns/pick",
            "",
            first_half.1.as_nanos() as f64 / first_half.0 as f64,
        );
    }
}
