//! [`RelativePath`]: a file path from a torrent that can only ever name a place inside the
//! download directory, and [`sanitize_component`], which turns a torrent's raw path component
//! into a safe one the way libtorrent would, or refuses it when the torrent is clearly hostile.

use std::fmt;
use std::path::PathBuf;

/// A relative path made of safe components: none empty, `.` or `..`, none containing `/`, `\`,
/// NUL or another control character, no drive letters, no Windows reserved device names, no
/// trailing dot or space, none longer than [`MAX_COMPONENT_LEN`] bytes. Built only through
/// [`RelativePath::from_components`] (or the metainfo parser, which sanitizes first), so storage
/// can join it to the download directory without further checks, on any platform.
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
    /// A component contains a control character or one of `:*?"<>|`.
    InvalidChar(String),
    /// A component is a Windows device name (`CON`, `NUL`, `COM1`, ...), with or without an
    /// extension.
    ReservedName(String),
    /// A component ends with a dot or a space, which Windows strips silently.
    TrailingDotOrSpace(String),
    /// A component is longer than [`MAX_COMPONENT_LEN`] bytes.
    TooLong(usize),
}

/// The longest path component accepted, in bytes (file systems allow 255; libtorrent trims to
/// 240 to leave room for suffixes such as `.1` or `.part`).
pub const MAX_COMPONENT_LEN: usize = 240;

/// What [`sanitize_component`] changed in a component, so the caller can warn about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sanitization {
    /// Bytes that are not UTF-8 were replaced by `_`.
    InvalidUtf8,
    /// Separators, control characters or `:*?"<>|` were replaced by `_`.
    InvalidChars,
    /// A Windows device name (`CON`, `NUL`, `COM1`, ...) got a `_` prefix.
    ReservedName,
    /// Trailing dots and spaces were removed.
    TrailingDotsOrSpaces,
    /// The component was cut to [`MAX_COMPONENT_LEN`] bytes, keeping its extension.
    Truncated,
    /// An empty or `.` component was dropped.
    Dropped,
}

/// The outcome of [`sanitize_component`] for one raw component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Component {
    /// The component, possibly changed; `changes` says how (empty if it was already safe).
    Keep {
        /// The safe component.
        name: String,
        /// What was changed, in the order it was done.
        changes: Vec<Sanitization>,
    },
    /// The component is empty or `.` and is left out of the path (as libtorrent does).
    Drop,
}

impl RelativePath {
    /// Builds a path from components, rejecting any that could escape the download directory
    /// or that some platform would not store under that exact name.
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

/// Turns one raw path component from a torrent into a safe one, as libtorrent would: invalid
/// UTF-8 and forbidden characters become `_`, Windows device names get a `_` prefix, trailing
/// dots and spaces go, over-long names are cut keeping the extension, and empty or `.`
/// components are dropped. It refuses only what is clearly an attack: `..` and absolute paths
/// (a component starting with `/` or `\`, or a drive such as `C:`).
pub fn sanitize_component(raw: &[u8]) -> Result<Component, PathError> {
    let mut changes = Vec::new();
    let text = match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) => {
            changes.push(Sanitization::InvalidUtf8);
            String::from_utf8_lossy(raw).replace('\u{FFFD}', "_")
        }
    };
    if text == ".." {
        return Err(PathError::DotComponent(text));
    }
    if text.is_empty() || text == "." {
        return Ok(Component::Drop);
    }
    if text.starts_with(['/', '\\']) {
        return Err(PathError::Absolute(text));
    }
    if is_drive_root(&text) {
        return Err(PathError::Drive(text));
    }
    // `../x` or `a/../../b` inside one component: after replacing separators it is a harmless
    // name, but a torrent that tries it is hostile.
    if text.split(['/', '\\']).any(|part| part == "..") {
        return Err(PathError::DotComponent(text));
    }
    let mut name = text;
    if name.chars().any(is_forbidden) {
        name = name
            .chars()
            .map(|c| if is_forbidden(c) { '_' } else { c })
            .collect();
        changes.push(Sanitization::InvalidChars);
    }
    let trimmed = name.trim_end_matches(['.', ' ']);
    if trimmed.len() != name.len() {
        changes.push(Sanitization::TrailingDotsOrSpaces);
        name = if trimmed.is_empty() {
            "_".to_owned()
        } else {
            trimmed.to_owned()
        };
    }
    if is_reserved(&name) {
        changes.push(Sanitization::ReservedName);
        name.insert(0, '_');
    }
    if name.len() > MAX_COMPONENT_LEN {
        changes.push(Sanitization::Truncated);
        name = truncate_keeping_extension(&name);
    }
    debug_assert!(check_component(&name).is_ok(), "{name:?}");
    Ok(Component::Keep { name, changes })
}

fn truncate_keeping_extension(name: &str) -> String {
    let ext = match name.rfind('.') {
        Some(dot) if name.len() - dot <= 16 && dot > 0 => &name[dot..],
        _ => "",
    };
    let mut cut = MAX_COMPONENT_LEN - ext.len();
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = name[..cut].trim_end_matches(['.', ' ']).to_owned();
    if out.is_empty() {
        out.push('_');
    }
    out.push_str(ext);
    out
}

fn is_forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
}

/// `C:`, `C:\x` or `C:/x`: a path that starts at a drive's root (`a:b` is merely a bad name).
fn is_drive_root(c: &str) -> bool {
    let b = c.as_bytes();
    is_drive(c) && (b.len() == 2 || b[2] == b'/' || b[2] == b'\\')
}

fn is_drive(c: &str) -> bool {
    let b = c.as_bytes();
    b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic()
}

