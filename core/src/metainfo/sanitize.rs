//! [`sanitize_component`]: one raw path element from a torrent turned into a safe file name by
//! libtorrent 2.0's rules (`sanitize_append_path_element`), so that a torrent libtorrent loads
//! loads here too, under the same names. No element is ever refused: `..`, `.`, and elements
//! that are only separators are dropped, an empty element becomes `_`, `/` and `\` inside an
//! element are removed (so `/etc` becomes `etc`: nothing is absolute), invalid UTF-8 and
//! control characters become `_`, and long names are cut near 240 bytes keeping a short
//! extension. With [`PathRules::Windows`] trailing dots and spaces go, `:*?"<>|` become `_`, and
//! device names (`CON`, `com1.txt`) get a `_` prefix.

use super::path::{MAX_COMPONENT_LEN, PathRules, check_component_with};

/// What [`sanitize_component`] changed in a component, so the caller can warn about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sanitization {
    /// Bytes that are not UTF-8 were replaced by `_`.
    InvalidUtf8,
    /// Control characters (or, on Windows, `:*?"<>|`) were replaced by `_`.
    InvalidChars,
    /// A Windows device name (`CON`, `NUL`, `COM1`, ...) got a `_` prefix.
    ReservedName,
    /// Trailing dots and spaces were removed (Windows).
    TrailingDotsOrSpaces,
    /// The component was cut near 240 bytes, keeping its extension.
    Truncated,
    /// The component (`.`, `..`, or nothing but separators) was left out of the path.
    Dropped,
    /// Separators (`/`, `\`) or characters that change the writing direction were removed.
    Removed,
    /// An empty component became `_`.
    EmptyReplaced,
}

/// The outcome of [`sanitize_component`] for one raw component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Component {
    /// The component, possibly changed; `changes` says how (empty if it was already safe).
    Keep {
        /// The safe component.
        name: String,
        /// What was changed, in the order it was first done.
        changes: Vec<Sanitization>,
    },
    /// The component is left out of the path (as libtorrent does with `.` and `..`).
    Drop,
}

/// libtorrent looks for an extension to keep once a name reaches this many bytes.
const TRUNCATE_AT: usize = 240;

/// Sanitizes one raw path component with the rules of the platform we run on.
pub fn sanitize_component(raw: &[u8]) -> Component {
    sanitize_component_with(raw, PathRules::HOST)
}

/// Sanitizes one raw path component with the given platform's rules, exactly as libtorrent
/// 2.0 built for that platform does (see the module documentation).
pub fn sanitize_component_with(raw: &[u8], rules: PathRules) -> Component {
    if raw == b"." {
        return Component::Drop;
    }
    if raw.is_empty() {
        return Component::Keep {
            name: "_".to_owned(),
            changes: vec![Sanitization::EmptyReplaced],
        };
    }
    let mut changes = Vec::new();
    let mut note = |c: Sanitization| {
        if !changes.contains(&c) {
            changes.push(c);
        }
    };
    let mut name = String::with_capacity(raw.len().min(2 * TRUNCATE_AT));
    let (mut added, mut chars, mut dots) = (0usize, 0usize, 0usize);
    let mut found_extension = false;
    let mut i = 0;
    while i < raw.len() {
        let (code_point, len) = parse_utf8_codepoint(&raw[i..]);
        let Some(c) = code_point else {
            name.push('_');
            note(Sanitization::InvalidUtf8);
            (added, chars) = (added + 1, chars + 1);
            i += len;
            continue;
        };
        if is_filtered(c) {
            note(Sanitization::Removed);
            i += len;
            continue;
        }
        if !is_valid(c, rules) {
            name.push('_');
            note(Sanitization::InvalidChars);
            (added, chars) = (added + 1, chars + 1);
            i += len;
            continue;
        }
        name.push(c);
        dots += usize::from(c == '.');
        (added, chars) = (added + len, chars + 1);
        let count = match rules {
            PathRules::Windows => chars,
            PathRules::Unix => added,
        };
        if count >= TRUNCATE_AT && !found_extension {
            note(Sanitization::Truncated);
            // A dot among the last ten bytes, past what was already taken, starts the
            // extension to keep; without one the name ends here.
            let floor = raw.len().saturating_sub(10).max(i);
            match (floor + 1..raw.len()).rev().find(|&j| raw[j] == b'.') {
                Some(dot) => {
                    found_extension = true;
                    i = dot;
                    continue;
                }
                None => break,
            }
        }
        i += len;
    }
    if added == dots && added <= 2 {
        note(Sanitization::Dropped);
        return Component::Drop;
    }
    if rules == PathRules::Windows {
        let trimmed = name.trim_end_matches(['.', ' ']).len();
        if trimmed != name.len() {
            note(Sanitization::TrailingDotsOrSpaces);
            name.truncate(trimmed);
            if name.is_empty() {
                return Component::Drop;
            }
        }
        if is_reserved(&name) {
            note(Sanitization::ReservedName);
            name.insert(0, '_');
        }
    }
    if exceeds(&name, rules) {
        // Only `_` replacements (which libtorrent does not count towards the cut) get here.
        note(Sanitization::Truncated);
        while exceeds(&name, rules) {
            name.pop();
        }
    }
    debug_assert!(check_component_with(&name, rules).is_ok(), "{name:?}");
    Component::Keep { name, changes }
}

