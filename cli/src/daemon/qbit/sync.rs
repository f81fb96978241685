//! `sync/maindata` with `rid` deltas, and `sync/torrentPeers`.
//!
//! Each answer gets a new `rid` and its snapshot is kept (the last [`KEPT`]); a request with
//! a kept `rid` gets only what changed since, anything else a full update. `torrentPeers`
//! works the same way per torrent: the peers whose fields changed (only those fields), and
//! `peers_removed`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;

use serde_json::{Map, Value, json};

use super::{Answer, Failure, Form, Qbit, Reply, map};
use crate::daemon::backend::{Backend, Detail, PeerView};

/// Snapshots kept for deltas (several clients polling at once each get theirs).
const KEPT: usize = 16;

/// What a client was last told.
#[derive(Clone, Debug, Default, PartialEq)]
struct Snapshot {
    torrents: BTreeMap<String, Map<String, Value>>,
    /// Each tracker's announce URL and the hashes of the torrents listing it.
    trackers: BTreeMap<String, Vec<String>>,
    categories: Map<String, Value>,
    tags: BTreeSet<String>,
    server_state: Map<String, Value>,
}

/// The kept snapshots, by `rid`.
#[derive(Debug, Default)]
pub(super) struct Snapshots(Mutex<Kept>);

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
        let mut kept = self
            .snapshots
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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

    async fn maindata(&self, form: &Form) -> Answer {
        let rid = u64::try_from(form.i64("rid")?.unwrap_or(0)).unwrap_or(0);
        let now = self.snapshot().await;
        let mut kept = self
            .snapshots
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.last_rid += 1;
        let new_rid = kept.last_rid;
        let old = kept
            .by_rid
            .iter()
            .find(|(r, _)| *r == rid && rid != 0)
            .map(|(_, s)| s.clone());
        kept.by_rid.push_back((new_rid, now.clone()));
        while kept.by_rid.len() > KEPT {
            kept.by_rid.pop_front();
        }
        drop(kept);
        let mut out = Map::new();
        out.insert("rid".into(), json!(new_rid));
        let Some(old) = old else {
            out.insert("full_update".into(), json!(true));
            let torrents: Map<String, Value> = now
                .torrents
                .into_iter()
                .map(|(h, t)| (h, Value::Object(t)))
                .collect();
            out.insert("torrents".into(), Value::Object(torrents));
            out.insert("categories".into(), Value::Object(now.categories));
            out.insert("tags".into(), json!(now.tags));
            out.insert("server_state".into(), Value::Object(now.server_state));
            out.insert("trackers".into(), json!(now.trackers));
            return Ok(Reply::json(&Value::Object(out)));
        };
        let mut changed = Map::new();
        for (hash, t) in &now.torrents {
            let delta = match old.torrents.get(hash) {
                None => t.clone(),
                Some(before) => diff(before, t),
            };
            if !delta.is_empty() {
                changed.insert(hash.clone(), Value::Object(delta));
            }
        }
        put(&mut out, "torrents", Value::Object(changed));
        let removed: Vec<&String> = old
            .torrents
            .keys()
            .filter(|h| !now.torrents.contains_key(*h))
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
        let trackers: BTreeMap<&String, &Vec<String>> = now
            .trackers
            .iter()
            .filter(|(url, hashes)| old.trackers.get(*url) != Some(hashes))
            .collect();
        put(&mut out, "trackers", json!(trackers));
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
        Ok(Reply::json(&Value::Object(out)))
    }

    async fn snapshot(&self) -> Snapshot {
        let list = self.backend.torrents(map::INFO_DETAIL).await;
        let groups = self.backend.groups().await;
        let ctx = map::Context::new(&list, &self.backend.settings().await);
        let mut tags = groups.tags;
        let mut torrents = BTreeMap::new();
        let mut trackers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for t in &list {
            tags.extend(t.options.labels.iter().cloned());
            for tr in &t.trackers {
                trackers
                    .entry(tr.announce.clone())
                    .or_default()
                    .push(t.hash.to_hex());
            }
            let Value::Object(mut info) = map::info(t, &ctx) else {
                continue;
            };
            info.remove("hash");
            torrents.insert(t.hash.to_hex(), info);
        }
        let categories = groups
            .categories
            .into_iter()
            .map(|(name, path)| {
                let v = json!({"name": name, "savePath": path.display().to_string()});
                (name, v)
            })
            .collect();
        let Value::Object(server_state) = self.server_state().await else {
            return Snapshot::default();
        };
        Snapshot {
            torrents,
            trackers,
            categories,
            tags,
            server_state,
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