/// Windows device names, reserved with any extension (`CON`, `con.txt`, `COM1.log`).
fn is_reserved(c: &str) -> bool {
    let stem = c.split('.').next().unwrap_or(c).trim_end_matches(' ');
    let b = stem.as_bytes();
    let is = |name: &str| stem.eq_ignore_ascii_case(name);
    is("CON")
        || is("PRN")
        || is("AUX")
        || is("NUL")
        || is("CONIN$")
        || is("CONOUT$")
        || (b.len() == 4
            && (b[..3].eq_ignore_ascii_case(b"COM") || b[..3].eq_ignore_ascii_case(b"LPT"))
            && (b'1'..=b'9').contains(&b[3]))
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
    if is_drive(c) {
        return Err(PathError::Drive(c.to_owned()));
    }
    if c.chars().any(is_forbidden) {
        return Err(PathError::InvalidChar(c.to_owned()));
    }
    if c.ends_with(['.', ' ']) {
        return Err(PathError::TrailingDotOrSpace(c.to_owned()));
    }
    if is_reserved(c) {
        return Err(PathError::ReservedName(c.to_owned()));
    }
    if c.len() > MAX_COMPONENT_LEN {
        return Err(PathError::TooLong(c.len()));
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

impl fmt::Display for Sanitization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidUtf8 => "invalid UTF-8 replaced",
            Self::InvalidChars => "forbidden characters replaced",
            Self::ReservedName => "Windows reserved name renamed",
            Self::TrailingDotsOrSpaces => "trailing dots or spaces removed",
            Self::Truncated => "over-long name truncated",
            Self::Dropped => "empty or '.' component dropped",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(raw: &[u8]) -> (String, Vec<Sanitization>) {
        match sanitize_component(raw).unwrap() {
            Component::Keep { name, changes } => (name, changes),
            Component::Drop => panic!("{raw:?} dropped"),
        }
    }

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

    #[test]
    fn platform_hazards_are_rejected_by_from_components() {
        for (c, want) in [
            ("CON", PathError::ReservedName("CON".into())),
            ("nul.txt", PathError::ReservedName("nul.txt".into())),
            ("com1", PathError::ReservedName("com1".into())),
            ("a.", PathError::TrailingDotOrSpace("a.".into())),
            ("a ", PathError::TrailingDotOrSpace("a ".into())),
            ("ab:c", PathError::InvalidChar("ab:c".into())),
            ("a\nb", PathError::InvalidChar("a\nb".into())),
        ] {
            assert_eq!(RelativePath::from_components([c]), Err(want), "{c:?}");
        }
        assert_eq!(
            RelativePath::from_components(["x".repeat(241)]),
            Err(PathError::TooLong(241))
        );
        // Look-alikes of reserved names are fine.
        assert!(RelativePath::from_components(["COM0", "CONSOLE", "LPT10", "nul_"]).is_ok());
    }

    #[test]
    fn sanitize_keeps_safe_names_unchanged() {
        assert_eq!(keep(b"movie.mkv"), ("movie.mkv".into(), vec![]));
        assert_eq!(keep("日本語.txt".as_bytes()), ("日本語.txt".into(), vec![]));
        assert_eq!(
            keep(b"..."),
            ("_".into(), vec![Sanitization::TrailingDotsOrSpaces])
        );
    }

    #[test]
    fn sanitize_repairs_what_libtorrent_repairs() {
        assert_eq!(
            keep(b"a/b\\c"),
            ("a_b_c".into(), vec![Sanitization::InvalidChars])
        );
        assert_eq!(
            keep(b"a\0b:c*?"),
            ("a_b_c__".into(), vec![Sanitization::InvalidChars])
        );
        assert_eq!(
            keep(b"a:b"),
            ("a_b".into(), vec![Sanitization::InvalidChars])
        );
        assert_eq!(
            keep(b"CON"),
            ("_CON".into(), vec![Sanitization::ReservedName])
        );
        assert_eq!(
            keep(b"lpt3.log"),
            ("_lpt3.log".into(), vec![Sanitization::ReservedName])
        );
        assert_eq!(
            keep(b"name. . "),
            ("name".into(), vec![Sanitization::TrailingDotsOrSpaces])
        );
        assert_eq!(
            keep(b"nul."),
            (
                "_nul".into(),
                vec![
                    Sanitization::TrailingDotsOrSpaces,
                    Sanitization::ReservedName
                ]
            )
        );
        assert_eq!(
            keep(b"ab\xffcd"),
            ("ab_cd".into(), vec![Sanitization::InvalidUtf8])
        );
        let long = format!("{}.mkv", "é".repeat(200));
        let (name, changes) = keep(long.as_bytes());
        assert_eq!(changes, vec![Sanitization::Truncated]);
        assert!(
            name.len() <= MAX_COMPONENT_LEN && name.ends_with(".mkv"),
            "{name}"
        );
        assert_eq!(sanitize_component(b"").unwrap(), Component::Drop);
        assert_eq!(sanitize_component(b".").unwrap(), Component::Drop);
    }

    #[test]
    fn sanitize_refuses_attacks() {
        assert_eq!(
            sanitize_component(b".."),
            Err(PathError::DotComponent("..".into()))
        );
        assert_eq!(
            sanitize_component(b"../../etc"),
            Err(PathError::DotComponent("../../etc".into()))
        );
        assert_eq!(
            sanitize_component(b"a\\..\\b"),
            Err(PathError::DotComponent("a\\..\\b".into()))
        );
        assert_eq!(
            sanitize_component(b"/etc/passwd"),
            Err(PathError::Absolute("/etc/passwd".into()))
        );
        assert_eq!(
            sanitize_component(b"\\\\server\\share"),
            Err(PathError::Absolute("\\\\server\\share".into()))
        );
        assert_eq!(
            sanitize_component(b"C:\\Windows"),
            Err(PathError::Drive("C:\\Windows".into()))
        );
    }
}