fn exceeds(name: &str, rules: PathRules) -> bool {
    match rules {
        PathRules::Unix => name.len() > MAX_COMPONENT_LEN,
        PathRules::Windows => name.chars().count() > MAX_COMPONENT_LEN,
    }
}

/// Decodes one UTF-8 sequence the way libtorrent does: the lead byte says how many bytes the
/// sequence takes, and an invalid sequence (bad continuation, overlong, surrogate, past
/// U+10FFFF, truncated) is skipped whole. Returns the character, if valid, and the bytes to
/// skip (at least 1, at most what is left).
fn parse_utf8_codepoint(s: &[u8]) -> (Option<char>, usize) {
    let b = s[0];
    let len = match b {
        0x00..=0x7f => return (Some(char::from(b)), 1),
        _ if b >> 5 == 0b110 => 2,
        _ if b >> 4 == 0b1110 => 3,
        _ if b >> 3 == 0b11110 => 4,
        _ if b >> 2 == 0b111110 => return (None, 5.min(s.len())),
        _ => return (None, 1),
    };
    if len > s.len() {
        return (None, s.len());
    }
    let mut c = u32::from(b) & (0x7f >> len);
    for &cont in &s[1..len] {
        if cont & 0b1100_0000 != 0b1000_0000 {
            return (None, len);
        }
        c = (c << 6) | u32::from(cont & 0b11_1111);
    }
    let overlong = match len {
        2 => c < 0x80,
        3 => c < 0x800,
        _ => c < 0x1_0000,
    };
    if overlong {
        return (None, len);
    }
    // `from_u32` refuses surrogates and anything past U+10FFFF, as libtorrent does.
    (char::from_u32(c), len)
}

/// Characters libtorrent removes from a name: separators, and the direction overrides and
/// marks that make `exe.avi` display as `iva.exe`.
fn is_filtered(c: char) -> bool {
    matches!(
        c,
        '/' | '\\' | '\u{202a}'..='\u{202e}' | '\u{200e}' | '\u{200f}'
    )
}

/// Characters libtorrent keeps (others become `_`): no control character below 32 and, on
/// Windows, none of `?<>"|*:`.
fn is_valid(c: char, rules: PathRules) -> bool {
    if u32::from(c) < 32 {
        return false;
    }
    rules == PathRules::Unix || !matches!(c, '?' | '<' | '>' | '"' | '|' | '*' | ':')
}

/// Windows device names, reserved with any extension (`CON`, `con.txt`, `COM1.log`).
pub(super) fn is_reserved(c: &str) -> bool {
    let stem = c.split('.').next().unwrap_or(c).trim_end_matches(' ');
    let b = stem.as_bytes();
    let is = |name: &str| stem.eq_ignore_ascii_case(name);
    is("CON")
        || is("PRN")
        || is("AUX")
        || is("NUL")
        || is("CLOCK$")
        || is("CONIN$")
        || is("CONOUT$")
        || (b.len() == 4
            && (b[..3].eq_ignore_ascii_case(b"COM") || b[..3].eq_ignore_ascii_case(b"LPT"))
            && b[3].is_ascii_digit())
}

/// Whether `c` is one of the characters [`sanitize_component`] removes.
pub(super) fn is_removed(c: char) -> bool {
    is_filtered(c)
}

impl std::fmt::Display for Sanitization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::InvalidUtf8 => "invalid UTF-8 replaced",
            Self::InvalidChars => "forbidden characters replaced",
            Self::ReservedName => "Windows reserved name renamed",
            Self::TrailingDotsOrSpaces => "trailing dots or spaces removed",
            Self::Truncated => "over-long name truncated",
            Self::Dropped => "component dropped",
            Self::Removed => "separators or direction marks removed",
            Self::EmptyReplaced => "empty component named _",
        })
    }
}

#[cfg(test)]
#[path = "sanitize_tests.rs"]
mod tests;
