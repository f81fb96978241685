//! The file list of an `info` dictionary: the name, each file's sanitized path, padding files,
//! and renaming of files whose paths collide.

use std::collections::HashSet;

use super::error::{MetainfoError, Warning};
use super::parse::{Field, bytes_field, int_field, list_field};
use super::path::{Component, PathError, RelativePath, sanitize_component};
use super::{FileEntry, MAX_COMPONENT_LEN};
use crate::bencode::{Dict, Value};

/// Reads `name` (preferring `name.utf-8`) as one sanitized path component.
pub(super) fn name(info: &Dict<'_>, warnings: &mut Vec<Warning>) -> Result<String, MetainfoError> {
    let raw = match bytes_field(info, b"name.utf-8", Field::Info("name.utf-8")) {
        Ok(Some(raw)) if std::str::from_utf8(raw).is_ok() => raw,
        _ => bytes_field(info, b"name", Field::Info("name"))?
            .ok_or_else(|| MetainfoError::Missing("info.name".into()))?,
    };
    match component(Field::Info("name"), raw, warnings)? {
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
        let length_field = Field::File(i, "length");
        let length = int_field(dict, b"length", length_field)?
            .ok_or_else(|| MetainfoError::Missing(length_field.to_string()))?;
        let length = u64::try_from(length).map_err(|_| MetainfoError::NegativeLength {
            field: length_field.to_string(),
            value: length,
        })?;
        let padding = bytes_field(dict, b"attr", Field::File(i, "attr"))?
            .is_some_and(|attr| attr.contains(&b'p'));
        let path_field = Field::File(i, "path");
        let utf8 = list_field(dict, b"path.utf-8", Field::File(i, "path.utf-8"))
            .ok()
            .flatten()
            .filter(|l| l.iter().all(|c| c.as_str().is_some()));
        let raw = match utf8 {
            Some(l) => l,
            None => list_field(dict, b"path", path_field)?
                .ok_or_else(|| MetainfoError::Missing(path_field.to_string()))?,
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
            if let Some(c) = component(path_field, bytes, warnings)? {
                components.push(c);
            }
        }
        if components.len() == 1 {
            return Err(MetainfoError::UnsafePath {
                field: path_field.to_string(),
                error: PathError::Empty,
            });
        }
        let path = RelativePath::from_sanitized(components);
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
    field: Field,
    raw: &[u8],
    warnings: &mut Vec<Warning>,
) -> Result<Option<String>, MetainfoError> {
    let original = || String::from_utf8_lossy(raw).into_owned();
    match sanitize_component(raw) {
        Err(error) => Err(MetainfoError::UnsafePath {
            field: field.to_string(),
            error,
        }),
        Ok(Component::Drop) => {
            warnings.push(Warning::PathSanitized {
                field: field.to_string(),
                original: original(),
                sanitized: None,
                changes: vec![super::Sanitization::Dropped],
            });
            Ok(None)
        }
        Ok(Component::Keep { name, changes }) => {
            if !changes.is_empty() {
                warnings.push(Warning::PathSanitized {
                    field: field.to_string(),
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
    // Decide with borrowed sets (no copy of any path unless a file is renamed), then apply.
    let mut renames: Vec<(usize, RelativePath)> = Vec::new();
    {
        let mut dirs: HashSet<&[String]> = HashSet::new();
        for f in files.iter().filter(|f| !f.padding) {
            let c = f.path.components();
            for end in 1..c.len() {
                dirs.insert(&c[..end]);
            }
        }
        let mut taken: HashSet<&[String]> = HashSet::with_capacity(files.len());
        let mut renamed: HashSet<Vec<String>> = HashSet::new();
        for (i, f) in files.iter().enumerate().filter(|(_, f)| !f.padding) {
            let free =
                |c: &[String], taken: &HashSet<&[String]>, renamed: &HashSet<Vec<String>>| {
                    !taken.contains(c) && !dirs.contains(c) && !renamed.contains(c)
                };
            let c = f.path.components();
            if free(c, &taken, &renamed) {
                taken.insert(c);
                continue;
            }
            let mut base = f.path.file_name().to_owned();
            let mut cut = base.len().min(MAX_COMPONENT_LEN - 12);
            while !base.is_char_boundary(cut) {
                cut -= 1;
            }
            base.truncate(cut);
            // Pigeonhole: among this many candidates at least one is free.
            let bound = taken.len() + dirs.len() + renamed.len() + 2;
            let new = (1..=bound)
                .filter_map(|n| f.path.with_file_name(&format!("{base}.{n}")).ok())
                .find(|p| free(p.components(), &taken, &renamed));
            if let Some(new) = new {
                renamed.insert(new.components().to_vec());
                renames.push((i, new));
            }
        }
    }
    for (i, new) in renames {
        let f = &mut files[i];
        warnings.push(Warning::DuplicatePath {
            file: i,
            original: f.path.to_string(),
            renamed: new.to_string(),
        });
        f.path = new;
    }
}
