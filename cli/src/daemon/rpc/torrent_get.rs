//! `torrent-get`: each field Transmission defines, read off a [`TorrentView`], in the
//! `objects` or the `table` format.

use std::cell::RefCell;
use std::collections::HashMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::derived;
use super::error::MethodError;
use super::eta;
use super::names::{self, Style};
use super::params::{Params, Selector};
use crate::daemon::backend::{Backend, Detail, Id, PAGE, PeerFrom, Settings, TorrentView};
use crate::daemon::seed_limits::SeedLimits;

/// Transmission's speed unit: kB/s are 1000 bytes per second.
pub(crate) const SPEED_K: u64 = 1000;

/// A `torrent-get` answer to write: which torrents, which fields, in which format. Its
/// `arguments` object is written a page at a time ([`Listing::page`] between
/// [`Listing::head`] and [`Listing::TAIL`]), so a list of 100,000 torrents never has its views
/// or its JSON held all at once.
#[derive(Debug)]
pub(crate) struct Listing {
    /// The torrents to view, in id order (before the selector's filter).
    ids: Vec<Id>,
    /// How many of `ids` were viewed.
    next: usize,
    selector: Selector,
    detail: Detail,
    /// Each field (snake_case) and its name in the answer: for `objects`, in the order of
    /// the names (as a JSON map writes them), each name once.
    columns: Vec<(String, String)>,
    table: bool,
    legacy: bool,
    /// The seeding limits that apply, for `eta` and `eta_idle`.
    settings: Option<Settings>,
    now: u64,
    /// The ids removed lately (for `recently-active`).
    removed: Option<Vec<Id>>,
    /// Whether an item (a torrent, or the table's header) was written: the next needs a comma.
    written: bool,
    /// The answer's spelling of the keys inside object-valued fields, worked out once.
    keys: RefCell<KeyNames>,
}

/// Answers `torrent-get`: the listing to write, once the request is read.
pub(crate) async fn run<B: Backend>(
    backend: &B,
    params: &Params<'_>,
    legacy: bool,
    now: u64,
) -> Result<Listing, MethodError> {
    let selector = params.ids()?;
    let Some(requested) = params.strings("fields")? else {
        return Err(MethodError::invalid_params(
            "`fields` (a list of field names) is required",
        ));
    };
    let table = match params.str("format")? {
        None | Some("objects") => false,
        Some("table") => true,
        Some(other) => {
            return Err(MethodError::invalid_params(format!(
                "`format` must be \"objects\" or \"table\", not {other:?}"
            )));
        }
    };
    // Unknown fields are left out, as Transmission does; the answer names fields as asked
    // (a legacy object's keys in the legacy spelling).
    let mut columns: Vec<(String, String)> = requested
        .into_iter()
        .map(|asked| (names::snake(&asked), asked))
        .filter(|(field, _)| KNOWN.contains(&field.as_str()))
        .map(|(field, asked)| {
            let name = if legacy && !table && asked.contains('_') {
                names::legacy(&asked, Style::Camel)
            } else {
                asked
            };
            (field, name)
        })
        .collect();
    if !table {
        columns.sort_by(|a, b| a.1.cmp(&b.1));
        columns.dedup_by(|a, b| a.1 == b.1);
    }
    let detail = detail_for(columns.iter().map(|(f, _)| f.as_str()));
    let settings = if columns.iter().any(|(f, _)| f.starts_with("eta")) {
        Some(backend.settings().await)
    } else {
        None
    };
    let removed = if selector == Selector::Recent {
        Some(backend.recently_removed().await)
    } else {
        None
    };
    let mut ids = backend.torrent_ids().await;
    // Torrents named by id alone are the only ones viewed.
    if let Some(named) = selector.only_ids() {
        ids.retain(|id| named.contains(id));
    }
    Ok(Listing {
        ids,
        next: 0,
        selector,
        detail,
        columns,
        table,
        legacy,
        settings,
        now,
        removed,
        written: false,
        keys: RefCell::new(KeyNames::new(legacy)),
    })
}

