//! The qBittorrent API against the fake backend: auth, the field and state mapping, adds,
//! filters, `sync/maindata` deltas.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::*;
use crate::daemon::backend::{LimitMode, Status};
use crate::daemon::fake::Fake;

fn qbit(credentials: Option<&str>) -> (Arc<Fake>, Qbit<Fake>) {
    let fake = Arc::new(Fake::new());
    let q = Qbit::new(
        Arc::clone(&fake),
        credentials.map(Credentials::parse),
        AllowedDirs::new(vec!["/dl".into()]),
    );
    (fake, q)
}

fn call(q: &Qbit<Fake>, method: &str, form: Form) -> Reply {
    call_as(q, method, form, None, Instant::now())
}

fn call_as(q: &Qbit<Fake>, method: &str, form: Form, sid: Option<&str>, now: Instant) -> Reply {
    let req = Request {
        method,
        form,
        sid,
        host: Some("127.0.0.1:8080"),
        peer: Some(IpAddr::from([127, 0, 0, 1])),
        ..Request::default()
    };
    futures_lite::future::block_on(q.handle(&req, now))
}

fn json(reply: &Reply) -> Value {
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(reply.json);
    serde_json::from_slice(&reply.body).unwrap()
}

fn body(reply: &Reply) -> &str {
    std::str::from_utf8(&reply.body).unwrap()
}

fn hash(n: u8) -> String {
    let mut h = [0u8; 20];
    h[0] = n;
    h[19] = 0xab;
    Hash(h).to_hex()
}

#[test]
fn without_credentials_every_login_succeeds_and_no_cookie_is_needed() {
    let (_, q) = qbit(None);
    let r = call(&q, "auth/login", Form::default().with("username", "x"));
    assert_eq!(body(&r), "Ok.");
    assert!(r.set_cookie.unwrap().starts_with("SID="));
    assert_eq!(body(&call(&q, "app/version", Form::default())), "v5.0.0");
    assert_eq!(
        body(&call(&q, "app/webapiVersion", Form::default())),
        "2.11.2"
    );
}

#[test]
fn with_credentials_a_session_cookie_is_needed_and_failures_ban() {
    let (_, q) = qbit(Some("admin:secret"));
    let now = Instant::now();
    assert_eq!(
        call_as(&q, "app/version", Form::default(), None, now).status,
        403
    );
    let good = Form::default()
        .with("username", "admin")
        .with("password", "secret");
    let r = call_as(&q, "auth/login", good, None, now);
    assert_eq!(body(&r), "Ok.");
    let cookie = r.set_cookie.unwrap();
    let sid = cookie["SID=".len()..].split(';').next().unwrap().to_owned();
    assert_eq!(
        call_as(&q, "app/version", Form::default(), Some(&sid), now).status,
        200
    );
    assert_eq!(
        call_as(&q, "app/version", Form::default(), Some("nope"), now).status,
        403
    );
    let later = now + Duration::from_secs(7200);
    assert_eq!(
        call_as(&q, "app/version", Form::default(), Some(&sid), later).status,
        403
    );
    call_as(&q, "auth/logout", Form::default(), Some(&sid), now);
    assert_eq!(
        call_as(&q, "app/version", Form::default(), Some(&sid), now).status,
        403
    );

    let bad = || {
        Form::default()
            .with("username", "admin")
            .with("password", "guess")
    };
    for _ in 0..5 {
        assert_eq!(body(&call_as(&q, "auth/login", bad(), None, now)), "Fails.");
    }
    let good = || {
        Form::default()
            .with("username", "admin")
            .with("password", "secret")
    };
    assert_eq!(call_as(&q, "auth/login", good(), None, now).status, 403);
    let after_ban = now + Duration::from_secs(3601);
    assert_eq!(
        body(&call_as(&q, "auth/login", good(), None, after_ban)),
        "Ok."
    );
}

#[test]
fn a_cross_site_origin_or_referer_is_refused() {
    let (_, q) = qbit(None);
    let mut req = Request {
        method: "app/version",
        host: Some("127.0.0.1:8080"),
        origin: Some("http://evil.example"),
        ..Request::default()
    };
    let r = futures_lite::future::block_on(q.handle(&req, Instant::now()));
    assert_eq!(r.status, 401);
    req.origin = None;
    req.referer = Some("http://127.0.0.1:8080/index.html");
    let r = futures_lite::future::block_on(q.handle(&req, Instant::now()));
    assert_eq!(r.status, 200);
}

