//! `sync/maindata` with `rid` deltas, and `sync/torrentPeers`.
//!
//! Each answer gets a new `rid` and its snapshot is kept (the last [`KEPT`]); a request with
//! a kept `rid` gets only what changed since, anything else a full update. `torrentPeers`
//! works the same way per torrent: the peers whose fields changed (only those fields), and
//! `peers_removed`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

use super::{Answer, Failure, Form, Qbit, Reply, map, pages};
use crate::daemon::backend::{Backend, Detail, Hash, PeerView};

/// Snapshots kept for deltas (several clients polling at once each get theirs).
const KEPT: usize = 16;

/// About how many bytes of fingerprints the kept snapshots may hold (past it the oldest go,
/// the newest stays): at 100,000 torrents a snapshot takes about 45 MiB (every torrent's
/// seeding time changes between two polls, so its fingerprints are not shared).
const KEPT_BYTES: usize = 64 << 20;

/// What a client was last told, as fingerprints: the JSON objects of 100,000 torrents would
/// take hundreds of MiB, and a snapshot is kept per `rid`.
#[derive(Clone, Debug, Default)]
struct Snapshot {
    /// Each torrent's info-hash and its fields' fingerprints, sorted by info-hash; a torrent
    /// that did not change shares its fingerprints with the snapshot before.
    torrents: Arc<[([u8; 20], Fingerprints)]>,
    /// Each tracker's announce URL and a fingerprint of the torrents listing it.
    trackers: BTreeMap<String, u64>,
    categories: Map<String, Value>,
    tags: BTreeSet<String>,
    server_state: Map<String, Value>,
    /// About how many bytes this snapshot added: its list, and the fingerprints it did not
    /// share with the one before.
    bytes: usize,
}

/// A fingerprint of each field of a torrent's object (its key and value), in key order.
type Fingerprints = Arc<[u64]>;

impl Snapshot {
    /// The fingerprints of the torrent with info-hash `hash`, if it was listed.
    fn torrent(&self, hash: &[u8; 20]) -> Option<&Fingerprints> {
        let i = self.torrents.binary_search_by_key(hash, |(h, _)| *h).ok()?;
        Some(&self.torrents[i].1)
    }
}

/// The kept snapshots, by `rid`.
#[derive(Debug)]
pub(super) struct Snapshots {
    kept: Mutex<Kept>,
    /// [`KEPT_BYTES`], or less in tests.
    budget: usize,
}

impl Default for Snapshots {
    fn default() -> Self {
        Self {
            kept: Mutex::default(),
            budget: KEPT_BYTES,
        }
    }
}

#[derive(Debug, Default)]
struct Kept {
    last_rid: u64,
    by_rid: VecDeque<(u64, Snapshot)>,
    /// `torrentPeers` answers: rid, torrent hash, its peers by `ip:port`.
    peers: VecDeque<(u64, String, Map<String, Value>)>,
}

impl<B: Backend> Qbit<B> {
    pub(super) async fn sync(&self, method: &str, form: &Form) -> Answer {
        match method {
            "maindata" => self.maindata(form).await,
            "torrentPeers" => self.torrent_peers(form).await,
            _ => Err(Failure::NotFound("Not Found".into())),
        }
    }

    async fn torrent_peers(&self, form: &Form) -> Answer {
        let rid = u64::try_from(form.i64("rid")?.unwrap_or(0)).unwrap_or(0);
        let t = self
            .one(
                form,
                Detail {
                    peers: true,
                    ..Detail::default()
                },
            )
            .await?;
        let hash = t.hash.to_hex();
        let now: Map<String, Value> = t
            .peers
            .iter()
            .map(|p| (p.address.to_string(), peer_value(p)))
            .collect();
        let mut kept = self.snapshots.lock();
        kept.last_rid += 1;
        let new_rid = kept.last_rid;
        let old = kept
            .peers
            .iter()
            .find(|(r, h, _)| *r == rid && rid != 0 && *h == hash)
            .map(|(_, _, p)| p.clone());
        kept.peers.push_back((new_rid, hash, now.clone()));
        while kept.peers.len() > KEPT {
            kept.peers.pop_front();
        }
        drop(kept);
        let mut out = Map::new();
        out.insert("rid".into(), json!(new_rid));
        out.insert("show_flags".into(), json!(true));
        let Some(old) = old else {
            out.insert("full_update".into(), json!(true));
            out.insert("peers".into(), Value::Object(now));
            return Ok(Reply::json(&Value::Object(out)));
        };
        let mut changed = Map::new();
        for (addr, peer) in &now {
            let delta = match (old.get(addr), peer) {
                (Some(Value::Object(before)), Value::Object(p)) => Value::Object(diff(before, p)),
                _ => peer.clone(),
            };
            if delta.as_object().is_none_or(|m| !m.is_empty()) {
                changed.insert(addr.clone(), delta);
            }
        }
        put(&mut out, "peers", Value::Object(changed));
        let removed: Vec<&String> = old.keys().filter(|a| !now.contains_key(*a)).collect();
        put(&mut out, "peers_removed", json!(removed));
        Ok(Reply::json(&Value::Object(out)))
    }