impl Listing {
    /// What ends the `arguments` object after the last page.
    pub(crate) const TAIL: &'static [u8] = b"]}";

    /// The start of the `arguments` object: `removed` (for `recently-active`), then the
    /// `torrents` array opened (with the table's header).
    pub(crate) fn head(&mut self) -> Vec<u8> {
        let mut out = b"{".to_vec();
        if let Some(removed) = &self.removed {
            out.extend_from_slice(b"\"removed\":");
            put(
                &mut out,
                &removed.iter().map(|id| id.0).collect::<Vec<u32>>(),
            );
            out.push(b',');
        }
        out.extend_from_slice(b"\"torrents\":[");
        if self.table {
            let header: Vec<&str> = self.columns.iter().map(|(_, n)| n.as_str()).collect();
            put(&mut out, &header);
            self.written = true;
        }
        out
    }

    /// The next page of torrents (the bytes between `[` and `]`, commas included; empty when
    /// the selector named none of this page), or `None` once every torrent is written.
    pub(crate) async fn page<B: Backend>(&mut self, backend: &B) -> Option<Vec<u8>> {
        if self.next >= self.ids.len() {
            return None;
        }
        let end = self.ids.len().min(self.next + PAGE);
        let views = backend
            .torrents_of(&self.ids[self.next..end], self.detail)
            .await;
        self.next = end;
        let mut out = Vec::new();
        for view in views.iter().filter(|v| self.selector.matches(v, self.now)) {
            if self.written {
                out.push(b',');
            }
            self.written = true;
            self.write(&mut out, view);
        }
        Some(out)
    }

    /// One torrent: an array of values (`table`) or an object of named values. Each value is
    /// written straight into `out`: the objects inside fields (`trackerStats`, `peers`, ...)
    /// never become `Value` maps, so nothing is built twice to spell their keys.
    fn write(&self, out: &mut Vec<u8>, view: &TorrentView) {
        let mut keys = self.keys.borrow_mut();
        out.push(if self.table { b'[' } else { b'{' });
        for (i, (field, name)) in self.columns.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if !self.table {
                put(out, name);
                out.push(b':');
            }
            match objects(view, field) {
                Some(objects) => objects.write(out, &mut keys),
                None => {
                    let value =
                        field_value(view, field, self.legacy, self.settings.as_ref(), self.now);
                    put(out, &value);
                }
            }
        }
        out.push(if self.table { b']' } else { b'}' });
    }
}

/// Appends `value`'s JSON to `out`.
fn put(out: &mut Vec<u8>, value: &(impl serde::Serialize + ?Sized)) {
    // Writing into a Vec cannot fail, nor can serializing a `Value`, a string or numbers.
    let _ = serde_json::to_writer(out, value);
}

/// The views' costly parts the fields need.
fn detail_for<'a>(fields: impl Iterator<Item = &'a str>) -> Detail {
    let mut detail = Detail::default();
    for field in fields {
        match field {
            "files" | "file_stats" | "file_count" | "wanted" | "priorities" | "bytes_completed" => {
                detail.files = true;
            }
            "peers" | "peers_from" => detail.peers = true,
            "pieces" => detail.pieces = true,
            "availability" => {
                detail.pieces = true;
                detail.availability = true;
            }
            "trackers" | "tracker_stats" | "tracker_list" => detail.trackers = true,
            "magnet_link" => detail.magnet = true,
            _ => {}
        }
    }
    detail
}

