//! Deterministic virtual-time tests of the announce schedule.

use super::*;
use crate::tracker::ResponseError;

fn url(name: &str) -> TrackerUrl {
    TrackerUrl::parse(&format!("http://{name}/announce")).unwrap()
}

fn config() -> AnnouncerConfig {
    AnnouncerConfig {
        announce_ip: Some("192.0.2.1".parse().unwrap()),
        announce_port: Some(7000),
        ..AnnouncerConfig::default()
    }
}

/// An announcer over `tiers` whose shuffle keeps the given order (checked), for readable tests.
fn announcer(tiers: &[&[&str]]) -> Announcer {
    let tiers: Vec<Vec<TrackerUrl>> = tiers
        .iter()
        .map(|t| t.iter().map(|n| url(n)).collect())
        .collect();
    for seed in 0..10_000 {
        let a = Announcer::new(tiers.clone(), config(), &mut Rng::new(seed));
        if a.tiers().tiers() == tiers.as_slice() {
            return a;
        }
    }
    panic!("no seed keeps the order");
}

fn ok(interval: u64) -> Result<HttpOutcome<AnnounceResponse>, TrackerError> {
    Ok(HttpOutcome::Done(AnnounceResponse {
        interval: Some(Duration::from_secs(interval)),
        ..AnnounceResponse::default()
    }))
}

fn fail() -> Result<HttpOutcome<AnnounceResponse>, TrackerError> {
    Err(TrackerError::Transport(
        crate::tracker::TransportError::Connect(std::io::ErrorKind::ConnectionRefused),
    ))
}

fn job(a: &mut Announcer) -> AnnounceJob {
    let j = a.poll_job().expect("a job");
    assert!(a.poll_job().is_none(), "one announce at a time");
    j
}

fn host(j: &AnnounceJob) -> String {
    j.url.host_str()
}

fn secs(t0: Instant, t: Option<Instant>) -> Option<u64> {
    t.map(|t| (t - t0).as_secs())
}

#[test]
fn started_then_regular_interval() {
    let t0 = Instant::now();
    let mut a = announcer(&[&["a"]]);
    assert_eq!(a.poll_timeout(), None, "idle before start");
    a.start(t0);
    let j = job(&mut a);
    assert_eq!((host(&j), j.event), ("a".into(), AnnounceEvent::Started));
    assert_eq!(secs(t0, a.poll_timeout()), Some(60), "request timeout");
    let req = j.request(
        InfoHash([1; 20]),
        PeerId([2; 20]),
        6881,
        Transfer::default(),
    );
    assert_eq!(req.port, 7000, "configured announce port");
    assert_eq!(req.ip, Some("192.0.2.1".parse().unwrap()));
    assert_eq!(req.numwant, Some(50));

    assert!(a.handle_result(t0, j.id, ok(1800)));
    assert!(
        !a.handle_result(t0, j.id, ok(1800)),
        "a second result is ignored"
    );
    assert!(matches!(
        a.poll_event(),
        Some(AnnouncerEvent::Announced { .. })
    ));
    assert_eq!(secs(t0, a.poll_timeout()), Some(1800));
    a.handle_timeout(t0 + Duration::from_secs(1799));
    assert!(a.poll_job().is_none());
    let t1 = t0 + Duration::from_secs(1800);
    a.handle_timeout(t1);
    let j2 = job(&mut a);
    assert_eq!(j2.event, AnnounceEvent::None);
    assert_eq!(j2.key, j.key, "same key all session");
}