    /// `sync/maindata`: every torrent is viewed a page at a time and its object written (a
    /// full update) or compared with the fingerprints the client's `rid` kept (a delta) as
    /// it comes.
    async fn maindata(&self, form: &Form) -> Answer {
        let rid = u64::try_from(form.i64("rid")?.unwrap_or(0)).unwrap_or(0);
        // The snapshot to answer with a delta against (none: a full update), and the one to
        // share unchanged fingerprints with (the newest if there is no such `rid`).
        let (old, base) = {
            let kept = self.snapshots.lock();
            let found = kept.by_rid.iter().find(|(r, _)| *r == rid && rid != 0);
            let old = found.map(|(_, s)| s.clone());
            let base = old
                .clone()
                .or_else(|| kept.by_rid.back().map(|(_, s)| s.clone()));
            (old, base)
        };
        let backend = &*self.backend;
        let ctx = map::Context::of_all(backend).await;
        let groups = backend.groups().await;
        let mut tags = groups.tags;
        let mut listing: BTreeMap<String, Vec<[u8; 20]>> = BTreeMap::new();
        let mut members = Vec::new();
        let mut torrents = Vec::new();
        let mut bytes = 0;
        let ids = backend.torrent_ids().await;
        pages::each_view(backend, &ids, map::INFO_DETAIL, |t| {
            tags.extend(t.options.labels.iter().cloned());
            for tr in &t.trackers {
                listing
                    .entry(tr.announce.clone())
                    .or_default()
                    .push(t.hash.0);
            }
            let Value::Object(mut info) = map::info(&t, &ctx) else {
                return;
            };
            info.remove("hash");
            let prints: Vec<u64> = info.iter().map(|(k, v)| fingerprint(k, v)).collect();
            let before = old.as_ref().and_then(|o| o.torrent(&t.hash.0));
            let delta = match before {
                Some(b) if **b == *prints => None,
                Some(b) => Some(
                    info.into_iter()
                        .zip(&prints)
                        .enumerate()
                        .filter(|(i, (_, p))| b.get(*i) != Some(*p))
                        .map(|(_, (field, _))| field)
                        .collect(),
                ),
                None => Some(info),
            };
            let shared = match base.as_ref().and_then(|b| b.torrent(&t.hash.0)) {
                Some(b) if **b == *prints => Arc::clone(b),
                _ => {
                    bytes += size_of::<[u64; 2]>() + size_of_val(prints.as_slice());
                    prints.into()
                }
            };
            if let Some(delta) = delta {
                member(&mut members, &t.hash.to_hex(), &Value::Object(delta));
            }
            torrents.push((t.hash.0, shared));
        })
        .await;
        torrents.sort_unstable_by_key(|(h, _)| *h);
        bytes += size_of_val(torrents.as_slice());
        let now = Snapshot {
            bytes,
            torrents: torrents.into(),
            trackers: (listing.iter())
                .map(|(url, hashes)| (url.clone(), fingerprint_of(hashes)))
                .collect(),
            categories: (groups.categories.into_iter())
                .map(|(name, path)| {
                    let v = json!({"name": name, "savePath": path.display().to_string()});
                    (name, v)
                })
                .collect(),
            tags,
            server_state: match self.server_state().await {
                Value::Object(state) => state,
                _ => Map::new(),
            },
        };
        let hex_list = |hashes: &Vec<[u8; 20]>| -> Value {
            hashes
                .iter()
                .map(|h| Value::String(Hash(*h).to_hex()))
                .collect()
        };
        let new_rid = self.snapshots.keep(now.clone());
        let mut out = Map::new();
        out.insert("rid".into(), json!(new_rid));
        let Some(old) = old else {
            out.insert("full_update".into(), json!(true));
            out.insert("categories".into(), Value::Object(now.categories));
            out.insert("tags".into(), json!(now.tags));
            out.insert("server_state".into(), Value::Object(now.server_state));
            let trackers: Map<String, Value> = (listing.iter())
                .map(|(url, hashes)| (url.clone(), hex_list(hashes)))
                .collect();
            out.insert("trackers".into(), Value::Object(trackers));
            return Ok(Reply::json_bytes(written(Some(&members), &out)));
        };
        let removed: Vec<String> = (old.torrents.iter())
            .filter(|(h, _)| now.torrent(h).is_none())
            .map(|(h, _)| Hash(*h).to_hex())
            .collect();
        put(&mut out, "torrents_removed", json!(removed));
        let cats: Map<String, Value> = now
            .categories
            .iter()
            .filter(|(k, v)| old.categories.get(*k) != Some(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        put(&mut out, "categories", Value::Object(cats));
        let cats_removed: Vec<&String> = old
            .categories
            .keys()
            .filter(|k| !now.categories.contains_key(*k))
            .collect();
        put(&mut out, "categories_removed", json!(cats_removed));
        put(
            &mut out,
            "tags",
            json!(now.tags.difference(&old.tags).collect::<Vec<_>>()),
        );
        put(
            &mut out,
            "tags_removed",
            json!(old.tags.difference(&now.tags).collect::<Vec<_>>()),
        );
        let trackers: Map<String, Value> = (listing.iter())
            .filter(|(url, _)| old.trackers.get(*url) != now.trackers.get(*url))
            .map(|(url, hashes)| (url.clone(), hex_list(hashes)))
            .collect();
        put(&mut out, "trackers", Value::Object(trackers));
        let trackers_removed: Vec<&String> = old
            .trackers
            .keys()
            .filter(|url| !now.trackers.contains_key(*url))
            .collect();
        put(&mut out, "trackers_removed", json!(trackers_removed));
        put(
            &mut out,
            "server_state",
            Value::Object(diff(&old.server_state, &now.server_state)),
        );
        let changed = (!members.is_empty()).then_some(members.as_slice());
        Ok(Reply::json_bytes(written(changed, &out)))
    }
}

impl Snapshots {
    /// The kept snapshots, locked.
    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `snapshot` under a new `rid` (dropping the oldest past [`KEPT`] snapshots or
    /// past the budget of bytes, never the newest) and gives the `rid`.
    fn keep(&self, snapshot: Snapshot) -> u64 {
        let mut kept = self.lock();
        kept.last_rid += 1;
        let rid = kept.last_rid;
        kept.by_rid.push_back((rid, snapshot));
        let mut total: usize = kept.by_rid.iter().map(|(_, s)| s.bytes).sum();
        while kept.by_rid.len() > KEPT || (kept.by_rid.len() > 1 && total > self.budget) {
            if let Some((_, gone)) = kept.by_rid.pop_front() {
                total -= gone.bytes;
            }
        }
        rid
    }
}

/// Appends `"key":value` to the members of an object being written.
fn member(members: &mut Vec<u8>, key: &str, value: &Value) {
    if !members.is_empty() {
        members.push(b',');
    }
    // Writing strings and `Value`s into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *members, key);
    members.push(b':');
    let _ = serde_json::to_writer(&mut *members, value);
}

/// The answer: `"torrents"` with the `members` written as they came (if any), then the
/// fields of `rest`.
fn written(members: Option<&[u8]>, rest: &Map<String, Value>) -> Vec<u8> {
    let rest = serde_json::to_vec(rest).unwrap_or_default();
    let Some(members) = members else {
        return rest;
    };
    let mut body = b"{\"torrents\":{".to_vec();
    body.extend_from_slice(members);
    body.push(b'}');
    match rest.get(1..) {
        Some(fields) if fields.len() > 1 => {
            body.push(b',');
            body.extend_from_slice(fields);
        }
        _ => body.push(b'}'),
    }
    body
}

/// A fingerprint of one field of a torrent's object.
fn fingerprint(key: &str, value: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    feed(&mut h, value);
    h.finish()
}

/// A fingerprint of the torrents listing a tracker.
fn fingerprint_of(hashes: &[[u8; 20]]) -> u64 {
    let mut h = DefaultHasher::new();
    hashes.hash(&mut h);
    h.finish()
}

/// Feeds `value` to `h`, tagged by its kind so that `1` and `"1"` differ.
fn feed(h: &mut DefaultHasher, value: &Value) {
    match value {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => (1u8, b).hash(h),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => (2u8, u).hash(h),
            (None, Some(i)) => (3u8, i).hash(h),
            (None, None) => (4u8, n.as_f64().unwrap_or(0.0).to_bits()).hash(h),
        },
        Value::String(s) => (5u8, s).hash(h),
        Value::Array(items) => {
            (6u8, items.len()).hash(h);
            items.iter().for_each(|v| feed(h, v));
        }
        Value::Object(fields) => {
            (7u8, fields.len()).hash(h);
            for (k, v) in fields {
                k.hash(h);
                feed(h, v);
            }
        }
    }
}

/// One peer as `sync/torrentPeers` shows it.
fn peer_value(p: &PeerView) -> Value {
    let mut flags = String::new();
    if p.client_interested && !p.client_choked {
        flags.push('D');
    }
    if p.peer_interested && !p.peer_choked {
        flags.push('U');
    }
    if p.encrypted {
        flags.push('E');
    }
    if p.incoming {
        flags.push('I');
    }
    if p.utp {
        flags.push('P');
    }
    json!({
        "ip": p.address.ip().to_string(),
        "port": p.address.port(),
        "client": p.client,
        "progress": p.progress,
        "dl_speed": p.rate_to_client,
        "up_speed": p.rate_to_peer,
        "flags": flags,
        "connection": if p.utp { "μTP" } else { "BT" },
        "country_code": "",
        "relevance": 1,
        "downloaded": p.downloaded,
        "uploaded": p.uploaded,
    })
}

/// The fields of `now` that differ from `before`.
fn diff(before: &Map<String, Value>, now: &Map<String, Value>) -> Map<String, Value> {
    now.iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Inserts `value` unless it is an empty object or array (deltas leave those out).
fn put(out: &mut Map<String, Value>, key: &str, value: Value) {
    let empty = match &value {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    if !empty {
        out.insert(key.into(), value);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures_lite::future::block_on;

    use super::*;
    use crate::daemon::fake::{Fake, view};
    use crate::daemon::qbit::Credentials;
    use crate::daemon::rpc::AllowedDirs;

    /// The API over a fake backend holding torrents 1 and 2, without credentials.
    fn qbit() -> (Arc<Fake>, Qbit<Fake>) {
        let fake = Arc::new(Fake::new());
        let q = Qbit::new(
            Arc::clone(&fake),
            None::<Credentials>,
            AllowedDirs::new(vec!["/dl".into()]),
        );
        (fake, q)
    }

    /// A `sync/maindata` form asking from `rid`.
    fn form(rid: u64) -> Form {
        let mut form = Form::default();
        form.add_urlencoded(format!("rid={rid}").as_bytes());
        form
    }

    #[test]
    fn an_unchanged_torrent_shares_its_fingerprints_with_the_snapshot_before() {
        let (fake, q) = qbit();
        fake.lock().torrents.push(view(3, "three"));
        block_on(q.maindata(&form(0))).unwrap();
        fake.lock().torrents[1].rate_upload = 7;
        block_on(q.maindata(&form(1))).unwrap();
        let kept = q.snapshots.lock();
        let [(_, first), (_, second)] = [&kept.by_rid[0], &kept.by_rid[1]];
        let shared: Vec<bool> = (first.torrents.iter().zip(second.torrents.iter()))
            .map(|((_, a), (_, b))| Arc::ptr_eq(a, b))
            .collect();
        assert_eq!(shared, [true, false, true]);
        drop(kept);

        // A full update (another client) shares with the newest snapshot too.
        block_on(q.maindata(&form(0))).unwrap();
        let kept = q.snapshots.lock();
        let [(_, second), (_, third)] = [&kept.by_rid[1], &kept.by_rid[2]];
        assert!(
            (second.torrents.iter().zip(third.torrents.iter()))
                .all(|((_, a), (_, b))| Arc::ptr_eq(a, b))
        );
        assert_eq!(kept.by_rid.len(), 3);
    }

    #[test]
    fn past_the_budget_the_oldest_snapshots_go_and_their_clients_get_a_full_update() {
        let (fake, mut q) = qbit();
        block_on(q.maindata(&form(0))).unwrap();
        let one = q.snapshots.lock().by_rid[0].1.bytes;
        assert!(one > 2 * 8 * 30, "{one} B for two torrents");
        q.snapshots.budget = 2 * one;
        for rate in 1..=4 {
            // Both torrents change: no fingerprint is shared.
            fake.lock()
                .torrents
                .iter_mut()
                .for_each(|t| t.rate_upload = rate);
            block_on(q.maindata(&form(0))).unwrap();
        }
        let rids: Vec<u64> = q.snapshots.lock().by_rid.iter().map(|(r, _)| *r).collect();
        assert_eq!(rids, [4, 5]);
        let old = block_on(q.maindata(&form(1))).unwrap();
        let old: Value = serde_json::from_slice(&old.body).unwrap();
        assert_eq!(old["full_update"], true);
        let kept = block_on(q.maindata(&form(5))).unwrap();
        let kept: Value = serde_json::from_slice(&kept.body).unwrap();
        assert!(kept.get("full_update").is_none(), "{kept}");
    }
}