/// Every field this daemon answers (the rest of Transmission's are left out of answers).
pub(crate) const KNOWN: &[&str] = &[
    "activity_date",
    "added_date",
    "availability",
    "bandwidth_priority",
    "bytes_completed",
    "choose_files",
    "comment",
    "corrupt_ever",
    "creator",
    "date_created",
    "desired_available",
    "done_date",
    "download_dir",
    "download_limit",
    "download_limited",
    "downloaded_ever",
    "edit_date",
    "error",
    "error_string",
    "eta",
    "eta_idle",
    "file_count",
    "file_stats",
    "files",
    "group",
    "hash_string",
    "have_unchecked",
    "have_valid",
    "honors_session_limits",
    "id",
    "is_finished",
    "is_private",
    "is_stalled",
    "labels",
    "left_until_done",
    "magnet_link",
    "manual_announce_time",
    "max_connected_peers",
    "metadata_percent_complete",
    "name",
    "peer_limit",
    "peers",
    "peers_connected",
    "peers_from",
    "peers_getting_from_us",
    "peers_sending_to_us",
    "percent_complete",
    "percent_done",
    "piece_count",
    "piece_size",
    "pieces",
    "primary_mime_type",
    "priorities",
    "queue_position",
    "rate_download",
    "rate_upload",
    "recheck_progress",
    "seconds_downloading",
    "seconds_seeding",
    "seed_idle_limit",
    "seed_idle_mode",
    "seed_ratio_limit",
    "seed_ratio_mode",
    "sequential_download",
    "sequential_download_from_piece",
    "size_when_done",
    "start_date",
    "status",
    "torrent_file",
    "total_size",
    "tracker_list",
    "tracker_stats",
    "trackers",
    "upload_limit",
    "upload_limited",
    "upload_ratio",
    "uploaded_ever",
    "wanted",
    "webseeds",
    "webseeds_ex",
    "webseeds_sending_to_us",
];

