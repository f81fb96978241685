//! Every method against the fake backend, in both request forms.

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::daemon::backend::PeerFrom;
use crate::daemon::fake::Fake;

fn rpc() -> (Rpc<Fake>, Arc<Fake>) {
    let fake = Arc::new(Fake::new());
    let rpc = Rpc::new(
        Arc::clone(&fake),
        AllowedDirs::new(vec!["/dl".into()]),
        false,
        9091,
        None,
    );
    (rpc, fake)
}

fn block_on<T>(f: impl Future<Output = T>) -> T {
    futures_lite::future::block_on(f)
}

/// Sends `request` with the right session id; the answer as JSON.
fn call(rpc: &Rpc<Fake>, request: Value) -> Value {
    let reply = block_on(rpc.handle(
        Some(rpc.session_id().as_bytes()),
        &serde_json::to_vec(&request).unwrap(),
    ));
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    serde_json::from_slice(&reply.body).unwrap()
}

/// A legacy call; its `arguments`, after checking it succeeded.
fn legacy(rpc: &Rpc<Fake>, method: &str, arguments: Value) -> Value {
    let out = call(
        rpc,
        json!({"method": method, "arguments": arguments, "tag": 5}),
    );
    assert_eq!(out["result"], "success", "{method}: {out}");
    assert_eq!(out["tag"], 5);
    out["arguments"].clone()
}

/// A JSON-RPC call; its `result`, after checking it succeeded.
fn modern(rpc: &Rpc<Fake>, method: &str, params: Value) -> Value {
    let out = call(
        rpc,
        json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 9}),
    );
    assert_eq!(out["id"], 9);
    assert!(out.get("error").is_none(), "{method}: {out}");
    out["result"].clone()
}

/// A JSON-RPC call that must fail; its error object.
fn modern_error(rpc: &Rpc<Fake>, method: &str, params: Value) -> Value {
    let out = call(
        rpc,
        json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}),
    );
    assert!(out.get("result").is_none(), "{method}: {out}");
    out["error"].clone()
}

#[test]
fn the_session_id_handshake_answers_409_with_the_id() {
    let (rpc, _) = rpc();
    let body = br#"{"method":"session-get"}"#;
    for header in [None, Some(&b"wrong"[..])] {
        let reply = block_on(rpc.handle(header, body));
        assert_eq!(reply.status, 409);
        assert!(String::from_utf8_lossy(&reply.body).contains(rpc.session_id()));
    }
    assert_eq!(rpc.session_id().len(), 48);
    let (other, _) = self::rpc();
    assert_ne!(rpc.session_id(), other.session_id());
}

#[test]
fn malformed_bodies_get_a_parse_error() {
    let (rpc, _) = rpc();
    for body in [&b"{"[..], b"", b"\xff\xfe", b"[]"] {
        let reply = block_on(rpc.handle(Some(rpc.session_id().as_bytes()), body));
        assert_eq!(reply.status, 200);
        let out: Value = serde_json::from_slice(&reply.body).unwrap();
        assert!(out["error"]["code"].as_i64().unwrap() < 0, "{out}");
        assert!(out["error"]["message"].is_string());
    }
}

#[test]
fn unknown_methods_are_named() {
    let (rpc, _) = rpc();
    let out = call(&rpc, json!({"method": "torrent-frobnicate", "tag": 1}));
    assert_eq!(out["result"], "method name not recognized");
    assert_eq!(modern_error(&rpc, "nope", json!({}))["code"], -32601);
}

#[test]
fn batches_and_notifications() {
    let (rpc, _) = rpc();
    let out = call(
        &rpc,
        json!([
            {"jsonrpc": "2.0", "method": "session_stats", "id": 1},
            {"jsonrpc": "2.0", "method": "session_stats"},
            {"jsonrpc": "2.0", "method": "nope", "id": 2},
        ]),
    );
    let answers = out.as_array().unwrap();
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[1]["error"]["code"], -32601);
    let reply = block_on(rpc.handle(
        Some(rpc.session_id().as_bytes()),
        br#"{"jsonrpc":"2.0","method":"session_stats"}"#,
    ));
    assert_eq!((reply.status, reply.body.len()), (204, 0));
}

