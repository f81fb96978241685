//! Reading request parameters: typed getters that name the bad parameter, the `ids` forms,
//! and the rule for paths (absolute, no `..`, inside an allowed directory).

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use super::error::{self, MethodError};
use crate::daemon::backend::{Files, Hash, Id, TorrentView};

/// A request's parameters, keys in snake_case.
#[derive(Debug)]
pub(crate) struct Params<'a>(pub(crate) &'a Map<String, Value>);

impl Params<'_> {
    /// A boolean (numbers 0/1 too, as old clients send them).
    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, MethodError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(Some(false)),
            Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(Some(true)),
            Some(_) => Err(wrong(key, "a boolean")),
        }
    }

    /// A non-negative integer that fits a `u64`.
    pub(crate) fn u64(&self, key: &str) -> Result<Option<u64>, MethodError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                        .map(|f| f as u64)
                })
                .map(Some)
                .ok_or_else(|| wrong(key, "a non-negative integer")),
            Some(_) => Err(wrong(key, "a non-negative integer")),
        }
    }

    /// A non-negative integer that fits a `u32`.
    pub(crate) fn u32(&self, key: &str) -> Result<Option<u32>, MethodError> {
        self.u64(key)?
            .map(|n| u32::try_from(n).map_err(|_| wrong(key, "a smaller number")))
            .transpose()
    }

    /// An integer (maybe negative).
    pub(crate) fn i64(&self, key: &str) -> Result<Option<i64>, MethodError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| wrong(key, "an integer")),
            Some(_) => Err(wrong(key, "an integer")),
        }
    }

    /// A finite number.
    pub(crate) fn f64(&self, key: &str) -> Result<Option<f64>, MethodError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| wrong(key, "a number")),
            Some(_) => Err(wrong(key, "a number")),
        }
    }

    /// A string.
    pub(crate) fn str(&self, key: &str) -> Result<Option<&str>, MethodError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong(key, "a string")),
        }
    }

    /// An array of strings.
    pub(crate) fn strings(&self, key: &str) -> Result<Option<Vec<String>>, MethodError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| wrong(key, "an array of strings")),
            Some(_) => Err(wrong(key, "an array of strings")),
        }
    }

    /// An array of non-negative integers.
    pub(crate) fn numbers(&self, key: &str) -> Result<Option<Vec<u32>>, MethodError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok()))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| wrong(key, "an array of file indices")),
            Some(_) => Err(wrong(key, "an array of file indices")),
        }
    }

    /// A list of file indices, where an empty list means every file.
    pub(crate) fn files(&self, key: &str) -> Result<Option<Files>, MethodError> {
        Ok(self.numbers(key)?.map(|list| {
            if list.is_empty() {
                Files::All
            } else {
                Files::Some(list)
            }
        }))
    }

    /// Labels: strings without commas (Transmission's rule: they are joined with commas).
    pub(crate) fn labels(&self, key: &str) -> Result<Option<Vec<String>>, MethodError> {
        let Some(labels) = self.strings(key)? else {
            return Ok(None);
        };
        if let Some(bad) = labels
            .iter()
            .find(|l| l.contains(',') || l.trim().is_empty())
        {
            return Err(MethodError::invalid_params(format!(
                "label {bad:?} is empty or holds a comma"
            )));
        }
        Ok(Some(
            labels.into_iter().map(|l| l.trim().to_owned()).collect(),
        ))
    }

    /// Which torrents the request names (`ids`).
    pub(crate) fn ids(&self) -> Result<Selector, MethodError> {
        let bad = || {
            MethodError::invalid_params(
                "`ids` must be a number, a list of numbers and hashes, or \"recently-active\"",
            )
        };
        match self.0.get("ids") {
            None | Some(Value::Null) => Ok(Selector::All),
            Some(Value::Number(n)) => {
                let id = n
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(bad)?;
                Ok(Selector::List(vec![Key::Id(Id(id))]))
            }
            Some(Value::String(s)) if super::names::snake(s) == "recently_active" => {
                Ok(Selector::Recent)
            }
            Some(Value::String(s)) => Ok(Selector::List(vec![Key::hash(s).ok_or_else(bad)?])),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::Number(n) => n
                        .as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .map(|n| Key::Id(Id(n))),
                    Value::String(s) => Key::hash(s),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .map(Selector::List)
                .ok_or_else(bad),
            Some(_) => Err(bad()),
        }
    }
}

fn wrong(key: &str, what: &str) -> MethodError {
    MethodError::invalid_params(format!("`{key}` must be {what}"))
}

/// One torrent named in `ids`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    /// By id.
    Id(Id),
    /// By info-hash.
    Hash(Hash),
}

impl Key {
    fn hash(text: &str) -> Option<Self> {
        Hash::from_hex(text).map(Self::Hash)
    }
}

/// Which torrents a request names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Selector {
    /// All (no `ids`).
    All,
    /// Those active in the last minute.
    Recent,
    /// These (an empty list names none).
    List(Vec<Key>),
}

/// How long a torrent stays "recently active" after its last activity.
pub(crate) const RECENT_SECS: u64 = 60;

impl Selector {
    /// The ids named, when only ids are (no info-hash, not `recently-active`): the torrents
    /// to view are then known without viewing every one.
    pub(crate) fn only_ids(&self) -> Option<HashSet<Id>> {
        let Self::List(keys) = self else {
            return None;
        };
        keys.iter()
            .map(|k| match k {
                Key::Id(id) => Some(*id),
                Key::Hash(_) => None,
            })
            .collect()
    }

