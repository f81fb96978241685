//! A torrent's trackers as the application sees them: announce URLs in tiers, each with an id
//! that stays the same while other trackers are added, removed or replaced. The announcer is
//! rebuilt from [`TrackerList::tiers`] after every edit.

use std::sync::Arc;

use crate::session::edit::{ChangeError, TrackerEdit, TrackerInfo};
use crate::tracker::{TrackerUrl, UrlTable};

/// One tracker.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    id: u32,
    /// As listed; a new torrent's texts are shared with the other torrents listing them
    /// ([`UrlTable::text`]), an edit's are its own.
    url: Arc<str>,
    tier: u32,
}

/// The trackers of one torrent, in tier order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TrackerList {
    entries: Vec<Entry>,
    next_id: u32,
}

impl TrackerList {
    /// The list of a new torrent: its announce-list, URLs that are not tracker URLs left out,
    /// their texts shared through `urls`.
    pub(crate) fn new(tiers: &[Vec<String>], urls: &mut UrlTable) -> Self {
        let mut list = Self::default();
        list.set(tiers, &[], &mut |url| urls.text(url));
        // A torrent keeps its list for its whole life, mostly one tracker: no room to grow
        // (a vector's first growth makes room for four entries).
        list.entries.shrink_to_fit();
        list
    }

    /// Applies `edit`; on an error nothing changes.
    pub(crate) fn apply(&mut self, edit: &TrackerEdit) -> Result<(), ChangeError> {
        match edit {
            TrackerEdit::Add(urls) => {
                check_urls(urls.iter())?;
                for url in urls {
                    if self.entries.iter().any(|e| *e.url == **url) {
                        continue;
                    }
                    let tier = self.entries.iter().map(|e| e.tier + 1).max().unwrap_or(0);
                    self.push(Arc::from(url.as_str()), tier);
                }
            }
            TrackerEdit::Remove(ids) => {
                if let Some(id) = ids.iter().find(|id| !self.has(**id)) {
                    return Err(ChangeError::UnknownTracker(*id));
                }
                self.entries.retain(|e| !ids.contains(&e.id));
            }
            TrackerEdit::Replace(id, url) => {
                check_urls(std::iter::once(url))?;
                let entry = self
                    .entries
                    .iter_mut()
                    .find(|e| e.id == *id)
                    .ok_or(ChangeError::UnknownTracker(*id))?;
                entry.url = Arc::from(url.as_str());
            }
            TrackerEdit::Set(tiers) => {
                check_urls(tiers.iter().flatten())?;
                let old = std::mem::take(&mut self.entries);
                self.set(tiers, &old, &mut |url: &str| Arc::from(url));
            }
        }
        Ok(())
    }

    /// The announce-list (tiers of URLs), for the announcer.
    pub(crate) fn tiers(&self) -> Vec<Vec<String>> {
        let mut tiers: Vec<(u32, Vec<String>)> = Vec::new();
        for e in &self.entries {
            match tiers.iter_mut().find(|(t, _)| *t == e.tier) {
                Some((_, urls)) => urls.push(e.url.to_string()),
                None => tiers.push((e.tier, vec![e.url.to_string()])),
            }
        }
        tiers.sort_by_key(|(t, _)| *t);
        tiers.into_iter().map(|(_, urls)| urls).collect()
    }

    /// Every tracker with its id, in tier order.
    pub(crate) fn infos(&self) -> Vec<TrackerInfo> {
        let mut out: Vec<TrackerInfo> = self
            .entries
            .iter()
            .map(|e| TrackerInfo {
                id: e.id,
                url: e.url.to_string(),
                tier: e.tier,
            })
            .collect();
        out.sort_by_key(|t| t.tier);
        out
    }

    fn has(&self, id: u32) -> bool {
        self.entries.iter().any(|e| e.id == id)
    }

    fn push(&mut self, url: Arc<str>, tier: u32) {
        self.entries.push(Entry {
            id: self.next_id,
            url,
            tier,
        });
        self.next_id += 1;
    }

