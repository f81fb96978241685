//! [`RelativePath`]: a file path from a torrent that can only ever name a place inside the
//! download directory, checked by the rules of the platform it is stored on ([`PathRules`]).

use std::fmt;
use std::path::PathBuf;

use super::sanitize::{is_removed, is_reserved};

/// A relative path made of safe components: none empty, `.` or `..`, none containing `/`, `\`,
/// a control character or a direction override, none longer than [`MAX_COMPONENT_LEN`] bytes;
/// where Windows rules apply ([`PathRules::HOST`]), also no drive letters, no `:*?"<>|`, no
/// device names, no trailing dot or space. Built only through [`RelativePath::from_components`]
/// (or the metainfo parser, which sanitizes first), so storage can join it to the download
/// directory without further checks.
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
    /// A component starts with `/` or `\`: the torrent names an absolute path.
    Absolute(String),
    /// A component contains a control character, a direction override or (Windows) one of
    /// `:*?"<>|`.
    InvalidChar(String),
    /// A component is a Windows device name (`CON`, `NUL`, `COM1`, ...), with or without an
    /// extension.
    ReservedName(String),
    /// A component ends with a dot or a space, which Windows strips silently.
    TrailingDotOrSpace(String),
    /// A component is longer than [`MAX_COMPONENT_LEN`] bytes.
    TooLong(usize),
}

/// The longest path component accepted, in bytes (characters under Windows rules): what file
/// systems store. libtorrent cuts names near 240 bytes, keeping an extension of up to 9 bytes.
pub const MAX_COMPONENT_LEN: usize = 255;

/// Which platform's file-name rules apply. libtorrent sanitizes names differently on Windows
/// (trailing dots, `:*?"<>|`, device names), and so do we, so that a torrent gets the names
/// libtorrent on the same platform would give it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathRules {
    /// Linux, macOS and the other Unixes: only `/`, NUL and control characters are unsafe.
    Unix,
    /// Windows.
    Windows,
}

impl PathRules {
    /// The rules of the platform this was built for.
    pub const HOST: Self = if cfg!(windows) {
        Self::Windows
    } else {
        Self::Unix
    };
}

impl RelativePath {
    /// Builds a path from components, rejecting any that could escape the download directory
    /// or that this platform would not store under that exact name.
    pub fn from_components<S: AsRef<str>>(
        components: impl IntoIterator<Item = S>,
    ) -> Result<Self, PathError> {
        Self::from_components_with(components, PathRules::HOST)
    }

    /// [`RelativePath::from_components`] with the given platform's rules.
    pub fn from_components_with<S: AsRef<str>>(
        components: impl IntoIterator<Item = S>,
        rules: PathRules,
    ) -> Result<Self, PathError> {
        let mut out = Vec::new();
        for c in components {
            let c = c.as_ref();
            check_component_with(c, rules)?;
            out.push(c.to_owned());
        }
        if out.is_empty() {
            return Err(PathError::Empty);
        }
        Ok(Self { components: out })
    }

    /// A path from components that [`sanitize_component`] produced (checked in debug builds).
    pub(super) fn from_sanitized(components: Vec<String>) -> Self {
        debug_assert!(!components.is_empty());
        debug_assert!(components.iter().all(|c| check_component(c).is_ok()));
        Self { components }
    }

    /// The components, outermost first.
    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// The last component: the file's name.
    pub fn file_name(&self) -> &str {
        // A RelativePath always has at least one component (checked on construction).
        self.components.last().map_or("", String::as_str)
    }

    /// This path with `child`'s components appended.
    pub fn join(&self, child: &Self) -> Self {
        let mut components = self.components.clone();
        components.extend(child.components.iter().cloned());
        Self { components }
    }

    /// This path with its last component replaced by `name`, which must be safe.
    pub fn with_file_name(&self, name: &str) -> Result<Self, PathError> {
        check_component(name)?;
        let mut components = self.components.clone();
        if let Some(last) = components.last_mut() {
            *last = name.to_owned();
        }
        Ok(Self { components })
    }

    /// Whether `self` is a proper prefix of `other` (`a/b` is a prefix of `a/b/c`).
    pub fn is_ancestor_of(&self, other: &Self) -> bool {
        other.components.len() > self.components.len()
            && other.components[..self.components.len()] == self.components[..]
    }

    /// The path relative to the download directory, for joining onto it.
    pub fn to_path_buf(&self) -> PathBuf {
        self.components.iter().collect()
    }
}

fn check_component(c: &str) -> Result<(), PathError> {
    check_component_with(c, PathRules::HOST)
}

