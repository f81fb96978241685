//! Test torrents: deterministic content and a .torrent built by hand (so padding files and
//! zero-length files can be described exactly).

use std::sync::Arc;

use sanstorrent_core::bencode::Encoder;
use sanstorrent_core::id::sha1_digest;
use sanstorrent_core::metainfo::Metainfo;
use sanstorrent_core::rng::Rng;

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
            false,
        )
    }

    /// A single-file torrent marked `private` (BEP 27).
    pub fn single_private(name: &str, len: u64, piece_length: u32, seed: u64) -> Self {
        Self::build(
            name,
            &[TestFile::new(name, len)],
            piece_length,
            seed,
            true,
            true,
        )
    }

    /// A multi-file torrent.
    pub fn multi(name: &str, files: &[TestFile], piece_length: u32, seed: u64) -> Self {
        Self::build(name, files, piece_length, seed, false, false)
    }

    fn build(
        name: &str,
        files: &[TestFile],
        piece_length: u32,
        seed: u64,
        single: bool,
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
