//! Moving a torrent's files to another directory, crash-safe: [`Relocation`].
//!
//! A journal file naming the move (source and target directories, each file) is written
//! atomically before the first file moves, and removed by the caller once it has recorded the
//! new directory. Each file is renamed when both directories lie on one file system; otherwise
//! it is copied to `<name>.part` in the target, fsynced with its modification time kept (resume
//! data checks it), renamed to its name, and only then deleted from the source. So at any
//! instant each file is whole in the source, whole in the target, or whole in both (the
//! copy done, the delete not yet), plus at most one `.part`: never two half copies.
//!
//! After a crash, [`Relocation::load`] reads the journal back and [`Relocation::apply`] (or
//! [`Relocation::revert`]) finishes (or undoes) the move from whatever state it was left in:
//! both are idempotent.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Component, Path, PathBuf};

use super::save_atomically;

/// The first line of a journal.
const MAGIC: &str = "sanstorrent-relocation 1";

/// A move of a torrent's files from one directory to another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relocation {
    /// The directory the files are in now.
    pub from: PathBuf,
    /// The directory they go to.
    pub to: PathBuf,
    /// The files, relative to both directories (each without `..` or a root).
    pub files: Vec<PathBuf>,
}

/// Why a move could not start or finish.
#[derive(Debug)]
#[non_exhaustive]
pub enum RelocateError {
    /// A file path is absolute or climbs with `..`.
    BadPath(PathBuf),
    /// A target file already exists (a move never overwrites).
    TargetExists(PathBuf),
    /// The journal is not one this module wrote.
    BadJournal(PathBuf),
    /// A file system operation failed on this path.
    Io(PathBuf, io::Error),
}

impl fmt::Display for RelocateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadPath(p) => write!(f, "{}: not a path inside the torrent", p.display()),
            Self::TargetExists(p) => write!(f, "{} already exists", p.display()),
            Self::BadJournal(p) => write!(f, "{}: not a relocation journal", p.display()),
            Self::Io(p, e) => write!(f, "{}: {e}", p.display()),
        }
    }
}

impl std::error::Error for RelocateError {}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> RelocateError + '_ {
    move |e| RelocateError::Io(path.to_path_buf(), e)
}

impl Relocation {
    /// Checks the move (relative paths, no target file exists yet) and writes its journal at
    /// `journal`. The files have not moved yet: call [`Relocation::apply`].
    pub fn start(&self, journal: &Path) -> Result<(), RelocateError> {
        let unicode = [&self.from, &self.to].into_iter().chain(&self.files);
        if let Some(odd) = unicode.into_iter().find(|p| p.to_str().is_none()) {
            return Err(RelocateError::BadPath(odd.clone()));
        }
        for file in &self.files {
            let inside = file.components().all(|c| matches!(c, Component::Normal(_)));
            if !inside || file.as_os_str().is_empty() {
                return Err(RelocateError::BadPath(file.clone()));
            }
            let target = self.to.join(file);
            if target.symlink_metadata().is_ok() {
                return Err(RelocateError::TargetExists(target));
            }
        }
        save_atomically(journal, self.encode().as_bytes())
            .map_err(|e| RelocateError::Io(journal.to_path_buf(), io::Error::other(e.to_string())))
    }

    /// Moves every file still in the source to the target; from any state a crash left.
    pub fn apply(&self) -> Result<(), RelocateError> {
        for file in &self.files {
            shift(&self.from.join(file), &self.to.join(file))?;
        }
        self.prune(&self.from);
        Ok(())
    }

    /// Moves every file already in the target back to the source; from any state a crash (or
    /// a failed [`Relocation::apply`]) left.
    pub fn revert(&self) -> Result<(), RelocateError> {
        for file in &self.files {
            shift(&self.to.join(file), &self.from.join(file))?;
        }
        self.prune(&self.to);
        Ok(())
    }