#[test]
fn info_reports_qbittorrent_fields_states_and_units() {
    let (fake, q) = qbit(None);
    {
        let mut s = fake.lock();
        s.torrents[1].status = Status::Stopped;
        s.torrents[1].left_until_done = 0;
        s.torrents[0].eta = None;
    }
    let list = json(&call(&q, "torrents/info", Form::default()));
    let one = &list[0];
    assert_eq!(one["hash"], hash(1));
    assert_eq!(one["state"], "downloading");
    assert_eq!(one["progress"], 0.75);
    assert_eq!(one["eta"], 8_640_000);
    assert_eq!(one["dlspeed"], 2000);
    assert_eq!(one["size"], 1000);
    assert_eq!(one["tags"], "tv");
    assert_eq!(one["save_path"], "/dl");
    assert_eq!(one["tracker"], "http://tracker.example.org:6969/announce");
    assert_eq!(list[1]["state"], "stoppedUP");

    let stopped = json(&call(
        &q,
        "torrents/info",
        Form::default().with("filter", "paused"),
    ));
    assert_eq!(stopped.as_array().unwrap().len(), 1);
    let sorted = json(&call(
        &q,
        "torrents/info",
        Form::default()
            .with("sort", "name")
            .with("reverse", "true")
            .with("limit", "1"),
    ));
    assert_eq!(sorted[0]["name"], "two");
    let offset = json(&call(
        &q,
        "torrents/info",
        Form::default().with("offset", "1"),
    ));
    assert_eq!(offset[0]["name"], "two");
    let by_hash = json(&call(
        &q,
        "torrents/info",
        Form::default().with("hashes", &hash(2)),
    ));
    assert_eq!(by_hash.as_array().unwrap().len(), 1);
    let files = json(&call(
        &q,
        "torrents/files",
        Form::default().with("hash", &hash(1)),
    ));
    assert_eq!(files[0]["priority"], 1);
    assert_eq!(files[0]["piece_range"], serde_json::json!([0, 3]));
    let pieces = json(&call(
        &q,
        "torrents/pieceStates",
        Form::default().with("hash", &hash(1)),
    ));
    assert_eq!(pieces, serde_json::json!([2, 2, 2, 0]));
    let hashes = json(&call(
        &q,
        "torrents/pieceHashes",
        Form::default().with("hash", &hash(1)),
    ));
    assert_eq!(hashes[0], "ab".repeat(20));
    assert_eq!(hashes[3], "ff".repeat(20));
    assert_eq!(hashes.as_array().unwrap().len(), 4);
    let missing = call(
        &q,
        "torrents/properties",
        Form::default().with("hash", &hash(9)),
    );
    assert_eq!(missing.status, 404);
}

#[test]
fn add_with_category_and_tags_then_filter_and_change() {
    let (fake, q) = qbit(None);
    let mut form = Form::default()
        .with(
            "urls",
            "magnet:?xt=urn:btih:0101010101010101010101010101010101010101",
        )
        .with("category", "tv")
        .with("tags", "a, b")
        .with("savepath", "/dl/tv")
        .with("stopped", "true");
    form.files
        .push(hyper::body::Bytes::from_static(b"d4:infod4:name1:xee"));
    assert_eq!(body(&call(&q, "torrents/add", form)), "Ok.");
    let added: Vec<_> = fake.lock().torrents[2..].to_vec();
    assert_eq!(added.len(), 2);
    assert!(added.iter().all(|t| t.options.category == "tv"
        && t.options.labels == ["a", "b"]
        && t.status == Status::Stopped
        && t.download_dir == std::path::Path::new("/dl/tv")));
    let cats = json(&call(&q, "torrents/categories", Form::default()));
    assert_eq!(cats["tv"]["name"], "tv");
    let in_tv = json(&call(
        &q,
        "torrents/info",
        Form::default().with("category", "tv"),
    ));
    assert_eq!(in_tv.as_array().unwrap().len(), 2);
    let tagged = json(&call(&q, "torrents/info", Form::default().with("tag", "b")));
    assert_eq!(tagged.as_array().unwrap().len(), 2);

    let outside = Form::default()
        .with("urls", "magnet:?xt=urn:btih:aa")
        .with("savepath", "/etc");
    assert_eq!(call(&q, "torrents/add", outside).status, 400);
    let unknown = Form::default()
        .with("hashes", "all")
        .with("category", "nope");
    assert_eq!(call(&q, "torrents/setCategory", unknown).status, 409);
    let create = Form::default()
        .with("category", "movies")
        .with("savePath", "/dl/movies");
    assert_eq!(call(&q, "torrents/createCategory", create).status, 200);
    let set = Form::default()
        .with("hashes", &hash(1))
        .with("category", "movies");
    assert_eq!(call(&q, "torrents/setCategory", set).status, 200);
    assert_eq!(fake.lock().torrents[0].options.category, "movies");
    let remove = Form::default().with("hashes", &hash(1)).with("tags", "tv");
    assert_eq!(call(&q, "torrents/removeTags", remove).status, 200);
    assert!(fake.lock().torrents[0].options.labels.is_empty());
    let prio = Form::default()
        .with("hash", &hash(1))
        .with("id", "0")
        .with("priority", "0");
    assert_eq!(call(&q, "torrents/filePrio", prio).status, 200);
    assert!(!fake.lock().torrents[0].files[0].wanted);
    let bad = Form::default()
        .with("hash", &hash(1))
        .with("id", "5")
        .with("priority", "1");
    assert_eq!(call(&q, "torrents/filePrio", bad).status, 409);
    let stop = Form::default().with("hashes", &format!("{}|{}", hash(1), hash(2)));
    assert_eq!(call(&q, "torrents/stop", stop).status, 200);
    assert!(
        fake.lock().torrents[..2]
            .iter()
            .all(|t| t.status == Status::Stopped)
    );
    let del = Form::default()
        .with("hashes", &hash(2))
        .with("deleteFiles", "true");
    assert_eq!(call(&q, "torrents/delete", del).status, 200);
    assert!(fake.calls().iter().any(|c| c == "remove [Id(2)] true"));
}

