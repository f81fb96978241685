//! The file list of an `info` dictionary: the name, each file's sanitized path, padding files,
//! and renaming of files whose paths collide.

use std::collections::HashSet;

use super::error::{MetainfoError, Warning};
use super::parse::{bytes_field, int_field, list_field};
use super::path::{Component, PathError, RelativePath, sanitize_component};
use super::{FileEntry, MAX_COMPONENT_LEN};
use crate::bencode::{Dict, Value};

/// Reads `name` (preferring `name.utf-8`) as one sanitized path component.
pub(super) fn name(info: &Dict<'_>, warnings: &mut Vec<Warning>) -> Result<String, MetainfoError> {
    let raw = match bytes_field(info, b"name.utf-8", "info.name.utf-8") {
        Ok(Some(raw)) if std::str::from_utf8(raw).is_ok() => raw,
        _ => bytes_field(info, b"name", "info.name")?.ok_or(MetainfoError::Missing("info.name"))?,
    };
    match component("info.name", raw, warnings)? {
        Some(name) => Ok(name),
        None => Err(MetainfoError::UnsafePath {
            field: "info.name".into(),
            error: PathError::Empty,
        }),
    }
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
    for (i, entry) in list.iter().enumerate() {
        let Some(dict) = entry.as_dict() else {
            return Err(MetainfoError::WrongType {
                field: format!("info.files[{i}]"),
                expected: "dictionary",
                found: entry.type_name(),
            });
        };
        let length_field = format!("info.files[{i}].length");
        let length =
            int_field(dict, b"length", &length_field)?.ok_or_else(|| MetainfoError::WrongType {
                field: length_field.clone(),
                expected: "integer",
                found: "nothing",
            })?;
        let length = u64::try_from(length).map_err(|_| MetainfoError::NegativeLength {
            field: length_field,
            value: length,
        })?;
        let padding = bytes_field(dict, b"attr", &format!("info.files[{i}].attr"))?
            .is_some_and(|attr| attr.contains(&b'p'));
        let path_field = format!("info.files[{i}].path");
        let utf8 = list_field(dict, b"path.utf-8", &format!("info.files[{i}].path.utf-8"))
            .ok()
            .flatten()
            .filter(|l| l.iter().all(|c| c.as_str().is_some()));
        let raw = match utf8 {
            Some(l) => l,
            None => {
                list_field(dict, b"path", &path_field)?.ok_or_else(|| MetainfoError::WrongType {
                    field: path_field.clone(),
                    expected: "list",
                    found: "nothing",
                })?
            }
        };
        let mut components = vec![name.to_owned()];
        for (j, c) in raw.iter().enumerate() {
            let Some(bytes) = c.as_bytes() else {
                return Err(MetainfoError::WrongType {
                    field: format!("{path_field}[{j}]"),
                    expected: "byte string",
                    found: c.type_name(),
                });
            };
            if let Some(c) = component(&path_field, bytes, warnings)? {
                components.push(c);
            }
        }
        if components.len() == 1 {
            return Err(MetainfoError::UnsafePath {
                field: path_field,
                error: PathError::Empty,
            });
        }
        let path = RelativePath::from_components(&components).map_err(|error| {
            MetainfoError::UnsafePath {
                field: path_field,
                error,
            }
        })?;
        files.push(FileEntry {
            path,
            length,
            padding,
        });
    }
    rename_collisions(&mut files, warnings);
    Ok(files)
}

/// Sanitizes one component; `None` if it is dropped (empty or `.`).
fn component(
    field: &str,
    raw: &[u8],
    warnings: &mut Vec<Warning>,
) -> Result<Option<String>, MetainfoError> {
    let original = || String::from_utf8_lossy(raw).into_owned();
    match sanitize_component(raw) {
        Err(error) => Err(MetainfoError::UnsafePath {
            field: field.to_owned(),
            error,
        }),
        Ok(Component::Drop) => {
            warnings.push(Warning::PathSanitized {
                field: field.to_owned(),
                original: original(),
                sanitized: None,
                changes: vec![super::Sanitization::Dropped],
            });
            Ok(None)
        }
        Ok(Component::Keep { name, changes }) => {
            if !changes.is_empty() {
                warnings.push(Warning::PathSanitized {
                    field: field.to_owned(),
                    original: original(),
                    sanitized: Some(name.clone()),
                    changes,
                });
            }
            Ok(Some(name))
        }
    }
}

/// Renames a file whose path another file already has, or that another file needs as a
/// directory, by appending `.1`, `.2`, ... (padding files are never written, so they may
/// collide freely).
fn rename_collisions(files: &mut [FileEntry], warnings: &mut Vec<Warning>) {
    let mut dirs: HashSet<&[String]> = HashSet::new();
    for f in files.iter().filter(|f| !f.padding) {
        let c = f.path.components();
        for end in 1..c.len() {
            dirs.insert(&c[..end]);
        }
    }
    let dirs: HashSet<Vec<String>> = dirs.into_iter().map(<[String]>::to_vec).collect();
    let mut taken: HashSet<RelativePath> = HashSet::new();
    for (i, f) in files.iter_mut().enumerate().filter(|(_, f)| !f.padding) {
        let free = |p: &RelativePath, taken: &HashSet<RelativePath>| {
            !taken.contains(p) && !dirs.contains(p.components())
        };
        if !free(&f.path, &taken) {
            let mut base = f.path.file_name().to_owned();
            let mut cut = base.len().min(MAX_COMPONENT_LEN - 12);
            while !base.is_char_boundary(cut) {
                cut -= 1;
            }
            base.truncate(cut);
            // Pigeonhole: among this many candidates at least one is free.
            let bound = taken.len() + dirs.len() + 2;
            let renamed = (1..=bound)
                .filter_map(|n| f.path.with_file_name(&format!("{base}.{n}")).ok())
                .find(|p| free(p, &taken));
            if let Some(renamed) = renamed {
                warnings.push(Warning::DuplicatePath {
                    file: i,
                    original: f.path.to_string(),
                    renamed: renamed.to_string(),
                });
                f.path = renamed;
            }
        }
        taken.insert(f.path.clone());
    }
}