    /// Reads a journal [`Relocation::start`] wrote.
    pub fn load(journal: &Path) -> Result<Self, RelocateError> {
        let text = fs::read_to_string(journal).map_err(io_at(journal))?;
        Self::decode(&text).ok_or_else(|| RelocateError::BadJournal(journal.to_path_buf()))
    }

    /// Removes the journal (once the caller has recorded where the files are).
    pub fn finish(journal: &Path) -> Result<(), RelocateError> {
        match fs::remove_file(journal) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(RelocateError::Io(journal.to_path_buf(), e)),
        }
    }

    /// Removes the directories under `root` that the files lived in, if they are now empty.
    fn prune(&self, root: &Path) {
        for file in &self.files {
            let mut dir = root.join(file);
            while dir.pop() && dir.starts_with(root) && dir != root {
                if fs::remove_dir(&dir).is_err() {
                    break;
                }
            }
        }
    }

    /// The journal's text: a header, then one line per path, each hex-encoded (any byte of a
    /// file name survives, and no name can forge a line).
    fn encode(&self) -> String {
        let mut out = format!("{MAGIC}\n");
        for (tag, path) in [("from", &self.from), ("to", &self.to)]
            .into_iter()
            .chain(self.files.iter().map(|f| ("file", f)))
        {
            out.push_str(tag);
            out.push(' ');
            for b in path.as_os_str().as_encoded_bytes() {
                out.push_str(&format!("{b:02x}"));
            }
            out.push('\n');
        }
        out
    }

    fn decode(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let mut from = None;
        let mut to = None;
        let mut files = Vec::new();
        for line in lines {
            let (tag, hex) = line.split_once(' ')?;
            let path = PathBuf::from(String::from_utf8(unhex(hex)?).ok()?);
            match tag {
                "from" => from = Some(path),
                "to" => to = Some(path),
                "file" => files.push(path),
                _ => return None,
            }
        }
        Some(Self {
            from: from?,
            to: to?,
            files,
        })
    }
}

fn unhex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Moves one file from `src` to `dst` if it is still (wholly) in `src`: a rename, or a copy
/// through `<dst>.part` then a delete. Idempotent: a file already moved (only in `dst`), or
/// copied but not deleted (in both), or missing in both (never downloaded) is finished.
fn shift(src: &Path, dst: &Path) -> Result<(), RelocateError> {
    // A `.part` on either side is a half copy (of this direction or of the other one).
    remove_if_present(&part_path(src))?;
    let part = part_path(dst);
    remove_if_present(&part)?;
    let in_src = src.symlink_metadata().is_ok();
    let in_dst = dst.symlink_metadata().is_ok();
    match (in_src, in_dst) {
        (false, _) => return Ok(()),
        // The copy reached its name (it is whole): only the delete was left.
        (true, true) => return remove_if_present(src),
        (true, false) => {}
    }
    if let Some(parent) = dst.parent() {
        fs::create_dir_all(parent).map_err(io_at(parent))?;
    }
    // A rename fails across file systems (EXDEV): copy then.
    if fs::rename(src, dst).is_ok() {
        return sync_parent(dst);
    }
    copy_whole(src, &part)?;
    fs::rename(&part, dst).map_err(io_at(dst))?;
    sync_parent(dst)?;
    remove_if_present(src)
}

/// Copies `src` to `part` with its modification time, and fsyncs it. A symbolic link is
/// copied as a link saying the same (a torrent's links are relative, so it still points inside
/// the torrent), never by reading what it points to.
fn copy_whole(src: &Path, part: &Path) -> Result<(), RelocateError> {
    #[cfg(unix)]
    if src
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
    {
        let target = fs::read_link(src).map_err(io_at(src))?;
        return std::os::unix::fs::symlink(target, part).map_err(io_at(part));
    }
    fs::copy(src, part).map_err(io_at(part))?;
    let modified = fs::metadata(src)
        .and_then(|m| m.modified())
        .map_err(io_at(src))?;
    let file = File::options()
        .write(true)
        .open(part)
        .map_err(io_at(part))?;
    file.set_modified(modified).map_err(io_at(part))?;
    file.sync_all().map_err(io_at(part))
}