#[test]
fn torrent_get_answers_fields_in_each_spelling() {
    let (rpc, _) = rpc();
    let args = legacy(
        &rpc,
        "torrent-get",
        json!({"fields": ["id", "name", "hashString", "rateDownload", "fileStats", "wanted",
                          "peersFrom", "file-count", "status", "eta", "bogus"]}),
    );
    let torrents = args["torrents"].as_array().unwrap();
    assert_eq!(torrents.len(), 2);
    let t = &torrents[0];
    assert_eq!(t["id"], 1);
    assert_eq!(t["name"], "one");
    assert_eq!(t["hashString"].as_str().unwrap().len(), 40);
    assert_eq!(t["rateDownload"], 2000);
    assert_eq!(t["fileStats"][0]["bytesCompleted"], 750);
    assert_eq!(t["wanted"], json!([1]));
    assert_eq!(t["peersFrom"]["fromTracker"], 1);
    assert_eq!(t["file-count"], 1);
    assert_eq!(t["status"], 4);
    assert_eq!(t["eta"], 12);
    assert!(t.get("bogus").is_none());

    let result = modern(
        &rpc,
        "torrent_get",
        json!({"ids": [2], "fields": ["id", "hash_string", "file_stats", "wanted", "peers",
                                       "trackers", "tracker_stats", "pieces", "labels",
                                       "percent_done", "upload_ratio", "tracker_list"]}),
    );
    let t = &result["torrents"][0];
    assert_eq!(result["torrents"].as_array().unwrap().len(), 1);
    assert_eq!(t["id"], 2);
    assert_eq!(t["file_stats"][0]["bytes_completed"], 750);
    assert_eq!(t["wanted"], json!([true]));
    assert_eq!(t["peers"][0]["address"], "127.0.0.1");
    assert_eq!(t["peers"][0]["flag_str"], "EDU");
    assert_eq!(t["trackers"][0]["sitename"], "example");
    assert_eq!(t["tracker_stats"][0]["seeder_count"], 3);
    assert_eq!(t["tracker_stats"][0]["leecher_count"], -1);
    assert_eq!(t["pieces"], "4A==");
    assert_eq!(t["labels"], json!(["tv"]));
    assert_eq!(t["percent_done"], 0.75);
    assert_eq!(t["upload_ratio"], 2.0);
    assert_eq!(
        t["tracker_list"],
        "http://tracker.example.org:6969/announce\n"
    );
}

#[test]
fn torrent_get_ids_forms_and_table_format() {
    let (rpc, fake) = rpc();
    let hash = fake.lock().torrents[1].hash.to_hex();
    let ids_of = |args: Value| -> Vec<u64> {
        args["torrents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_u64().unwrap())
            .collect()
    };
    let get = |ids: Value| legacy(&rpc, "torrent-get", json!({"ids": ids, "fields": ["id"]}));
    assert_eq!(
        ids_of(legacy(&rpc, "torrent-get", json!({"fields": ["id"]}))),
        [1, 2]
    );
    assert_eq!(ids_of(get(json!(2))), [2]);
    assert_eq!(ids_of(get(json!([hash.to_uppercase()]))), [2]);
    assert_eq!(ids_of(get(json!([1, hash]))), [1, 2]);
    assert_eq!(ids_of(get(json!([]))), Vec::<u64>::new());
    assert_eq!(ids_of(get(json!([7]))), Vec::<u64>::new());
    fake.lock().torrents[0].activity_date = unix_now();
    let recent = get(json!("recently-active"));
    assert_eq!(ids_of(recent.clone()), [1]);
    assert_eq!(recent["removed"], json!([]));

    let table = legacy(
        &rpc,
        "torrent-get",
        json!({"fields": ["id", "hashString", "fileStats"], "format": "table"}),
    );
    let rows = table["torrents"].as_array().unwrap();
    assert_eq!(rows[0], json!(["id", "hashString", "fileStats"]));
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2][0], 2);
    assert_eq!(rows[2][2][0]["bytesCompleted"], 750);

    let error = modern_error(
        &rpc,
        "torrent_get",
        json!({"fields": ["id"], "format": "csv"}),
    );
    assert_eq!(error["code"], -32602);
    let error = modern_error(&rpc, "torrent_get", json!({}));
    assert!(
        error["data"]["error_string"]
            .as_str()
            .unwrap()
            .contains("fields")
    );
    let error = modern_error(&rpc, "torrent_get", json!({"fields": ["id"], "ids": {}}));
    assert_eq!(error["code"], -32602);
}