/// One field of one torrent, keys in snake_case; `settings` (the session's, for the seeding
/// limits of `eta` and `eta_idle`; none without them) and `now` (Unix seconds).
fn field_value(
    v: &TorrentView,
    field: &str,
    legacy: bool,
    settings: Option<&Settings>,
    now: u64,
) -> Value {
    let o = &v.options;
    if let Some(objects) = objects(v, field) {
        return objects.into_value();
    }
    let limits = || settings.map(|s| SeedLimits::of(o, s)).unwrap_or_default();
    match field {
        "activity_date" => v.activity_date.into(),
        "added_date" => v.added_date.into(),
        // Transmission's: -1 for a piece we have, else how many connected peers have it.
        "availability" => bits(&v.pieces, v.piece_count)
            .enumerate()
            .map(|(i, have)| match (have, v.availability.get(i)) {
                (true, _) => -1,
                (false, n) => n.map_or(0, |&n| i64::from(n)),
            })
            .collect::<Vec<i64>>()
            .into(),
        "bandwidth_priority" => o.bandwidth_priority.number().into(),
        "bytes_completed" => v
            .files
            .iter()
            .map(|f| f.bytes_completed)
            .collect::<Vec<_>>()
            .into(),
        "comment" => v.comment.clone().into(),
        "corrupt_ever" => v.corrupt_ever.into(),
        "creator" => v.creator.clone().into(),
        "date_created" => v.date_created.into(),
        "desired_available" => v.desired_available.into(),
        "done_date" => v.done_date.into(),
        "download_dir" => v.download_dir.display().to_string().into(),
        "download_limit" => (o.download_limit.bytes_per_sec / SPEED_K).into(),
        "download_limited" => o.download_limit.enabled.into(),
        "downloaded_ever" => v.downloaded_ever.into(),
        "edit_date" => 0.into(),
        "error" => v.error.as_ref().map_or(0, |e| e.kind as i64).into(),
        "error_string" => v.error.as_ref().map_or("", |e| e.message.as_str()).into(),
        "eta" => eta::eta(v, &limits()).into(),
        "eta_idle" => eta::eta_idle(v, &limits(), now).into(),
        "file_count" => v.files.len().into(),
        "group" => "".into(),
        "hash_string" => v.hash.to_hex().into(),
        "have_unchecked" => v.have_unchecked.into(),
        "have_valid" => v.have_valid.into(),
        "honors_session_limits" => o.honors_session_limits.into(),
        "id" => v.id.0.into(),
        "is_finished" => v.is_finished.into(),
        "is_private" => v.is_private.into(),
        "is_stalled" => v.is_stalled.into(),
        "labels" => o.labels.clone().into(),
        "left_until_done" => v.left_until_done.into(),
        "magnet_link" => v.magnet_link.clone().into(),
        "manual_announce_time" => (-1).into(),
        "max_connected_peers" | "peer_limit" => o.peer_limit.into(),
        "metadata_percent_complete" => v.metadata_done.into(),
        "name" => v.name.clone().into(),
        "peers_connected" => v.peers_connected.into(),
        "peers_getting_from_us" => v.peers_getting_from_us.into(),
        "peers_sending_to_us" => v.peers_sending_to_us.into(),
        "percent_complete" => ratio(v.have_valid, v.total_size, v.metadata_done >= 1.0).into(),
        // Nothing is done while the files wait for a choice (every one is skipped).
        "percent_done" if o.choose_files => 0.0.into(),
        "percent_done" => ratio(
            v.size_when_done.saturating_sub(v.left_until_done),
            v.size_when_done,
            v.metadata_done >= 1.0,
        )
        .into(),
        "piece_count" => v.piece_count.into(),
        "piece_size" => v.piece_size.into(),
        "pieces" => base64::engine::general_purpose::STANDARD
            .encode(&v.pieces)
            .into(),
        "primary_mime_type" => derived::primary_mime_type(&v.files).into(),
        "priorities" => v
            .files
            .iter()
            .map(|f| f.priority.number())
            .collect::<Vec<_>>()
            .into(),
        "queue_position" => v.queue_position.into(),
        "rate_download" => v.rate_download.into(),
        "rate_upload" => v.rate_upload.into(),
        "recheck_progress" => v.recheck_progress.into(),
        "seconds_downloading" => v.seconds_downloading.into(),
        "seconds_seeding" => v.seconds_seeding.into(),
        "seed_idle_limit" => o.seed_idle_limit.into(),
        "seed_idle_mode" => (o.seed_idle_mode as i64).into(),
        "seed_ratio_limit" => o.seed_ratio_limit.into(),
        "seed_ratio_mode" => (o.seed_ratio_mode as i64).into(),
        "sequential_download" => o.sequential.into(),
        "choose_files" => o.choose_files.into(),
        "sequential_download_from_piece" => 0.into(),
        "size_when_done" => v.size_when_done.into(),
        "start_date" => v.start_date.into(),
        "status" => (v.status as i64).into(),
        "torrent_file" => v.torrent_file.clone().into(),
        "total_size" => v.total_size.into(),
        "tracker_list" => tracker_list(v).into(),
        "upload_limit" => (o.upload_limit.bytes_per_sec / SPEED_K).into(),
        "upload_limited" => o.upload_limit.enabled.into(),
        "upload_ratio" => upload_ratio(v).into(),
        "uploaded_ever" => v.uploaded_ever.into(),
        // The legacy protocol sent 0/1 here; 4.1 sends booleans.
        "wanted" if legacy => v
            .files
            .iter()
            .map(|f| u8::from(f.wanted))
            .collect::<Vec<_>>()
            .into(),
        "wanted" => v.files.iter().map(|f| f.wanted).collect::<Vec<_>>().into(),
        "webseeds" => v
            .web_seeds
            .iter()
            .map(|w| Value::from(w.url.clone()))
            .collect::<Vec<_>>()
            .into(),
        "webseeds_sending_to_us" => v
            .web_seeds
            .iter()
            .filter(|w| w.download_rate > 0)
            .count()
            .into(),
        _ => Value::Null,
    }
}

/// One object of an object-valued field: its entries, keys in snake_case.
type Entries = Vec<(&'static str, Value)>;

/// What an object-valued field holds: an array of objects, or one object (`peers_from`).
enum Objects {
    Array(Vec<Entries>),
    One(Entries),
}

impl Objects {
    /// As a JSON value, keys in snake_case (their map sorts them).
    fn into_value(self) -> Value {
        let object = |entries: Entries| {
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect::<Map<String, Value>>(),
            )
        };
        match self {
            Self::Array(items) => Value::Array(items.into_iter().map(object).collect()),
            Self::One(entries) => object(entries),
        }
    }

    /// Appends the JSON [`Objects::into_value`] would give, with keys spelled by `keys`,
    /// byte for byte as serde_json writes a map (keys sorted, no spaces).
    fn write(&self, out: &mut Vec<u8>, keys: &mut KeyNames) {
        match self {
            Self::Array(items) => {
                out.push(b'[');
                for (i, entries) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    put_object(out, entries, keys);
                }
                out.push(b']');
            }
            Self::One(entries) => put_object(out, entries, keys),
        }
    }
}