    /// Replaces the entries with `tiers` (empty tiers dropped, duplicates and non-tracker URLs
    /// skipped; `text` makes an entry's text); a URL that was in `old` keeps its id.
    fn set(
        &mut self,
        tiers: &[Vec<String>],
        old: &[Entry],
        text: &mut dyn FnMut(&str) -> Arc<str>,
    ) {
        let mut tier = 0;
        for urls in tiers {
            let before = self.entries.len();
            for url in urls {
                if TrackerUrl::parse(url).is_err() || self.entries.iter().any(|e| *e.url == **url) {
                    continue;
                }
                match old.iter().find(|e| *e.url == **url) {
                    Some(e) => self.entries.push(Entry {
                        id: e.id,
                        url: Arc::clone(&e.url),
                        tier,
                    }),
                    None => self.push(text(url), tier),
                }
            }
            if self.entries.len() > before {
                tier += 1;
            }
        }
    }
}

fn check_urls<'a>(mut urls: impl Iterator<Item = &'a String>) -> Result<(), ChangeError> {
    match urls.find(|u| TrackerUrl::parse(u).is_err()) {
        Some(bad) => Err(ChangeError::TrackerUrl(bad.clone())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "http://a.example/announce";
    const B: &str = "udp://b.example:6969";
    const C: &str = "https://c.example/announce";

    fn urls(list: &TrackerList) -> Vec<(u32, &str, u32)> {
        list.entries
            .iter()
            .map(|e| (e.id, &*e.url, e.tier))
            .collect()
    }

    #[test]
    fn ids_stay_while_others_change() {
        let mut list = TrackerList::new(
            &[vec![A.into(), "ftp://x".into()], vec![B.into()]],
            &mut UrlTable::new(),
        );
        assert_eq!(urls(&list), [(0, A, 0), (1, B, 1)]);
        list.apply(&TrackerEdit::Add(vec![C.into(), A.into()]))
            .unwrap();
        assert_eq!(urls(&list), [(0, A, 0), (1, B, 1), (2, C, 2)]);
        list.apply(&TrackerEdit::Remove(vec![0])).unwrap();
        list.apply(&TrackerEdit::Replace(2, A.into())).unwrap();
        assert_eq!(urls(&list), [(1, B, 1), (2, A, 2)]);
        assert_eq!(list.tiers(), [vec![B.to_owned()], vec![A.to_owned()]]);
        // A removed id is never given again.
        list.apply(&TrackerEdit::Add(vec![C.into()])).unwrap();
        assert_eq!(urls(&list)[2], (3, C, 3));
    }

    #[test]
    fn torrents_listing_a_url_share_its_text() {
        let mut table = UrlTable::new();
        let one = TrackerList::new(&[vec![A.into()]], &mut table);
        let two = TrackerList::new(&[vec![A.into(), B.into()]], &mut table);
        assert!(Arc::ptr_eq(&one.entries[0].url, &two.entries[0].url));
        assert_eq!(two.tiers(), [vec![A.to_owned(), B.to_owned()]]);
    }

    #[test]
    fn set_keeps_the_ids_of_urls_that_stay() {
        let mut list = TrackerList::new(&[vec![A.into()], vec![B.into()]], &mut UrlTable::new());
        list.apply(&TrackerEdit::Set(vec![vec![B.into(), C.into()], vec![]]))
            .unwrap();
        assert_eq!(urls(&list), [(1, B, 0), (2, C, 0)]);
        assert_eq!(list.tiers(), [vec![B.to_owned(), C.to_owned()]]);
    }

    #[test]
    fn bad_edits_change_nothing() {
        let mut list = TrackerList::new(&[vec![A.into()]], &mut UrlTable::new());
        let before = list.clone();
        assert_eq!(
            list.apply(&TrackerEdit::Add(vec![
                C.into(),
                "javascript:alert(1)".into()
            ])),
            Err(ChangeError::TrackerUrl("javascript:alert(1)".into()))
        );
        assert_eq!(
            list.apply(&TrackerEdit::Remove(vec![0, 7])),
            Err(ChangeError::UnknownTracker(7))
        );
        assert_eq!(
            list.apply(&TrackerEdit::Replace(0, "file:///etc/passwd".into())),
            Err(ChangeError::TrackerUrl("file:///etc/passwd".into()))
        );
        assert_eq!(list, before);
    }
}