#[test]
fn long_torrent_gets_are_written_a_page_at_a_time() {
    use crate::daemon::backend::PAGE;
    use futures_lite::StreamExt as _;
    let (rpc, fake) = rpc();
    let n = 2 * PAGE as u32 + 5;
    {
        let mut state = fake.lock();
        for id in 3..=n {
            state
                .torrents
                .push(crate::daemon::fake::view(id, &format!("t{id}")));
        }
    }
    let chunks = |body: &[u8]| -> Vec<Vec<u8>> {
        let answer = block_on(rpc.answer(Some(rpc.session_id().as_bytes()), body));
        assert_eq!(answer.status, 200);
        match answer.body {
            Body::Parts(parts) => block_on(parts.collect()),
            Body::Whole(_) => panic!("a torrent-get answered whole"),
        }
    };
    let all: Vec<u64> = (1..=u64::from(n)).collect();
    let ids_of = |torrents: &Value| -> Vec<u64> {
        (torrents.as_array().unwrap().iter())
            .map(|t| t["id"].as_u64().or_else(|| t[0].as_u64()).unwrap())
            .collect()
    };

    // A head, a chunk per page, a tail: valid JSON, every torrent once, in id order.
    let parts =
        chunks(br#"{"method":"torrent-get","arguments":{"fields":["id","hash_string"]},"tag":3}"#);
    assert!(parts.len() >= 3 + 2, "{} chunks", parts.len());
    assert!(parts.iter().all(|c| !c.is_empty()));
    let out: Value = serde_json::from_slice(&parts.concat()).unwrap();
    assert_eq!(
        (out["result"].clone(), out["tag"].clone()),
        (json!("success"), json!(3))
    );
    assert_eq!(ids_of(&out["arguments"]["torrents"]), all);
    assert_eq!(
        out["arguments"]["torrents"][n as usize - 1]["hashString"]
            .as_str()
            .unwrap()
            .len(),
        40
    );

    // The table, recently-active's `removed`, and a batch holding two listings and a
    // notification.
    fake.lock().removed = vec![crate::daemon::backend::Id(99)];
    let parts = chunks(
        br#"[{"jsonrpc":"2.0","method":"torrent_get","params":{"fields":["id","name"],"format":"table"},"id":1},
            {"jsonrpc":"2.0","method":"session_stats","id":2},
            {"jsonrpc":"2.0","method":"torrent_get","params":{"fields":["id"]}},
            {"jsonrpc":"2.0","method":"torrent_get","params":{"fields":["id"],"ids":"recently-active"},"id":"r"}]"#,
    );
    let out: Value = serde_json::from_slice(&parts.concat()).unwrap();
    let answers = out.as_array().unwrap();
    assert_eq!(answers.len(), 3, "{out}");
    let table = answers[0]["result"]["torrents"].as_array().unwrap();
    assert_eq!(table[0], json!(["id", "name"]));
    assert_eq!(ids_of(&Value::Array(table[1..].to_vec())), all);
    assert_eq!(table[n as usize], json!([n, format!("t{n}")]));
    assert!(answers[1]["result"].is_object());
    assert_eq!(answers[2]["id"], "r");
    assert_eq!(answers[2]["result"]["removed"], json!([99]));
    assert_eq!(answers[2]["result"]["torrents"], json!([]));

    // Named by id: only those are viewed.
    let out = modern(
        &rpc,
        "torrent_get",
        json!({"ids": [n, 1, 4000], "fields": ["id"]}),
    );
    assert_eq!(ids_of(&out["torrents"]), [1, u64::from(n)]);
}

#[test]
fn torrent_add_by_metainfo_magnet_path_and_url() {
    let (rpc, fake) = rpc();
    let args = legacy(
        &rpc,
        "torrent-add",
        json!({"metainfo": "ZDQ6bmFtZTE6eGU=", "download-dir": "/dl/tv", "paused": true,
               "labels": ["a", "b"], "files-unwanted": [0], "priority-high": []}),
    );
    assert_eq!(args["torrent-added"]["id"], 3);
    assert_eq!(args["torrent-added"]["name"], "added");
    assert_eq!(
        args["torrent-added"]["hashString"].as_str().unwrap().len(),
        40
    );
    let added = fake.lock().torrents[2].clone();
    assert_eq!(added.download_dir, std::path::Path::new("/dl/tv"));
    assert_eq!(added.status, crate::daemon::backend::Status::Stopped);
    assert_eq!(added.options.labels, ["a", "b"]);
    let calls = fake.calls();
    assert!(calls[0].contains("unwanted: Some(Some([0]))"), "{calls:?}");
    assert!(calls[0].contains("high: Some(All)"), "{calls:?}");

    let again = legacy(&rpc, "torrent-add", json!({"metainfo": "ZDQ6bmFtZTE6eGU="}));
    assert_eq!(again["torrent-duplicate"]["id"], 3);

    let result = modern(
        &rpc,
        "torrent_add",
        json!({"filename": "magnet:?xt=urn:btih:ab"}),
    );
    assert_eq!(result["torrent_added"]["name"], "magnet");
    let result = modern(&rpc, "torrent_add", json!({"filename": "/dl/x.torrent"}));
    assert_eq!(result["torrent_added"]["name"], "/dl/x.torrent");

    let url = modern_error(
        &rpc,
        "torrent_add",
        json!({"filename": "http://host/x.torrent"}),
    );
    assert_eq!(url["code"], 8);
    let ftp = modern_error(
        &rpc,
        "torrent_add",
        json!({"filename": "ftp://host/x.torrent"}),
    );
    assert!(
        ftp["data"]["error_string"]
            .as_str()
            .unwrap()
            .contains("only http and https")
    );
    let outside = modern_error(&rpc, "torrent_add", json!({"filename": "/etc/x.torrent"}));
    assert!(
        outside["data"]["error_string"]
            .as_str()
            .unwrap()
            .contains("outside")
    );
    let relative = modern_error(
        &rpc,
        "torrent_add",
        json!({"metainfo": "ZGU=", "download_dir": "dl"}),
    );
    assert_eq!(relative["code"], 3);
    let corrupt = modern_error(&rpc, "torrent_add", json!({"metainfo": "eHg="}));
    assert_eq!(corrupt["code"], 9);
    let none = modern_error(&rpc, "torrent_add", json!({"paused": true}));
    assert_eq!(none["code"], -32602);
    let out = call(
        &rpc,
        json!({"method": "torrent-add", "arguments": {"metainfo": "eHg="}}),
    );
    assert!(
        out["result"]
            .as_str()
            .unwrap()
            .starts_with("invalid or corrupt torrent file")
    );
}

