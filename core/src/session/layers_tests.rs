//! The piece-layer fetch against answers from a tree, wrong answers, refusals and timeouts.

use std::time::Instant;

use super::*;
use crate::merkle::MerkleTree;
use crate::merkle::exchange::answer;

fn fixture() -> (Metainfo, Metainfo) {
    let full = Metainfo::from_bytes(include_bytes!("../../tests/data/v2/fx_v2.torrent")).unwrap();
    let bare = Metainfo::from_info_bytes(full.info_bytes()).unwrap();
    (full, bare)
}

/// What a seeder holding `full` sends for `request`, as bytes.
fn serve(full: &Metainfo, request: &HashRequest) -> Option<Vec<u8>> {
    let (_, layer) = full
        .piece_layers()
        .find(|(root, _)| **root == request.pieces_root)?;
    let length = (0..full.files().len())
        .find(|&i| full.pieces_root(i) == Some(&request.pieces_root))
        .map(|i| full.files()[i].length)?;
    let tree = MerkleTree::from_piece_layer(layer, full.piece_length(), length)?;
    let hashes = answer(
        &tree,
        request.base_layer,
        request.index,
        request.length,
        request.proof_layers,
    )?;
    Some(hashes.concat())
}

#[test]
fn layers_fetched_from_peers_complete_the_metainfo() {
    let (full, bare) = fixture();
    assert!(!bare.has_all_piece_layers());
    let now = Instant::now();
    let mut fetch = LayerFetch::new(bare).unwrap();
    let (a, b) = (ConnId(1), ConnId(2));
    // Three files are longer than one piece (d_piece is exactly one): e_two, f_six, g_big.
    let first = fetch.requests_for(now, a, 0);
    assert_eq!(first.len(), PER_PEER);
    let second = fetch.requests_for(now, b, 0);
    assert_eq!(second.len(), 1);
    assert!(
        fetch.requests_for(now, a, 0).is_empty(),
        "a has two in flight"
    );
    // b refuses; a answers one right and one wrong.
    fetch.rejected(b, &second[0]);
    fetch
        .answered(&first[0], &serve(&full, &first[0]).unwrap())
        .unwrap();
    let mut wrong = serve(&full, &first[1]).unwrap();
    wrong[5] ^= 1;
    assert_eq!(fetch.answered(&first[1], &wrong), Err(BadHashes));
    fetch.peer_gone(a);
    assert!(!fetch.is_complete());
    // b is not asked again for what it refused; a third peer gets the rest.
    let again = fetch.requests_for(now, b, 0);
    assert!(again.iter().all(|r| *r != second[0]));
    let c = ConnId(3);
    let mut left: Vec<HashRequest> = again.clone();
    left.extend(fetch.requests_for(now, c, 0));
    for r in &left {
        fetch.answered(r, &serve(&full, r).unwrap()).unwrap();
    }
    let rest = fetch.requests_for(now, c, 0);
    for r in &rest {
        fetch.answered(r, &serve(&full, r).unwrap()).unwrap();
    }
    assert!(fetch.is_complete(), "left {left:?} rest {rest:?}");
    let meta = fetch.into_meta();
    assert!(meta.has_all_piece_layers());
    for i in 0..full.files().len() {
        assert_eq!(meta.piece_layer(i), full.piece_layer(i), "file {i}");
    }
    for piece in 0..full.piece_count() {
        assert!(meta.expected_hash(piece).is_some());
        assert_eq!(meta.expected_hash(piece), full.expected_hash(piece));
    }
}

#[test]
fn silent_peers_time_out_and_stuck_refusals_start_over() {
    let (_, bare) = fixture();
    let now = Instant::now();
    let mut fetch = LayerFetch::new(bare).unwrap();
    let a = ConnId(1);
    let asked = fetch.requests_for(now, a, 0);
    assert_eq!(fetch.poll_timeout(), Some(now + ANSWER_TIMEOUT));
    fetch.handle_timeout(now + ANSWER_TIMEOUT);
    assert_eq!(fetch.poll_timeout(), None);
    // a timed out on those runs: it gets the third, not them again.
    let next = fetch.requests_for(now, a, 0);
    assert!(next.iter().all(|r| !asked.contains(r)));
    fetch.rejected(a, &next[0]);
    assert!(fetch.requests_for(now, a, 0).is_empty());
    fetch.retry_if_stuck(&[a]);
    assert_eq!(fetch.requests_for(now, a, 0).len(), PER_PEER);
}

#[test]
fn a_metainfo_with_its_layers_needs_no_fetch() {
    let (full, _) = fixture();
    assert!(LayerFetch::new(full).is_none());
}
