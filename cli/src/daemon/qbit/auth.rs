//! `auth/login` and `auth/logout`: `SID` cookie sessions, bans after repeated failures, and
//! the Referer/Origin check qBittorrent uses against cross-site requests.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Reply, Request};

/// Failed logins from one address before it is banned (qBittorrent's default).
const MAX_FAILURES: u32 = 5;
/// How long a ban lasts (qBittorrent's default: one hour).
const BAN: Duration = Duration::from_secs(3600);
/// Most addresses with failures kept; beyond it, those whose last failure is oldest go.
const MAX_FAILING: usize = 4096;
/// A session unused this long is forgotten (qBittorrent's default: one hour).
const SESSION_TIMEOUT: Duration = Duration::from_secs(3600);
/// Most live sessions; the least recently used goes first beyond it.
const MAX_SESSIONS: usize = 1024;

/// A user name and password (from `--http-auth user:password`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Credentials {
    /// The user name.
    pub(crate) user: String,
    /// The password.
    pub(crate) password: String,
}

impl Credentials {
    /// From `user:password`.
    pub(crate) fn parse(text: &str) -> Self {
        let (user, password) = text.split_once(':').unwrap_or((text, ""));
        Self {
            user: user.into(),
            password: password.into(),
        }
    }
}

/// Logins, sessions and bans.
#[derive(Debug)]
pub(super) struct Auth {
    credentials: Option<Credentials>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Session id → last use.
    sessions: HashMap<String, Instant>,
    /// Address → failed logins, and since when.
    failures: HashMap<IpAddr, (u32, Instant)>,
}

impl Auth {
    pub(super) fn new(credentials: Option<Credentials>) -> Self {
        Self {
            credentials,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `ip` is banned at `now`: [`MAX_FAILURES`] failed logins or basic-auth attempts,
    /// the last less than [`BAN`] ago.
    pub(super) fn banned(&self, ip: IpAddr, now: Instant) -> bool {
        self.lock()
            .failures
            .get(&ip)
            .is_some_and(|&(n, last)| n >= MAX_FAILURES && now.duration_since(last) < BAN)
    }

    /// A failed authentication from `ip` (wrong basic-auth credentials; failed logins count
    /// in [`Auth::login`]).
    pub(super) fn failed(&self, ip: IpAddr, now: Instant) {
        let mut state = self.lock();
        if state.failures.len() >= MAX_FAILING && !state.failures.contains_key(&ip) {
            state
                .failures
                .retain(|_, (_, last)| now.duration_since(*last) < BAN);
            if state.failures.len() >= MAX_FAILING
                && let Some(oldest) = state
                    .failures
                    .iter()
                    .min_by_key(|(_, f)| f.1)
                    .map(|(ip, _)| *ip)
            {
                state.failures.remove(&oldest);
            }
        }
        let entry = state.failures.entry(ip).or_insert((0, now));
        if now.duration_since(entry.1) >= BAN {
            entry.0 = 0;
        }
        entry.0 += 1;
        entry.1 = now;
    }

    /// A successful authentication from `ip`: its failures are forgotten.
    pub(super) fn succeeded(&self, ip: IpAddr) {
        let mut state = self.lock();
        if !state.failures.is_empty() {
            state.failures.remove(&ip);
        }
    }

    /// `auth/login`: `Ok.` with a new `SID` cookie, `Fails.` for wrong credentials, 403 for a
    /// banned address.
    pub(super) fn login(&self, req: &Request<'_>, now: Instant) -> Reply {
        let mut state = self.lock();
        let peer = req.peer;
        if let Some(ip) = peer
            && let Some(&(n, since)) = state.failures.get(&ip)
        {
            if n >= MAX_FAILURES && now.duration_since(since) < BAN {
                return Reply::text(
                    403,
                    "Your IP address has been banned after too many failed authentication \
                     attempts.",
                );
            }
            if now.duration_since(since) >= BAN {
                state.failures.remove(&ip);
            }
        }
        let ok = match &self.credentials {
            None => true,
            Some(c) => {
                let user = req.form.get("username").unwrap_or("");
                let password = req.form.get("password").unwrap_or("");
                constant_time_eq(user.as_bytes(), c.user.as_bytes())
                    & constant_time_eq(password.as_bytes(), c.password.as_bytes())
            }
        };
        if !ok {
            if let Some(ip) = peer {
                let entry = state.failures.entry(ip).or_insert((0, now));
                entry.0 += 1;
                entry.1 = now;
            }
            return Reply::text(200, "Fails.");
        }
        if let Some(ip) = peer {
            state.failures.remove(&ip);
        }
        state
            .sessions
            .retain(|_, used| now.duration_since(*used) < SESSION_TIMEOUT);
        if state.sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = state
                .sessions
                .iter()
                .min_by_key(|(_, used)| **used)
                .map(|(sid, _)| sid.clone())
        {
            state.sessions.remove(&oldest);
        }
        let sid = random_sid();
        state.sessions.insert(sid.clone(), now);
        let mut reply = Reply::text(200, "Ok.");
        reply.set_cookie = Some(format!("SID={sid}; HttpOnly; SameSite=Strict; path=/"));
        reply
    }

    /// `auth/logout`: forgets the session.
    pub(super) fn logout(&self, req: &Request<'_>) -> Reply {
        if let Some(sid) = req.sid {
            self.lock().sessions.remove(sid);
        }
        let mut reply = Reply::ok();
        reply.set_cookie = Some("SID=; HttpOnly; SameSite=Strict; path=/; Max-Age=0".into());
        reply
    }

    /// Whether the caller may use the API: no credentials needed, or a live session.
    pub(super) fn allowed(&self, req: &Request<'_>, now: Instant) -> bool {
        self.session_alive(req.sid, now)
    }

    /// Whether `sid` names a live session (or no credentials are needed); using it keeps it
    /// alive.
    pub(super) fn session_alive(&self, sid: Option<&str>, now: Instant) -> bool {
        if self.credentials.is_none() {
            return true;
        }
        let Some(sid) = sid else {
            return false;
        };
        let mut state = self.lock();
        match state.sessions.get_mut(sid) {
            Some(used) if now.duration_since(*used) < SESSION_TIMEOUT => {
                *used = now;
                true
            }
            Some(_) => {
                state.sessions.remove(sid);
                false
            }
            None => false,
        }
    }
}

/// qBittorrent's CSRF protection: an `Origin` or `Referer` header, when sent, must name the
/// host the request was sent to.
pub(super) fn same_origin(req: &Request<'_>) -> bool {
    let Some(host) = req.host else {
        return true;
    };
    let host = strip_port(host);
    for value in [req.origin, req.referer].into_iter().flatten() {
        let Some(rest) = value.split_once("://").map(|(_, rest)| rest) else {
            return false;
        };
        let authority = rest.split('/').next().unwrap_or("");
        if !strip_port(authority).eq_ignore_ascii_case(host) {
            return false;
        }
    }
    true
}

/// `host:port` → `host`, `[::1]:80` → `[::1]`.
fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.split(']').next().map_or(authority, |h| {
            &authority[..(h.len() + 1).min(authority.len())]
        });
    }
    authority.split(':').next().unwrap_or(authority)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 32 random alphanumeric characters, from the OS-seeded hasher (as the RPC's session id).
fn random_sid() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(32);
    while out.len() < 32 {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(out.len());
        let mut bits = h.finish();
        for _ in 0..8 {
            out.push(char::from(
                ALPHABET[(bits % ALPHABET.len() as u64) as usize],
            ));
            bits /= ALPHABET.len() as u64;
        }
    }
    out
}