#[test]
fn actions_remove_and_queue_moves_reach_the_backend() {
    let (rpc, fake) = rpc();
    legacy(&rpc, "torrent-stop", json!({"ids": [1]}));
    assert_eq!(
        fake.lock().torrents[0].status,
        crate::daemon::backend::Status::Stopped
    );
    legacy(&rpc, "torrent-start", json!({}));
    modern(&rpc, "torrent_start_now", json!({"ids": 2}));
    modern(&rpc, "torrent_verify", json!({"ids": [2]}));
    modern(&rpc, "torrent_reannounce", json!({"ids": [2]}));
    legacy(&rpc, "queue-move-top", json!({"ids": [2]}));
    modern(&rpc, "queue_move_up", json!({"ids": [2]}));
    modern(&rpc, "queue_move_down", json!({"ids": [1]}));
    modern(&rpc, "queue_move_bottom", json!({"ids": [1]}));
    legacy(
        &rpc,
        "torrent-remove",
        json!({"ids": [1], "delete-local-data": true}),
    );
    assert_eq!(
        fake.calls(),
        [
            "act [Id(1)] Stop",
            "act [Id(1), Id(2)] Start",
            "act [Id(2)] StartNow",
            "act [Id(2)] Verify",
            "act [Id(2)] Reannounce",
            "queue_move [Id(2)] Top",
            "queue_move [Id(2)] Up",
            "queue_move [Id(1)] Down",
            "queue_move [Id(1)] Bottom",
            "remove [Id(1)] true",
        ]
    );
    assert_eq!(fake.lock().torrents.len(), 1);
    let recent = legacy(
        &rpc,
        "torrent-get",
        json!({"ids": "recently-active", "fields": ["id"]}),
    );
    assert_eq!(recent["removed"], json!([1]));
}

