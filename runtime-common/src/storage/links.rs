//! BEP 47 symbolic links on disk, and the rule that a torrent's bytes never go through a link
//! that leads outside its download directory.
//!
//! A link is created only for a file core marked as one (its target resolved to a file or
//! directory of the same torrent), and only if that target is still one of the storage's own
//! paths: it is written relative to the link's directory, so it points inside the torrent
//! wherever the download directory is. Anything else stays a plain empty file.
//!
//! Data files are opened without following a link at their own path (`O_NOFOLLOW`), and the
//! directories above them must resolve inside the download directory: a link planted there
//! (by another program, or by hand) is refused with [`StorageError::UnsafeLink`], never
//! written or read through.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use sanstorrent_core::layout::Layout;
use sanstorrent_core::metainfo::RelativePath;
use sanstorrent_core::storage::{IoOp, StorageError};

/// The links of one torrent: what each link file's link says.
#[derive(Debug, Default)]
pub(super) struct Links {
    targets: HashMap<usize, PathBuf>,
}

impl Links {
    /// The links of `symlinks` (`(file index, target)`) that storage will create: the file is
    /// an empty, non-padding file of `layout`, and the target is another of `paths` or a
    /// directory holding one.
    pub(super) fn new(
        layout: &Layout,
        paths: &[RelativePath],
        symlinks: &[(usize, RelativePath)],
    ) -> Self {
        if symlinks.is_empty() {
            return Self::default();
        }
        let stored = |i: usize| {
            layout
                .files()
                .get(i)
                .is_some_and(|f| !f.padding && f.length == 0)
        };
        let files: HashSet<&[String]> = paths.iter().map(RelativePath::components).collect();
        let dirs: HashSet<&[String]> = paths
            .iter()
            .flat_map(|p| {
                let c = p.components();
                (1..c.len()).map(move |end| &c[..end])
            })
            .collect();
        let targets = symlinks
            .iter()
            .filter(|(i, _)| stored(*i))
            .filter_map(|(i, target)| {
                let own = paths.get(*i)?.components();
                let t = target.components();
                let inside = t != own && (files.contains(t) || dirs.contains(t));
                inside.then(|| (*i, relative_target(own, t)))
            })
            .collect();
        Self { targets }
    }

    /// What file `file`'s link says, if it is a link.
    pub(super) fn target(&self, file: usize) -> Option<&Path> {
        self.targets.get(&file).map(PathBuf::as_path)
    }

    /// Whether file `file` is a link.
    pub(super) fn contains(&self, file: usize) -> bool {
        self.targets.contains_key(&file)
    }
}

/// The text of a link at `link` to `target` (both relative to one root): up from the link's
/// directory to where the two part, then down to the target.
fn relative_target(link: &[String], target: &[String]) -> PathBuf {
    let dir = &link[..link.len().saturating_sub(1)];
    let common = dir.iter().zip(target).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..dir.len() {
        out.push("..");
    }
    for c in &target[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Creates the link at `path` saying `target`. A link there already saying so is kept; a
/// different link or an empty file there (left by an earlier version, which made links plain
/// empty files) is replaced; anything else (a directory, a file with data) is left alone, so no
/// data is ever deleted for a link.
pub(super) fn create(root: &Path, path: &Path, target: &Path) -> Result<(), StorageError> {
    let link_err = |e| StorageError::io(IoOp::Link, path, e);
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            if fs::read_link(path).map_err(link_err)? == target {
                return Ok(());
            }
            fs::remove_file(path).map_err(link_err)?;
        }
        Ok(m) if m.is_file() && m.len() == 0 => fs::remove_file(path).map_err(link_err)?,
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(StorageError::io(IoOp::Metadata, path, e)),
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| StorageError::io(IoOp::CreateDir, parent, e))?;
        check_inside(root, parent)?;
    }
    symlink(target, path).map_err(link_err)
}

#[cfg(unix)]
fn symlink(target: &Path, path: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, path)
}

/// Elsewhere links are plain empty files.
#[cfg(not(unix))]
fn symlink(_target: &Path, path: &Path) -> io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map(drop)
}

/// Checks that directory `dir` (under `root`) resolves inside `root`: no link on the way out
/// of the download directory. A directory that does not exist yet is checked up to its
/// nearest existing ancestor.
pub(super) fn check_inside(root: &Path, dir: &Path) -> Result<(), StorageError> {
    let Ok(below) = dir.strip_prefix(root) else {
        return Err(StorageError::UnsafeLink { path: dir.into() });
    };
    if below.components().all(|c| matches!(c, Component::CurDir)) {
        return Ok(());
    }
    let real_root = match fs::canonicalize(root) {
        Ok(r) => r,
        // Nothing below it exists yet, so no link either (checked again once it exists).
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StorageError::io(IoOp::Metadata, root, e)),
    };
    let mut existing = dir;
    let real = loop {
        match fs::canonicalize(existing) {
            Ok(r) => break r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => match existing.parent() {
                Some(up) if up.starts_with(root) => existing = up,
                _ => return Ok(()),
            },
            // A loop of links, or a link to nothing that blocks the way.
            Err(_) => return Err(StorageError::UnsafeLink { path: dir.into() }),
        }
    };
    if real.starts_with(&real_root) {
        Ok(())
    } else {
        Err(StorageError::UnsafeLink {
            path: existing.into(),
        })
    }
}

/// Maps the error of opening a file without following a link at its path: a link there is
/// [`StorageError::UnsafeLink`].
pub(super) fn open_error(path: &Path, e: io::Error) -> StorageError {
    if is_link(path) {
        StorageError::UnsafeLink { path: path.into() }
    } else {
        StorageError::io(IoOp::Open, path, e)
    }
}

fn is_link(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

#[cfg(test)]
#[path = "links_tests.rs"]
mod storage_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(p: &str) -> Vec<String> {
        p.split('/').map(str::to_owned).collect()
    }

    #[test]
    fn targets_are_written_relative_to_the_links_directory() {
        let rel = |l: &str, t: &str| relative_target(&parts(l), &parts(t));
        assert_eq!(rel("t/l", "t/x"), Path::new("x"));
        assert_eq!(rel("t/d/l", "t/x"), Path::new("../x"));
        assert_eq!(rel("t/l", "t/d/e/y"), Path::new("d/e/y"));
        assert_eq!(rel("t/a/b/l", "t/c/y"), Path::new("../../c/y"));
        assert_eq!(rel("t/d/l", "t/d"), Path::new("."));
    }

    #[test]
    fn only_links_to_the_torrents_own_paths_are_kept() {
        let rel = |s: &str| RelativePath::from_components(s.split('/')).unwrap();
        let layout = Layout::new(16, [(10, false), (0, false), (0, false), (0, false)]).unwrap();
        let paths = [rel("t/d/x"), rel("t/l"), rel("t/m"), rel("t/n")];
        let links = Links::new(
            &layout,
            &paths,
            &[
                (1, rel("t/d/x")),
                (2, rel("t/d")),
                (3, rel("etc/passwd")),
                (0, rel("t/l")),
            ],
        );
        assert_eq!(links.target(1), Some(Path::new("d/x")));
        assert_eq!(links.target(2), Some(Path::new("d")));
        assert!(!links.contains(3), "a target outside the torrent");
        assert!(!links.contains(0), "a file with data is never a link");
    }
}