/// The answer's spelling of object keys (snake_case, or the legacy camelCase), each worked
/// out once per answer.
#[derive(Debug)]
struct KeyNames {
    legacy: bool,
    names: HashMap<&'static str, String>,
}

impl KeyNames {
    fn new(legacy: bool) -> Self {
        Self {
            legacy,
            names: HashMap::new(),
        }
    }

    /// How `key` is spelled in the answer (as [`names::legacy_keys`] would rewrite it).
    fn name(&mut self, key: &'static str) -> &str {
        if !self.legacy || !key.contains('_') {
            return key;
        }
        self.names
            .entry(key)
            .or_insert_with(|| names::legacy(key, Style::Camel))
    }
}

/// Appends one object, its keys spelled by `keys` and sorted as a JSON map sorts them.
fn put_object(out: &mut Vec<u8>, entries: &Entries, keys: &mut KeyNames) {
    let mut named: Vec<(String, &Value)> = entries
        .iter()
        .map(|(k, v)| (keys.name(k).to_owned(), v))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    out.push(b'{');
    for (i, (name, value)) in named.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        put(out, name);
        out.push(b':');
        put(out, value);
    }
    out.push(b'}');
}

/// The object-valued fields of a torrent (`None`: `field` holds no object).
fn objects(v: &TorrentView, field: &str) -> Option<Objects> {
    let items = |entries: Vec<Entries>| Some(Objects::Array(entries));
    match field {
        "file_stats" => items(
            v.files
                .iter()
                .map(|f| {
                    vec![
                        ("bytes_completed", json(f.bytes_completed)),
                        ("wanted", json(f.wanted)),
                        ("priority", json(f.priority.number())),
                    ]
                })
                .collect(),
        ),
        "files" => items(
            v.files
                .iter()
                .map(|f| {
                    vec![
                        ("bytes_completed", json(f.bytes_completed)),
                        ("length", json(f.length)),
                        ("name", json(&f.name)),
                        ("begin_piece", json(f.begin_piece)),
                        ("end_piece", json(f.end_piece)),
                    ]
                })
                .collect(),
        ),
        "peers" => items(v.peers.iter().map(peer_entries).collect()),
        "peers_from" => {
            let count = |from| json(v.peers.iter().filter(|p| p.from == from).count());
            Some(Objects::One(vec![
                ("from_cache", count(PeerFrom::Given)),
                ("from_dht", count(PeerFrom::Dht)),
                ("from_incoming", count(PeerFrom::Incoming)),
                ("from_lpd", count(PeerFrom::Lsd)),
                ("from_ltep", count(PeerFrom::Ltep)),
                ("from_pex", count(PeerFrom::Pex)),
                ("from_tracker", count(PeerFrom::Tracker)),
            ]))
        }
        "tracker_stats" => items(v.trackers.iter().map(tracker_stat).collect()),
        "trackers" => items(
            v.trackers
                .iter()
                .map(|t| {
                    vec![
                        ("announce", json(&t.announce)),
                        ("id", json(t.id)),
                        ("scrape", json(derived::scrape_url(&t.announce))),
                        ("sitename", json(sitename(&host_of(&t.announce)))),
                        ("tier", json(t.tier)),
                    ]
                })
                .collect(),
        ),
        "webseeds_ex" => items(
            v.web_seeds
                .iter()
                .map(|w| {
                    vec![
                        ("url", json(&w.url)),
                        ("is_downloading", json(w.downloading)),
                        ("download_bytes_per_second", json(w.download_rate)),
                    ]
                })
                .collect(),
        ),
        _ => None,
    }
}