#[test]
fn torrent_set_reads_every_option() {
    let (rpc, fake) = rpc();
    legacy(
        &rpc,
        "torrent-set",
        json!({"ids": [1], "files-unwanted": [0], "files-wanted": [], "priority-high": [0],
               "priority-low": [], "priority-normal": [0], "labels": ["x"],
               "downloadLimit": 100, "downloadLimited": true, "uploadLimit": 5,
               "uploadLimited": false, "seedRatioLimit": 1.5, "seedRatioMode": 1,
               "seedIdleLimit": 30, "seedIdleMode": 2, "queuePosition": 0,
               "trackerAdd": ["udp://t.example:1/announce"], "trackerRemove": [0],
               "trackerReplace": [1, "http://new.example/announce"],
               "honorsSessionLimits": false, "peer-limit": 9, "bandwidthPriority": 1,
               "location": "/dl/moved", "sequentialDownload": true}),
    );
    let calls = fake.calls();
    let change = &calls[0];
    for part in [
        "download_limit: Some(100000)",
        "download_limited: Some(true)",
        "upload_limit: Some(5000)",
        "upload_limited: Some(false)",
        "seed_ratio_limit: Some(1.5)",
        "seed_ratio_mode: Some(Single)",
        "seed_idle_limit: Some(30)",
        "seed_idle_mode: Some(Unlimited)",
        "queue_position: Some(0)",
        "peer_limit: Some(9)",
        "bandwidth_priority: Some(High)",
        "sequential: Some(true)",
        "honors_session_limits: Some(false)",
        "labels: Some([\"x\"])",
        "wanted: Some(All)",
        "unwanted: Some(Some([0]))",
        "high: Some(Some([0]))",
        "low: Some(All)",
        "Add([\"udp://t.example:1/announce\"])",
        "Remove([0])",
        "Replace([(1, \"http://new.example/announce\")])",
        "location: Some(\"/dl/moved\")",
    ] {
        assert!(change.contains(part), "{part} missing from {change}");
    }
    assert!(!fake.lock().torrents[0].files[0].wanted);
    assert_eq!(fake.lock().torrents[0].options.labels, ["x"]);

    modern(
        &rpc,
        "torrent_set",
        json!({"ids": [2], "tracker_list": "http://a/1\nhttp://a/2\n\nudp://b/3\n"}),
    );
    assert!(
        fake.calls()[1].contains(r#"Set([["http://a/1", "http://a/2"], ["udp://b/3"]])"#),
        "{:?}",
        fake.calls()
    );
    modern(
        &rpc,
        "torrent_set",
        json!({"ids": [2], "tracker_replace": [[1, "http://pair.example/announce"]]}),
    );
    assert!(
        fake.calls()[2].contains(r#"Replace([(1, "http://pair.example/announce")])"#),
        "{:?}",
        fake.calls()
    );
    let oor = modern_error(
        &rpc,
        "torrent_set",
        json!({"ids": [2], "files_unwanted": [5]}),
    );
    assert_eq!(oor["code"], 6);
    for bad in [
        json!({"labels": ["a,b"]}),
        json!({"seed_ratio_mode": 7}),
        json!({"bandwidth_priority": 3}),
        json!({"download_limit": "fast"}),
        json!({"seed_ratio_limit": -1}),
        json!({"tracker_add": ["javascript:alert(1)"]}),
        json!({"tracker_replace": [1]}),
        json!({"tracker_replace": [[1]]}),
        json!({"tracker_replace": [[1, "http://a/"], 2]}),
        json!({"location": "/etc"}),
    ] {
        let error = modern_error(&rpc, "torrent_set", bad.clone());
        assert!(error["code"].as_i64().unwrap() != 0, "{bad}");
    }
}

#[test]
fn set_location_checks_the_path() {
    let (rpc, fake) = rpc();
    legacy(
        &rpc,
        "torrent-set-location",
        json!({"ids": [1], "location": "/dl/new", "move": true}),
    );
    assert_eq!(fake.calls(), ["set_location [Id(1)] /dl/new true"]);
    assert_eq!(
        modern_error(&rpc, "torrent_set_location", json!({"ids": [1]}))["code"],
        -32602
    );
    let error = modern_error(
        &rpc,
        "torrent_set_location",
        json!({"location": "/dl/../etc"}),
    );
    assert_eq!(error["code"], -32602);
}

#[test]
fn session_get_set_and_stats() {
    let (rpc, fake) = rpc();
    let all = legacy(&rpc, "session-get", json!({}));
    assert_eq!(all["download-dir"], "/dl");
    assert_eq!(all["rpc-version"], 19);
    assert_eq!(all["seedRatioLimit"], 2.0);
    assert_eq!(all["session-id"], rpc.session_id());
    assert_eq!(all["units"]["speed-bytes"], 1000);
    assert!(all["version"].as_str().unwrap().contains("sanstorrent"));
    let some = modern(
        &rpc,
        "session_get",
        json!({"fields": ["rpc_version_semver", "peer_port"]}),
    );
    assert_eq!(
        some,
        json!({"rpc_version_semver": "6.0.1", "peer_port": 6881})
    );

    legacy(
        &rpc,
        "session-set",
        json!({"download-dir": "/dl/new", "speed-limit-down": 10, "alt-speed-up": 5}),
    );
    assert_eq!(
        fake.lock().settings.download_dir,
        std::path::Path::new("/dl/new")
    );
    assert_eq!(fake.lock().settings.download_limit.bytes_per_sec, 10_000);
    assert_eq!(fake.lock().settings.alt_speed.up, 5000);
    assert_eq!(
        modern_error(&rpc, "session_set", json!({"download_dir": "/tmp"}))["code"],
        -32602
    );
    // Turtle mode and its schedule: kB/s on the wire, bytes/s inside.
    assert_eq!(all["alt-speed-down"], 50);
    assert_eq!(all["alt-speed-enabled"], false);
    legacy(
        &rpc,
        "session-set",
        json!({"alt-speed-down": 20, "alt-speed-enabled": true, "alt-speed-time-enabled": true,
               "alt-speed-time-begin": 60, "alt-speed-time-end": 1439,
               "alt-speed-time-day": 65}),
    );
    let a = fake.lock().settings.alt_speed;
    assert_eq!((a.down, a.up, a.enabled), (20_000, 5000, true));
    assert_eq!(
        (a.time_enabled, a.time_begin, a.time_end, a.time_day),
        (true, 60, 1439, 65)
    );
    let alt = modern(
        &rpc,
        "session_get",
        json!({"fields": ["alt_speed_down", "alt_speed_up", "alt_speed_enabled",
                          "alt_speed_time_enabled", "alt_speed_time_begin",
                          "alt_speed_time_end", "alt_speed_time_day"]}),
    );
    assert_eq!(
        alt,
        json!({"alt_speed_down": 20, "alt_speed_up": 5, "alt_speed_enabled": true,
               "alt_speed_time_enabled": true, "alt_speed_time_begin": 60,
               "alt_speed_time_end": 1439, "alt_speed_time_day": 65})
    );
    for bad in [
        json!({"alt_speed_time_begin": 1440}),
        json!({"alt_speed_time_day": 128}),
        json!({"alt_speed_enabled": "yes"}),
    ] {
        assert_eq!(modern_error(&rpc, "session_set", bad)["code"], -32602);
    }

    let stats = legacy(&rpc, "session-stats", json!({}));
    assert_eq!(stats["torrentCount"], 2);
    assert_eq!(stats["downloadSpeed"], 4000);
    assert_eq!(stats["cumulative-stats"]["uploadedBytes"], 10);
    assert_eq!(stats["current-stats"]["sessionCount"], 1);
    let stats = modern(&rpc, "session_stats", json!({}));
    assert_eq!(stats["cumulative_stats"]["files_added"], 30);
}

#[test]
fn free_space_port_test_and_blocklist() {
    let (rpc, _) = rpc();
    let space = legacy(&rpc, "free-space", json!({"path": "/dl"}));
    assert_eq!(
        space,
        json!({"path": "/dl", "size-bytes": 123, "total_size": 456})
    );
    let space = modern(&rpc, "free_space", json!({"path": "/dl/"}));
    assert_eq!(
        space,
        json!({"path": "/dl/", "size_bytes": 123, "total_size": 456})
    );
    assert!(
        modern_error(&rpc, "free_space", json!({"path": "/"}))["data"]["error_string"]
            .as_str()
            .unwrap()
            .contains("outside")
    );
    assert_eq!(
        legacy(&rpc, "port-test", json!({})),
        json!({"port-is-open": false})
    );
    assert_eq!(
        modern(&rpc, "port_test", json!({"ip_protocol": "ipv4"})),
        json!({"port_is_open": false, "ip_protocol": "ipv4"})
    );
    assert_eq!(
        modern_error(&rpc, "blocklist_update", json!({}))["code"],
        10
    );
    let out = call(&rpc, json!({"method": "blocklist-update"}));
    assert_ne!(out["result"], "success");
}

#[test]
fn session_close_signals_the_daemon() {
    let fake = Arc::new(Fake::new());
    let (tx, rx) = async_channel::bounded(1);
    let rpc = Rpc::new(
        fake,
        AllowedDirs::new(vec!["/dl".into()]),
        false,
        9091,
        Some(tx),
    );
    legacy(&rpc, "session-close", json!({}));
    assert!(rx.try_recv().is_ok());
}

#[test]
fn no_input_panics() {
    let (rpc, _) = rpc();
    let methods = [
        "torrent-get",
        "torrent_add",
        "torrent-start",
        "torrent-stop",
        "torrent-verify",
        "torrent-remove",
        "torrent-set",
        "torrent-set-location",
        "queue-move-up",
        "session-get",
        "session-set",
        "session-stats",
        "free-space",
        "port-test",
        "blocklist-update",
        "group-get",
    ];
    let values = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1.5e300),
        json!(u64::MAX),
        json!("ü✓"),
        json!(""),
        json!([]),
        json!([null, "x", -3, 2.5, [1]]),
        json!({"a": {"b": []}}),
        json!("recently-active"),
        json!("magnet:"),
        json!("/dl/../.."),
        json!("ftp://x"),
    ];
    let keys = [
        "ids",
        "fields",
        "format",
        "filename",
        "metainfo",
        "download-dir",
        "files-wanted",
        "priority-high",
        "labels",
        "trackerReplace",
        "trackerList",
        "trackerAdd",
        "location",
        "path",
        "seedRatioLimit",
        "seedRatioMode",
        "downloadLimit",
        "queuePosition",
        "move",
        "delete-local-data",
        "bandwidthPriority",
        "speed-limit-down",
        "peer-limit",
    ];
    for method in methods {
        for key in keys {
            for value in &values {
                for form in [
                    json!({"method": method, "arguments": {key: value}, "tag": value}),
                    json!({"jsonrpc": "2.0", "method": method, "params": {key: value}, "id": 1}),
                ] {
                    let body = serde_json::to_vec(&form).unwrap();
                    let reply = block_on(rpc.handle(Some(rpc.session_id().as_bytes()), &body));
                    assert!(reply.status == 200 || reply.status == 204, "{form}");
                }
            }
        }
    }
}