#[test]
fn intervals_respect_min_interval_and_the_floor() {
    let t0 = Instant::now();
    let mut a = announcer(&[&["a"]]);
    a.start(t0);
    let j = job(&mut a);
    let response = AnnounceResponse {
        interval: Some(Duration::from_secs(0)),
        min_interval: Some(Duration::from_secs(120)),
        ..AnnounceResponse::default()
    };
    a.handle_result(t0, j.id, Ok(HttpOutcome::Done(response)));
    assert_eq!(
        secs(t0, a.next_announce()),
        Some(120),
        "interval raised to min interval"
    );
    // Asking for peers early waits for the min interval.
    a.announce_now(t0 + Duration::from_secs(10));
    assert!(a.poll_job().is_none());
    assert_eq!(secs(t0, a.poll_timeout()), Some(120));

    let t1 = t0 + Duration::from_secs(120);
    a.handle_timeout(t1);
    let j = job(&mut a);
    a.handle_result(t1, j.id, ok(1)); // below the 30 s floor
    assert_eq!(secs(t1, a.next_announce()), Some(30));
    a.announce_now(t1 + Duration::from_secs(31));
    assert!(
        a.poll_job().is_some(),
        "past the floor, announce_now announces at once"
    );
}

#[test]
fn falls_through_tiers_and_promotes_the_tracker_that_answered() {
    let t0 = Instant::now();
    let mut a = announcer(&[&["a", "b", "c"], &["d"]]);
    a.start(t0);
    let mut order = Vec::new();
    let j = job(&mut a);
    order.push(host(&j));
    a.handle_result(t0, j.id, fail());
    let j = job(&mut a);
    order.push(host(&j));
    assert_eq!(j.event, AnnounceEvent::Started, "the event carries over");
    a.handle_result(t0, j.id, Err(ResponseError::Failure("no".into()).into()));
    let j = job(&mut a);
    order.push(host(&j));
    a.handle_result(t0, j.id, ok(100));
    assert_eq!(order, ["a", "b", "c"]);
    let failed: Vec<String> = std::iter::from_fn(|| a.poll_event())
        .filter_map(|e| match e {
            AnnouncerEvent::TrackerFailed { url, .. } => Some(url.host_str()),
            _ => None,
        })
        .collect();
    assert_eq!(failed, ["a", "b"]);
    assert_eq!(a.working_tracker(), Some(&url("c")));
    let tier0: Vec<String> = a.tiers().tiers()[0].iter().map(|u| u.host_str()).collect();
    assert_eq!(tier0, ["c", "a", "b"], "c moved to the front");

    // Next round starts with c; when all of tier 0 fails, tier 1 answers.
    let t1 = t0 + Duration::from_secs(100);
    a.handle_timeout(t1);
    let mut order = Vec::new();
    for _ in 0..3 {
        let j = job(&mut a);
        order.push(host(&j));
        a.handle_result(t1, j.id, fail());
    }
    let j = job(&mut a);
    order.push(host(&j));
    a.handle_result(t1, j.id, ok(100));
    assert_eq!(order, ["c", "a", "b", "d"]);
    assert_eq!(a.working_tracker(), Some(&url("d")));
}

#[test]
fn exponential_backoff_when_every_tracker_fails() {
    let t0 = Instant::now();
    let mut a = announcer(&[&["a"], &["b"]]);
    a.start(t0);
    let mut now = t0;
    let mut waits = Vec::new();
    for _ in 0..9 {
        for _ in 0..2 {
            let j = job(&mut a);
            a.handle_result(now, j.id, fail());
        }
        let retry_at = std::iter::from_fn(|| a.poll_event())
            .find_map(|e| match e {
                AnnouncerEvent::AllFailed { retry_at } => Some(retry_at),
                _ => None,
            })
            .expect("AllFailed");
        assert_eq!(a.poll_timeout(), Some(retry_at));
        waits.push((retry_at - now).as_secs());
        now = retry_at;
        a.handle_timeout(now);
    }
    assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    // A success resets the backoff.
    let j = job(&mut a);
    assert_eq!(
        j.event,
        AnnounceEvent::Started,
        "still started: never acknowledged"
    );
    a.handle_result(now, j.id, ok(600));
    a.handle_timeout(now + Duration::from_secs(600));
    for _ in 0..2 {
        let j = job(&mut a);
        a.handle_result(now, j.id, fail());
    }
    assert_eq!(secs(now, a.next_announce()), Some(30));
}