/// Any value as JSON (what `json!` does with each of an object's values).
fn json(value: impl serde::Serialize) -> Value {
    // Numbers, strings and booleans always serialize.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// One tracker's `trackerStats` object.
fn tracker_stat(t: &crate::daemon::backend::TrackerView) -> Entries {
    let host = host_of(&t.announce);
    // Transmission's announce states: 0 inactive, 1 waiting (for its time).
    let state = i64::from(t.next_announce > 0);
    let scrape = t.scrape.clone().unwrap_or_default();
    // Its scrape states: 0 inactive, 1 waiting, 3 scraping.
    let scrape_state = match (scrape.active, scrape.next > 0) {
        (true, _) => 3,
        (false, true) => 1,
        (false, false) => 0,
    };
    vec![
        ("announce", json(&t.announce)),
        ("announce_state", json(state)),
        ("download_count", json(t.downloads.map_or(-1, i64::from))),
        (
            "downloader_count",
            json(scrape.downloaders.map_or(-1, i64::from)),
        ),
        ("has_announced", json(t.last_announce > 0)),
        ("has_scraped", json(scrape.last_time > 0)),
        ("id", json(t.id)),
        ("is_backup", json(t.backup)),
        ("last_announce_peer_count", json(t.last_peer_count)),
        ("last_announce_result", json(&t.last_result)),
        ("last_announce_start_time", json(t.last_announce)),
        ("last_announce_succeeded", json(t.last_announce_ok)),
        ("last_announce_time", json(t.last_announce)),
        ("last_announce_timed_out", json(false)),
        ("last_scrape_result", json(&scrape.last_result)),
        ("last_scrape_start_time", json(scrape.last_start)),
        ("last_scrape_succeeded", json(scrape.last_ok)),
        ("last_scrape_time", json(scrape.last_time)),
        ("last_scrape_timed_out", json(false)),
        ("leecher_count", json(t.leechers.map_or(-1, i64::from))),
        ("next_announce_time", json(t.next_announce)),
        ("next_scrape_time", json(scrape.next)),
        ("scrape", json(derived::scrape_url(&t.announce))),
        ("scrape_state", json(scrape_state)),
        ("seeder_count", json(t.seeders.map_or(-1, i64::from))),
        ("sitename", json(sitename(&host))),
        ("host", json(host)),
        ("tier", json(t.tier)),
    ]
}

fn peer_entries(p: &crate::daemon::backend::PeerView) -> Entries {
    let downloading = p.rate_to_client > 0;
    let uploading = p.rate_to_peer > 0;
    let mut flags = String::new();
    for (on, c) in [
        (p.encrypted, 'E'),
        (p.incoming, 'I'),
        (p.utp, 'T'),
        (downloading, 'D'),
        (!downloading && p.client_interested && !p.client_choked, 'd'),
        (uploading, 'U'),
        (!uploading && p.peer_interested && !p.peer_choked, 'u'),
        (p.client_interested && p.client_choked, 'K'),
        (p.peer_interested && p.peer_choked, '?'),
    ] {
        if on {
            flags.push(c);
        }
    }
    vec![
        ("address", json(p.address.ip().to_string())),
        ("port", json(p.address.port())),
        ("client_name", json(&p.client)),
        ("client_is_choked", json(p.client_choked)),
        ("client_is_interested", json(p.client_interested)),
        ("flag_str", json(flags)),
        ("is_downloading_from", json(downloading)),
        ("is_encrypted", json(p.encrypted)),
        ("is_incoming", json(p.incoming)),
        ("is_uploading_to", json(uploading)),
        ("is_utp", json(p.utp)),
        ("peer_is_choked", json(p.peer_choked)),
        ("peer_is_interested", json(p.peer_interested)),
        ("peer_id", json("")),
        ("progress", json(p.progress)),
        ("rate_to_client", json(p.rate_to_client)),
        ("rate_to_peer", json(p.rate_to_peer)),
        ("bytes_to_client", json(p.downloaded)),
        ("bytes_to_peer", json(p.uploaded)),
    ]
}

/// The have-flags of `count` pieces in an MSB-first bitfield.
fn bits(field: &[u8], count: u32) -> impl Iterator<Item = bool> + '_ {
    (0..count).map(move |i| {
        let byte = field.get((i / 8) as usize).copied().unwrap_or(0);
        byte & (0x80 >> (i % 8)) != 0
    })
}

