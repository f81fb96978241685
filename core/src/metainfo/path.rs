//! [`RelativePath`]: a file path from a torrent that can only ever name a place inside the
//! download directory.

use std::fmt;
use std::path::PathBuf;

/// A relative path made of safe components: none empty, `.` or `..`, none containing `/`, `\`
/// or NUL, no drive letters. Built only through [`RelativePath::from_components`], so storage
/// can join it to the download directory without further checks.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelativePath {
    components: Vec<String>,
}

/// Why a path component is unsafe.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathError {
    /// The path has no components.
    Empty,
    /// A component is empty.
    EmptyComponent,
    /// A component is `.` or `..`.
    DotComponent(String),
    /// A component contains `/`, `\` or NUL.
    Separator(String),
    /// A component is a Windows drive (`C:`).
    Drive(String),
}

impl RelativePath {
    /// Builds a path from components, rejecting any that could escape the download directory.
    pub fn from_components<S: AsRef<str>>(
        components: impl IntoIterator<Item = S>,
    ) -> Result<Self, PathError> {
        let mut out = Vec::new();
        for c in components {
            let c = c.as_ref();
            check_component(c)?;
            out.push(c.to_owned());
        }
        if out.is_empty() {
            return Err(PathError::Empty);
        }
        Ok(Self { components: out })
    }

    /// The components, outermost first.
    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// The path relative to the download directory, for joining onto it.
    pub fn to_path_buf(&self) -> PathBuf {
        self.components.iter().collect()
    }
}

fn check_component(c: &str) -> Result<(), PathError> {
    if c.is_empty() {
        return Err(PathError::EmptyComponent);
    }
    if c == "." || c == ".." {
        return Err(PathError::DotComponent(c.to_owned()));
    }
    if c.contains(['/', '\\', '\0']) {
        return Err(PathError::Separator(c.to_owned()));
    }
    let b = c.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        return Err(PathError::Drive(c.to_owned()));
    }
    Ok(())
}

impl fmt::Debug for RelativePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelativePath({self})")
    }
}

impl fmt::Display for RelativePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.components.join("/"))
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "file path is empty"),
            Self::EmptyComponent => write!(f, "file path has an empty component"),
            Self::DotComponent(c) => write!(f, "file path component {c:?} is not allowed"),
            Self::Separator(c) => {
                write!(f, "file path component {c:?} contains a separator or NUL")
            }
            Self::Drive(c) => write!(f, "file path component {c:?} is a drive letter"),
        }
    }
}

impl std::error::Error for PathError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_paths_join_below_the_root() {
        let p = RelativePath::from_components(["dir", "sub", "file.bin"]).unwrap();
        assert_eq!(p.to_path_buf(), PathBuf::from("dir/sub/file.bin"));
        assert_eq!(p.to_string(), "dir/sub/file.bin");
    }

    #[test]
    fn escapes_are_rejected() {
        assert_eq!(
            RelativePath::from_components(Vec::<&str>::new()),
            Err(PathError::Empty)
        );
        assert!(matches!(
            RelativePath::from_components(["a", ".."]),
            Err(PathError::DotComponent(_))
        ));
        assert!(matches!(
            RelativePath::from_components(["/etc"]),
            Err(PathError::Separator(_))
        ));
        assert!(matches!(
            RelativePath::from_components(["a\\b"]),
            Err(PathError::Separator(_))
        ));
        assert!(matches!(
            RelativePath::from_components(["a\0"]),
            Err(PathError::Separator(_))
        ));
        assert!(matches!(
            RelativePath::from_components(["C:"]),
            Err(PathError::Drive(_))
        ));
        assert_eq!(
            RelativePath::from_components(["a", ""]),
            Err(PathError::EmptyComponent)
        );
    }
}
