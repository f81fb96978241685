use std::time::{Duration, Instant};

use super::*;
use crate::merkle::sha256;

fn leaves(n: u32) -> Vec<Hash> {
    (0..n).map(|i| sha256(&i.to_be_bytes())).collect()
}

fn failed(piece: u32, digests: Vec<Hash>, node: Hash, senders: Vec<ConnId>) -> FailedPiece {
    FailedPiece {
        piece,
        request: HashRequest {
            pieces_root: [9; 32],
            base_layer: 0,
            index: piece * 4,
            length: 4,
            proof_layers: 0,
        },
        node,
        digests,
        senders,
    }
}

#[test]
fn the_blocks_unlike_their_proven_leaves_are_the_bad_ones() {
    let now = Instant::now();
    let good = leaves(4);
    let node = root_of(&good, 0, 4).unwrap();
    let mut stored = good.clone();
    stored[2] = [7; 32];
    let mut checks = LeafChecks::default();
    let (a, b, c) = (ConnId(1), ConnId(2), ConnId(3));
    assert!(checks.start(failed(3, stored, node, vec![a])));
    // Non-senders first.
    let (asks, gone) = checks.requests(now, &[(a, true), (b, true)]);
    assert_eq!(asks.len(), 1);
    assert_eq!(asks[0].0, b);
    assert!(gone.is_empty());
    let request = asks[0].1;
    // Asked already: nothing more to send.
    assert!(
        checks
            .requests(now, &[(a, true), (b, true), (c, true)])
            .0
            .is_empty()
    );
    // Hashes that do not prove name their sender; the piece goes to another peer.
    let mut wrong = good.clone();
    wrong[2] = [7; 32];
    let bytes: Vec<u8> = wrong.concat();
    assert_eq!(
        checks.answered(b, &request, &bytes),
        Some((3, Err(BadHashes)))
    );
    let (asks, _) = checks.requests(now, &[(a, true), (b, true), (c, true)]);
    assert_eq!(asks[0].0, c);
    // Too few hashes do not prove either.
    assert_eq!(
        checks.answered(c, &request, &good[..3].concat()),
        Some((3, Err(BadHashes)))
    );
    let (asks, _) = checks.requests(now, &[(a, true), (b, true), (c, true)]);
    assert_eq!(asks[0].0, a, "the sender is asked last");
    assert_eq!(
        checks.answered(a, &request, &good.concat()),
        Some((3, Ok(Verdict::Bad(vec![2]))))
    );
    assert!(checks.is_empty());
    assert_eq!(checks.answered(a, &request, &good.concat()), None);
}

#[test]
fn refusals_timeouts_and_closes_pass_the_piece_on_until_it_is_given_up() {
    let now = Instant::now();
    let good = leaves(4);
    let node = root_of(&good, 0, 4).unwrap();
    let mut checks = LeafChecks::default();
    let (a, b, c) = (ConnId(1), ConnId(2), ConnId(3));
    assert!(checks.start(failed(0, good.clone(), node, Vec::new())));
    assert!(!checks.start(failed(0, good.clone(), node, Vec::new())));
    let (asks, _) = checks.requests(now, &[(a, true), (b, true)]);
    let request = asks[0].1;
    assert_eq!(asks[0].0, a);
    assert_eq!(checks.poll_timeout(), Some(now + ANSWER_TIMEOUT));
    checks.handle_timeout(now + ANSWER_TIMEOUT - Duration::from_millis(1));
    let (asks, _) = checks.requests(now, &[(a, true), (b, true)]);
    assert!(asks.is_empty(), "not late yet");
    checks.handle_timeout(now + ANSWER_TIMEOUT);
    let (asks, _) = checks.requests(now, &[(a, true), (b, true)]);
    assert_eq!(asks[0].0, b, "a timed out");
    checks.peer_gone(b);
    let (asks, _) = checks.requests(now, &[(a, true), (c, false)]);
    assert_eq!(asks[0].0, c, "b is gone");
    checks.rejected(c, &request);
    let (asks, gone) = checks.requests(now, &[(a, true), (c, false)]);
    assert!(asks.is_empty());
    assert_eq!(gone, vec![(0, good.clone())], "every peer refused");
    assert!(checks.is_empty());
    // Every block matching its leaf: nothing to blame.
    assert!(checks.start(failed(1, good.clone(), node, Vec::new())));
    let mut r = checks.requests(now, &[(a, true)]).0[0].1;
    assert_eq!(
        checks.answered(a, &r, &good.concat()),
        Some((1, Ok(Verdict::NoneBad)))
    );
    // No peer at all: given up at once; at most MAX_PENDING wait.
    assert!(checks.start(failed(2, good.clone(), node, Vec::new())));
    assert_eq!(checks.requests(now, &[]).1.len(), 1);
    for p in 0..MAX_PENDING as u32 {
        assert!(checks.start(failed(10 + p, good.clone(), node, Vec::new())));
    }
    assert!(!checks.start(failed(5, good.clone(), node, Vec::new())));
    r.index = 99;
    assert_eq!(checks.answered(a, &r, &good.concat()), None, "not ours");
}