#[test]
fn the_version_reads_as_transmission_4_1() {
    let (rpc, _) = rpc();
    let version = legacy(&rpc, "session-get", json!({"fields": ["version"]}))["version"].clone();
    let version = version.as_str().unwrap();
    assert!(version.starts_with("4.1.1 ("), "{version}");
    assert!(version.contains("sanstorrent"), "{version}");
}

#[test]
fn torrent_set_webseeds_replaces_the_list() {
    let (rpc, fake) = rpc();
    fake.lock().torrents[0].web_seeds = vec![crate::daemon::backend::WebSeedView {
        url: "http://old.example/m/".into(),
        download_rate: 0,
        downloading: false,
    }];
    let webseeds = |rpc: &Rpc<Fake>| {
        legacy(
            rpc,
            "torrent-get",
            json!({"ids": [1], "fields": ["webseeds"]}),
        )["torrents"][0]["webseeds"]
            .clone()
    };
    legacy(
        &rpc,
        "torrent-set",
        json!({"ids": [1], "webseeds": ["https://a.example/m/", "http://b.example/m/"]}),
    );
    assert_eq!(
        webseeds(&rpc),
        json!(["https://a.example/m/", "http://b.example/m/"])
    );
    let refused = call(
        &rpc,
        json!({"method": "torrent-set", "arguments": {"ids": [1], "webseeds": ["ftp://c.example/"]}}),
    );
    assert_ne!(refused["result"], "success", "{refused}");
    assert_eq!(webseeds(&rpc).as_array().map(Vec::len), Some(2));
    modern(&rpc, "torrent_set", json!({"ids": [1], "webseeds": []}));
    assert_eq!(webseeds(&rpc), json!([]));
}