#[test]
fn request_timeout_moves_on_and_ignores_late_results() {
    let t0 = Instant::now();
    let mut a = announcer(&[&["a", "b"]]);
    a.start(t0);
    let j = job(&mut a);
    let t1 = t0 + Duration::from_secs(60);
    a.handle_timeout(t1);
    assert_eq!(a.poll_event(), Some(AnnouncerEvent::JobTimedOut(j.id)));
    assert_eq!(
        a.poll_event(),
        Some(AnnouncerEvent::TrackerFailed {
            url: url("a"),
            error: TrackerError::Timeout
        })
    );
    let j2 = job(&mut a);
    assert_eq!(host(&j2), "b");
    assert!(!a.handle_result(t1, j.id, ok(10)), "late result ignored");
    assert!(a.handle_result(t1, j2.id, ok(10)));
}

#[test]
fn completed_once_even_when_asked_during_an_announce() {
    let t0 = Instant::now();
    let mut a = announcer(&[&["a"]]);
    a.start(t0);
    let j = job(&mut a);
    a.complete(t0);
    assert!(a.poll_job().is_none(), "waits for the announce in flight");
    a.handle_result(t0, j.id, ok(1800));
    let j = job(&mut a);
    assert_eq!(j.event, AnnounceEvent::Completed, "sent right away");
    a.handle_result(t0, j.id, ok(1800));
    a.complete(t0);
    assert!(a.poll_job().is_none(), "completed only once");
    a.handle_timeout(t0 + Duration::from_secs(1800));
    assert_eq!(job(&mut a).event, AnnounceEvent::None);
}

#[test]
fn stop_announces_stopped_with_a_bounded_wait() {
    let t0 = Instant::now();
    // Answered: stopped goes to the working tracker, Stopped follows its answer.
    let mut a = announcer(&[&["a", "b"]]);
    a.start(t0);
    let j = job(&mut a);
    a.handle_result(t0, j.id, fail());
    let j = job(&mut a);
    a.handle_result(t0, j.id, ok(1800));
    while a.poll_event().is_some() {}
    a.stop(t0);
    let j = job(&mut a);
    assert_eq!(
        (host(&j), j.event, j.numwant),
        ("b".into(), AnnounceEvent::Stopped, Some(0))
    );
    assert!(a.handle_result(t0, j.id, ok(1800)));
    assert_eq!(a.poll_event(), Some(AnnouncerEvent::Stopped));
    assert!(a.is_stopped());
    assert_eq!(a.poll_timeout(), None);

    // Silent tracker: Stopped after the stop timeout, not sooner, no fall-through.
    let mut a = announcer(&[&["a", "b"]]);
    a.start(t0);
    let j = job(&mut a);
    a.handle_result(t0, j.id, ok(1800));
    while a.poll_event().is_some() {}
    a.stop(t0);
    let _ = job(&mut a);
    assert_eq!(secs(t0, a.poll_timeout()), Some(5));
    a.handle_timeout(t0 + Duration::from_secs(4));
    assert!(!a.is_stopped());
    a.handle_timeout(t0 + Duration::from_secs(5));
    assert!(a.is_stopped());
    assert!(a.poll_job().is_none());
    assert!(std::iter::from_fn(|| a.poll_event()).any(|e| e == AnnouncerEvent::Stopped));

    // Never answered: nothing to tell anyone.
    let mut a = announcer(&[&["a"]]);
    a.start(t0);
    let j = job(&mut a);
    a.stop(t0);
    assert!(a.poll_job().is_none());
    assert_eq!(a.poll_event(), Some(AnnouncerEvent::Stopped));
    assert!(
        !a.handle_result(t0, j.id, ok(1)),
        "the abandoned job is ignored"
    );
}

