//! Files whose sanitized paths collide, renamed as libtorrent 2.0 renames them
//! (`resolve_duplicate_filenames`): paths compare without regard to ASCII case; every directory
//! of the torrent is taken first, then each file in torrent order keeps its path if it is free
//! and otherwise gets `.1`, `.2`, ... before its extension (`a.txt` -> `a.1.txt`). Two padding
//! files of the same length may share a path (they are never written).

use std::collections::{HashMap, HashSet};

use super::FileEntry;
use super::error::Warning;
use super::path::RelativePath;

/// Renames colliding files in place, with a warning for each.
pub(super) fn rename(files: &mut [FileEntry], warnings: &mut Vec<Warning>) {
    let key = |components: &[String]| components.join("/").to_ascii_lowercase();
    let mut taken: HashSet<String> = HashSet::new();
    for f in files.iter() {
        let c = f.path.components();
        for end in 1..c.len() {
            taken.insert(key(&c[..end]));
        }
    }
    // Who holds a file path, so that padding files of one length may share it.
    let mut holder: HashMap<String, usize> = HashMap::with_capacity(files.len());
    // The next suffix to try per (stem, extension): a number that was taken once stays taken,
    // so trying from where the last search ended gives libtorrent's answer without trying
    // 1, 2, 3, ... again for each of a thousand files of one name.
    let mut next: HashMap<String, u64> = HashMap::new();
    for i in 0..files.len() {
        let k = key(files[i].path.components());
        if !taken.contains(&k) {
            taken.insert(k.clone());
            holder.insert(k, i);
            continue;
        }
        if let Some(&j) = holder.get(&k)
            && files[i].padding
            && files[j].padding
            && files[i].length == files[j].length
        {
            continue;
        }
        let (stem, ext) = split_extension(files[i].path.file_name());
        let counter = next.entry(format!("{}\0{}", k, ext)).or_insert(0);
        let renamed = loop {
            *counter += 1;
            let candidate = with_suffix(&files[i].path, stem, *counter, ext);
            let k = key(candidate.components());
            if !taken.contains(&k) {
                taken.insert(k.clone());
                holder.insert(k, i);
                break candidate;
            }
        };
        warnings.push(Warning::DuplicatePath {
            file: i,
            original: files[i].path.to_string(),
            renamed: renamed.to_string(),
        });
        files[i].path = renamed;
    }
}

/// `name` split at its last dot (`a.tar.gz` -> `a.tar`, `.gz`; `.hidden` -> ``, `.hidden`).
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) => name.split_at(dot),
        None => (name, ""),
    }
}

/// `path` with its file name replaced by `<stem>.<n><ext>`, the stem shortened if the name
/// would be longer than a file system stores.
fn with_suffix(path: &RelativePath, stem: &str, n: u64, ext: &str) -> RelativePath {
    let suffix = format!(".{n}{ext}");
    let mut stem = stem.to_owned();
    loop {
        let name = format!("{stem}{suffix}");
        if let Ok(p) = path.with_file_name(&name) {
            return p;
        }
        if stem.pop().is_none() {
            break;
        }
    }
    // Only an extension near the length limit gets here: drop it. `_<n>` is always valid.
    path.with_file_name(&format!("_{n}"))
        .unwrap_or_else(|_| path.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metainfo::MAX_COMPONENT_LEN;

    fn entry(p: &str, length: u64, padding: bool) -> FileEntry {
        FileEntry {
            path: RelativePath::from_components(p.split('/')).unwrap(),
            length,
            padding,
            symlink: None,
        }
    }

    fn renamed(files: &[(&str, bool)]) -> Vec<String> {
        let mut files: Vec<FileEntry> = files.iter().map(|&(p, pad)| entry(p, 1, pad)).collect();
        let before: Vec<RelativePath> = files.iter().map(|f| f.path.clone()).collect();
        let mut warnings = Vec::new();
        rename(&mut files, &mut warnings);
        let changed = before
            .iter()
            .zip(&files)
            .filter(|(b, f)| **b != f.path)
            .count();
        assert_eq!(warnings.len(), changed);
        files.iter().map(|f| f.path.to_string()).collect()
    }

    #[test]
    fn a_second_file_of_a_name_gets_a_number_before_its_extension() {
        assert_eq!(
            renamed(&[("t/a.txt", false), ("t/a.txt", false), ("t/a.txt", false)]),
            ["t/a.txt", "t/a.1.txt", "t/a.2.txt"]
        );
        assert_eq!(
            renamed(&[("t/noext", false), ("t/noext", false)]),
            ["t/noext", "t/noext.1"]
        );
        assert_eq!(
            renamed(&[("t/.hidden", false), ("t/.hidden", false)]),
            ["t/.hidden", "t/.1.hidden"]
        );
    }

    #[test]
    fn paths_compare_without_regard_to_ascii_case() {
        assert_eq!(
            renamed(&[("t/A.txt", false), ("t/a.txt", false)]),
            ["t/A.txt", "t/a.1.txt"]
        );
    }

    #[test]
    fn directories_are_taken_before_any_file() {
        assert_eq!(
            renamed(&[("t/d", false), ("t/d/f", false)]),
            ["t/d.1", "t/d/f"]
        );
        assert_eq!(renamed(&[("t", false), ("t/x", false)])[0], "t.1");
    }

    #[test]
    fn a_renamed_file_can_push_a_later_one_further() {
        assert_eq!(
            renamed(&[("t/a.txt", false), ("t/a.txt", false), ("t/a.1.txt", false)]),
            ["t/a.txt", "t/a.1.txt", "t/a.1.1.txt"]
        );
    }

    #[test]
    fn padding_files_of_one_length_may_share_a_path() {
        let mut files = vec![
            entry(".pad/5", 5, true),
            entry(".pad/5", 5, true),
            entry(".pad/5", 6, true),
        ];
        let mut warnings = Vec::new();
        rename(&mut files, &mut warnings);
        let paths: Vec<String> = files.iter().map(|f| f.path.to_string()).collect();
        assert_eq!(paths, [".pad/5", ".pad/5", ".pad/5.1"]);
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn thousands_of_one_name_are_numbered_in_linear_time() {
        let n = 20_000;
        let mut files: Vec<FileEntry> = (0..n).map(|_| entry("t/x.bin", 1, false)).collect();
        let mut warnings = Vec::new();
        rename(&mut files, &mut warnings);
        assert_eq!(files[n - 1].path.to_string(), format!("t/x.{}.bin", n - 1));
        assert_eq!(warnings.len(), n - 1);
    }

    #[test]
    fn a_name_at_the_length_limit_is_shortened_to_take_its_number() {
        let long = format!("t/{}", "x".repeat(MAX_COMPONENT_LEN));
        let paths = renamed(&[(&long, false), (&long, false)]);
        assert_eq!(
            paths[1],
            format!("t/{}.1", "x".repeat(MAX_COMPONENT_LEN - 2))
        );
    }
}
