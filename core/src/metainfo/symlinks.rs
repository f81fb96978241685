//! BEP 47 symbolic links, resolved as libtorrent 2.0 resolves them (`sanitize_symlinks`): the
//! sanitized target names a path of the torrent, from the torrent's top directory or else from
//! the link's own directory, and must be a file or a directory of the torrent. A link to
//! anything else (outside the torrent, or nothing) becomes a plain empty file, so that no link
//! this parser accepts can lead outside the download directory.

use std::collections::HashSet;

use super::FileEntry;
use super::error::Warning;
use super::path::RelativePath;

/// Sets [`FileEntry::symlink`] for each `(file index, sanitized target)` whose target is in the
/// torrent; the others stay plain files, with a warning.
pub(super) fn resolve(
    files: &mut [FileEntry],
    links: Vec<(usize, Vec<String>)>,
    warnings: &mut Vec<Warning>,
) {
    if links.is_empty() {
        return;
    }
    let paths: HashSet<&[String]> = files
        .iter()
        .filter(|f| !f.padding)
        .map(|f| f.path.components())
        .collect();
    let dirs: HashSet<&[String]> = files
        .iter()
        .filter(|f| !f.padding)
        .flat_map(|f| {
            let c = f.path.components();
            (1..c.len()).map(move |end| &c[..end])
        })
        .collect();
    let mut resolved = Vec::with_capacity(links.len());
    for (i, target) in links {
        let own = files[i].path.components();
        let root = &own[..1];
        let parent = &own[..own.len() - 1];
        let found = [root, parent]
            .into_iter()
            .map(|base| [base, &target[..]].concat())
            .find(|t| t[..] != own[..] && (paths.contains(&t[..]) || dirs.contains(&t[..])));
        resolved.push((i, found, target));
    }
    for (i, found, target) in resolved {
        match found {
            Some(t) => files[i].symlink = Some(RelativePath::from_sanitized(t)),
            None => warnings.push(Warning::SymlinkOutside {
                file: i,
                target: target.join("/"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(p: &str) -> FileEntry {
        FileEntry {
            path: RelativePath::from_components(p.split('/')).unwrap(),
            length: 1,
            padding: false,
            symlink: None,
        }
    }

    fn resolved(files: &[&str], links: &[(usize, &str)]) -> Vec<Option<String>> {
        let mut files: Vec<FileEntry> = files.iter().map(|p| entry(p)).collect();
        let links = links
            .iter()
            .map(|&(i, t)| (i, t.split('/').map(str::to_owned).collect()))
            .collect();
        let mut warnings = Vec::new();
        resolve(&mut files, links, &mut warnings);
        let out: Vec<Option<String>> = files
            .iter()
            .map(|f| f.symlink.as_ref().map(ToString::to_string))
            .collect();
        let plain = out.iter().filter(|o| o.is_none()).count();
        assert!(warnings.len() <= plain);
        out
    }

    #[test]
    fn a_target_names_a_path_from_the_top_of_the_torrent() {
        let r = resolved(
            &["t/x", "t/d/y", "t/lnk", "t/d/l2"],
            &[(2, "x"), (3, "d/y")],
        );
        assert_eq!(r[2].as_deref(), Some("t/x"));
        assert_eq!(r[3].as_deref(), Some("t/d/y"));
    }

    #[test]
    fn or_from_the_links_own_directory() {
        let r = resolved(&["t/d/y", "t/d/l"], &[(1, "y")]);
        assert_eq!(r[1].as_deref(), Some("t/d/y"));
    }

    #[test]
    fn a_directory_of_the_torrent_is_a_valid_target() {
        let r = resolved(&["t/d/e/y", "t/l"], &[(1, "d/e")]);
        assert_eq!(r[1].as_deref(), Some("t/d/e"));
    }

    #[test]
    fn a_target_outside_the_torrent_or_missing_leaves_a_plain_file() {
        // `../../etc` arrives here sanitized to `etc`, which the torrent does not hold.
        let mut files = vec![entry("t/x"), entry("t/bad"), entry("t/self")];
        let mut warnings = Vec::new();
        let links = vec![(1, vec!["etc".to_owned()]), (2, vec!["self".to_owned()])];
        resolve(&mut files, links, &mut warnings);
        assert!(files.iter().all(|f| f.symlink.is_none()));
        assert_eq!(
            warnings,
            [
                Warning::SymlinkOutside {
                    file: 1,
                    target: "etc".into()
                },
                Warning::SymlinkOutside {
                    file: 2,
                    target: "self".into()
                }
            ]
        );
    }

    #[test]
    fn a_link_may_point_at_another_link() {
        let r = resolved(&["t/x", "t/a", "t/b"], &[(1, "x"), (2, "a")]);
        assert_eq!(r[2].as_deref(), Some("t/a"));
    }
}
