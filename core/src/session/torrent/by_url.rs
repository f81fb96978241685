//! A torrent's small maps keyed by tracker URL (its announce outcomes, its scrapes).
//!
//! A torrent has a few trackers, often one; a `BTreeMap` allocates a node of eleven slots
//! for its first entry, which at a hundred thousand torrents is most of what an idle torrent
//! costs. A vector searched in order holds exactly what is there. The keys are the session's
//! shared [`TrackerUrl`]s (the announcer's own handles), so an entry holds no copy of its URL.

use crate::tracker::TrackerUrl;

/// Values by tracker URL, in insertion order.
#[derive(Debug)]
pub(crate) struct ByUrl<V> {
    entries: Vec<(TrackerUrl, V)>,
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
    pub(crate) fn get(&self, url: &TrackerUrl) -> Option<&V> {
        self.entries.iter().find(|(u, _)| u == url).map(|(_, v)| v)
    }

    /// The value of `url`, to change.
    pub(crate) fn get_mut(&mut self, url: &TrackerUrl) -> Option<&mut V> {
        self.entries
            .iter_mut()
            .find(|(u, _)| u == url)
            .map(|(_, v)| v)
    }

    /// Whether `url` has a value.
    pub(crate) fn contains_key(&self, url: &TrackerUrl) -> bool {
        self.get(url).is_some()
    }

    /// Sets the value of `url` (replacing the one it had).
    pub(crate) fn insert(&mut self, url: &TrackerUrl, value: V) {
        match self.get_mut(url) {
            Some(v) => *v = value,
            None => {
                self.entries.reserve_exact(1);
                self.entries.push((url.clone(), value));
            }
        }
    }

    /// The values, in insertion order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The URLs with their values, in insertion order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&TrackerUrl, &V)> {
        self.entries.iter().map(|(u, v)| (u, v))
    }
}

#[cfg(test)]
mod tests {
    use super::ByUrl;
    use crate::tracker::TrackerUrl;

    fn url(s: &str) -> TrackerUrl {
        TrackerUrl::parse(s).unwrap()
    }

    #[test]
    fn insert_replaces_and_lookups_find_by_url() {
        let mut m = ByUrl::default();
        m.insert(&url("http://a/announce"), 1);
        m.insert(&url("udp://b:80"), 2);
        // Equal URLs are one key, whatever allocation and spelling they come from.
        m.insert(&url("HTTP://A:80/announce"), 3);
        assert_eq!(m.get(&url("http://a/announce")), Some(&3));
        assert!(m.contains_key(&url("udp://b:80")));
        assert!(!m.contains_key(&url("udp://c:80")));
        if let Some(v) = m.get_mut(&url("udp://b:80")) {
            *v += 10;
        }
        assert_eq!(m.values().copied().collect::<Vec<_>>(), vec![3, 12]);
        let urls: Vec<&TrackerUrl> = m.iter().map(|(u, _)| u).collect();
        assert_eq!(urls, [&url("http://a/announce"), &url("udp://b:80")]);
    }
}
