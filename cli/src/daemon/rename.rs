//! Renaming a torrent's files and folders as the front ends ask (pure): which files a path
//! names and where each goes. Transmission's `torrent-rename-path` gives a file or folder
//! `path` and a new `name` for its last component ([`transmission_target`]); qBittorrent's
//! `renameFile` and `renameFolder` give the whole old and new paths. Paths are the ones
//! `files` shows (`/` between components, the torrent's folder first). Every new path is
//! hostile input: it must be relative, with no empty, `.` or `..` component, no `\` and no
//! control character (`RelativePath`'s rules), so it can only name a place inside the
//! download directory; clashes with the torrent's other files are refused by the client's
//! file map.

use sanstorrent_core::metainfo::RelativePath;

use super::backend::{BackendError, check_name};

/// What a rename's old path must name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PathKind {
    /// A file (qBittorrent's `renameFile`).
    File,
    /// A folder (qBittorrent's `renameFolder`).
    Folder,
    /// Either (Transmission's `torrent-rename-path`).
    Either,
}

/// The new path of Transmission's rename: `path` with its last component replaced by `name`,
/// which must be one component (no `/`).
pub(crate) fn transmission_target(path: &str, name: &str) -> Result<String, BackendError> {
    let name = check_name(name)?;
    Ok(match path.trim_end_matches('/').rsplit_once('/') {
        Some((parent, _)) => format!("{parent}/{name}"),
        None => name.to_owned(),
    })
}

/// A front end's path as a [`RelativePath`], refused unless it is a safe relative path.
pub(crate) fn parse_path(text: &str) -> Result<RelativePath, BackendError> {
    if text.starts_with('/') || text.starts_with('\\') {
        return Err(BackendError::Invalid(format!(
            "{text:?}: an absolute path is not allowed"
        )));
    }
    RelativePath::from_components(text.split('/'))
        .map_err(|e| BackendError::Invalid(format!("{text:?} is not a valid path: {e:?}")))
}

/// The renames (position in `names`, new path) that renaming `from` to `to` makes, where
/// `names` are the torrent's file paths as shown. A file path renames that file; a folder
/// renames every file under it. Refused when nothing matches, when the new path is not safe,
/// or when a folder would move into itself.
pub(crate) fn plan(
    names: &[String],
    from: &str,
    to: &str,
    kind: PathKind,
) -> Result<Vec<(usize, RelativePath)>, BackendError> {
    let from = from.trim_end_matches('/');
    let to = parse_path(to.trim_end_matches('/'))?;
    let old = parse_path(from)?;
    if kind != PathKind::Folder
        && let Some(i) = names.iter().position(|n| n == from)
    {
        return Ok(vec![(i, to)]);
    }
    if kind != PathKind::File {
        if old.is_ancestor_of(&to) {
            return Err(BackendError::Invalid(format!(
                "{from:?} cannot move into itself"
            )));
        }
        let prefix = format!("{from}/");
        let under: Vec<(usize, RelativePath)> = names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let rest = n.strip_prefix(&prefix)?;
                let rest = RelativePath::from_components(rest.split('/')).ok()?;
                Some((i, to.join(&rest)))
            })
            .collect();
        if !under.is_empty() {
            return Ok(under);
        }
    }
    let what = match kind {
        PathKind::File => "file",
        PathKind::Folder => "folder",
        PathKind::Either => "file or folder",
    };
    Err(BackendError::Invalid(format!(
        "the torrent has no {what} {from:?}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["t/a.mkv", "t/sub/b.srt", "t/sub/c.srt", "t/subtitles.txt"]
            .map(String::from)
            .to_vec()
    }

    fn shown(plan: &[(usize, RelativePath)]) -> Vec<(usize, String)> {
        plan.iter().map(|(i, p)| (*i, p.to_string())).collect()
    }

    #[test]
    fn a_file_or_a_folder_renames_what_it_names() {
        let n = names();
        let p = plan(&n, "t/a.mkv", "t/A.mkv", PathKind::File).unwrap();
        assert_eq!(shown(&p), [(0, "t/A.mkv".to_string())]);
        let p = plan(&n, "t/sub", "t/s2/deep", PathKind::Folder).unwrap();
        assert_eq!(
            shown(&p),
            [(1, "t/s2/deep/b.srt".into()), (2, "t/s2/deep/c.srt".into())],
            "`t/subtitles.txt` is not under `t/sub`"
        );
        let p = plan(&n, "t", "u", PathKind::Either).unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(p[3].1.to_string(), "u/subtitles.txt");
        assert!(
            plan(&n, "t/sub", "x", PathKind::File).is_err(),
            "not a file"
        );
        assert!(
            plan(&n, "t/a.mkv", "x", PathKind::Folder).is_err(),
            "not a folder"
        );
        assert!(plan(&n, "t/nope", "x", PathKind::Either).is_err());
        assert!(plan(&n, "t/sub", "t/sub/inner", PathKind::Folder).is_err());
    }

    #[test]
    fn hostile_new_paths_are_refused() {
        let n = names();
        for bad in [
            "../escape",
            "t/../../escape",
            "/etc/passwd",
            "\\\\server\\share",
            "t//a",
            "t/./a",
            "",
            "t/a\u{0}b",
            "t/back\\slash",
            "t/line\nbreak",
        ] {
            assert!(
                matches!(
                    plan(&n, "t/a.mkv", bad, PathKind::File),
                    Err(BackendError::Invalid(_))
                ),
                "{bad:?}"
            );
        }
        assert!(plan(&n, "../t/a.mkv", "t/x", PathKind::File).is_err());
    }

    #[test]
    fn transmission_names_are_one_component() {
        assert_eq!(
            transmission_target("t/sub/b.srt", "B.srt").unwrap(),
            "t/sub/B.srt"
        );
        assert_eq!(transmission_target("t", "New name").unwrap(), "New name");
        assert_eq!(transmission_target("t/sub/", "s").unwrap(), "t/s");
        for bad in ["a/b", "..", ".", "", "x\ny"] {
            assert!(transmission_target("t/a.mkv", bad).is_err(), "{bad:?}");
        }
    }
}
