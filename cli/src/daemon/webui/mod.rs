//! The web UI: a page, a script and a style sheet, embedded in the binary and served at `/`.
//! The page talks to the Transmission RPC at `transmission/rpc` like any other front end.

/// An embedded file: its bytes and content type.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Asset {
    /// The file's bytes.
    pub(crate) body: &'static [u8],
    /// Its `Content-Type`.
    pub(crate) content_type: &'static str,
}

/// The embedded file served at `path`, if any.
pub(crate) fn asset(path: &str) -> Option<Asset> {
    let (body, content_type): (&'static str, _) = match path {
        "/" | "/index.html" => (include_str!("index.html"), "text/html; charset=UTF-8"),
        "/app.js" => (include_str!("app.js"), "text/javascript; charset=UTF-8"),
        "/app.css" => (include_str!("app.css"), "text/css; charset=UTF-8"),
        _ => return None,
    };
    Some(Asset {
        body: body.as_bytes(),
        content_type,
    })
}

/// Headers every UI file carries: no framing by other sites (clickjacking), no scripts or
/// styles from anywhere but here.
pub(crate) const SECURITY_HEADERS: [(&str, &str); 3] = [
    ("x-frame-options", "DENY"),
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_links_only_embedded_files() {
        let page = std::str::from_utf8(asset("/").unwrap().body).unwrap();
        for link in ["app.js", "app.css"] {
            assert!(page.contains(&format!("\"{link}\"")), "{link}");
            assert!(asset(&format!("/{link}")).is_some(), "{link}");
        }
        assert!(!page.contains("src=\"http") && !page.contains("href=\"http"));
        assert!(asset("/missing.js").is_none());
    }
}
