//! torrent-get values Transmission derives from others: a tracker's scrape URL and a
//! torrent's primary MIME type.

use crate::daemon::backend::FileView;
use crate::daemon::stream::mime::content_type;

/// The scrape URL of an announce URL, as Transmission derives it: an HTTP(S) URL whose last
/// path segment starts with `announce` has it replaced by `scrape` (BEP 48's convention; empty
/// when it does not, as such a tracker cannot be scraped); a UDP tracker scrapes at its
/// announce URL.
pub(super) fn scrape_url(announce: &str) -> String {
    if announce.starts_with("udp://") {
        return announce.to_owned();
    }
    let path_end = announce.find('?').unwrap_or(announce.len());
    let (path, query) = announce.split_at(path_end);
    match path.rsplit_once('/') {
        Some((head, last)) if last.starts_with("announce") && head.contains("://") => {
            format!("{head}/scrape{}{query}", &last["announce".len()..])
        }
        _ => String::new(),
    }
}

/// The MIME type holding the most bytes among `files` (by extension, parameters left out),
/// `application/octet-stream` when none is known, as Transmission's `primaryMimeType`.
pub(super) fn primary_mime_type(files: &[FileView]) -> &'static str {
    let mut by_type: Vec<(&'static str, u64)> = Vec::new();
    for f in files {
        let kind = content_type(&f.name);
        let kind = kind.split(';').next().unwrap_or(kind);
        match by_type.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, bytes)) => *bytes += f.length,
            None => by_type.push((kind, f.length)),
        }
    }
    by_type
        .into_iter()
        .max_by_key(|(_, bytes)| *bytes)
        .map_or("application/octet-stream", |(kind, _)| kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::backend::Priority;

    #[test]
    fn scrape_urls_follow_the_convention() {
        assert_eq!(
            scrape_url("http://t.example:6969/announce"),
            "http://t.example:6969/scrape"
        );
        assert_eq!(
            scrape_url("https://t.example/x/announce.php?passkey=ab"),
            "https://t.example/x/scrape.php?passkey=ab"
        );
        assert_eq!(scrape_url("http://t.example/a/tracker"), "");
        assert_eq!(scrape_url("http://t.example/announce/x"), "");
        assert_eq!(scrape_url("udp://t.example:1337"), "udp://t.example:1337");
        assert_eq!(scrape_url("announce"), "");
    }

    fn file(name: &str, length: u64) -> FileView {
        FileView {
            name: name.into(),
            length,
            bytes_completed: 0,
            wanted: true,
            priority: Priority::Normal,
            begin_piece: 0,
            end_piece: 0,
        }
    }

    #[test]
    fn the_primary_type_holds_the_most_bytes() {
        let files = [
            file("d/a.mkv", 700),
            file("d/b.srt", 5),
            file("d/c.txt", 300),
            file("d/d.nfo", 300),
            file("d/e.bin", 650),
        ];
        assert_eq!(primary_mime_type(&files), "video/x-matroska");
        let text = [file("a.txt", 10), file("b.mkv", 15), file("c.nfo", 10)];
        assert_eq!(primary_mime_type(&text), "text/plain");
        assert_eq!(primary_mime_type(&[]), "application/octet-stream");
    }
}
