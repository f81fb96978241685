//! A file's URL on a web seed (BEP 19): for a single-file torrent the URL names the file
//! itself, or a directory (ending in `/`) holding it under the torrent's name; for a
//! multi-file torrent the URL names the directory the torrent's root directory is in, and a
//! file is at URL + name + path, each element percent-encoded.

use crate::metainfo::Metainfo;
use crate::tracker::{Scheme, TrackerUrl};

/// Percent-encodes one path element: every byte but the unreserved characters of RFC 3986
/// (`A-Z a-z 0-9 - . _ ~`) becomes `%XX`, so `/`, `?`, `#`, spaces and non-ASCII are safe.
pub fn percent_encode(element: &str) -> String {
    let mut out = String::with_capacity(element.len());
    for b in element.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URL of file `file` of `meta` on the web seed `base`; `None` if `base` is not an
/// http(s) URL or `file` is out of range.
pub fn file_url(base: &str, meta: &Metainfo, file: usize) -> Option<TrackerUrl> {
    let entry = meta.files().get(file)?;
    let parsed = TrackerUrl::parse(base.trim()).ok()?;
    if !matches!(parsed.scheme(), Scheme::Http | Scheme::Https) {
        return None;
    }
    let base = base.trim().split('#').next().unwrap_or_default();
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base, None),
    };
    let mut url = head.to_string();
    if meta.is_single_file() && !url.ends_with('/') {
        // The URL is the file.
    } else {
        if !url.ends_with('/') {
            url.push('/');
        }
        let elements: Vec<String> = entry
            .path
            .components()
            .iter()
            .map(|c| percent_encode(c))
            .collect();
        url.push_str(&elements.join("/"));
    }
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    TrackerUrl::parse(&url).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::create::TorrentBuilder;
    use crate::metainfo::RelativePath;

    pub(crate) fn meta(files: &[(&str, u64)], single: bool) -> Metainfo {
        let b = if single {
            TorrentBuilder::single_file("my torrent é", files[0].1).expect("single")
        } else {
            let files = files
                .iter()
                .map(|(p, l)| {
                    let parts: Vec<&str> = p.split('/').collect();
                    (RelativePath::from_components(&parts).expect("path"), *l)
                })
                .collect();
            TorrentBuilder::multi_file("my torrent é", files).expect("multi")
        }
        .piece_length(16 * 1024);
        let pieces = b.layout().expect("layout").piece_count() as usize;
        let bytes = b.build(&vec![[0u8; 20]; pieces]).expect("build");
        Metainfo::from_bytes(&bytes).expect("parse")
    }

    #[test]
    fn encodes_reserved_spaces_and_unicode() {
        assert_eq!(percent_encode("a b"), "a%20b");
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(percent_encode("x/y?z#%"), "x%2Fy%3Fz%23%25");
        assert_eq!(percent_encode("A-z_0.9~"), "A-z_0.9~");
    }

    #[test]
    fn single_file_url_is_the_file_or_the_directory_plus_the_name() {
        let m = meta(&[("", 100)], true);
        let u = file_url("http://h:8/f/data.bin", &m, 0).expect("url");
        assert_eq!(u.path(), "/f/data.bin");
        let u = file_url("http://h:8/f/", &m, 0).expect("url");
        assert_eq!(u.path(), "/f/my%20torrent%20%C3%A9");
        assert!(file_url("http://h:8/f/", &m, 1).is_none());
        assert!(file_url("udp://h:8/f/", &m, 0).is_none());
        assert!(file_url("ftp://h/f/", &m, 0).is_none());
    }

    #[test]
    fn multi_file_url_is_base_name_and_path_encoded() {
        let m = meta(&[("dir one/a b.txt", 10), ("ü/c", 10)], false);
        let u = file_url("https://h/mirror", &m, 0).expect("url");
        assert_eq!(
            u.path(),
            "/mirror/my%20torrent%20%C3%A9/dir%20one/a%20b.txt"
        );
        let u = file_url("https://h/mirror/?k=v", &m, 1).expect("url");
        assert_eq!(u.path(), "/mirror/my%20torrent%20%C3%A9/%C3%BC/c");
        assert_eq!(u.query(), Some("k=v"));
    }
}