#[test]
fn torrent_get_lists_the_web_seeds() {
    let (rpc, fake) = rpc();
    fake.lock().torrents[0].web_seeds = vec![
        crate::daemon::backend::WebSeedView {
            url: "http://mirror.test/pub/".into(),
            download_rate: 5000,
            downloading: true,
        },
        crate::daemon::backend::WebSeedView {
            url: "https://slow.test/x".into(),
            download_rate: 0,
            downloading: false,
        },
    ];
    let args = legacy(
        &rpc,
        "torrent-get",
        json!({"ids": [1], "fields": ["webseeds", "webseedsSendingToUs"]}),
    );
    let t = &args["torrents"][0];
    assert_eq!(
        t["webseeds"],
        json!(["http://mirror.test/pub/", "https://slow.test/x"])
    );
    assert_eq!(t["webseedsSendingToUs"], 1);
    let result = modern(
        &rpc,
        "torrent_get",
        json!({"ids": [1], "fields": ["webseeds_ex"]}),
    );
    assert_eq!(
        result["torrents"][0]["webseeds_ex"][0],
        json!({"url": "http://mirror.test/pub/", "is_downloading": true,
               "download_bytes_per_second": 5000})
    );
    let two = legacy(
        &rpc,
        "torrent-get",
        json!({"ids": [2], "fields": ["webseeds"]}),
    );
    assert_eq!(two["torrents"][0]["webseeds"], json!([]));
}

#[test]
fn rename_path_renames_a_file_or_the_top_folder_and_refuses_hostile_names() {
    let (rpc, fake) = rpc();
    let out = legacy(
        &rpc,
        "torrent-rename-path",
        json!({"ids": [1], "path": "one/a.bin", "name": "b.bin"}),
    );
    assert_eq!(out, json!({"path": "one/a.bin", "name": "b.bin", "id": 1}));
    assert_eq!(
        fake.calls(),
        ["rename_path Id(1) one/a.bin one/b.bin Either"]
    );
    let out = modern(
        &rpc,
        "torrent_rename_path",
        json!({"ids": [1], "path": "one", "name": "Uno"}),
    );
    assert_eq!(out["name"], "Uno");
    let got = legacy(
        &rpc,
        "torrent-get",
        json!({"ids": [1], "fields": ["name", "files"]}),
    );
    assert_eq!(got["torrents"][0]["name"], "Uno");
    assert_eq!(got["torrents"][0]["files"][0]["name"], "Uno/b.bin");
    for bad in [
        json!({"ids": [1], "path": "Uno/b.bin", "name": "../x"}),
        json!({"ids": [1], "path": "Uno/b.bin", "name": "a/b"}),
        json!({"ids": [1], "path": "Uno/b.bin", "name": ".."}),
        json!({"ids": [1], "path": "Uno/b.bin", "name": ""}),
        json!({"ids": [1], "path": "Uno/nothing", "name": "x"}),
        json!({"ids": [1], "path": "/Uno/b.bin", "name": "x"}),
        json!({"ids": [1, 2], "path": "Uno/b.bin", "name": "x"}),
        json!({"ids": [1], "name": "x"}),
        json!({"ids": [1], "path": "Uno/b.bin"}),
    ] {
        let error = modern_error(&rpc, "torrent_rename_path", bad.clone());
        assert_eq!(error["code"], -32602, "{bad}: {error}");
    }
    let got = legacy(
        &rpc,
        "torrent-get",
        json!({"ids": [1], "fields": ["files"]}),
    );
    assert_eq!(got["torrents"][0]["files"][0]["name"], "Uno/b.bin");
}