#[test]
fn redirects_are_followed_and_bounded() {
    let t0 = Instant::now();
    let mut a = announcer(&[&["a", "b"]]);
    a.start(t0);
    let j = job(&mut a);
    a.handle_result(t0, j.id, Ok(HttpOutcome::Redirect(url("r1"))));
    let j = job(&mut a);
    assert_eq!((host(&j), j.event), ("r1".into(), AnnounceEvent::Started));
    a.handle_result(t0, j.id, Ok(HttpOutcome::Redirect(url("a"))));
    assert_eq!(
        a.poll_event(),
        Some(AnnouncerEvent::TrackerFailed {
            url: url("a"),
            error: TrackerError::Redirect(RedirectError::Loop("http://a:80/announce".into()))
        })
    );
    let j = job(&mut a);
    assert_eq!(host(&j), "b", "a loop fails over to the next tracker");
    let mut j = j;
    for i in 0..5 {
        a.handle_result(t0, j.id, Ok(HttpOutcome::Redirect(url(&format!("x{i}")))));
        j = job(&mut a);
    }
    a.handle_result(t0, j.id, Ok(HttpOutcome::Redirect(url("x9"))));
    assert_eq!(
        a.poll_event(),
        Some(AnnouncerEvent::TrackerFailed {
            url: url("b"),
            error: TrackerError::Redirect(RedirectError::TooMany(5))
        })
    );
}

