//! A torrent's small maps keyed by tracker URL (its announce outcomes, its scrapes).
//!
//! A torrent has a few trackers, often one; a `BTreeMap` allocates a node of eleven slots
//! for its first entry, which at a hundred thousand torrents is most of what an idle torrent
//! costs. A vector searched in order holds exactly what is there.

/// Values by tracker URL, in insertion order.
#[derive(Debug)]
pub(crate) struct ByUrl<V> {
    entries: Vec<(Box<str>, V)>,
}

impl<V> Default for ByUrl<V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<V> ByUrl<V> {
    /// The value of `url`.
    pub(crate) fn get(&self, url: &str) -> Option<&V> {
        self.entries
            .iter()
            .find(|(u, _)| &**u == url)
            .map(|(_, v)| v)
    }

    /// The value of `url`, to change.
    pub(crate) fn get_mut(&mut self, url: &str) -> Option<&mut V> {
        self.entries
            .iter_mut()
            .find(|(u, _)| &**u == url)
            .map(|(_, v)| v)
    }

    /// Whether `url` has a value.
    pub(crate) fn contains_key(&self, url: &str) -> bool {
        self.get(url).is_some()
    }

    /// Sets the value of `url` (replacing the one it had).
    pub(crate) fn insert(&mut self, url: impl Into<Box<str>>, value: V) {
        let url = url.into();
        match self.get_mut(&url) {
            Some(v) => *v = value,
            None => {
                self.entries.reserve_exact(1);
                self.entries.push((url, value));
            }
        }
    }

    /// The values, in insertion order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The URLs with their values, in insertion order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.entries.iter().map(|(u, v)| (&**u, v))
    }
}

#[cfg(test)]
mod tests {
    use super::ByUrl;

    #[test]
    fn insert_replaces_and_lookups_find_by_url() {
        let mut m = ByUrl::default();
        m.insert("http://a/announce", 1);
        m.insert(String::from("udp://b:80"), 2);
        m.insert("http://a/announce", 3);
        assert_eq!(m.get("http://a/announce"), Some(&3));
        assert!(m.contains_key("udp://b:80"));
        assert!(!m.contains_key("udp://c:80"));
        if let Some(v) = m.get_mut("udp://b:80") {
            *v += 10;
        }
        assert_eq!(m.values().copied().collect::<Vec<_>>(), vec![3, 12]);
        let urls: Vec<&str> = m.iter().map(|(u, _)| u).collect();
        assert_eq!(urls, ["http://a/announce", "udp://b:80"]);
    }
}