/// Whether `c` is a component that [`RelativePath`] may hold under `rules`.
pub(super) fn check_component_with(c: &str, rules: PathRules) -> Result<(), PathError> {
    if c.is_empty() {
        return Err(PathError::EmptyComponent);
    }
    if c == "." || c == ".." {
        return Err(PathError::DotComponent(c.to_owned()));
    }
    if c.contains(['/', '\\', '\0']) {
        return Err(PathError::Separator(c.to_owned()));
    }
    if c.chars().any(|ch| u32::from(ch) < 32 || is_removed(ch)) {
        return Err(PathError::InvalidChar(c.to_owned()));
    }
    if rules == PathRules::Windows {
        if is_drive(c) {
            return Err(PathError::Drive(c.to_owned()));
        }
        if c.contains([':', '*', '?', '"', '<', '>', '|']) {
            return Err(PathError::InvalidChar(c.to_owned()));
        }
        if c.ends_with(['.', ' ']) {
            return Err(PathError::TrailingDotOrSpace(c.to_owned()));
        }
        if is_reserved(c) {
            return Err(PathError::ReservedName(c.to_owned()));
        }
    }
    let len = match rules {
        PathRules::Unix => c.len(),
        PathRules::Windows => c.chars().count(),
    };
    if len > MAX_COMPONENT_LEN {
        return Err(PathError::TooLong(len));
    }
    Ok(())
}

fn is_drive(c: &str) -> bool {
    let b = c.as_bytes();
    b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic()
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
            Self::Absolute(c) => write!(f, "file path {c:?} is absolute"),
            Self::InvalidChar(c) => {
                write!(
                    f,
                    "file path component {c:?} contains a forbidden character"
                )
            }
            Self::ReservedName(c) => {
                write!(f, "file path component {c:?} is a reserved device name")
            }
            Self::TrailingDotOrSpace(c) => {
                write!(f, "file path component {c:?} ends with a dot or space")
            }
            Self::TooLong(n) => write!(
                f,
                "file path component is {n} bytes long (at most {MAX_COMPONENT_LEN})"
            ),
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
        assert_eq!(p.file_name(), "file.bin");
        let dir = RelativePath::from_components(["dir"]).unwrap();
        assert!(dir.is_ancestor_of(&p));
        assert!(!p.is_ancestor_of(&dir));
        assert!(!dir.is_ancestor_of(&dir));
        assert_eq!(
            dir.join(&RelativePath::from_components(["x"]).unwrap())
                .to_string(),
            "dir/x"
        );
        assert_eq!(p.with_file_name("y").unwrap().to_string(), "dir/sub/y");
        assert!(p.with_file_name("..").is_err());
    }

    #[test]
    fn escapes_are_rejected_under_every_rule_set() {
        for rules in [PathRules::Unix, PathRules::Windows] {
            let from = |c: &[&str]| RelativePath::from_components_with(c.iter(), rules);
            assert_eq!(from(&[]), Err(PathError::Empty));
            assert!(matches!(
                from(&["a", ".."]),
                Err(PathError::DotComponent(_))
            ));
            assert!(matches!(from(&["."]), Err(PathError::DotComponent(_))));
            assert!(matches!(from(&["/etc"]), Err(PathError::Separator(_))));
            assert!(matches!(from(&["a\\b"]), Err(PathError::Separator(_))));
            assert!(matches!(from(&["a\0"]), Err(PathError::Separator(_))));
            assert!(matches!(from(&["a\nb"]), Err(PathError::InvalidChar(_))));
            assert!(matches!(
                from(&["exe\u{202e}iva"]),
                Err(PathError::InvalidChar(_))
            ));
            assert_eq!(from(&["a", ""]), Err(PathError::EmptyComponent));
            assert_eq!(
                from(&["x".repeat(256).as_str()]),
                Err(PathError::TooLong(256))
            );
            assert!(from(&["x".repeat(255).as_str()]).is_ok());
        }
    }

    #[test]
    fn windows_hazards_are_rejected_only_under_windows_rules() {
        for c in ["CON", "nul.txt", "com1", "a.", "a ", "ab:c", "q?", "C:"] {
            let win = RelativePath::from_components_with([c], PathRules::Windows);
            assert!(win.is_err(), "{c:?} under Windows rules: {win:?}");
            // libtorrent on Linux keeps these names, and so do we.
            assert!(
                RelativePath::from_components_with([c], PathRules::Unix).is_ok(),
                "{c:?}"
            );
        }
        assert_eq!(
            RelativePath::from_components_with(["C:"], PathRules::Windows),
            Err(PathError::Drive("C:".into()))
        );
        assert_eq!(
            RelativePath::from_components_with(["CON"], PathRules::Windows),
            Err(PathError::ReservedName("CON".into()))
        );
        assert_eq!(
            RelativePath::from_components_with(["a."], PathRules::Windows),
            Err(PathError::TrailingDotOrSpace("a.".into()))
        );
        // Look-alikes of reserved names are fine.
        assert!(
            RelativePath::from_components_with(
                ["CONSOLE", "LPT10", "nul_", "COMX"],
                PathRules::Windows
            )
            .is_ok()
        );
        // Windows counts characters, not bytes.
        assert!(RelativePath::from_components_with(["é".repeat(255)], PathRules::Windows).is_ok());
        assert_eq!(
            RelativePath::from_components_with(["é".repeat(255)], PathRules::Unix),
            Err(PathError::TooLong(510))
        );
    }
}