#[test]
fn tracker_id_is_echoed_and_the_schedule_is_deterministic() {
    let t0 = Instant::now();
    let mut a = announcer(&[&["a"]]);
    a.start(t0);
    let j = job(&mut a);
    assert_eq!(j.tracker_id, None);
    let response = AnnounceResponse {
        interval: Some(Duration::from_secs(60)),
        tracker_id: Some(b"T1".to_vec()),
        ..AnnounceResponse::default()
    };
    a.handle_result(t0, j.id, Ok(HttpOutcome::Done(response)));
    a.handle_timeout(t0 + Duration::from_secs(60));
    assert_eq!(job(&mut a).tracker_id.as_deref(), Some(&b"T1"[..]));

    let run = |seed| {
        let tiers = vec![vec![url("a"), url("b"), url("c"), url("d")]];
        let mut a = Announcer::new(tiers, AnnouncerConfig::default(), &mut Rng::new(seed));
        a.start(t0);
        let mut log = Vec::new();
        while let Some(j) = a.poll_job() {
            log.push((host(&j), j.key));
            a.handle_result(t0, j.id, fail());
        }
        log
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

#[test]
fn replaced_tiers_are_announced_to_at_once() {
    let t0 = Instant::now();
    let mut a = announcer(&[&["a"]]);
    a.start(t0);
    let j = job(&mut a);
    assert_eq!(host(&j), "a");
    // The list changes while `started` is in flight: that answer no longer counts, and the
    // new tracker gets the `started` still owed, without waiting for an interval.
    let t1 = t0 + Duration::from_secs(1);
    a.replace_tiers(vec![vec![url("b")]], &mut Rng::new(1), t1);
    assert!(!a.handle_result(t1, j.id, ok(1800)));
    let j = job(&mut a);
    assert_eq!(host(&j), "b");
    assert_eq!(j.event, AnnounceEvent::Started);
    assert!(a.handle_result(t1, j.id, ok(1800)));
    assert_eq!(secs(t0, a.next_announce()), Some(1801));
    // Answered, then replaced again: announced to at once, with no event owed.
    let t2 = t0 + Duration::from_secs(10);
    a.replace_tiers(vec![vec![url("c")], vec![url("d")]], &mut Rng::new(2), t2);
    let j = job(&mut a);
    assert_eq!(host(&j), "c");
    assert_eq!(j.event, AnnounceEvent::None);
    // An empty list announces nowhere, and a stop ends at once.
    a.replace_tiers(Vec::new(), &mut Rng::new(3), t2);
    assert!(a.poll_job().is_none());
    a.stop(t2);
    assert!(a.is_stopped());
}

fn gated(tiers: &[&[&str]]) -> Announcer {
    let mut a = announcer(tiers);
    Arc::make_mut(&mut a.config).gated = true;
    a
}

#[test]
fn a_gated_announce_waits_for_its_grant() {
    let t0 = Instant::now();
    let s = |n| t0 + Duration::from_secs(n);
    let mut a = gated(&[&["a"]]);
    a.start(t0);
    assert!(a.poll_job().is_none(), "nothing goes out before the grant");
    assert_eq!(a.waiting(), Some(t0));
    assert_eq!(
        a.poll_timeout(),
        None,
        "the budget, not the announcer, wakes it"
    );
    assert!(!a.announcing());
    // Still waiting later: the same announce, still owed `started`.
    a.handle_timeout(s(5));
    a.announce_now(s(5));
    assert_eq!(a.waiting(), Some(t0));
    assert!(a.grant(s(7)));
    assert!(!a.grant(s(7)), "one grant per wait");
    let j = job(&mut a);
    assert_eq!(j.event, AnnounceEvent::Started);
    assert!(a.announcing());
    assert_eq!(
        secs(t0, a.poll_timeout()),
        Some(67),
        "the request timeout runs from the grant"
    );
    assert!(a.handle_result(s(8), j.id, ok(1800)));
    assert!(!a.announcing());
    assert_eq!(
        secs(t0, a.poll_timeout()),
        Some(1808),
        "the interval from the answer"
    );
    // Due: waits again, from the instant it fell due.
    a.handle_timeout(s(1808));
    assert_eq!(a.waiting(), Some(s(1808)));
    assert!(a.poll_job().is_none());
}

#[test]
fn a_gated_announce_takes_the_event_owed_at_its_grant_and_stopped_waits_too() {
    let t0 = Instant::now();
    let s = |n| t0 + Duration::from_secs(n);
    let mut a = gated(&[&["a"]]);
    a.start(t0);
    let _ = a.grant(t0);
    let j = job(&mut a);
    assert!(a.handle_result(s(1), j.id, ok(1800)));
    // The download finishes: `completed` waits for a grant too, and is what goes out.
    a.complete(s(2));
    assert_eq!(a.waiting(), Some(s(2)));
    assert!(a.grant(s(3)));
    let j = job(&mut a);
    assert_eq!(j.event, AnnounceEvent::Completed);
    assert!(a.handle_result(s(4), j.id, ok(1800)));
    // A wait abandoned by the stop: `stopped` waits for a grant of its own, without a
    // deadline (the session's stop deadline bounds it), then holds a place like any other.
    a.handle_timeout(s(1804));
    assert!(a.waiting().is_some());
    a.stop(s(1805));
    assert!(a.stopping());
    assert_eq!(a.waiting(), Some(s(1805)));
    assert!(a.poll_job().is_none(), "the stop waits for its grant");
    assert_eq!(a.poll_timeout(), None, "no stop timeout before the grant");
    a.handle_timeout(s(1900));
    assert!(!a.is_stopped());
    assert!(a.grant(s(1900)));
    let j = job(&mut a);
    assert_eq!((j.event, j.numwant), (AnnounceEvent::Stopped, Some(0)));
    assert!(
        a.announcing(),
        "a stop in flight holds a place in the budget"
    );
    assert_eq!(
        secs(t0, a.poll_timeout()),
        Some(1905),
        "the stop timeout runs from the grant"
    );
    while a.poll_event().is_some() {}
    a.handle_timeout(s(1905));
    assert!(a.is_stopped());
    assert!(!a.announcing());
    let events: Vec<_> = std::iter::from_fn(|| a.poll_event()).collect();
    assert!(matches!(events.last(), Some(AnnouncerEvent::Stopped)));
}

#[test]
fn a_stop_given_up_says_whether_its_announce_was_never_sent() {
    let t0 = Instant::now();
    let s = |n| t0 + Duration::from_secs(n);
    let running = |n| {
        let mut a = gated(&[&["a"]]);
        a.start(s(0));
        let _ = a.grant(s(0));
        let j = job(&mut a);
        assert!(a.handle_result(s(n), j.id, ok(1800)));
        while a.poll_event().is_some() {}
        a
    };
    // Waiting for its grant: dropped unsent, and a late grant finds nothing to send.
    let mut a = running(1);
    a.stop(s(2));
    assert!(a.give_up_stop());
    assert!(a.is_stopped() && !a.stopping());
    assert!(!a.grant(s(3)));
    assert!(a.poll_job().is_none());
    assert!(a.poll_event().is_none(), "the caller knows: no event");
    assert!(!a.give_up_stop(), "given up once");
    // In flight: abandoned (not unsent), its answer ignored.
    let mut a = running(1);
    a.stop(s(2));
    assert!(a.grant(s(2)));
    let j = job(&mut a);
    assert!(!a.give_up_stop());
    assert!(a.is_stopped() && !a.announcing());
    assert!(!a.handle_result(s(3), j.id, ok(1800)));
    assert_eq!(a.poll_timeout(), None);
    // Running: nothing to give up.
    let mut a = running(1);
    assert!(!a.give_up_stop());
    assert!(!a.is_stopped());
    // A new tracker list ends a stop waiting for its grant.
    let mut a = running(1);
    a.stop(s(2));
    a.replace_tiers(vec![vec![url("c")]], &mut Rng::new(1), s(3));
    assert!(a.is_stopped());
    assert_eq!(a.waiting(), None);
    // Restarted after a stop given up, it announces `started` again.
    a.reset();
    a.start(s(4));
    assert!(a.grant(s(4)));
    assert_eq!(job(&mut a).event, AnnounceEvent::Started);
}

#[test]
fn a_gated_fallback_to_the_next_tracker_waits_for_a_grant_of_its_own() {
    let t0 = Instant::now();
    let s = |n| t0 + Duration::from_secs(n);
    let mut a = gated(&[&["a"], &["b"]]);
    a.start(t0);
    let _ = a.grant(t0);
    let j = job(&mut a);
    assert!(a.handle_result(s(1), j.id, fail()));
    assert_eq!(a.waiting(), Some(s(1)), "the next tier is another request");
    assert!(a.poll_job().is_none());
    assert!(a.grant(s(2)));
    let j = job(&mut a);
    assert_eq!((host(&j), j.event), ("b".into(), AnnounceEvent::Started));
    // A new list drops the wait and waits again for its first tracker.
    a.replace_tiers(vec![vec![url("c")]], &mut Rng::new(1), s(3));
    assert_eq!(a.waiting(), Some(s(3)));
    assert!(a.grant(s(3)));
    assert_eq!(host(&job(&mut a)), "c");
}

#[test]
fn rare_parts_are_boxed_while_held_and_dropped_once_empty() {
    let t0 = Instant::now();
    let mut a = announcer(&[&["a"]]);
    assert!(a.rare.is_none(), "nothing queued before start");
    a.start(t0);
    assert!(a.rare.is_some(), "the `started` job queued");
    let j = job(&mut a);
    assert!(a.rare.is_none(), "the queues drained, no tracker id");
    a.handle_result(t0, j.id, ok(60));
    assert!(matches!(
        a.poll_event(),
        Some(AnnouncerEvent::Announced { .. })
    ));
    assert!(a.rare.is_none(), "the event polled");
    // A tracker id keeps the box, across drained queues and a reset.
    a.handle_timeout(t0 + Duration::from_secs(60));
    let j = job(&mut a);
    let response = AnnounceResponse {
        interval: Some(Duration::from_secs(60)),
        tracker_id: Some(b"T1".to_vec()),
        ..AnnounceResponse::default()
    };
    a.handle_result(t0, j.id, Ok(HttpOutcome::Done(response)));
    while a.poll_event().is_some() {}
    assert!(a.rare.as_ref().is_some_and(|r| r.tracker_ids.len() == 1));
    a.stop(t0);
    a.reset();
    assert!(a.rare.as_ref().is_some_and(|r| r.jobs.is_empty()));
    a.start(t0 + Duration::from_secs(120));
    assert_eq!(job(&mut a).tracker_id.as_deref(), Some(&b"T1"[..]));
    // An idle announcer of one torrent among many: its rare parts and the announce in
    // flight are boxed, its tier positions `u32`s.
    assert!(size_of::<Announcer>() <= 152);
}
