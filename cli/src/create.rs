//! `sanstorrent create`: walk a file or directory, hash it on every core, write the .torrent.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sanstorrent_core::create::{TorrentBuilder, TorrentFormat};
use sanstorrent_core::id::sha1_digest;
use sanstorrent_core::layout::Layout;
use sanstorrent_core::merkle::{Hash, V2Piece};
use sanstorrent_core::metainfo::{Metainfo, RelativePath};

use crate::args::CreateArgs;
use crate::fmt::size;
use crate::hash::digest_pieces;

/// Most files a directory may hold (a guard against walking something huge by mistake).
const MAX_FILES: usize = 1_000_000;

/// Creates the torrent; the error is a one-line reason.
pub(crate) fn run(args: &CreateArgs) -> Result<(), String> {
    let started = Instant::now();
    let root = &args.path;
    let meta = fs::metadata(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let name = torrent_name(root)?;
    let (builder, mut paths) = if meta.is_file() {
        let b = TorrentBuilder::single_file(&name, meta.len())
            .map_err(|e| format!("{}: {e}", root.display()))?;
        (b, HashMap::from([(None, root.clone())]))
    } else {
        let mut found = Vec::new();
        walk(root, &mut Vec::new(), &mut found)?;
        found.sort_by(|a, b| a.0.cmp(&b.0));
        let paths = found
            .iter()
            .map(|(rel, p, _)| (Some(rel.clone()), p.clone()))
            .collect();
        let files = found.into_iter().map(|(rel, _, len)| (rel, len)).collect();
        let b = TorrentBuilder::multi_file(&name, files)
            .map_err(|e| format!("{}: {e}", root.display()))?;
        (b, paths)
    };
    let format = TorrentFormat::from(args.format);
    let mut builder = builder
        .format(format)
        .private(args.private)
        .created_by(format!("sanstorrent/{}", env!("CARGO_PKG_VERSION")));
    for url in &args.trackers {
        builder = builder.tracker_tier(vec![url.clone()]);
    }
    if let Some(pl) = args.piece_length {
        builder = builder.piece_length(pl);
    }
    if let Some(c) = &args.comment {
        builder = builder.comment(c.clone());
    }
    for url in &args.web_seeds {
        builder = builder.web_seed(url.clone());
    }
    for url in &args.http_seeds {
        builder = builder.http_seed(url.clone());
    }
    if let Ok(now) = SystemTime::now().duration_since(UNIX_EPOCH) {
        builder = builder.creation_date(i64::try_from(now.as_secs()).unwrap_or(i64::MAX));
    }
    let layout = builder.layout().map_err(|e| e.to_string())?;
    // The builder's files in its order (v2 sorts them), then the layout's (padding: None).
    let opened = builder
        .files()
        .iter()
        .map(|(rel, _)| {
            let p = paths
                .remove(rel)
                .ok_or("a file went missing from the list")?;
            File::open(&p).map_err(|e| format!("{}: {e}", p.display()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let files: Vec<Option<&File>> = builder
        .layout_files()
        .into_iter()
        .map(|i| i.and_then(|i| opened.get(i)))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let hash_start = Instant::now();
    let digests = digest_pieces(&files, &layout, threads, |piece, bytes| {
        digest(format, &layout, piece, bytes)
    })
    .map_err(|e| format!("{}: {e}", root.display()))?;
    let hash_secs = hash_start.elapsed().as_secs_f64();
    let (sha1, v2): (Vec<[u8; 20]>, Vec<Hash>) = digests.into_iter().unzip();
    let bytes = builder.build_with(&sha1, &v2).map_err(|e| e.to_string())?;
    let m =
        Metainfo::from_bytes(&bytes).map_err(|e| format!("created torrent does not parse: {e}"))?;
    fs::write(&args.output, &bytes).map_err(|e| format!("{}: {e}", args.output.display()))?;
    let total = layout.total_length();
    let mut o = String::new();
    let _ = writeln!(o, "created:       {}", args.output.display());
    let _ = writeln!(o, "name:          {}", m.name());
    let _ = writeln!(o, "info-hash:     {}", m.info_hash().to_hex());
    if let Some(v2) = m.info_hashes().v2 {
        let _ = writeln!(o, "info-hash v2:  {}", v2.to_hex());
    }
    let _ = writeln!(o, "files:         {}", m.files().len());
    let _ = writeln!(o, "total size:    {total} ({})", size(total));
    let _ = writeln!(
        o,
        "piece size:    {} ({})",
        m.piece_length(),
        size(u64::from(m.piece_length()))
    );
    let _ = writeln!(o, "piece count:   {}", m.piece_count());
    let _ = writeln!(
        o,
        "hashed:        {:.1} MB/s on {threads} threads ({:.2} s, {:.2} s in all)",
        total as f64 / 1e6 / hash_secs.max(1e-9),
        hash_secs,
        started.elapsed().as_secs_f64()
    );
    crate::fmt::emit(&o);
    Ok(())
}

/// A piece's SHA-1 (v1, hybrid) and merkle digest (v2, hybrid); zeros for the half the
/// format lacks.
fn digest(format: TorrentFormat, layout: &Layout, piece: u32, bytes: &[u8]) -> ([u8; 20], Hash) {
    let sha1 = if format.has_v1() {
        sha1_digest(bytes)
    } else {
        [0; 20]
    };
    let v2 = if format.has_v2() {
        V2Piece::of(layout, piece)
            .and_then(|g| g.digest(bytes))
            .unwrap_or_default()
    } else {
        [0; 32]
    };
    (sha1, v2)
}

/// The torrent's name: the last component of the path (after resolving `.` and `..`).
fn torrent_name(root: &Path) -> Result<String, String> {
    let resolved = fs::canonicalize(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let name = resolved
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            format!(
                "{}: has no UTF-8 file name to name the torrent",
                root.display()
            )
        })?;
    RelativePath::from_components([name]).map_err(|e| format!("{}: {e}", root.display()))?;
    Ok(name.to_owned())
}

/// Collects the regular files under `dir` (symbolic links to files are followed, to
/// directories are not, so a link loop cannot trap the walk).
fn walk(
    dir: &Path,
    prefix: &mut Vec<String>,
    out: &mut Vec<(RelativePath, PathBuf, u64)>,
) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = entry.path();
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| format!("{}: file name is not UTF-8", path.display()))?;
        let kind = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        prefix.push(name);
        if kind.is_dir() {
            walk(&path, prefix, out)?;
        } else {
            let meta = fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if meta.is_file() {
                let rel = RelativePath::from_components(prefix.iter())
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                if out.len() >= MAX_FILES {
                    return Err(format!("{}: more than {MAX_FILES} files", dir.display()));
                }
                out.push((rel, path, meta.len()));
            }
        }
        prefix.pop();
    }
    Ok(())
}