#[test]
fn maindata_sends_a_full_update_then_only_changes() {
    let (fake, q) = qbit(None);
    let full = json(&call(&q, "sync/maindata", Form::default().with("rid", "0")));
    assert_eq!(full["full_update"], true);
    assert_eq!(full["torrents"][hash(1)]["state"], "downloading");
    assert!(full["torrents"][hash(1)].get("hash").is_none());
    assert!(full["server_state"]["dl_info_speed"].is_number());
    let rid = full["rid"].as_u64().unwrap();

    let same = json(&call(
        &q,
        "sync/maindata",
        Form::default().with("rid", &rid.to_string()),
    ));
    assert!(same.get("full_update").is_none());
    assert!(same.get("torrents").is_none(), "{same}");
    let rid = same["rid"].as_u64().unwrap();

    fake.lock().torrents[0].rate_download = 0;
    call(
        &q,
        "torrents/delete",
        Form::default().with("hashes", &hash(2)),
    );
    let delta = json(&call(
        &q,
        "sync/maindata",
        Form::default().with("rid", &rid.to_string()),
    ));
    let changed = delta["torrents"][hash(1)].as_object().unwrap();
    assert_eq!(changed["state"], "stalledDL");
    assert_eq!(changed["dlspeed"], 0);
    assert!(!changed.contains_key("name"));
    assert_eq!(delta["torrents_removed"], serde_json::json!([hash(2)]));

    let unknown = json(&call(
        &q,
        "sync/maindata",
        Form::default().with("rid", "999"),
    ));
    assert_eq!(unknown["full_update"], true);
}

#[test]
fn torrent_peers_sends_a_full_update_then_only_changes() {
    let (fake, q) = qbit(None);
    let ask = |rid: u64| {
        Form::default()
            .with("hash", &hash(1))
            .with("rid", &rid.to_string())
    };
    let full = json(&call(&q, "sync/torrentPeers", ask(0)));
    assert_eq!(full["full_update"], true);
    let peer = &full["peers"]["127.0.0.1:6881"];
    assert_eq!(peer["client"], "Transmission 4.0");
    assert_eq!(peer["flags"], "DUE");
    assert_eq!(peer["connection"], "BT");
    assert_eq!(
        (&peer["downloaded"], &peer["uploaded"]),
        (&5000.into(), &3000.into())
    );
    let rid = full["rid"].as_u64().unwrap();

    let same = json(&call(&q, "sync/torrentPeers", ask(rid)));
    assert!(same.get("full_update").is_none(), "{same}");
    assert!(same.get("peers").is_none(), "{same}");
    let rid = same["rid"].as_u64().unwrap();

    fake.lock().torrents[0].peers[0].rate_to_client = 7;
    let delta = json(&call(&q, "sync/torrentPeers", ask(rid)));
    let changed = delta["peers"]["127.0.0.1:6881"].as_object().unwrap();
    assert_eq!(changed.len(), 1, "{delta}");
    assert_eq!(changed["dl_speed"], 7);
    let rid = delta["rid"].as_u64().unwrap();

    fake.lock().torrents[0].peers.clear();
    let gone = json(&call(&q, "sync/torrentPeers", ask(rid)));
    assert_eq!(gone["peers_removed"], serde_json::json!(["127.0.0.1:6881"]));
    // Another torrent's rid is unknown here: a full update.
    let other = Form::default()
        .with("hash", &hash(2))
        .with("rid", &rid.to_string());
    assert_eq!(
        json(&call(&q, "sync/torrentPeers", other))["full_update"],
        true
    );
}

