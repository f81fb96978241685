//! From bencode to [`Metainfo`]: the `info` dictionary, then the outer fields (trackers,
//! web seeds, comment, dates).

use std::ops::Range;

use bytes::Bytes;

use super::error::{MetainfoError, Warning};
use super::v2::{self, V2Data};
use super::{
    FileEntry, MAX_HTTP_SEEDS, MAX_PIECE_LENGTH, MetaVersion, Metainfo, PIECE_LENGTH_MULTIPLE,
    files,
};
use crate::bencode::{Dict, Value, decode, decode_prefix};
use crate::id::{InfoHash, InfoHashV2, InfoHashes};
use crate::layout::{Layout, LayoutError};
use crate::tracker::{Scheme, TrackerUrl};

/// Parses a whole .torrent.
/// Bytes after the top-level dictionary are ignored, as libtorrent ignores them.
pub(super) fn torrent(bytes: &[u8]) -> Result<Metainfo, MetainfoError> {
    let (root, used) = decode_prefix(bytes)?;
    let dict = root.as_dict().ok_or(MetainfoError::NotADictionary)?;
    let info = dict
        .get(b"info")
        .ok_or_else(|| MetainfoError::Missing("info".into()))?;
    let mut m = info_value(info)?;
    if let Some(v2) = &mut m.v2 {
        v2.piece_layers = v2::piece_layers(dict, &m.files, &v2.roots, m.layout.piece_length())?;
    }
    if used < bytes.len() {
        m.warnings.push(Warning::TrailingBytes(bytes.len() - used));
    }
    m.trackers = trackers(dict);
    m.url_list = url_list(dict);
    m.http_seeds = http_seeds(dict);
    m.comment = text(dict, b"comment", "comment", &mut m.warnings);
    m.created_by = text(dict, b"created by", "created by", &mut m.warnings);
    m.creation_date = dict.int(b"creation date");
    Ok(m)
}

/// Parses a bare `info` dictionary.
pub(super) fn info_only(bytes: &[u8]) -> Result<Metainfo, MetainfoError> {
    let info = decode(bytes)?;
    info_value(&info)
}

fn info_value(info: &Value<'_>) -> Result<Metainfo, MetainfoError> {
    let dict = info.as_dict().ok_or_else(|| MetainfoError::WrongType {
        field: "info".into(),
        expected: "dictionary",
        found: info.type_name(),
    })?;
    let meta_version = int_field(dict, b"meta version", Field::Info("meta version"))?;
    let has_v1 = dict.get(b"pieces").is_some();
    let has_v2 = dict.get(b"file tree").is_some();
    let version = match meta_version {
        None | Some(1) if !has_v1 && has_v2 => {
            return Err(MetainfoError::FileTreeWithoutMetaVersion);
        }
        None | Some(1) => MetaVersion::V1,
        Some(2) if has_v1 => MetaVersion::Hybrid,
        Some(2) => MetaVersion::V2,
        Some(v) => return Err(MetainfoError::UnsupportedMetaVersion(v)),
    };
    let mut warnings = Vec::new();
    let info_hashes = InfoHashes {
        v1: (version != MetaVersion::V2).then(|| InfoHash::of_info(info.raw())),
        v2: (version != MetaVersion::V1).then(|| InfoHashV2::of_info(info.raw())),
    };
    let single = dict.get(b"files").is_none();
    let name = match files::name(dict, single, &mut warnings)? {
        Some(name) => name,
        // A single file needs a name; libtorrent refuses it too.
        None if single => {
            return Err(MetainfoError::UnsafePath {
                field: "info.name".into(),
                error: super::PathError::DotComponent(
                    String::from_utf8_lossy(dict.bytes(b"name").unwrap_or_default()).into_owned(),
                ),
            });
        }
        None => {
            let hex = match info_hashes {
                InfoHashes { v1: Some(v1), .. } => v1.to_hex(),
                InfoHashes { v2: Some(v2), .. } => v2.to_hex(),
                _ => String::new(),
            };
            warnings.push(Warning::NameFromInfoHash(hex.clone()));
            hex
        }
    };
    let piece_length = piece_length(dict)?;
    let tree = if version == MetaVersion::V1 {
        None
    } else {
        if crate::merkle::piece_height(piece_length).is_none() {
            return Err(MetainfoError::PieceLengthNotPowerOfTwo(i64::from(
                piece_length,
            )));
        }
        // A hybrid's warnings come from its v1 half, which names the same files.
        let mut tree_warnings = Vec::new();
        let sink = if version == MetaVersion::V2 {
            &mut warnings
        } else {
            &mut tree_warnings
        };
        Some(v2::file_tree(dict, &name, !single, piece_length, sink)?)
    };
    let (files, single_file, piece_hashes, roots) = match tree {
        Some(tree) if version == MetaVersion::V2 => {
            let single = tree.single_file;
            (tree.files, single, 0..0, Some(tree.roots))
        }
        tree => {
            let (files, single, pieces) = v1_files(dict, &name, &mut warnings)?;
            // The decoder borrows every value from its input, so the hashes lie within it.
            let hashes = within(info.raw(), pieces)
                .ok_or_else(|| MetainfoError::Missing("info.pieces".into()))?;
            let roots = match tree {
                Some(tree) => Some(v2::match_hybrid(&files, tree)?),
                None => None,
            };
            (files, single, hashes, roots)
        }
    };
    let layout = Layout::new(piece_length, files.iter().map(|f| (f.length, f.padding))).map_err(
        |e| match e {
            LayoutError::TotalLengthOverflow => MetainfoError::TotalLengthOverflow,
            _ => MetainfoError::TooManyPieces,
        },
    )?;
    if layout.total_length() == 0 {
        return Err(MetainfoError::EmptyTorrent);
    }
    let hash_count = piece_hashes.len() / 20;
    if version != MetaVersion::V2 && hash_count != layout.piece_count() as usize {
        return Err(MetainfoError::PieceCountMismatch {
            expected: u64::from(layout.piece_count()),
            found: hash_count,
        });
    }
    let private = int_field(dict, b"private", Field::Info("private"))? == Some(1);
    Ok(Metainfo {
        info_hashes,
        info_bytes: Bytes::copy_from_slice(info.raw()),
        name,
        pieces: piece_hashes,
        files,
        layout,
        private,
        version,
        v2: roots.map(|roots| V2Data {
            roots,
            piece_layers: Default::default(),
        }),
        trackers: Vec::new(),
        url_list: Vec::new(),
        http_seeds: Vec::new(),
        comment: None,
        created_by: None,
        creation_date: None,
        single_file,
        warnings,
    })
}

