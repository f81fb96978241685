use super::*;
use crate::bencode::{Value, decode};
use crate::id::to_hex;

/// Byte `j` of fixture file `k` (the formula of `core/tests/data/v2/gen.py`).
fn content(k: u64, n: usize) -> Vec<u8> {
    (0..n as u64)
        .map(|j| ((j.wrapping_mul(0x9E37_79B1).wrapping_add(k * 7919) >> 11) & 0xFF) as u8)
        .collect()
}

/// The fixture files, in `gen.py`'s order: (index, name, length).
const FILES: &[(u64, &str, usize)] = &[
    (0, "a_empty", 0),
    (1, "b_small", 100),
    (2, "c_block", 16384),
    (3, "d_piece", 32768),
    (4, "e_two", 40000),
    (5, "f_six", 5 * 32768 + 1),
    (6, "g_big", 300_000),
];

/// (file name, length, pieces root) of every file in a v2 fixture's file tree, and its
/// `piece layers` by root.
struct Fixture {
    files: Vec<(String, u64, Option<Hash>)>,
    layers: Vec<(Hash, Vec<Hash>)>,
    piece_length: u32,
}

fn walk(tree: &Value<'_>, out: &mut Vec<(String, u64, Option<Hash>)>) {
    for (key, value) in tree.as_dict().unwrap().entries() {
        if key.is_empty() {
            continue;
        }
        let name = String::from_utf8(key.to_vec()).unwrap();
        match value.as_dict().unwrap().get(b"") {
            Some(leaf) => {
                let leaf = leaf.as_dict().unwrap();
                let length = leaf.int(b"length").unwrap() as u64;
                let root = leaf.bytes(b"pieces root").map(|r| r.try_into().unwrap());
                out.push((name, length, root));
            }
            None => walk(value, out),
        }
    }
}

fn fixture(bytes: &[u8]) -> Fixture {
    let torrent = decode(bytes).unwrap();
    let info = torrent.get(b"info").unwrap();
    let mut files = Vec::new();
    walk(info.get(b"file tree").unwrap(), &mut files);
    let layers = torrent
        .get(b"piece layers")
        .unwrap()
        .as_dict()
        .unwrap()
        .entries()
        .iter()
        .map(|(root, layer)| {
            let layer = layer.as_bytes().unwrap();
            let hashes = layer.chunks(32).map(|c| c.try_into().unwrap()).collect();
            ((*root).try_into().unwrap(), hashes)
        })
        .collect();
    let piece_length = info.as_dict().unwrap().int(b"piece length").unwrap() as u32;
    Fixture {
        files,
        layers,
        piece_length,
    }
}

fn data_of(name: &str) -> Vec<u8> {
    let &(k, _, n) = FILES.iter().find(|f| f.1 == name).unwrap();
    content(k, n)
}

/// Recomputes every root and piece layer of a libtorrent-made torrent from the data.
fn check_fixture(bytes: &[u8], expect_files: usize) {
    let fx = fixture(bytes);
    assert_eq!(fx.files.len(), expect_files);
    let mut layers_seen = 0;
    for (name, length, root) in &fx.files {
        let data = data_of(name);
        assert_eq!(data.len() as u64, *length, "{name}");
        let hashes = file_hashes(&data, fx.piece_length).unwrap();
        assert_eq!(hashes.root, *root, "{name}: root");
        let layer = root.and_then(|r| fx.layers.iter().find(|(lr, _)| *lr == r));
        match layer {
            Some((root, layer)) => {
                layers_seen += 1;
                assert_eq!(&hashes.piece_layer, layer, "{name}: piece layer");
                assert_eq!(
                    root_from_piece_layer(layer, fx.piece_length, *length),
                    Some(*root)
                );
                let tree = MerkleTree::from_piece_layer(layer, fx.piece_length, *length).unwrap();
                assert_eq!(tree.root(), *root);
                for (i, piece) in data.chunks(fx.piece_length as usize).enumerate() {
                    let leaves = u64::from(fx.piece_length / BLOCK_SIZE);
                    assert_eq!(
                        piece_root(piece, leaves),
                        Some(layer[i]),
                        "{name} piece {i}"
                    );
                }
            }
            None => {
                // No layer: the file fits in one piece, and its single piece hashes to the root.
                assert!(
                    *length <= u64::from(fx.piece_length),
                    "{name}: layer missing"
                );
                assert!(hashes.piece_layer.is_empty());
                if let Some(root) = root {
                    assert_eq!(piece_root(&data, leaf_count(*length)), Some(*root));
                }
            }
        }
    }
    assert_eq!(
        layers_seen,
        fx.layers.len(),
        "every layer belongs to a file"
    );
}