fn part_path(dst: &Path) -> PathBuf {
    let mut name = dst.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dst.with_file_name(name)
}

/// Removes `path` if it is there (a parent that is not a directory: it is not).
fn remove_if_present(path: &Path) -> Result<(), RelocateError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(RelocateError::Io(path.to_path_buf(), e)),
    }
}

fn sync_parent(path: &Path) -> Result<(), RelocateError> {
    #[cfg(unix)]
    if let Some(parent) = path.parent() {
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(io_at(parent))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::storage::file::tests::TempDir;

    fn setup(tmp: &TempDir) -> Relocation {
        let from = tmp.0.join("old");
        let to = tmp.0.join("new");
        fs::create_dir_all(from.join("t/sub")).unwrap();
        fs::write(from.join("t/a"), b"aaaa").unwrap();
        fs::write(from.join("t/sub/b"), b"bb").unwrap();
        let f = File::options().write(true).open(from.join("t/a")).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))
            .unwrap();
        Relocation {
            from,
            to,
            files: vec!["t/a".into(), "t/sub/b".into(), "t/never-downloaded".into()],
        }
    }

    /// Exactly one whole copy of each file, under `dir`, none under the other, no `.part`.
    fn only_in(r: &Relocation, dir: &Path, what: &str) {
        let other = if dir == r.from { &r.to } else { &r.from };
        assert_eq!(fs::read(dir.join("t/a")).unwrap(), b"aaaa", "{what}");
        assert_eq!(fs::read(dir.join("t/sub/b")).unwrap(), b"bb", "{what}");
        assert!(
            !other.join("t/a").exists() && !other.join("t/sub/b").exists(),
            "{what}"
        );
        for leftover in ["t/a.part", "t/sub/b.part", "t/never-downloaded"] {
            assert!(
                !r.from.join(leftover).exists() && !r.to.join(leftover).exists(),
                "{what}: {leftover}"
            );
        }
    }

    #[test]
    fn a_move_renames_or_copies_and_keeps_the_modification_time() {
        let tmp = TempDir::new("relocate-move");
        let r = setup(&tmp);
        let journal = tmp.0.join("j");
        r.start(&journal).unwrap();
        assert_eq!(Relocation::load(&journal).unwrap(), r);
        r.apply().unwrap();
        only_in(&r, &r.to, "moved");
        assert!(
            !r.from.join("t").exists(),
            "emptied directories are removed"
        );
        let mtime = fs::metadata(r.to.join("t/a")).unwrap().modified().unwrap();
        assert_eq!(
            mtime,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)
        );
        Relocation::finish(&journal).unwrap();
        assert!(!journal.exists());

        // The copy path (as across file systems) keeps the time too.
        let part = tmp.0.join("copy.part");
        copy_whole(&r.to.join("t/a"), &part).unwrap();
        assert_eq!(fs::metadata(&part).unwrap().modified().unwrap(), mtime);
    }

    #[test]
    fn a_move_never_overwrites_and_refuses_paths_outside() {
        let tmp = TempDir::new("relocate-refuse");
        let r = setup(&tmp);
        fs::create_dir_all(r.to.join("t")).unwrap();
        fs::write(r.to.join("t/a"), b"other data").unwrap();
        let journal = tmp.0.join("j");
        assert!(matches!(
            r.start(&journal),
            Err(RelocateError::TargetExists(_))
        ));
        assert!(!journal.exists());
        let bad = Relocation {
            files: vec!["../escape".into()],
            ..r.clone()
        };
        assert!(matches!(
            bad.start(&journal),
            Err(RelocateError::BadPath(_))
        ));
        let rooted = Relocation {
            files: vec!["/etc/passwd".into()],
            ..r
        };
        assert!(matches!(
            rooted.start(&journal),
            Err(RelocateError::BadPath(_))
        ));
    }

    /// Every state a kill -9 can leave, file by file, ends with one whole copy after recovery,
    /// whether it finishes the move or undoes it.
    #[test]
    fn recovery_finishes_or_undoes_every_interrupted_state() {
        type Crash = fn(&Relocation);
        let states: [(&str, Crash); 5] = [
            ("journal written, nothing moved", |_| {}),
            ("a half copy in .part", |r| {
                fs::create_dir_all(r.to.join("t")).unwrap();
                fs::write(r.to.join("t/a.part"), b"aa").unwrap();
            }),
            ("a whole copy, the source not deleted yet", |r| {
                fs::create_dir_all(r.to.join("t")).unwrap();
                fs::copy(r.from.join("t/a"), r.to.join("t/a")).unwrap();
            }),
            ("the first file moved, the second half copied", |r| {
                fs::create_dir_all(r.to.join("t/sub")).unwrap();
                fs::rename(r.from.join("t/a"), r.to.join("t/a")).unwrap();
                fs::write(r.to.join("t/sub/b.part"), b"b").unwrap();
            }),
            ("every file moved, the journal not removed yet", |r| {
                fs::create_dir_all(r.to.join("t/sub")).unwrap();
                fs::rename(r.from.join("t/a"), r.to.join("t/a")).unwrap();
                fs::rename(r.from.join("t/sub/b"), r.to.join("t/sub/b")).unwrap();
            }),
        ];
        for (i, (what, crash)) in states.iter().enumerate() {
            for forward in [true, false] {
                let tmp = TempDir::new(&format!("relocate-crash-{i}-{forward}"));
                let r = setup(&tmp);
                let journal = tmp.0.join("j");
                r.start(&journal).unwrap();
                crash(&r);
                let back = Relocation::load(&journal).unwrap();
                if forward {
                    back.apply().unwrap();
                    only_in(&r, &r.to, what);
                } else {
                    back.revert().unwrap();
                    only_in(&r, &r.from, what);
                }
            }
        }
    }

    /// A target directory that is a file stops the move at that file (even as root); the
    /// revert brings back what had moved.
    #[test]
    fn a_blocked_target_fails_and_the_revert_brings_everything_back() {
        let tmp = TempDir::new("relocate-blocked");
        let r = setup(&tmp);
        fs::create_dir_all(r.to.join("t")).unwrap();
        fs::write(r.to.join("t/sub"), b"in the way").unwrap();
        let journal = tmp.0.join("j");
        r.start(&journal).unwrap();
        assert!(matches!(r.apply(), Err(RelocateError::Io(..))));
        assert!(r.to.join("t/a").exists(), "the first file had moved");
        r.revert().unwrap();
        assert_eq!(fs::read(r.from.join("t/a")).unwrap(), b"aaaa");
        assert_eq!(fs::read(r.from.join("t/sub/b")).unwrap(), b"bb");
        assert!(!r.to.join("t/a").exists());
        assert_eq!(fs::read(r.to.join("t/sub")).unwrap(), b"in the way");
    }

    #[test]
    fn a_damaged_journal_is_refused() {
        let tmp = TempDir::new("relocate-journal");
        let journal = tmp.0.join("j");
        for text in ["", "other\n", "sanstorrent-relocation 1\nfrom zz\n", MAGIC] {
            fs::write(&journal, text).unwrap();
            assert!(
                matches!(
                    Relocation::load(&journal),
                    Err(RelocateError::BadJournal(_))
                ),
                "{text:?}"
            );
        }
        let r = Relocation {
            from: "/a\nfile 2f".into(),
            to: "/b c".into(),
            files: vec!["x\ny".into()],
        };
        r.start(&journal).unwrap();
        assert_eq!(Relocation::load(&journal).unwrap(), r);
    }
}
