//! A torrent's file paths as the runtime keeps them for every torrent, released ones too
//! (see `disk.rs`): in one allocation, not one per file and per path component (three blocks,
//! 112 B of heap, for a torrent of one file; here one block of 32 B, and 16 B in the record). A sanitized path
//! component never holds `/` or NUL (`RelativePath`'s checks reject both), so the paths are
//! kept joined: components by `/`, files by NUL. Unpacked when a removal, a rename or an
//! open needs them.

use sanstorrent_core::metainfo::{PathRules, RelativePath};

/// Separates the files.
const FILE_END: char = '\0';
/// Separates a path's components.
const COMPONENT_END: char = '/';

/// File paths in one allocation ([`PackedPaths::pack`], [`PackedPaths::to_vec`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PackedPaths(Box<str>);

impl PackedPaths {
    /// `paths` in one allocation.
    pub(crate) fn pack(paths: &[RelativePath]) -> Self {
        let mut joined = String::new();
        for (i, path) in paths.iter().enumerate() {
            if i > 0 {
                joined.push(FILE_END);
            }
            for (j, c) in path.components().iter().enumerate() {
                if j > 0 {
                    joined.push(COMPONENT_END);
                }
                joined.push_str(c);
            }
        }
        Self(joined.into_boxed_str())
    }

    /// The paths, as given to [`PackedPaths::pack`]. Split under the Unix rules, which every
    /// sanitized component passes (Windows' are stricter), so each comes back as it was.
    pub(crate) fn to_vec(&self) -> Vec<RelativePath> {
        if self.0.is_empty() {
            return Vec::new();
        }
        self.0
            .split(FILE_END)
            .filter_map(|file| {
                RelativePath::from_components_with(file.split(COMPONENT_END), PathRules::Unix).ok()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str) -> RelativePath {
        RelativePath::from_components(s.split('/')).unwrap()
    }

    #[test]
    fn paths_come_back_as_given() {
        let paths = vec![rel("t/a.bin"), rel("t/sub/deeper/b.bin"), rel("t/.pad/123")];
        assert_eq!(PackedPaths::pack(&paths).to_vec(), paths);
        let one = vec![rel("t000123")];
        assert_eq!(PackedPaths::pack(&one), PackedPaths("t000123".into()));
        assert_eq!(PackedPaths::pack(&one).to_vec(), one);
        assert_eq!(PackedPaths::pack(&[]).to_vec(), Vec::<RelativePath>::new());
    }

    #[test]
    fn equal_paths_pack_equal_and_others_differ() {
        let a = PackedPaths::pack(&[rel("t/a"), rel("t/b")]);
        assert_eq!(a, PackedPaths::pack(&[rel("t/a"), rel("t/b")]));
        assert_ne!(a, PackedPaths::pack(&[rel("t/a/b")]));
        assert_ne!(a, PackedPaths::pack(&[rel("t/b"), rel("t/a")]));
    }
}