    /// Whether `view` is named, at Unix time `now`.
    pub(crate) fn matches(&self, view: &TorrentView, now: u64) -> bool {
        match self {
            Self::All => true,
            Self::Recent => view.activity_date + RECENT_SECS >= now,
            Self::List(keys) => keys.iter().any(|k| match k {
                Key::Id(id) => *id == view.id,
                Key::Hash(hash) => *hash == view.hash,
            }),
        }
    }
}

/// The directories requests may name: torrents' data, .torrent files, free-space queries.
#[derive(Clone, Debug)]
pub(crate) struct AllowedDirs(Vec<PathBuf>);

impl AllowedDirs {
    /// Allows `dirs` (absolute) and everything under them.
    pub(crate) fn new(dirs: Vec<PathBuf>) -> Self {
        Self(dirs.iter().filter_map(|d| lexical(d)).collect())
    }

    /// `path` as a clean absolute path, if it is absolute, has no `..` and lies in an allowed
    /// directory. Symbolic links are not followed: an operator's link out of an allowed
    /// directory is honoured, as the operator made it.
    pub(crate) fn check(&self, key: &str, path: &str) -> Result<PathBuf, MethodError> {
        let raw = Path::new(path);
        if !raw.is_absolute() {
            return Err(MethodError::new(
                error::PATH_NOT_ABSOLUTE,
                format!("`{key}` must be an absolute path, not {path:?}"),
            ));
        }
        let clean = lexical(raw).ok_or_else(|| {
            MethodError::invalid_params(format!("`{key}` must not contain `..`: {path:?}"))
        })?;
        if self.0.iter().any(|dir| clean.starts_with(dir)) {
            Ok(clean)
        } else {
            Err(MethodError::invalid_params(format!(
                "`{key}` {path:?} is outside the directories this daemon may use ({})",
                self.0
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
}

/// `path` without `.` components and trailing slashes; `None` if it has `..` or is relative.
fn lexical(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Prefix(_) | Component::RootDir | Component::Normal(_) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return None,
        }
    }
    out.is_absolute().then_some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn ids_take_every_form() {
        let hash = "0123456789abcdef0123456789ABCDEF01234567";
        let h = Hash::from_hex(hash).unwrap();
        assert_eq!(Params(&params(json!({}))).ids().unwrap(), Selector::All);
        assert_eq!(
            Params(&params(json!({"ids": 3}))).ids().unwrap(),
            Selector::List(vec![Key::Id(Id(3))])
        );
        assert_eq!(
            Params(&params(json!({"ids": [1, hash]}))).ids().unwrap(),
            Selector::List(vec![Key::Id(Id(1)), Key::Hash(h)])
        );
        assert_eq!(
            Params(&params(json!({"ids": hash}))).ids().unwrap(),
            Selector::List(vec![Key::Hash(h)])
        );
        assert_eq!(
            Params(&params(json!({"ids": "recently-active"})))
                .ids()
                .unwrap(),
            Selector::Recent
        );
        assert_eq!(
            Params(&params(json!({"ids": "recently_active"})))
                .ids()
                .unwrap(),
            Selector::Recent
        );
        assert_eq!(
            Params(&params(json!({"ids": []}))).ids().unwrap(),
            Selector::List(vec![])
        );
        for bad in [
            json!({"ids": -1}),
            json!({"ids": "zz"}),
            json!({"ids": [true]}),
            json!({"ids": {}}),
        ] {
            assert!(Params(&params(bad)).ids().is_err());
        }
    }

    #[test]
    fn getters_name_the_bad_parameter() {
        let p = params(json!({"a": "x", "b": 1.5, "c": -1, "d": [1, 2], "e": [], "f": 1}));
        let p = Params(&p);
        assert!(p.bool("a").unwrap_err().detail.unwrap().contains("`a`"));
        assert!(p.u64("b").is_err());
        assert!(p.u64("c").is_err());
        assert_eq!(p.i64("c").unwrap(), Some(-1));
        assert_eq!(p.f64("b").unwrap(), Some(1.5));
        assert_eq!(p.files("d").unwrap(), Some(Files::Some(vec![1, 2])));
        assert_eq!(p.files("e").unwrap(), Some(Files::All));
        assert_eq!(p.bool("f").unwrap(), Some(true));
        assert_eq!(p.str("missing").unwrap(), None);
    }

    #[test]
    fn paths_stay_inside_allowed_dirs() {
        let allowed = AllowedDirs::new(vec!["/data/dl".into(), "/data/watch/".into()]);
        assert_eq!(
            allowed.check("k", "/data/dl/tv/").unwrap(),
            Path::new("/data/dl/tv")
        );
        assert_eq!(
            allowed.check("k", "/data/watch").unwrap(),
            Path::new("/data/watch")
        );
        assert_eq!(
            allowed.check("k", "relative").unwrap_err().code,
            error::PATH_NOT_ABSOLUTE
        );
        assert!(allowed.check("k", "/data/dl/../etc").is_err());
        assert!(allowed.check("k", "/data/dlx").is_err());
        assert!(allowed.check("k", "/etc/passwd").is_err());
    }
}
