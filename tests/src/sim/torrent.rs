//! Test torrents: deterministic content and a .torrent built by hand (so padding files and
//! zero-length files can be described exactly).

use std::rc::Rc;
use std::sync::Arc;

use sanstorrent_core::bencode::Encoder;
use sanstorrent_core::create::{TorrentBuilder, TorrentFormat};
use sanstorrent_core::id::sha1_digest;
use sanstorrent_core::merkle::V2Piece;
use sanstorrent_core::metainfo::{Metainfo, RelativePath};
use sanstorrent_core::rng::Rng;
use sanstorrent_core::storage::{MemoryStorage, Storage};

/// One file of a test torrent.
#[derive(Clone, Debug)]
pub struct TestFile {
    /// Path components under the torrent's directory.
    pub path: Vec<String>,
    /// Length in bytes.
    pub len: u64,
    /// A BEP 47 padding file (zeros, never stored).
    pub padding: bool,
}

impl TestFile {
    /// A regular file.
    pub fn new(path: &str, len: u64) -> Self {
        Self {
            path: path.split('/').map(String::from).collect(),
            len,
            padding: false,
        }
    }

    /// A padding file.
    pub fn pad(len: u64) -> Self {
        Self {
            path: vec![".pad".into(), len.to_string()],
            len,
            padding: true,
        }
    }
}

/// A torrent and its content.
#[derive(Clone, Debug)]
pub struct TestTorrent {
    /// The parsed metainfo.
    pub meta: Arc<Metainfo>,
    /// Each file's bytes (zeros for padding), in metainfo order.
    pub files: Vec<Vec<u8>>,
}

impl TestTorrent {
    /// A single-file torrent of `len` random bytes (from `seed`).
    pub fn single(name: &str, len: u64, piece_length: u32, seed: u64) -> Self {
        Self::build(
            name,
            &[TestFile::new(name, len)],
            piece_length,
            seed,
            true,
            &[],
            false,
        )
    }

    /// A single-file torrent announcing to `trackers` (one tier each).
    pub fn with_trackers(
        name: &str,
        len: u64,
        piece_length: u32,
        seed: u64,
        trackers: &[&str],
    ) -> Self {
        Self::build(
            name,
            &[TestFile::new(name, len)],
            piece_length,
            seed,
            true,
            trackers,
            false,
        )
    }

    /// A private (BEP 27) single-file torrent announcing to `trackers`.
    pub fn with_trackers_private(
        name: &str,
        len: u64,
        piece_length: u32,
        seed: u64,
        trackers: &[&str],
    ) -> Self {
        let files = [TestFile::new(name, len)];
        Self::build(name, &files, piece_length, seed, true, trackers, true)
    }

    /// A single-file torrent marked `private` (BEP 27).
    pub fn single_private(name: &str, len: u64, piece_length: u32, seed: u64) -> Self {
        let files = [TestFile::new(name, len)];
        Self::build(name, &files, piece_length, seed, true, &[], true)
    }

    /// A multi-file torrent.
    pub fn multi(name: &str, files: &[TestFile], piece_length: u32, seed: u64) -> Self {
        Self::build(name, files, piece_length, seed, false, &[], false)
    }

    /// A BitTorrent v2-only multi-file torrent (BEP 52) of `(path, length)` files with random
    /// content, made by [`TorrentBuilder`]: every file starts on a piece boundary (the
    /// metainfo lists the implied padding), and pieces are checked by merkle trees.
    pub fn v2(name: &str, files: &[(&str, u64)], piece_length: u32, seed: u64) -> Self {
        Self::merkle(name, files, piece_length, seed, TorrentFormat::V2)
    }

    /// A hybrid multi-file torrent (BEP 52: v1 and v2 halves over the same files, padded to
    /// piece boundaries), made as [`TestTorrent::v2`] is.
    pub fn hybrid(name: &str, files: &[(&str, u64)], piece_length: u32, seed: u64) -> Self {
        Self::merkle(name, files, piece_length, seed, TorrentFormat::Hybrid)
    }

