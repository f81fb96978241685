//! Scrape (BEP 48): the scrape URL of an HTTP announce URL, the request bytes and the bencoded
//! response. UDP scrape is [`super::udp::UdpTracker::scrape`].

use super::http::{self, HttpOutcome, HttpResponse, ResponseError, get_request, push_param};
use super::url::{Scheme, TrackerUrl};
use super::{ScrapeStats, TrackerError};
use crate::bencode;
use crate::id::InfoHash;

/// The scrape URL of an HTTP(S) announce URL: the last path segment must start with
/// `announce`, which becomes `scrape`. `None` if the tracker does not support scrape (by that
/// convention). A UDP URL is its own scrape address.
pub fn scrape_url(announce: &TrackerUrl) -> Option<TrackerUrl> {
    if announce.scheme() == Scheme::Udp {
        return Some(announce.clone());
    }
    let path = announce.path();
    let slash = path.rfind('/')?;
    let (dir, last) = path.split_at(slash + 1);
    let rest = last.strip_prefix("announce")?;
    Some(announce.with_path(format!("{dir}scrape{rest}")))
}

/// The most info-hashes one HTTP scrape carries: opentracker answers no more
/// (`OT_MAXMULTISCRAPE_COUNT`), and 64 of them take at most 4.6 KiB of query.
pub const MAX_HTTP_SCRAPE_HASHES: usize = 64;

/// The longest request target (path and query) an HTTP scrape sends: servers commonly take
/// request lines of 8 KiB (opentracker reads requests into 8 KiB), and headers need room too.
pub const MAX_SCRAPE_TARGET: usize = 6 * 1024;

/// The bytes one `info_hash` parameter takes at most (`&info_hash=` and 20 bytes escaped).
const HASH_PARAM_MAX: usize = "&info_hash=".len() + 3 * 20;

/// How many info-hashes one HTTP scrape at `scrape_url` may carry: at most
/// [`MAX_HTTP_SCRAPE_HASHES`], and as many as keep its request target within
/// [`MAX_SCRAPE_TARGET`] (at least one).
pub fn http_scrape_capacity(scrape_url: &TrackerUrl) -> usize {
    let base = scrape_url.path().len() + scrape_url.query().map_or(0, str::len) + "?&".len();
    let room = MAX_SCRAPE_TARGET.saturating_sub(base) / HASH_PARAM_MAX;
    room.clamp(1, MAX_HTTP_SCRAPE_HASHES)
}

/// The bytes of an HTTP GET scrape of `info_hashes` at `scrape_url` (from [`scrape_url`]).
pub fn scrape_request(scrape_url: &TrackerUrl, info_hashes: &[InfoHash]) -> Vec<u8> {
    let mut q = String::new();
    for h in info_hashes {
        push_param(&mut q, "info_hash", &h.0);
    }
    get_request(scrape_url, &q)
}

/// Interprets the HTTP response to a scrape sent to `url`.
pub fn scrape_outcome(
    url: &TrackerUrl,
    response: &HttpResponse,
) -> Result<HttpOutcome<Vec<ScrapeStats>>, TrackerError> {
    http::outcome(url, response, parse_scrape)
}

