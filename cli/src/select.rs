//! `download --only INDEXES`: which files to download, numbered as `info` prints them and as
//! Transmission numbers them (0-based, in the torrent's order, padding files left out).

use std::collections::BTreeSet;
use std::fmt;

use sanstorrent_core::metainfo::Metainfo;
use sanstorrent_core::session::Priority;

/// The most indexes one `--only` may name (a range counts each index): far more than any
/// real torrent's files, and a bound on the set built from `0-18446744073709551615`.
const MAX_INDEXES: usize = 1 << 20;

/// Why an `--only` list is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum OnlyError {
    /// Nothing between two commas (or an empty list).
    Empty,
    /// A part that is neither a number nor `A-B`.
    NotIndex(String),
    /// A range whose end is before its start.
    Backwards(u64, u64),
    /// More indexes than [`MAX_INDEXES`].
    TooMany,
    /// An index past the torrent's last file.
    OutOfRange {
        /// The index given.
        index: u64,
        /// Files of the torrent (padding left out).
        files: usize,
    },
}

impl fmt::Display for OnlyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("--only: an empty file index (write e.g. 0,2-5)"),
            Self::NotIndex(s) => write!(
                f,
                "--only: {s:?} is not a file index or a range (write e.g. 0,2-5)"
            ),
            Self::Backwards(a, b) => write!(f, "--only: the range {a}-{b} ends before it starts"),
            Self::TooMany => write!(f, "--only: more than {MAX_INDEXES} file indexes"),
            Self::OutOfRange { index, files } => write!(
                f,
                "--only: file {index} does not exist: the torrent has {files} file{} \
                 (0 to {}; `sanstorrent info` numbers them)",
                if *files == 1 { "" } else { "s" },
                files.saturating_sub(1)
            ),
        }
    }
}

/// Parses `0,2-5,7` (spaces around parts allowed) into the set of indexes named.
pub(crate) fn parse(text: &str) -> Result<BTreeSet<u64>, OnlyError> {
    let mut out = BTreeSet::new();
    for part in text.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(OnlyError::Empty);
        }
        let number = |s: &str| {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(OnlyError::NotIndex(part.to_string()));
            }
            s.parse::<u64>()
                .map_err(|_| OnlyError::NotIndex(part.to_string()))
        };
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let n = number(part)?;
                (n, n)
            }
        };
        if last < first {
            return Err(OnlyError::Backwards(first, last));
        }
        if last - first >= MAX_INDEXES as u64 {
            return Err(OnlyError::TooMany);
        }
        out.extend(first..=last);
        if out.len() > MAX_INDEXES {
            return Err(OnlyError::TooMany);
        }
    }
    Ok(out)
}

/// One priority per file of `meta` (padding included, as the session wants them): normal for
/// the chosen files, skip for the others. `chosen` counts files without padding.
pub(crate) fn priorities(
    meta: &Metainfo,
    chosen: &BTreeSet<u64>,
) -> Result<Vec<Priority>, OnlyError> {
    let files = meta.files().iter().filter(|f| !f.padding).count();
    if let Some(&index) = chosen.iter().find(|&&i| i >= files as u64) {
        return Err(OnlyError::OutOfRange { index, files });
    }
    let mut numbered = 0u64;
    Ok(meta
        .files()
        .iter()
        .map(|f| {
            if f.padding {
                return Priority::Skip;
            }
            let wanted = chosen.contains(&numbered);
            numbered += 1;
            if wanted {
                Priority::Normal
            } else {
                Priority::Skip
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ranges_parse() {
        assert_eq!(parse("3").unwrap(), BTreeSet::from([3]));
        assert_eq!(
            parse("0, 2-5,7,4").unwrap(),
            BTreeSet::from([0, 2, 3, 4, 5, 7])
        );
        assert_eq!(parse("6-6").unwrap(), BTreeSet::from([6]));
    }

    #[test]
    fn bad_lists_are_refused_with_the_reason() {
        assert_eq!(parse(""), Err(OnlyError::Empty));
        assert_eq!(parse("1,,2"), Err(OnlyError::Empty));
        assert_eq!(parse("1,"), Err(OnlyError::Empty));
        assert_eq!(parse("x"), Err(OnlyError::NotIndex("x".into())));
        assert_eq!(parse("-1"), Err(OnlyError::NotIndex("-1".into())));
        assert_eq!(parse("+1"), Err(OnlyError::NotIndex("+1".into())));
        assert_eq!(parse("1-2-3"), Err(OnlyError::NotIndex("1-2-3".into())));
        assert_eq!(parse("2-"), Err(OnlyError::NotIndex("2-".into())));
        assert_eq!(
            parse("99999999999999999999"),
            Err(OnlyError::NotIndex("99999999999999999999".into()))
        );
        assert_eq!(parse("5-2"), Err(OnlyError::Backwards(5, 2)));
        assert_eq!(parse("0-18446744073709551615"), Err(OnlyError::TooMany));
        assert!(parse("5-2").unwrap_err().to_string().contains("5-2"));
    }

    /// Files `a` (10 bytes), a padding file, `b` (16), `c` (empty), in one piece.
    fn sample() -> Metainfo {
        let file = |attr: &str, len: u32, path: &str| {
            format!("d{attr}6:lengthi{len}e4:pathl{}:{path}ee", path.len())
        };
        let files = [
            file("", 10, "a"),
            file("4:attr1:p", 6, ".pad"),
            file("", 16, "b"),
            file("", 0, "c"),
        ]
        .concat();
        let mut bytes =
            format!("d4:infod5:filesl{files}e4:name1:t12:piece lengthi16384e6:pieces20:")
                .into_bytes();
        bytes.extend([7u8; 20]);
        bytes.extend(b"ee");
        Metainfo::from_bytes(&bytes).expect("valid torrent")
    }

    #[test]
    fn indexes_leave_padding_out() {
        let meta = sample();
        use Priority::{Normal, Skip};
        let chosen = priorities(&meta, &BTreeSet::from([1])).unwrap();
        assert_eq!(chosen, [Skip, Skip, Normal, Skip]);
        let chosen = priorities(&meta, &BTreeSet::from([0, 2])).unwrap();
        assert_eq!(chosen, [Normal, Skip, Skip, Normal]);
        assert_eq!(
            priorities(&meta, &BTreeSet::from([0, 3])),
            Err(OnlyError::OutOfRange { index: 3, files: 3 })
        );
    }
}
