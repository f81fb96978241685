//! The torrent list a page at a time: `torrents/info`, `sync/maindata` and the queue places
//! view every torrent without holding every view, or every answer's JSON value, at once.

use std::collections::HashMap;

use crate::daemon::backend::{Backend, Detail, Id, PAGE, TorrentView};

/// Calls `each` with the view of every torrent of `ids` still listed, in the order of `ids`,
/// asking the backend for [`PAGE`] views at a time.
pub(super) async fn each_view<B: Backend>(
    backend: &B,
    ids: &[Id],
    detail: Detail,
    mut each: impl FnMut(TorrentView),
) {
    for page in ids.chunks(PAGE) {
        if page.is_sorted() {
            backend
                .torrents_of(page, detail)
                .await
                .into_iter()
                .for_each(&mut each);
            continue;
        }
        let mut sorted = page.to_vec();
        sorted.sort_unstable();
        let mut by_id: HashMap<Id, TorrentView> = backend
            .torrents_of(&sorted, detail)
            .await
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        for id in page {
            if let Some(t) = by_id.remove(id) {
                each(t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::future::block_on;

    use super::*;
    use crate::daemon::fake::{Fake, view};

    #[test]
    fn views_come_in_the_order_asked_and_the_missing_are_skipped() {
        let fake = Fake::new();
        fake.lock().torrents.push(view(3, "three"));
        let asked = [Id(3), Id(9_999), Id(1), Id(2)];
        let mut seen = Vec::new();
        block_on(each_view(&fake, &asked, Detail::default(), |t| {
            seen.push(t.id)
        }));
        assert_eq!(seen, [Id(3), Id(1), Id(2)]);
    }

    #[test]
    fn every_page_of_a_long_list_is_viewed() {
        let fake = Fake::new();
        let more = (3..=2 * PAGE as u32 + 5).map(|id| view(id, "t"));
        fake.lock().torrents.extend(more);
        let ids = block_on(fake.torrent_ids());
        let mut seen = Vec::new();
        block_on(each_view(&fake, &ids, Detail::default(), |t| {
            seen.push(t.id)
        }));
        assert_eq!(seen, ids);
    }
}