/// The files, whether it is a single-file torrent, and the SHA-1 piece hashes (a slice of the
/// `info` dictionary's bytes).
type V1Files<'a> = (Vec<FileEntry>, bool, &'a [u8]);

/// The v1 half: `length` or `files`, and the `pieces` hashes.
fn v1_files<'a>(
    dict: &Dict<'a>,
    name: &str,
    warnings: &mut Vec<Warning>,
) -> Result<V1Files<'a>, MetainfoError> {
    let pieces = bytes_field(dict, b"pieces", Field::Info("pieces"))?
        .ok_or_else(|| MetainfoError::Missing("info.pieces".into()))?;
    if pieces.len() % 20 != 0 {
        return Err(MetainfoError::PiecesNotMultipleOf20(pieces.len()));
    }
    let length = int_field(dict, b"length", Field::Info("length"))?;
    let file_list = list_field(dict, b"files", Field::Info("files"))?;
    let (files, single_file) = match (length, file_list) {
        (Some(_), Some(_)) => return Err(MetainfoError::LengthAndFiles),
        (None, None) => return Err(MetainfoError::Missing("info.length or info.files".into())),
        (Some(length), None) => {
            let length = u64::try_from(length).map_err(|_| MetainfoError::NegativeLength {
                field: "info.length".into(),
                value: length,
            })?;
            // A symbolic link holds no data: a single-file torrent of one is empty.
            let link = dict.bytes(b"attr").is_some_and(|a| a.contains(&b'l'));
            let length = if link { 0 } else { length };
            let path = super::RelativePath::from_components([name]).map_err(|error| {
                MetainfoError::UnsafePath {
                    field: "info.name".into(),
                    error,
                }
            })?;
            let file = FileEntry {
                path,
                length,
                padding: false,
                symlink: None,
            };
            (vec![file], true)
        }
        (None, Some(list)) => (files::multi(name, list, warnings)?, false),
    };
    Ok((files, single_file, pieces))
}

/// Where `part` (a slice of `whole`, as the bencode decoder hands out) lies in `whole`;
/// `None` for bytes from elsewhere.
fn within(whole: &[u8], part: &[u8]) -> Option<Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let range = start..start.checked_add(part.len())?;
    whole
        .get(range.clone())
        .is_some_and(|p| std::ptr::eq(p, part))
        .then_some(range)
}

fn piece_length(info: &Dict<'_>) -> Result<u32, MetainfoError> {
    let n = int_field(info, b"piece length", Field::Info("piece length"))?
        .ok_or_else(|| MetainfoError::Missing("info.piece length".into()))?;
    if n <= 0 || n % i64::from(PIECE_LENGTH_MULTIPLE) != 0 {
        return Err(MetainfoError::BadPieceLength(n));
    }
    match u32::try_from(n) {
        Ok(n) if n <= MAX_PIECE_LENGTH => Ok(n),
        _ => Err(MetainfoError::PieceLengthTooLarge(n)),
    }
}