/// Parses a bencoded scrape body: `files` maps each 20-byte info-hash to its counts. Entries
/// whose key is not 20 bytes are skipped; missing counts are 0.
pub fn parse_scrape(body: &[u8]) -> Result<Vec<ScrapeStats>, ResponseError> {
    let value = bencode::decode(body).map_err(ResponseError::Bencode)?;
    let dict = value
        .as_dict()
        .ok_or(ResponseError::NotADictionary(value.type_name()))?;
    if let Some(reason) = http::string(dict, "failure reason")? {
        return Err(ResponseError::Failure(
            String::from_utf8_lossy(reason).into_owned(),
        ));
    }
    let files = match dict.get(b"files") {
        None => return Ok(Vec::new()),
        Some(v) => v.as_dict().ok_or(ResponseError::WrongType {
            key: "files",
            expected: "dictionary",
        })?,
    };
    let mut out = Vec::new();
    for (key, stats) in files.entries() {
        let Ok(hash) = <[u8; 20]>::try_from(*key) else {
            continue;
        };
        let stats = stats.as_dict().ok_or(ResponseError::WrongType {
            key: "files",
            expected: "dictionary of dictionaries",
        })?;
        out.push(ScrapeStats {
            info_hash: InfoHash(hash),
            complete: http::count(stats, "complete")?.unwrap_or(0),
            downloaded: http::count(stats, "downloaded")?.unwrap_or(0),
            incomplete: http::count(stats, "incomplete")?.unwrap_or(0),
            // An optional extension: a malformed one is left out, the counts kept.
            downloaders: http::count(stats, "downloaders").ok().flatten(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::Encoder;

    #[test]
    fn scrape_urls_follow_bep_48() {
        let cases = [
            ("http://e.com/announce", Some("http://e.com:80/scrape")),
            ("http://e.com/x/announce", Some("http://e.com:80/x/scrape")),
            (
                "http://e.com/announce.php",
                Some("http://e.com:80/scrape.php"),
            ),
            ("http://e.com/a?x2%0644", None),
            (
                "http://e.com/announce?x2%0644",
                Some("http://e.com:80/scrape?x2%0644"),
            ),
            ("http://e.com/x%064announce", None),
            ("http://e.com/x/Announce", None),
            ("udp://e.com:80/announce", Some("udp://e.com:80/announce")),
        ];
        for (announce, want) in cases {
            let got = scrape_url(&TrackerUrl::parse(announce).unwrap()).map(|u| u.to_string());
            assert_eq!(got.as_deref(), want, "{announce}");
        }
    }

    #[test]
    fn http_scrapes_are_bounded_in_hashes_and_url_length() {
        let url = TrackerUrl::parse("http://e.com/scrape").unwrap();
        assert_eq!(http_scrape_capacity(&url), MAX_HTTP_SCRAPE_HASHES);
        let hashes: Vec<InfoHash> = (0..MAX_HTTP_SCRAPE_HASHES)
            .map(|i| InfoHash([0x80 | i as u8; 20]))
            .collect();
        let req = String::from_utf8(scrape_request(&url, &hashes)).unwrap();
        let line = req.lines().next().unwrap();
        let target = line
            .strip_prefix("GET ")
            .and_then(|l| l.strip_suffix(" HTTP/1.1"))
            .unwrap();
        assert!(target.len() <= MAX_SCRAPE_TARGET, "{}", target.len());
        assert_eq!(target.matches("info_hash=").count(), MAX_HTTP_SCRAPE_HASHES);

        let passkey = "k".repeat(2000);
        let long = TrackerUrl::parse(&format!("http://e.com/scrape?pk={passkey}")).unwrap();
        let n = http_scrape_capacity(&long);
        assert!(n > 1 && n < MAX_HTTP_SCRAPE_HASHES, "{n}");
        let req = String::from_utf8(scrape_request(&long, &hashes[..n])).unwrap();
        let target = req.lines().next().unwrap().split(' ').nth(1).unwrap();
        assert!(target.len() <= MAX_SCRAPE_TARGET, "{}", target.len());
        let more = String::from_utf8(scrape_request(&long, &hashes[..=n])).unwrap();
        let target = more.lines().next().unwrap().split(' ').nth(1).unwrap();
        assert!(target.len() > MAX_SCRAPE_TARGET, "{n} is as many as fit");
    }

    #[test]
    fn scrape_request_and_response() {
        let url = TrackerUrl::parse("http://e.com/scrape?pk=1").unwrap();
        let req = scrape_request(&url, &[InfoHash([0xab; 20]), InfoHash([b'a'; 20])]);
        let line = String::from_utf8(req).unwrap();
        let line = line.lines().next().unwrap().to_string();
        assert_eq!(
            line,
            format!(
                "GET /scrape?pk=1&info_hash={}&info_hash={} HTTP/1.1",
                "%AB".repeat(20),
                "a".repeat(20)
            )
        );

        let mut e = Encoder::new();
        e.dict().bytes(b"files").dict();
        e.bytes(&[1; 20]).dict();
        e.bytes(b"complete").int(3).bytes(b"downloaded").int(9);
        e.bytes(b"downloaders")
            .int(2)
            .bytes(b"incomplete")
            .int(4)
            .end();
        e.bytes(b"short").dict().end();
        e.end().end();
        let stats = parse_scrape(&e.finish()).unwrap();
        assert_eq!(
            stats,
            vec![ScrapeStats {
                info_hash: InfoHash([1; 20]),
                complete: 3,
                downloaded: 9,
                incomplete: 4,
                downloaders: Some(2),
            }]
        );
        assert_eq!(
            parse_scrape(b"d5:filesi1ee"),
            Err(ResponseError::WrongType {
                key: "files",
                expected: "dictionary"
            })
        );
        assert_eq!(
            parse_scrape(b"d14:failure reason4:nopee"),
            Err(ResponseError::Failure("nope".into()))
        );
        let neg = b"d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei-1eeee";
        assert_eq!(
            parse_scrape(neg),
            Err(ResponseError::OutOfRange {
                key: "complete",
                value: -1
            })
        );
    }
}
