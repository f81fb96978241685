//! The file list of an `info` dictionary, read as libtorrent 2.0 reads it: the name, each
//! file's sanitized path, padding files (with or without a path), BEP 47 symbolic links, and
//! renaming of files whose paths collide ([`super::collisions`]).

use super::error::{MetainfoError, Warning};
use super::parse::{Field, bytes_field, int_field, list_field};
use super::path::{PathError, RelativePath};
use super::sanitize::{Component, Sanitization, sanitize_component};
use super::{FileEntry, collisions, symlinks};
use crate::bencode::{Dict, Value};

/// libtorrent's mark of a BitComet padding file, anywhere in the path.
const BITCOMET_PADDING: &str = "_____padding_file_";

/// Reads `name` (preferring `name.utf-8`) as one sanitized path component: `None` if it
/// sanitizes to nothing (`..`, `/`). An empty name is refused, as libtorrent refuses it for a
/// single-file torrent; a multi-file torrent's empty name becomes `_`, as libtorrent's does.
pub(super) fn name(
    info: &Dict<'_>,
    single_file: bool,
    warnings: &mut Vec<Warning>,
) -> Result<Option<String>, MetainfoError> {
    let raw = match info.get(b"name.utf-8").and_then(Value::as_bytes) {
        Some(raw) => raw,
        None => bytes_field(info, b"name", Field::Info("name"))?
            .ok_or_else(|| MetainfoError::Missing("info.name".into()))?,
    };
    if raw.is_empty() && single_file {
        return Err(MetainfoError::UnsafePath {
            field: "info.name".into(),
            error: PathError::Empty,
        });
    }
    Ok(component(Field::Info("name"), raw, warnings))
}

/// The files of a multi-file torrent (`info.files`), each path prefixed by `name`.
pub(super) fn multi(
    name: &str,
    list: &[Value<'_>],
    warnings: &mut Vec<Warning>,
) -> Result<Vec<FileEntry>, MetainfoError> {
    if list.is_empty() {
        return Err(MetainfoError::NoFiles);
    }
    let mut files = Vec::with_capacity(list.len());
    let mut links = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let Some(dict) = entry.as_dict() else {
            return Err(MetainfoError::WrongType {
                field: format!("info.files[{i}]"),
                expected: "dictionary",
                found: entry.type_name(),
            });
        };
        let attr = dict.get(b"attr").and_then(Value::as_bytes).unwrap_or(b"");
        let mut padding = attr.contains(&b'p');
        let link = attr.contains(&b'l');
        // A symbolic link takes no room in the torrent, whatever `length` it states.
        let length = if link { 0 } else { length(dict, i)? };
        let path_field = Field::File(i, "path");
        let raw = match dict.get(b"path.utf-8").and_then(Value::as_list) {
            Some(l) => Some(l),
            None => list_field(dict, b"path", path_field)?,
        };
        let mut components = vec![name.to_owned()];
        match raw {
            Some(raw) if !raw.is_empty() => {
                components.extend(elements(path_field, raw, warnings)?);
                if components.len() == 1 {
                    // Every element sanitized away: libtorrent names the file `_`.
                    components.push("_".to_owned());
                }
            }
            // libtorrent gives a pad file without a path the name `.pad/<length>`.
            _ if padding => components = vec![".pad".to_owned(), length.to_string()],
            Some(_) => {
                return Err(MetainfoError::UnsafePath {
                    field: path_field.to_string(),
                    error: PathError::Empty,
                });
            }
            None => return Err(MetainfoError::Missing(path_field.to_string())),
        }
        padding |= components.iter().any(|c| c.contains(BITCOMET_PADDING));
        if link && let Some(target) = dict.get(b"symlink path").and_then(Value::as_list) {
            let target = elements(Field::File(i, "symlink path"), target, warnings)?;
            // A target that sanitizes to nothing makes the entry a plain file.
            if !target.is_empty() {
                links.push((files.len(), target));
            }
        }
        files.push(FileEntry {
            path: RelativePath::from_sanitized(components),
            length,
            padding,
            symlink: None,
        });
    }
    symlinks::resolve(&mut files, links, warnings);
    collisions::rename(&mut files, warnings);
    Ok(files)
}

/// A file's `length`, which must be a non-negative integer.
fn length(dict: &Dict<'_>, i: usize) -> Result<u64, MetainfoError> {
    let field = Field::File(i, "length");
    let length = int_field(dict, b"length", field)?
        .ok_or_else(|| MetainfoError::Missing(field.to_string()))?;
    u64::try_from(length).map_err(|_| MetainfoError::NegativeLength {
        field: field.to_string(),
        value: length,
    })
}

/// The sanitized components of a path list (elements that sanitize to nothing left out); an
/// element that is not a byte string is refused, as libtorrent refuses it.
pub(super) fn elements(
    field: Field,
    raw: &[Value<'_>],
    warnings: &mut Vec<Warning>,
) -> Result<Vec<String>, MetainfoError> {
    let mut out = Vec::with_capacity(raw.len());
    for (j, c) in raw.iter().enumerate() {
        let Some(bytes) = c.as_bytes() else {
            return Err(MetainfoError::WrongType {
                field: format!("{field}[{j}]"),
                expected: "byte string",
                found: c.type_name(),
            });
        };
        out.extend(component(field, bytes, warnings));
    }
    Ok(out)
}

/// Sanitizes one component, with a warning if it changed; `None` if it is dropped.
pub(super) fn component(field: Field, raw: &[u8], warnings: &mut Vec<Warning>) -> Option<String> {
    let original = || String::from_utf8_lossy(raw).into_owned();
    match sanitize_component(raw) {
        Component::Drop => {
            warnings.push(Warning::PathSanitized {
                field: field.to_string(),
                original: original(),
                sanitized: None,
                changes: vec![Sanitization::Dropped],
            });
            None
        }
        Component::Keep { name, changes } => {
            if !changes.is_empty() {
                warnings.push(Warning::PathSanitized {
                    field: field.to_string(),
                    original: original(),
                    sanitized: Some(name.clone()),
                    changes,
                });
            }
            Some(name)
        }
    }
}