/// Tracker tiers: `announce-list` (BEP 12) if it holds any URL, else `announce`. Entries that
/// are not UTF-8 strings, empty, or already listed are skipped, as libtorrent does.
fn trackers(root: &Dict<'_>) -> Vec<Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    let mut add = |tier: &mut Vec<String>, v: &Value<'_>| {
        if let Some(url) = v.as_str().map(str::trim).filter(|u| !u.is_empty())
            && seen.insert(url.to_owned())
        {
            tier.push(url.to_owned());
        }
    };
    let mut tiers = Vec::new();
    for entry in root.list(b"announce-list").unwrap_or_default() {
        let mut tier = Vec::new();
        match entry.as_list() {
            Some(urls) => urls.iter().for_each(|u| add(&mut tier, u)),
            // Some writers flatten the list: one URL per tier.
            None => add(&mut tier, entry),
        }
        if !tier.is_empty() {
            tiers.push(tier);
        }
    }
    if tiers.is_empty()
        && let Some(announce) = root.get(b"announce")
    {
        let mut tier = Vec::new();
        add(&mut tier, announce);
        if !tier.is_empty() {
            tiers.push(tier);
        }
    }
    tiers
}

/// BEP 19 `url-list`: one string or a list of strings.
fn url_list(root: &Dict<'_>) -> Vec<String> {
    let Some(v) = root.get(b"url-list") else {
        return Vec::new();
    };
    let items: Vec<&Value<'_>> = match v.as_list() {
        Some(l) => l.iter().collect(),
        None => vec![v],
    };
    items
        .into_iter()
        .filter_map(|v| v.as_str().map(str::trim))
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect()
}

/// BEP 17 `httpseeds`: a list of strings, of which the first [`MAX_HTTP_SEEDS`] distinct
/// http(s) URLs are kept (a hostile list cannot make the session hold thousands of servers).
fn http_seeds(root: &Dict<'_>) -> Vec<String> {
    let Some(list) = root.get(b"httpseeds").and_then(Value::as_list) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for url in list.iter().filter_map(|v| v.as_str().map(str::trim)) {
        if out.len() >= MAX_HTTP_SEEDS {
            break;
        }
        let usable = TrackerUrl::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), Scheme::Http | Scheme::Https));
        if usable && !out.iter().any(|u| u == url) {
            out.push(url.to_owned());
        }
    }
    out
}

/// An optional free-text field, preferring its `.utf-8` variant; invalid UTF-8 is read lossily
/// with a warning, and a value of the wrong type is ignored.
fn text(
    root: &Dict<'_>,
    key: &'static [u8],
    field: &'static str,
    warnings: &mut Vec<Warning>,
) -> Option<String> {
    let utf8_key = [key, b".utf-8"].concat();
    if let Some(s) = root.str(&utf8_key) {
        return Some(s.to_owned());
    }
    let raw = root.bytes(key)?;
    match std::str::from_utf8(raw) {
        Ok(s) => Some(s.to_owned()),
        Err(_) => {
            warnings.push(Warning::LossyText(field));
            Some(String::from_utf8_lossy(raw).into_owned())
        }
    }
}

/// An optional integer field; present with another type is an error.
pub(super) fn int_field(
    dict: &Dict<'_>,
    key: &[u8],
    field: Field,
) -> Result<Option<i64>, MetainfoError> {
    match dict.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_int()
            .map(Some)
            .ok_or_else(|| wrong(field, "integer", v)),
    }
}

/// An optional byte-string field; present with another type is an error.
pub(super) fn bytes_field<'a>(
    dict: &Dict<'a>,
    key: &[u8],
    field: Field,
) -> Result<Option<&'a [u8]>, MetainfoError> {
    match dict.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_bytes()
            .map(Some)
            .ok_or_else(|| wrong(field, "byte string", v)),
    }
}

/// An optional list field; present with another type is an error.
pub(super) fn list_field<'d, 'a>(
    dict: &'d Dict<'a>,
    key: &[u8],
    field: Field,
) -> Result<Option<&'d [Value<'a>]>, MetainfoError> {
    match dict.get(key) {
        None => Ok(None),
        Some(v) => v.as_list().map(Some).ok_or_else(|| wrong(field, "list", v)),
    }
}

fn wrong(field: Field, expected: &'static str, v: &Value<'_>) -> MetainfoError {
    MetainfoError::WrongType {
        field: field.to_string(),
        expected,
        found: v.type_name(),
    }
}

/// A field's name for error messages, formatted only when an error or warning needs it (a
/// torrent with 10 000 files would otherwise format 40 000 names it never shows).
#[derive(Clone, Copy, Debug)]
pub(super) enum Field {
    /// `info.<key>`
    Info(&'static str),
    /// `info.files[<index>].<key>`
    File(usize, &'static str),
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Info(key) => write!(f, "info.{key}"),
            Self::File(i, key) => write!(f, "info.files[{i}].{key}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::within;

    #[test]
    fn within_finds_a_borrowed_slice_and_refuses_other_bytes() {
        let whole = b"6:pieces20:abcdefghijklmnopqrst".to_vec();
        assert_eq!(within(&whole, &whole[11..31]), Some(11..31));
        let elsewhere = whole.clone();
        assert_eq!(within(&whole, &elsewhere[11..31]), None);
    }
}