    fn merkle(
        name: &str,
        files: &[(&str, u64)],
        piece_length: u32,
        seed: u64,
        format: TorrentFormat,
    ) -> Self {
        let mut rng = Rng::new(seed);
        let list = files
            .iter()
            .map(|(p, n)| {
                let path = RelativePath::from_components(p.split('/')).expect("test path");
                (path, *n)
            })
            .collect();
        let b = TorrentBuilder::multi_file(name, list)
            .expect("test torrent")
            .piece_length(piece_length)
            .format(format);
        let data: Vec<Vec<u8>> = b
            .files()
            .iter()
            .map(|(_, n)| {
                let mut v = vec![0u8; *n as usize];
                rng.fill(&mut v);
                v
            })
            .collect();
        let layout = b.layout().expect("test layout");
        let contents: Vec<Vec<u8>> = b
            .layout_files()
            .iter()
            .zip(layout.files())
            .map(|(which, extent)| match which {
                Some(i) => data[*i].clone(),
                None => vec![0u8; extent.length as usize],
            })
            .collect();
        let stream: Vec<u8> = contents.iter().flatten().copied().collect();
        let pl = piece_length as usize;
        let digests: Vec<_> = (0..layout.piece_count())
            .map(|p| {
                let start = p as usize * pl;
                let piece = &stream[start..start + layout.piece_len(p) as usize];
                V2Piece::of(&layout, p)
                    .and_then(|at| at.digest(piece))
                    .expect("v2 piece")
            })
            .collect();
        let sha1: Vec<[u8; 20]> = (0..layout.piece_count())
            .map(|p| {
                let start = p as usize * pl;
                sha1_digest(&stream[start..start + layout.piece_len(p) as usize])
            })
            .collect();
        let bytes = b.build_with(&sha1, &digests).expect("v2 torrent");
        let meta = Metainfo::from_bytes(&bytes).expect("test torrent parses");
        assert_eq!(
            meta.layout(),
            &layout,
            "the parser lays the files out alike"
        );
        Self {
            meta: Arc::new(meta),
            files: contents,
        }
    }

    /// A storage holding the whole content (a seeder's disk).
    pub fn storage(&self) -> Rc<MemoryStorage> {
        let s = MemoryStorage::new(self.meta.layout().clone());
        for (f, bytes) in self.files.iter().enumerate() {
            if !self.meta.files()[f].padding && !bytes.is_empty() {
                s.write_file(f, 0, bytes).expect("memory write");
            }
        }
        Rc::new(s)
    }

    /// A storage holding only the pieces for which `keep` is true (a partial download).
    pub fn partial_storage(&self, keep: impl Fn(u32) -> bool) -> Rc<MemoryStorage> {
        let layout = self.meta.layout();
        let s = MemoryStorage::new(layout.clone());
        let stream: Vec<u8> = self.files.iter().flatten().copied().collect();
        let plen = u64::from(layout.piece_len(0));
        for p in (0..layout.piece_count()).filter(|p| keep(*p)) {
            let start = (u64::from(p) * plen) as usize;
            let end = start + layout.piece_len(p) as usize;
            s.write(p, 0, &stream[start..end]).expect("memory write");
        }
        Rc::new(s)
    }

    fn build(
        name: &str,
        files: &[TestFile],
        piece_length: u32,
        seed: u64,
        single: bool,
        trackers: &[&str],
        private: bool,
    ) -> Self {
        let mut rng = Rng::new(seed);
        let contents: Vec<Vec<u8>> = files
            .iter()
            .map(|f| {
                let mut v = vec![0u8; f.len as usize];
                if !f.padding {
                    rng.fill(&mut v);
                }
                v
            })
            .collect();
        let stream: Vec<u8> = contents.iter().flatten().copied().collect();
        let mut pieces = Vec::new();
        for chunk in stream.chunks(piece_length as usize) {
            pieces.extend_from_slice(&sha1_digest(chunk));
        }
        let mut e = Encoder::new();
        e.dict();
        if let Some(first) = trackers.first() {
            e.bytes(b"announce").bytes(first.as_bytes());
            e.bytes(b"announce-list").list();
            for t in trackers {
                e.list();
                e.bytes(t.as_bytes());
                e.end();
            }
            e.end();
        }
        e.bytes(b"info").dict();
        if single {
            e.bytes(b"length").int(files[0].len as i64);
        } else {
            e.bytes(b"files").list();
            for f in files {
                e.dict();
                if f.padding {
                    e.bytes(b"attr").bytes(b"p");
                }
                e.bytes(b"length").int(f.len as i64);
                e.bytes(b"path").list();
                for c in &f.path {
                    e.bytes(c.as_bytes());
                }
                e.end();
                e.end();
            }
            e.end();
        }
        e.bytes(b"name").bytes(name.as_bytes());
        e.bytes(b"piece length").int(i64::from(piece_length));
        e.bytes(b"pieces").bytes(&pieces);
        if private {
            e.bytes(b"private").int(1);
        }
        e.end();
        e.end();
        let meta = Metainfo::from_bytes(&e.finish()).expect("test torrent parses");
        Self {
            meta: Arc::new(meta),
            files: contents,
        }
    }
}

/// Torrent number `i`'s made-up info-hash: distinct for every `i`, spread over the hash space
/// (for tests that add thousands of torrents by magnet link).
pub fn numbered_info_hash(i: usize) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    h[8..16].copy_from_slice(&(i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    h
}

/// The magnet link of torrent number `i` (see [`numbered_info_hash`]), with tracker `tracker`
/// if given.
pub fn numbered_magnet(i: usize, tracker: Option<&str>) -> String {
    let hex: String = numbered_info_hash(i)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect();
    match tracker {
        Some(url) => format!("magnet:?xt=urn:btih:{hex}&tr={url}"),
        None => format!("magnet:?xt=urn:btih:{hex}"),
    }
}