#[test]
fn transfer_and_preferences() {
    let (fake, q) = qbit(None);
    let info = json(&call(&q, "transfer/info", Form::default()));
    assert_eq!(info["dl_info_speed"], 4000);
    assert_eq!(info["connection_status"], "connected");
    assert_eq!(
        body(&call(&q, "transfer/speedLimitsMode", Form::default())),
        "0"
    );
    call(&q, "transfer/toggleSpeedLimitsMode", Form::default());
    assert_eq!(
        body(&call(&q, "transfer/speedLimitsMode", Form::default())),
        "1"
    );
    assert!(
        fake.lock().settings.alt_speed.enabled,
        "the mode is the session's"
    );
    // As qBittorrent: the limits of the mode in force are set and reported.
    let set = Form::default().with("limit", "7000");
    assert_eq!(call(&q, "transfer/setDownloadLimit", set).status, 200);
    assert_eq!(fake.lock().settings.alt_speed.down, 7000);
    assert_eq!(
        body(&call(&q, "transfer/downloadLimit", Form::default())),
        "7000"
    );
    assert_eq!(
        json(&call(&q, "transfer/info", Form::default()))["dl_rate_limit"],
        7000
    );
    let mode = Form::default().with("mode", "0");
    assert_eq!(call(&q, "transfer/setSpeedLimitsMode", mode).status, 200);
    assert!(!fake.lock().settings.alt_speed.enabled);
    let set = Form::default().with("limit", "5000");
    assert_eq!(call(&q, "transfer/setDownloadLimit", set).status, 200);
    assert_eq!(fake.lock().settings.download_limit.bytes_per_sec, 5000);
    assert_eq!(fake.lock().settings.alt_speed.down, 7000);
    assert_eq!(
        body(&call(&q, "transfer/downloadLimit", Form::default())),
        "5000"
    );
    let bad = Form::default().with("mode", "2");
    assert_eq!(call(&q, "transfer/setSpeedLimitsMode", bad).status, 400);
    let prefs = json(&call(&q, "app/preferences", Form::default()));
    assert_eq!(prefs["save_path"], "/dl");
    assert_eq!(prefs["listen_port"], 6881);
    assert_eq!(prefs["dht"], true);
    let set = Form::default().with("json", r#"{"save_path":"/dl/new"}"#);
    assert_eq!(call(&q, "app/setPreferences", set).status, 200);
    assert_eq!(
        body(&call(&q, "app/defaultSavePath", Form::default())),
        "/dl/new"
    );
    assert_eq!(prefs["alt_dl_limit"], 7000);
    assert_eq!(prefs["alt_up_limit"], 50_000);
    assert_eq!(prefs["scheduler_days"], 0);
    assert_eq!(prefs["schedule_from_hour"], 9);
    let alt = Form::default().with(
        "json",
        r#"{"alt_dl_limit":1000,"alt_up_limit":2000,"scheduler_enabled":true,
            "schedule_from_hour":22,"schedule_from_min":30,"schedule_to_min":15,
            "scheduler_days":1}"#,
    );
    assert_eq!(call(&q, "app/setPreferences", alt).status, 200);
    let a = fake.lock().settings.alt_speed;
    assert_eq!((a.down, a.up, a.time_enabled), (1000, 2000, true));
    assert_eq!(
        (a.time_begin, a.time_end, a.time_day),
        (22 * 60 + 30, 17 * 60 + 15, 62)
    );
    let prefs = json(&call(&q, "app/preferences", Form::default()));
    assert_eq!(prefs["schedule_from_min"], 30);
    assert_eq!(prefs["schedule_to_hour"], 17);
    assert_eq!(prefs["scheduler_days"], 1);
    let bad = Form::default().with("json", r#"{"scheduler_days":12}"#);
    assert_eq!(call(&q, "app/setPreferences", bad).status, 400);
    let outside = Form::default().with("json", r#"{"save_path":"/etc"}"#);
    assert_eq!(call(&q, "app/setPreferences", outside).status, 400);
    assert_eq!(call(&q, "nothing/here", Form::default()).status, 404);
}

#[test]
fn rename_sequential_and_first_last_piece_priority() {
    let (fake, q) = qbit(None);
    let rename = Form::default()
        .with("hash", &hash(1))
        .with("name", " Better name ");
    assert_eq!(call(&q, "torrents/rename", rename).status, 200);
    let info = json(&call(&q, "torrents/info", Form::default()));
    assert_eq!(info[0]["name"], "Better name");
    let empty = Form::default().with("hash", &hash(1)).with("name", " ");
    assert_eq!(call(&q, "torrents/rename", empty).status, 409);
    let missing = Form::default().with("hash", &hash(9)).with("name", "x");
    assert_eq!(call(&q, "torrents/rename", missing).status, 404);
    for bad in [
        "x".repeat(1025),
        "a/b".into(),
        "bell\u{7}".into(),
        "..".into(),
    ] {
        let form = Form::default().with("hash", &hash(1)).with("name", &bad);
        let reply = call(&q, "torrents/rename", form);
        assert_eq!(reply.status, 409, "{bad:?}");
        assert!(
            body(&reply).starts_with("invalid name: "),
            "{}",
            body(&reply)
        );
    }
    let broken = Form::default()
        .with("hash", &hash(1))
        .with("name", "two\r\nlines");
    assert_eq!(call(&q, "torrents/rename", broken).status, 200);
    let info = json(&call(&q, "torrents/info", Form::default()));
    assert_eq!(
        info[0]["name"], "two lines",
        "line breaks become spaces, as in qBittorrent"
    );
    let longest = "é".repeat(512);
    let form = Form::default()
        .with("hash", &hash(1))
        .with("name", &longest);
    assert_eq!(call(&q, "torrents/rename", form).status, 200);

    let both = || Form::default().with("hashes", &format!("{}|{}", hash(1), hash(2)));
    assert_eq!(
        call(&q, "torrents/toggleSequentialDownload", both()).status,
        200
    );
    assert_eq!(
        call(&q, "torrents/toggleFirstLastPiecePrio", both()).status,
        200
    );
    let info = json(&call(&q, "torrents/info", Form::default()));
    for t in info.as_array().unwrap() {
        assert_eq!(t["seq_dl"], true);
        assert_eq!(t["f_l_piece_prio"], true);
    }
    assert!(
        fake.calls()
            .iter()
            .any(|c| c.contains("first_last_pieces: Some(true)"))
    );
    call(&q, "torrents/toggleFirstLastPiecePrio", both());
    let info = json(&call(&q, "torrents/info", Form::default()));
    assert_eq!(info[1]["f_l_piece_prio"], false);

    let add = Form::default()
        .with(
            "urls",
            "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567",
        )
        .with("firstLastPiecePrio", "true")
        .with("sequentialDownload", "true")
        .with("rename", "Shown");
    assert_eq!(body(&call(&q, "torrents/add", add)), "Ok.");
    let calls = fake.calls();
    let added = calls.iter().find(|c| c.starts_with("add ")).unwrap();
    for part in [
        "sequential: Some(true)",
        "first_last_pieces: Some(true)",
        "name: Some(\"Shown\")",
    ] {
        assert!(added.contains(part), "{part} missing from {added}");
    }
    let info = json(&call(&q, "torrents/info", Form::default()));
    assert_eq!(info[2]["name"], "Shown");
    let long = Form::default()
        .with(
            "urls",
            "magnet:?xt=urn:btih:2222222222222222222222222222222222222222",
        )
        .with("rename", &"x".repeat(2048));
    let reply = call(&q, "torrents/add", long);
    assert_eq!(reply.status, 400);
    assert!(body(&reply).contains("2048 bytes"), "{}", body(&reply));
    assert_eq!(
        json(&call(&q, "torrents/info", Form::default()))
            .as_array()
            .unwrap()
            .len(),
        3,
        "nothing added"
    );
}

#[test]
fn queue_places_forced_states_and_share_limits() {
    let (fake, q) = qbit(None);
    {
        let mut s = fake.lock();
        s.settings.seed_ratio_limited = true;
        s.torrents[0].queue_position = 5;
        s.torrents[0].forced = true;
        s.torrents[1].status = Status::Seeding;
        s.torrents[1].left_until_done = 0;
        s.torrents[1].queue_position = 0;
        s.torrents[1].options.seed_ratio_mode = LimitMode::Single;
        s.torrents[1].options.seed_ratio_limit = 0.5;
    }
    let list = json(&call(&q, "torrents/info", Form::default()));
    // Places count unfinished torrents only; a finished one has none.
    assert_eq!(
        (&list[0]["priority"], &list[1]["priority"]),
        (&1.into(), &0.into())
    );
    assert_eq!(list[0]["state"], "forcedDL");
    assert_eq!(list[0]["force_start"], true);
    assert_eq!(
        (&list[0]["ratio_limit"], &list[0]["max_ratio"]),
        (&(-2.0).into(), &2.0.into())
    );
    assert_eq!(
        (&list[1]["ratio_limit"], &list[1]["max_ratio"]),
        (&0.5.into(), &0.5.into())
    );
    assert_eq!(list[0]["seeding_time_limit"], -2);
    assert_eq!(list[0]["max_seeding_time"], -1);

    let limits = Form::default()
        .with("hashes", &hash(1))
        .with("ratioLimit", "1.5")
        .with("seedingTimeLimit", "-1")
        .with("inactiveSeedingTimeLimit", "30");
    assert_eq!(call(&q, "torrents/setShareLimits", limits).status, 200);
    let calls = fake.lock().calls.join("\n");
    for part in [
        "seed_ratio_limit: Some(1.5)",
        "seed_ratio_mode: Some(Single)",
        "seed_time_mode: Some(Unlimited)",
        "seed_idle_limit: Some(30)",
        "seed_idle_mode: Some(Single)",
    ] {
        assert!(calls.contains(part), "{part} in {calls}");
    }

    let prefs = json(&call(&q, "app/preferences", Form::default()));
    assert_eq!(prefs["queueing_enabled"], true);
    assert_eq!(prefs["max_active_downloads"], 5);
    assert_eq!(prefs["max_active_uploads"], -1, "the seed queue is off");
    let top = || {
        call(
            &q,
            "torrents/topPrio",
            Form::default().with("hashes", &hash(2)),
        )
    };
    assert_eq!(top().status, 200);
    assert!(
        fake.lock()
            .calls
            .iter()
            .any(|c| c.starts_with("queue_move [Id(2)] Top"))
    );
    let off = Form::default().with("json", r#"{"queueing_enabled":false}"#);
    assert_eq!(call(&q, "app/setPreferences", off).status, 200);
    assert_eq!(
        top().status,
        409,
        "qBittorrent refuses queue moves without queueing"
    );
    for (act, status, shown) in [
        (1, 200, 1),
        (3, 200, 3),
        (2, 400, 3),
        (4, 400, 3),
        (0, 200, 0),
    ] {
        let form = Form::default().with("json", &format!(r#"{{"max_ratio_act":{act}}}"#));
        assert_eq!(call(&q, "app/setPreferences", form).status, status, "{act}");
        let prefs = json(&call(&q, "app/preferences", Form::default()));
        assert_eq!(prefs["max_ratio_act"], shown, "after {act}");
    }
}

#[test]
fn set_location_moves_the_data_and_a_moving_torrent_shows_it() {
    let (fake, q) = qbit(None);
    let reply = call(
        &q,
        "torrents/setLocation",
        Form::default()
            .with("hashes", &hash(1))
            .with("location", "/dl/elsewhere"),
    );
    assert_eq!(reply.status, 200, "{}", body(&reply));
    assert_eq!(fake.calls(), ["set_location [Id(1)] /dl/elsewhere true"]);
    let outside = call(
        &q,
        "torrents/setLocation",
        Form::default()
            .with("hashes", &hash(1))
            .with("location", "/etc"),
    );
    assert_eq!(outside.status, 400, "{}", body(&outside));
    // setSavePath names torrents by `id` and moves the data too, as qBittorrent does.
    let reply = call(
        &q,
        "torrents/setSavePath",
        Form::default()
            .with("id", &format!("{}|{}", hash(1), hash(2)))
            .with("path", "/dl/saved"),
    );
    assert_eq!(reply.status, 200, "{}", body(&reply));
    assert_eq!(
        fake.calls().last().unwrap(),
        "set_location [Id(1), Id(2)] /dl/saved true"
    );

    fake.lock().torrents[1].moving = true;
    let list = json(&call(&q, "torrents/info", Form::default()));
    assert_eq!(list[1]["state"], "moving");
    let moving = json(&call(
        &q,
        "torrents/info",
        Form::default().with("filter", "moving"),
    ));
    assert_eq!(moving.as_array().unwrap().len(), 1);
    assert_eq!(moving[0]["hash"], hash(2));
}

#[test]
fn web_seeds_are_listed_added_edited_and_removed() {
    let (fake, q) = qbit(None);
    let list = |q: &Qbit<Fake>| {
        json(&call(
            q,
            "torrents/webseeds",
            Form::default().with("hash", &hash(1)),
        ))
    };
    assert_eq!(list(&q), serde_json::json!([]));
    let add = Form::default()
        .with("hash", &hash(1))
        .with("urls", "http://a.test/x/|https://b.test/y");
    assert_eq!(call(&q, "torrents/addWebSeeds", add).status, 200);
    assert_eq!(
        list(&q),
        serde_json::json!([{"url": "http://a.test/x/"}, {"url": "https://b.test/y"}])
    );
    let bad = Form::default()
        .with("hash", &hash(1))
        .with("urls", "ftp://c.test/");
    assert_eq!(call(&q, "torrents/addWebSeeds", bad).status, 400);
    let edit = |orig: &str, new: &str| {
        Form::default()
            .with("hash", &hash(1))
            .with("origUrl", orig)
            .with("newUrl", new)
    };
    assert_eq!(
        call(
            &q,
            "torrents/editWebSeed",
            edit("http://nope.test/", "http://d.test/")
        )
        .status,
        409
    );
    assert_eq!(
        call(
            &q,
            "torrents/editWebSeed",
            edit("http://a.test/x/", "https://b.test/y")
        )
        .status,
        409
    );
    assert_eq!(
        call(
            &q,
            "torrents/editWebSeed",
            edit("http://a.test/x/", "http://d.test/")
        )
        .status,
        200
    );
    let remove = Form::default()
        .with("hash", &hash(1))
        .with("urls", "https://b.test/y");
    assert_eq!(call(&q, "torrents/removeWebSeeds", remove).status, 200);
    assert_eq!(list(&q), serde_json::json!([{"url": "http://d.test/"}]));
    let missing = Form::default()
        .with("hash", &hash(9))
        .with("urls", "http://a.test/");
    assert_eq!(call(&q, "torrents/addWebSeeds", missing).status, 404);
    assert!(
        fake.calls()
            .iter()
            .any(|c| c.contains("web_seeds: [Add([\"http://a.test/x/\", \"https://b.test/y\"])]"))
    );
}

#[test]
fn rename_file_and_folder_take_whole_paths_and_answer_409_when_refused() {
    let (fake, q) = qbit(None);
    {
        let mut state = fake.lock();
        let files = &mut state.torrents[0].files;
        let mut sub = files[0].clone();
        sub.name = "one/sub/c.srt".into();
        files.push(sub);
    }
    let form = |old: &str, new: &str| {
        Form::default()
            .with("hash", &hash(1))
            .with("oldPath", old)
            .with("newPath", new)
    };
    let names = || -> Vec<String> {
        let files = json(&call(
            &q,
            "torrents/files",
            Form::default().with("hash", &hash(1)),
        ));
        files
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        call(&q, "torrents/renameFile", form("one/a.bin", "one/x/a2.bin")).status,
        200
    );
    assert_eq!(
        call(&q, "torrents/renameFolder", form("one/sub", "one/subs")).status,
        200
    );
    assert_eq!(names(), ["one/x/a2.bin", "one/subs/c.srt"]);
    for (method, old, new) in [
        ("renameFile", "one/x/a2.bin", "../../etc/passwd"),
        ("renameFile", "one/x/a2.bin", "/etc/passwd"),
        ("renameFile", "one/x/a2.bin", "one/subs/c.srt"),
        ("renameFile", "one/subs", "one/y"),
        ("renameFolder", "one/x/a2.bin", "one/y"),
        ("renameFolder", "one/subs", "one/subs/deeper"),
        ("renameFile", "one/none", "one/y"),
    ] {
        let reply = call(&q, &format!("torrents/{method}"), form(old, new));
        assert_eq!(reply.status, 409, "{method} {old} {new}: {}", body(&reply));
    }
    assert_eq!(names(), ["one/x/a2.bin", "one/subs/c.srt"]);
    let missing = Form::default()
        .with("hash", &hash(1))
        .with("oldPath", "one/x/a2.bin");
    assert_eq!(call(&q, "torrents/renameFile", missing).status, 400);
    let unknown = form("one/x/a2.bin", "z").with("hash", &hash(9));
    assert_eq!(call(&q, "torrents/renameFile", unknown).status, 404);
}

#[test]
fn a_utp_peer_and_the_protocol_preference_show_utp() {
    let (fake, q) = qbit(None);
    fake.lock().torrents[0].peers[0].utp = true;
    let form = Form::default().with("hash", &hash(1)).with("rid", "0");
    let full = json(&call(&q, "sync/torrentPeers", form));
    let peer = &full["peers"]["127.0.0.1:6881"];
    assert_eq!(peer["connection"], "μTP");
    assert_eq!(peer["flags"], "DUEP");
    let prefs = json(&call(&q, "app/preferences", Form::default()));
    assert_eq!(prefs["bittorrent_protocol"], 0);
    fake.lock().settings.tcp_enabled = false;
    let prefs = json(&call(&q, "app/preferences", Form::default()));
    assert_eq!(prefs["bittorrent_protocol"], 2);
    fake.lock().settings.tcp_enabled = true;
    fake.lock().settings.utp_enabled = false;
    let prefs = json(&call(&q, "app/preferences", Form::default()));
    assert_eq!(prefs["bittorrent_protocol"], 1);
}

#[test]
fn maindata_maps_trackers_to_torrents_and_reports_the_dht_nodes() {
    let (fake, q) = qbit(None);
    let old = "http://tracker.example.org:6969/announce";
    let full = json(&call(&q, "sync/maindata", Form::default().with("rid", "0")));
    assert_eq!(
        full["trackers"],
        serde_json::json!({ old: [hash(1), hash(2)] })
    );
    assert_eq!(full["server_state"]["dht_nodes"], 42);
    let info = json(&call(&q, "transfer/info", Form::default()));
    assert_eq!(info["dht_nodes"], 42);
    let rid = full["rid"].as_u64().unwrap().to_string();

    let new = "udp://tracker.example.net:1337";
    fake.lock().torrents[0].trackers[0].announce = new.into();
    call(
        &q,
        "torrents/delete",
        Form::default().with("hashes", &hash(2)),
    );
    let delta = json(&call(
        &q,
        "sync/maindata",
        Form::default().with("rid", &rid),
    ));
    assert_eq!(delta["trackers"], serde_json::json!({ new: [hash(1)] }));
    assert_eq!(delta["trackers_removed"], serde_json::json!([old]));
    let rid = delta["rid"].as_u64().unwrap().to_string();
    let same = json(&call(
        &q,
        "sync/maindata",
        Form::default().with("rid", &rid),
    ));
    assert!(
        same.get("trackers").is_none() && same.get("trackers_removed").is_none(),
        "{same}"
    );
}

#[test]
fn availability_infohash_v2_and_tracker_counts_are_qbittorrents() {
    let (fake, q) = qbit(None);
    let info = |q: &Qbit<Fake>| {
        let list = json(&call(
            q,
            "torrents/info",
            Form::default().with("hashes", &hash(1)),
        ));
        list[0].clone()
    };
    let files = |q: &Qbit<Fake>| {
        json(&call(
            q,
            "torrents/files",
            Form::default().with("hash", &hash(1)),
        ))
    };
    // Pieces 0-2 had, piece 3 with two peers: every piece has two copies at least.
    let t = info(&q);
    assert_eq!(t["availability"], 2.0);
    assert_eq!(t["infohash_v1"], hash(1));
    assert_eq!(t["infohash_v2"], "");
    assert_eq!(files(&q)[0]["availability"], 1.0);

    fake.lock().torrents[0].availability = vec![0, 1, 1, 0];
    fake.lock().torrents[0].hash_v2 = Some([0xcd; 32]);
    // Copies (peers and us): 1, 2, 2, 0: none of piece 3, three pieces of four above that.
    let t = info(&q);
    assert_eq!(t["availability"], 0.75);
    assert_eq!(t["infohash_v2"], "cd".repeat(32));
    assert_eq!(t["hash"], hash(1), "the id stays the v1 hash");
    let props = json(&call(
        &q,
        "torrents/properties",
        Form::default().with("hash", &hash(1)),
    ));
    assert_eq!(props["infohash_v2"], "cd".repeat(32));
    // Half the file's pieces are on a connected peer.
    assert_eq!(files(&q)[0]["availability"], 0.5);

    // No counts (a seed, or no metadata): -1, as qBittorrent shows a seed.
    fake.lock().torrents[0].availability.clear();
    assert_eq!(info(&q)["availability"], -1.0);
    assert_eq!(files(&q)[0]["availability"], -1.0);

    let rows = json(&call(
        &q,
        "torrents/trackers",
        Form::default().with("hash", &hash(1)),
    ));
    let row = &rows[3];
    assert_eq!(row["url"], "http://tracker.example.org:6969/announce");
    assert_eq!(
        (&row["num_peers"], &row["num_downloaded"]),
        (&serde_json::json!(7), &serde_json::json!(12))
    );
}

#[test]
fn add_takes_the_limits_and_skip_checking_the_arr_apps_send() {
    let (fake, q) = qbit(None);
    let form = Form::default()
        .with(
            "urls",
            "magnet:?xt=urn:btih:0303030303030303030303030303030303030303",
        )
        .with("skip_checking", "true")
        .with("dlLimit", "2000")
        .with("upLimit", "1000")
        .with("ratioLimit", "1.5")
        .with("seedingTimeLimit", "-1")
        .with("inactiveSeedingTimeLimit", "30")
        .with("autoTMM", "false")
        .with("contentLayout", "Original");
    assert_eq!(body(&call(&q, "torrents/add", form)), "Ok.");
    let calls = fake.calls();
    let change = calls
        .iter()
        .find(|c| c.starts_with("change [Id(3)]"))
        .expect("the limits applied to the torrent added");
    for part in [
        "download_limit: Some(2000), download_limited: Some(true)",
        "upload_limit: Some(1000), upload_limited: Some(true)",
        "seed_ratio_limit: Some(1.5), seed_ratio_mode: Some(Single)",
        "seed_idle_limit: Some(30), seed_idle_mode: Some(Single)",
        "seed_time_limit: None, seed_time_mode: Some(Unlimited)",
    ] {
        assert!(change.contains(part), "{part} in {change}");
    }
    // Without limits nothing but the add reaches the backend.
    let plain = Form::default().with("urls", "0404040404040404040404040404040404040404");
    let before = fake.calls().len();
    assert_eq!(body(&call(&q, "torrents/add", plain)), "Ok.");
    assert_eq!(fake.calls().len(), before + 1, "{:?}", fake.calls());
    let bad = Form::default()
        .with(
            "urls",
            "magnet:?xt=urn:btih:0505050505050505050505050505050505050505",
        )
        .with("dlLimit", "fast");
    assert_eq!(call(&q, "torrents/add", bad).status, 400);
}

/// A fake holding `n` torrents with distinct info-hashes and names `t0001`, `t0002`, ...
fn qbit_with(n: u32) -> (Arc<Fake>, Qbit<Fake>) {
    let (fake, q) = qbit(None);
    let mut s = fake.lock();
    s.torrents = (1..=n)
        .map(|id| {
            let mut t = crate::daemon::fake::view(id, &format!("t{id:04}"));
            t.hash.0[1..5].copy_from_slice(&id.to_be_bytes());
            t
        })
        .collect();
    drop(s);
    (fake, q)
}

#[test]
fn a_list_longer_than_a_page_is_filtered_sorted_and_synced_whole() {
    let n = 2 * crate::daemon::backend::PAGE as u32 + 88;
    let (fake, q) = qbit_with(n);
    fake.lock().torrents[7].status = Status::Stopped;
    let all = json(&call(&q, "torrents/info", Form::default()));
    assert_eq!(all.as_array().unwrap().len(), n as usize);
    let window = json(&call(
        &q,
        "torrents/info",
        Form::default()
            .with("sort", "name")
            .with("reverse", "true")
            .with("offset", "10")
            .with("limit", "300"),
    ));
    let names: Vec<&str> = (window.as_array().unwrap().iter())
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (1..=n - 10)
        .rev()
        .take(300)
        .map(|id| format!("t{id:04}"))
        .collect();
    assert_eq!(names, expected);
    let stopped = json(&call(
        &q,
        "torrents/info",
        Form::default().with("filter", "stopped"),
    ));
    assert_eq!(stopped[0]["name"], "t0008");
    assert_eq!(stopped.as_array().unwrap().len(), 1);

    let full = json(&call(&q, "sync/maindata", Form::default()));
    assert_eq!(full["torrents"].as_object().unwrap().len(), n as usize);
    assert_eq!(
        full["trackers"]["http://tracker.example.org:6969/announce"]
            .as_array()
            .unwrap()
            .len(),
        n as usize
    );
    let rid = full["rid"].as_u64().unwrap().to_string();
    let hash_of = |i: usize| fake.lock().torrents[i].hash.to_hex();
    fake.lock().torrents[400].rate_download = 0;
    // The last one: removing another would move the queue places after it.
    let removed = hash_of(n as usize - 1);
    fake.lock().torrents.pop();
    let delta = json(&call(
        &q,
        "sync/maindata",
        Form::default().with("rid", &rid),
    ));
    let changed = delta["torrents"].as_object().unwrap();
    assert_eq!(changed.len(), 1, "{changed:?}");
    let one = changed[&hash_of(400)].as_object().unwrap();
    assert_eq!(one["state"], "stalledDL");
    assert!(!one.contains_key("name"));
    assert_eq!(delta["torrents_removed"], serde_json::json!([removed]));
    assert_eq!(
        delta["trackers"]["http://tracker.example.org:6969/announce"]
            .as_array()
            .unwrap()
            .len(),
        n as usize - 1
    );
}
