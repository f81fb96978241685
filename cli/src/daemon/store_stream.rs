//! The saved list (`torrents.json`: `{"version": 1, "torrents": [...]}`) written and read a
//! torrent at a time: written from a view that makes each [`Saved`] as serde asks for it,
//! read by a visitor that hands each one on as it is parsed. The bytes are those of the
//! whole-list form that came before (`version` then `torrents`, pretty-printed); a reader
//! takes the fields in any order and ignores unknown ones, as that form did.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::Saved;

/// The list to write: its version and its torrents.
pub(super) struct ListOf<E> {
    /// The format version.
    pub(super) version: u32,
    /// The torrents, made one at a time.
    pub(super) torrents: E,
}

impl<E: Serialize> Serialize for ListOf<E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut list = serializer.serialize_struct("List", 2)?;
        list.serialize_field("version", &self.version)?;
        list.serialize_field("torrents", &self.torrents)?;
        list.end()
    }
}

/// `items` written as a sequence of what `saved` makes of each.
pub(super) struct Each<'a, T, F> {
    /// What the list is made from.
    pub(super) items: &'a [T],
    /// Makes the saved form of an item.
    pub(super) saved: F,
}

impl<T, F: Fn(&T) -> Saved> Serialize for Each<'_, T, F> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.items.iter().map(&self.saved))
    }
}

/// Reads a list, handing each torrent to the function as it is parsed; yields the version.
pub(super) struct ListSeed<F>(pub(super) F);

impl<'de, F: FnMut(Saved)> DeserializeSeed<'de> for ListSeed<F> {
    type Value = u32;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<u32, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, F: FnMut(Saved)> Visitor<'de> for ListSeed<F> {
    type Value = u32;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a torrent list")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<u32, A::Error> {
        let mut version = None;
        let mut torrents = false;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Version if version.is_some() => {
                    return Err(de::Error::duplicate_field("version"));
                }
                Key::Version => version = Some(map.next_value()?),
                Key::Torrents if torrents => return Err(de::Error::duplicate_field("torrents")),
                Key::Torrents => {
                    map.next_value_seed(EachSeed(&mut self.0))?;
                    torrents = true;
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !torrents {
            return Err(de::Error::missing_field("torrents"));
        }
        version.ok_or_else(|| de::Error::missing_field("version"))
    }
}

/// A field of the list.
enum Key {
    Version,
    Torrents,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "version" => Key::Version,
                    "torrents" => Key::Torrents,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// The torrents' sequence, each handed on as parsed.
struct EachSeed<'f, F>(&'f mut F);

impl<'de, F: FnMut(Saved)> DeserializeSeed<'de> for EachSeed<'_, F> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(Saved)> Visitor<'de> for EachSeed<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of torrents")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(saved) = seq.next_element::<Saved>()? {
            (self.0)(saved);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{SavedLive, VERSION};
    use super::*;

    /// The whole-list form the list was saved in before it was streamed.
    #[derive(serde::Serialize)]
    struct OldList {
        version: u32,
        torrents: Vec<Saved>,
    }

    fn saved(n: u8) -> Saved {
        Saved {
            hash: format!("{n:02x}").repeat(20),
            magnet: n
                .is_multiple_of(2)
                .then(|| format!("magnet:?xt=urn:btih:{n}")),
            download_dir: format!("/dl/{n}").into(),
            paused: n.is_multiple_of(3),
            labels: vec![format!("l{n}")],
            category: String::new(),
            sequential: false,
            first_last_pieces: false,
            name: String::new(),
            added_date: u64::from(n),
            choose_files: false,
            stop_on_metadata: false,
            live: SavedLive {
                unwanted: vec![u32::from(n)],
                ..SavedLive::default()
            },
            totals: Default::default(),
            queue_position: Some(u32::from(n)),
            forced: false,
            finished: None,
            error: None,
            complete: n % 2 == 1,
        }
    }

    fn read(bytes: &[u8]) -> Result<(u32, Vec<Saved>), serde_json::Error> {
        let mut got = Vec::new();
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let version = ListSeed(|t| got.push(t)).deserialize(&mut de)?;
        de.end()?;
        Ok((version, got))
    }

    #[test]
    fn writes_the_bytes_of_the_whole_list_form_and_reads_them_back() {
        let list: Vec<Saved> = (0..5).map(saved).collect();
        let old = serde_json::to_vec_pretty(&OldList {
            version: VERSION,
            torrents: list.clone(),
        })
        .unwrap();
        // Made from other items, one at a time.
        let numbers: Vec<u8> = (0..5).collect();
        let new = serde_json::to_vec_pretty(&ListOf {
            version: VERSION,
            torrents: Each {
                items: &numbers,
                saved: |n: &u8| saved(*n),
            },
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(new).unwrap(),
            String::from_utf8(old.clone()).unwrap()
        );
        assert_eq!(read(&old).unwrap(), (VERSION, list));
    }

    #[test]
    fn takes_fields_in_any_order_and_refuses_a_damaged_list() {
        let one = serde_json::to_string(&saved(1)).unwrap();
        let reordered =
            format!(r#"{{"torrents": [{one}, {one}], "extra": [1, {{}}], "version": 3}}"#);
        assert_eq!(
            read(reordered.as_bytes()).unwrap(),
            (3, vec![saved(1), saved(1)])
        );
        assert_eq!(
            read(br#"{"version": 1, "torrents": []}"#).unwrap(),
            (1, vec![])
        );
        for bad in [
            r#"{"version": 1}"#.to_owned(),
            r#"{"torrents": []}"#.to_owned(),
            r#"{"version": 1, "version": 1, "torrents": []}"#.to_owned(),
            r#"{"version": 1, "torrents": [], "torrents": []}"#.to_owned(),
            format!(r#"{{"version": 1, "torrents": [{one}, 7]}}"#),
            format!(r#"{{"version": 1, "torrents": [{one}"#),
            r#"{"version": 1, "torrents": []} x"#.to_owned(),
            "[]".to_owned(),
        ] {
            assert!(read(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