#[test]
fn sha256_known_answer() {
    assert_eq!(
        to_hex(&sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn pad_hashes_are_trees_of_zero_leaves() {
    assert_eq!(pad_hash(0), [0u8; 32]);
    assert_eq!(pad_hash(1), hash_pair(&[0; 32], &[0; 32]));
    assert_eq!(pad_hash(3), root_of(&[[0u8; 32]], 0, 8).unwrap());
}

#[test]
fn geometry() {
    assert_eq!(block_count(0), 0);
    assert_eq!(block_count(16384), 1);
    assert_eq!(block_count(16385), 2);
    assert_eq!(leaf_count(0), 1);
    assert_eq!(leaf_count(5 * 16384 + 1), 8);
    assert_eq!(piece_height(16384), Some(0));
    assert_eq!(piece_height(4 << 20), Some(8));
    assert_eq!(piece_height(8192), None);
    assert_eq!(piece_height(3 * 16384), None);
    assert!(FileHasher::new(49152).is_none());
}

#[test]
fn roots_and_layers_match_libtorrent_multi_file() {
    check_fixture(include_bytes!("../../tests/data/v2/fx_v2.torrent"), 7);
    check_fixture(include_bytes!("../../tests/data/v2/fx_hybrid.torrent"), 7);
}

#[test]
fn roots_and_layers_match_libtorrent_16k_pieces() {
    // Piece length = block size: the piece layer is the block layer.
    check_fixture(include_bytes!("../../tests/data/v2/fx16_v2.torrent"), 7);
}

#[test]
fn roots_and_layers_match_libtorrent_single_file() {
    check_fixture(include_bytes!("../../tests/data/v2/single_v2.torrent"), 1);
}

#[test]
fn streaming_in_odd_chunks_gives_the_same_hashes() {
    let data = data_of("g_big");
    for piece_length in [16384, 32768, 65536, 1 << 20] {
        let whole = file_hashes(&data, piece_length).unwrap();
        for chunk in [1, 999, 16384, 16385, 70000] {
            let mut h = FileHasher::new(piece_length).unwrap();
            for c in data.chunks(chunk) {
                h.update(c);
            }
            assert_eq!(h.finish(), whole, "piece {piece_length} chunk {chunk}");
        }
    }
    assert_eq!(
        file_hashes(&[], 16384).unwrap(),
        FileHashes {
            root: None,
            piece_layer: Vec::new()
        }
    );
}

#[test]
fn every_block_proves_against_the_root() {
    let data = data_of("f_six");
    let root = file_hashes(&data, 32768).unwrap().root.unwrap();
    let leaves: Vec<Hash> = data.chunks(BLOCK_SIZE as usize).map(sha256).collect();
    let width = leaf_count(data.len() as u64);
    let tree = MerkleTree::new(&leaves, 0, width).unwrap();
    assert_eq!(tree.root(), root);
    assert_eq!(tree.height(), 4);
    for (i, leaf) in leaves.iter().enumerate() {
        let i = i as u64;
        let proof = tree.proof(0, i).unwrap();
        assert_eq!(proof.len(), 4);
        assert!(verify_node(&root, width, i, leaf, &proof), "block {i}");
        // A corrupt block, a wrong position, a wrong or short proof: all refused.
        let mut bad = *leaf;
        bad[7] ^= 1;
        assert!(!verify_node(&root, width, i, &bad, &proof));
        assert!(!verify_node(&root, width, i ^ 1, leaf, &proof));
        assert!(!verify_node(&root, width, i, leaf, &proof[..3]));
        let mut wrong = proof.clone();
        wrong[2][0] ^= 1;
        assert!(!verify_node(&root, width, i, leaf, &wrong));
        assert!(!verify_node(&root, width * 2, i, leaf, &proof));
    }
    // Padding leaves are zeros and prove too (a peer may send them in a run).
    assert_eq!(tree.node(0, 15), Some([0u8; 32]));
    assert_eq!(tree.node(0, 16), None);
    assert!(verify_node(
        &root,
        width,
        15,
        &[0; 32],
        &tree.proof(0, 15).unwrap()
    ));
}

#[test]
fn piece_hashes_prove_against_the_root() {
    let data = data_of("g_big");
    let fh = file_hashes(&data, 32768).unwrap();
    let root = fh.root.unwrap();
    let tree = MerkleTree::from_piece_layer(&fh.piece_layer, 32768, data.len() as u64).unwrap();
    let width = leaf_count(data.len() as u64) >> 1;
    assert_eq!(width, 16);
    for (i, hash) in fh.piece_layer.iter().enumerate() {
        let proof = tree.proof(1, i as u64).unwrap();
        assert!(verify_node(&root, width, i as u64, hash, &proof));
    }
    // Below the piece layer the tree holds nothing.
    assert_eq!(tree.proof(0, 0), None);
    assert_eq!(tree.hashes(0, 0, 2, 4), None);
}

#[test]
fn hash_runs_with_partial_and_full_proofs() {
    let data = data_of("g_big");
    let leaves: Vec<Hash> = data.chunks(BLOCK_SIZE as usize).map(sha256).collect();
    let width = leaf_count(data.len() as u64);
    let tree = MerkleTree::new(&leaves, 0, width).unwrap();
    let root = tree.root();
    let levels = width.trailing_zeros();
    for count in [1u64, 2, 4, 8, 32] {
        for index in (0..width).step_by(count as usize) {
            let all = tree.hashes(0, index, count, levels).unwrap();
            let (run, uncles) = all.split_at(count as usize);
            assert_eq!(uncles.len() as u32, levels - count.trailing_zeros());
            assert!(verify_hashes(&root, width, index, run, uncles));
            // Fewer proof layers: fewer uncles, and the run no longer reaches the root alone.
            let short = tree.hashes(0, index, count, levels - 1).unwrap();
            if count < width {
                assert_eq!(short.len(), all.len() - 1);
                let (run, uncles) = short.split_at(count as usize);
                assert!(!verify_hashes(&root, width, index, run, uncles));
            }
        }
    }
    // Malformed requests.
    assert_eq!(tree.hashes(0, 1, 2, 3), None, "unaligned");
    assert_eq!(tree.hashes(0, 0, 3, 3), None, "not a power of two");
    assert_eq!(tree.hashes(0, 0, 64, 3), None, "past the layer");
    assert_eq!(tree.hashes(0, 0, 0, 3), None, "empty");
    assert_eq!(tree.hashes(9, 0, 1, 3), None, "above the root");
    assert!(!verify_hashes(&root, width, 1, &leaves[1..3], &[]));
    assert!(!verify_hashes(&root, width, 0, &[], &[]));
    assert!(!verify_hashes(&root, 3, 0, &leaves[..1], &[]));
    assert!(!verify_hashes(&root, width, u64::MAX, &leaves[..1], &[]));
}

#[test]
fn malformed_layers_are_refused() {
    assert_eq!(root_of(&[], 0, 1), None);
    assert_eq!(root_of(&[[1; 32]; 3], 0, 2), None);
    assert_eq!(root_of(&[[1; 32]], 0, 3), None);
    assert_eq!(root_of(&[[1; 32]], 40, 1 << 20), None, "too tall");
    assert_eq!(root_of(&[[1; 32]], 0, 1), Some([1; 32]));
    let layer = [[1u8; 32]; 3];
    assert_eq!(
        root_from_piece_layer(&layer, 32768, 3 * 32768),
        Some(root_of(&layer, 1, 4).unwrap())
    );
    assert_eq!(
        root_from_piece_layer(&layer, 32768, 2 * 32768),
        None,
        "wrong count"
    );
    assert_eq!(
        root_from_piece_layer(&layer[..1], 32768, 32768),
        None,
        "one piece has no layer"
    );
    assert_eq!(root_from_piece_layer(&layer, 3 * 16384, 3 * 49152), None);
    assert_eq!(MerkleTree::new(&[], 0, 1), None);
    assert_eq!(piece_root(&[0; 16385], 1), None);
}