#[test]
fn eta_and_eta_idle_while_seeding_follow_transmission() {
    let (rpc, fake) = rpc();
    let set = |rate_upload| {
        let mut state = fake.lock();
        let t = &mut state.torrents[1];
        t.status = crate::daemon::backend::Status::Seeding;
        (t.left_until_done, t.size_when_done, t.uploaded_ever) = (0, 1000, 500);
        t.rate_upload = rate_upload;
        t.options.seed_ratio_mode = crate::daemon::backend::LimitMode::Single;
        t.options.seed_ratio_limit = 2.0;
        t.options.seed_idle_mode = crate::daemon::backend::LimitMode::Single;
        t.options.seed_idle_limit = 1;
    };
    let get = || {
        let got = legacy(
            &rpc,
            "torrent-get",
            json!({"ids": [2], "fields": ["eta", "etaIdle"]}),
        );
        (
            got["torrents"][0]["eta"].clone(),
            got["torrents"][0]["etaIdle"].clone(),
        )
    };
    set(10);
    assert_eq!(get(), (json!(150), json!(-1)), "1500 bytes to go at 10 B/s");
    set(0);
    assert_eq!(
        get(),
        (json!(-2), json!(0)),
        "idle since 2023: the limit is due"
    );
    let got = modern(
        &rpc,
        "torrent_get",
        json!({"ids": [1], "fields": ["eta", "eta_idle"]}),
    );
    assert_eq!(got["torrents"][0]["eta"], 12, "downloading");
    assert_eq!(got["torrents"][0]["eta_idle"], -1);
}

#[test]
fn transports_and_utp_peers_show_what_runs() {
    let (rpc, fake) = rpc();
    let fields = json!({"fields": ["utp-enabled", "tcp-enabled", "preferred-transports"]});
    let both = legacy(&rpc, "session-get", fields.clone());
    assert_eq!(
        both,
        json!({"utp-enabled": true, "tcp-enabled": true, "preferred-transports": ["utp", "tcp"]})
    );
    fake.lock().settings.tcp_enabled = false;
    let utp_only = legacy(&rpc, "session-get", fields);
    assert_eq!(utp_only["tcp-enabled"], false);
    assert_eq!(utp_only["preferred-transports"], json!(["utp"]));

    let peer = |rpc: &Rpc<Fake>| {
        let args = legacy(rpc, "torrent-get", json!({"ids": [1], "fields": ["peers"]}));
        args["torrents"][0]["peers"][0].clone()
    };
    let tcp = peer(&rpc);
    assert_eq!(tcp["isUTP"], false);
    assert!(!tcp["flagStr"].as_str().unwrap().contains('T'));
    fake.lock().torrents[0].peers[0].utp = true;
    let utp = peer(&rpc);
    assert_eq!(utp["isUTP"], true);
    assert!(utp["flagStr"].as_str().unwrap().contains('T'));
}

#[test]
fn availability_scrape_stats_backups_and_ltep_peers_come_from_the_backend() {
    let (rpc, fake) = rpc();
    let fields =
        json!({"ids": [1], "fields": ["availability", "trackerStats", "peersFrom", "hashString"]});
    let t = legacy(&rpc, "torrent-get", fields.clone())["torrents"][0].clone();
    // Pieces 0-2 are had (-1); piece 3 is missing and two peers have it.
    assert_eq!(t["availability"], json!([-1, -1, -1, 2]));
    let s = &t["trackerStats"][0];
    assert_eq!(s["hasScraped"], true);
    assert_eq!(s["lastScrapeSucceeded"], true);
    assert_eq!(s["lastScrapeTime"], 1_700_000_061);
    assert_eq!(s["lastScrapeStartTime"], 1_700_000_060);
    assert_eq!(s["lastScrapeResult"], "Success (3 seeders, 4 leechers)");
    assert_eq!(s["nextScrapeTime"], 1_700_001_860);
    assert_eq!(s["scrapeState"], 1, "waiting for its time");
    assert_eq!(s["downloaderCount"], 2);
    assert_eq!(s["isBackup"], false);
    assert_eq!(t["peersFrom"]["fromLtep"], 0);
    assert_eq!(t["hashString"].as_str().map(str::len), Some(40));

    {
        let mut state = fake.lock();
        let v = &mut state.torrents[0];
        v.hash_v2 = Some([0xcd; 32]);
        v.peers[0].from = PeerFrom::Ltep;
        v.trackers[0].backup = true;
        let scrape = v.trackers[0].scrape.as_mut().unwrap();
        (scrape.active, scrape.next) = (true, 0);
        (scrape.last_ok, scrape.last_result) = (false, "connection refused".into());
        scrape.downloaders = None;
    }
    let t = legacy(&rpc, "torrent-get", fields)["torrents"][0].clone();
    let s = &t["trackerStats"][0];
    assert_eq!(s["scrapeState"], 3, "scraping");
    assert_eq!(
        (&s["lastScrapeSucceeded"], &s["lastScrapeResult"]),
        (&json!(false), &json!("connection refused"))
    );
    assert_eq!(s["downloaderCount"], -1);
    assert_eq!(s["isBackup"], true);
    assert_eq!(t["peersFrom"]["fromLtep"], 1);
    assert_eq!(t["peersFrom"]["fromTracker"], 0);
    // A hybrid torrent's id stays its v1 hash.
    assert_eq!(t["hashString"], fake.lock().torrents[0].hash.to_hex());
}