/// `part / whole`, 1 for an empty whole once the metadata is known.
fn ratio(part: u64, whole: u64, known: bool) -> f64 {
    if whole == 0 {
        if known { 1.0 } else { 0.0 }
    } else {
        part as f64 / whole as f64
    }
}

/// Uploaded over downloaded (or over what we have, for a torrent we seeded from the start):
/// -1 when nothing moved, -2 for infinity, as Transmission.
fn upload_ratio(v: &TorrentView) -> f64 {
    let base = if v.downloaded_ever > 0 {
        v.downloaded_ever
    } else {
        v.have_valid
    };
    match (v.uploaded_ever, base) {
        (0, 0) => -1.0,
        (_, 0) => -2.0,
        (up, base) => up as f64 / base as f64,
    }
}

/// Announce URLs one per line, tiers separated by a blank line.
fn tracker_list(v: &TorrentView) -> String {
    let mut out = String::new();
    let mut tier = None;
    for t in &v.trackers {
        if tier.is_some_and(|prev| prev != t.tier) {
            out.push('\n');
        }
        tier = Some(t.tier);
        out.push_str(&t.announce);
        out.push('\n');
    }
    out
}

/// The host of a URL (`udp://tracker.example.org:1337/announce` → `tracker.example.org`).
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("").to_owned();
    }
    host.split(':').next().unwrap_or("").to_owned()
}

/// The site name Transmission shows: the label before the public suffix, roughly.
fn sitename(host: &str) -> String {
    let labels: Vec<&str> = host.split('.').collect();
    match labels.as_slice() {
        [.., site, _tld] if host.parse::<std::net::IpAddr>().is_err() => (*site).to_owned(),
        _ => host.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_sitenames() {
        assert_eq!(
            host_of("udp://tracker.example.org:1337/announce"),
            "tracker.example.org"
        );
        assert_eq!(host_of("http://[::1]:80/a"), "::1");
        assert_eq!(host_of("https://u:p@t.org/a?x"), "t.org");
        assert_eq!(sitename("tracker.example.org"), "example");
        assert_eq!(sitename("127.0.0.1"), "127.0.0.1");
    }

    #[test]
    fn bits_read_msb_first() {
        let have: Vec<bool> = bits(&[0b1010_0000, 0x80], 9).collect();
        assert_eq!(
            have,
            [true, false, true, false, false, false, false, false, true]
        );
    }

    #[test]
    fn objects_are_written_as_their_values_would_be() {
        let mut view = crate::daemon::fake::view(1, "x");
        view.web_seeds = vec![crate::daemon::backend::WebSeedView {
            url: "http://seed.example.org/x".into(),
            downloading: true,
            download_rate: 5,
        }];
        view.trackers.push(view.trackers[0].clone());
        view.trackers[1].scrape = None;
        let mut written = 0;
        for legacy in [false, true] {
            let mut keys = KeyNames::new(legacy);
            for field in KNOWN {
                let Some(objects) = objects(&view, field) else {
                    continue;
                };
                let mut out = Vec::new();
                objects.write(&mut out, &mut keys);
                let value = field_value(&view, field, legacy, None, 0);
                let value = if legacy {
                    names::legacy_keys(value, Style::Camel)
                } else {
                    value
                };
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    serde_json::to_string(&value).unwrap(),
                    "{field}, legacy {legacy}"
                );
                written += 1;
            }
        }
        // file_stats, files, peers, peers_from, tracker_stats, trackers, webseeds_ex.
        assert_eq!(written, 14);
    }

    #[test]
    fn every_known_field_has_a_value() {
        let view = crate::daemon::fake::view(1, "x");
        for field in KNOWN {
            assert_ne!(
                field_value(&view, field, false, None, 0),
                Value::Null,
                "{field}"
            );
        }
    }
}
