//! [`UrlTable`]: one [`TrackerUrl`] per distinct tracker. A session parses its torrents'
//! announce URLs through one table, so 100,000 torrents announcing to one tracker hold one
//! copy of its URL instead of 100,000; their tracker lists share the URLs' text as listed the
//! same way ([`UrlTable::text`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use super::TrackerUrl;

/// The tracker URLs handed out, each shared by every torrent naming it. URLs no torrent holds
/// any more are dropped once the table has doubled since it was last swept, so it holds at
/// most about twice the URLs in use.
#[derive(Debug, Default)]
pub struct UrlTable {
    urls: BTreeSet<TrackerUrl>,
    /// How many URLs were left by the last sweep.
    swept: usize,
    /// The texts handed out by [`UrlTable::text`].
    texts: BTreeSet<Arc<str>>,
    /// How many texts were left by the last sweep of `texts`.
    texts_swept: usize,
}

/// The table is not swept while it holds fewer URLs than this.
const MIN_SWEEP: usize = 64;

impl UrlTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `input` and returns the table's handle to that URL (the same allocation for
    /// every equal URL), or `None` if it is not a tracker URL.
    pub fn parse(&mut self, input: &str) -> Option<TrackerUrl> {
        let url = TrackerUrl::parse(input).ok()?;
        Some(self.share(url))
    }

    /// The table's handle to `url`: an equal URL already handed out, else `url` itself,
    /// remembered.
    pub fn share(&mut self, url: TrackerUrl) -> TrackerUrl {
        if let Some(known) = self.urls.get(&url) {
            return known.clone();
        }
        if self.urls.len() >= MIN_SWEEP.max(2 * self.swept) {
            self.urls.retain(|u| !u.is_unique());
            self.swept = self.urls.len();
        }
        self.urls.insert(url.clone());
        url
    }

    /// `input` as one shared text: the same allocation for every equal text (a torrent's
    /// tracker list keeps its URLs as listed, which may differ from the parsed URL's form).
    /// Swept as the URLs are.
    pub fn text(&mut self, input: &str) -> Arc<str> {
        if let Some(known) = self.texts.get(input) {
            return Arc::clone(known);
        }
        if self.texts.len() >= MIN_SWEEP.max(2 * self.texts_swept) {
            self.texts.retain(|t| Arc::strong_count(t) > 1);
            self.texts_swept = self.texts.len();
        }
        let text: Arc<str> = Arc::from(input);
        self.texts.insert(Arc::clone(&text));
        text
    }

    /// URLs remembered (some perhaps no longer in use).
    pub fn len(&self) -> usize {
        self.urls.len()
    }

    /// Whether no URL is remembered.
    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_urls_share_one_allocation() {
        let mut table = UrlTable::new();
        let a = table.parse("http://t.org/announce").expect("url");
        let b = table.parse("http://T.org:80/announce").expect("url");
        assert_eq!(a, b);
        assert!(!a.is_unique(), "one allocation for both (and the table's)");
        assert_eq!(table.len(), 1);
        assert!(table.parse("not a url").is_none());
    }

    #[test]
    fn equal_texts_share_one_allocation_and_unheld_ones_go() {
        let mut table = UrlTable::new();
        let a = table.text("http://T.org:80/announce");
        let b = table.text("http://T.org:80/announce");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*a, "http://T.org:80/announce");
        assert!(!Arc::ptr_eq(&a, &table.text("http://t.org/announce")));
        for i in 0..10 * MIN_SWEEP {
            let _ = table.text(&format!("http://t{i}.org/announce"));
        }
        assert!(
            table.texts.len() <= MIN_SWEEP + 2,
            "{} kept",
            table.texts.len()
        );
        assert!(table.texts.contains(&a), "a text in use is kept");
        assert!(Arc::ptr_eq(&a, &table.text("http://T.org:80/announce")));
    }

    #[test]
    fn urls_no_one_holds_are_swept() {
        let mut table = UrlTable::new();
        for i in 0..10 * MIN_SWEEP {
            let _ = table.parse(&format!("http://t{i}.org/announce"));
        }
        assert!(table.len() <= MIN_SWEEP + 1, "{} kept", table.len());
        let held: Vec<TrackerUrl> = (0..3 * MIN_SWEEP)
            .filter_map(|i| table.parse(&format!("http://h{i}.org/a")))
            .collect();
        for u in &held {
            assert!(table.urls.contains(u), "a URL in use is kept: {u}");
        }
        assert!(table.len() <= 2 * held.len() + MIN_SWEEP);
    }
}
