//! qBittorrent's Web API v2 (`/api/v2/…`) over a [`Backend`]: what the *arr apps, autobrr,
//! cross-seed and dashboards speak.
//!
//! [`Qbit::handle`] takes a parsed request (path, form fields, uploaded files, cookie,
//! CSRF headers, the caller's address) and gives the status, content type and body; the HTTP
//! server does the rest. The parts: [`auth`] (login, `SID` sessions, bans, the
//! Referer/Origin check), [`app`], [`torrents`], [`sync`] (`maindata` with `rid` deltas),
//! [`transfer`], and [`map`] (qBittorrent's states, fields and units from a `TorrentView`).

mod app;
mod auth;
mod form;
mod map;
mod pages;
mod sync;
#[cfg(test)]
mod tests;
mod torrents;
mod transfer;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use self::auth::Auth;
pub(crate) use self::auth::Credentials;
pub(crate) use self::form::Form;
use self::sync::Snapshots;
use crate::daemon::backend::{Backend, BackendError, Hash, Id, TorrentView};
use crate::daemon::rpc::AllowedDirs;

/// A parsed request to `/api/v2/`.
#[derive(Debug, Default)]
pub(crate) struct Request<'a> {
    /// The part after `/api/v2/`, e.g. `torrents/info`.
    pub(crate) method: &'a str,
    /// The query string and form fields (multipart or urlencoded), with uploaded files.
    pub(crate) form: Form,
    /// The `SID` cookie, if sent.
    pub(crate) sid: Option<&'a str>,
    /// The `Host` header.
    pub(crate) host: Option<&'a str>,
    /// The `Origin` header.
    pub(crate) origin: Option<&'a str>,
    /// The `Referer` header.
    pub(crate) referer: Option<&'a str>,
    /// Who is asking (`None` in tests that do not care).
    pub(crate) peer: Option<IpAddr>,
}

/// What to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    /// The HTTP status.
    pub(crate) status: u16,
    /// `application/json` or `text/plain`.
    pub(crate) json: bool,
    /// The body.
    pub(crate) body: Vec<u8>,
    /// A `Set-Cookie` value to send.
    pub(crate) set_cookie: Option<String>,
}

impl Reply {
    fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            json: false,
            body: body.as_bytes().to_vec(),
            set_cookie: None,
        }
    }

    fn ok() -> Self {
        Self::text(200, "")
    }

    fn json(value: &serde_json::Value) -> Self {
        Self::json_bytes(value.to_string().into_bytes())
    }

    /// A JSON answer already written.
    fn json_bytes(body: Vec<u8>) -> Self {
        Self {
            status: 200,
            json: true,
            body,
            set_cookie: None,
        }
    }
}

/// A failed call: qBittorrent's status codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// 400: a missing or bad parameter.
    BadParams(String),
    /// 404: no such torrent or method.
    NotFound(String),
    /// 409: the call conflicts with the state (e.g. an unknown category).
    Conflict(String),
    /// 415: the torrent is not valid.
    BadData(String),
    /// 500: the backend failed; also what "not supported by this daemon" becomes, with why.
    Internal(String),
}

impl From<Failure> for Reply {
    fn from(f: Failure) -> Self {
        match f {
            Failure::BadParams(m) => Self::text(400, &m),
            Failure::NotFound(m) => Self::text(404, &m),
            Failure::Conflict(m) => Self::text(409, &m),
            Failure::BadData(m) => Self::text(415, &m),
            Failure::Internal(m) => Self::text(500, &m),
        }
    }
}

impl From<BackendError> for Failure {
    fn from(e: BackendError) -> Self {
        match e {
            // qBittorrent answers 409 to a name it refuses (`rename`, `renameFile`).
            BackendError::Name(_) => Self::Conflict(e.to_string()),
            BackendError::Corrupt(_) => Self::BadData(e.to_string()),
            BackendError::FileIndex(_) | BackendError::Invalid(_) => Self::BadParams(e.to_string()),
            BackendError::Http(_) => Self::BadData(e.to_string()),
            BackendError::Unsupported(_) | BackendError::System(_) => Self::Internal(e.to_string()),
        }
    }
}

/// What a method gives back.
type Answer = Result<Reply, Failure>;

/// The qBittorrent API endpoint over one backend.
#[derive(Debug)]
pub(crate) struct Qbit<B> {
    backend: Arc<B>,
    auth: Auth,
    allowed: AllowedDirs,
    snapshots: Snapshots,
}

impl<B: Backend> Qbit<B> {
    /// Whether a request's `SID` cookie names a live session of this API (the stream
    /// endpoint accepts one instead of basic auth).
    pub(crate) fn session_alive(&self, sid: Option<&str>, now: Instant) -> bool {
        self.auth.session_alive(sid, now)
    }

    /// Whether `ip` is banned after repeated failed logins or basic-auth attempts (one record
    /// for this API's login and the server's basic auth, so neither is a way around the other).
    pub(crate) fn banned(&self, ip: IpAddr, now: Instant) -> bool {
        self.auth.banned(ip, now)
    }

    /// Records a basic-auth attempt from `ip`: failed (wrong credentials) or not.
    pub(crate) fn basic_auth(&self, ip: IpAddr, ok: bool, now: Instant) {
        if ok {
            self.auth.succeeded(ip);
        } else {
            self.auth.failed(ip, now);
        }
    }

    /// An endpoint over `backend`; `credentials` `None` means every caller is let in (the
    /// server allows that only on loopback), as qBittorrent's "bypass authentication for
    /// clients on localhost".
    pub(crate) fn new(
        backend: Arc<B>,
        credentials: Option<Credentials>,
        allowed: AllowedDirs,
    ) -> Self {
        Self {
            backend,
            auth: Auth::new(credentials),
            allowed,
            snapshots: Snapshots::default(),
        }
    }

    /// Answers one call.
    pub(crate) async fn handle(&self, req: &Request<'_>, now: Instant) -> Reply {
        if !auth::same_origin(req) {
            return Reply::text(401, "Unauthorized");
        }
        match req.method {
            "auth/login" => return self.auth.login(req, now),
            "auth/logout" => return self.auth.logout(req),
            _ => {}
        }
        if !self.auth.allowed(req, now) {
            return Reply::text(403, "Forbidden");
        }
        let answer = match req.method.split_once('/') {
            Some(("app", m)) => self.app(m, &req.form).await,
            Some(("torrents", m)) => self.torrents(m, &req.form).await,
            Some(("sync", m)) => self.sync(m, &req.form).await,
            Some(("transfer", m)) => self.transfer(m, &req.form).await,
            _ => Err(Failure::NotFound("Not Found".into())),
        };
        answer.unwrap_or_else(Reply::from)
    }

    /// The torrents named by `hashes` (`h1|h2|…` or `all`), with their ids.
    async fn select(&self, form: &Form) -> Result<Vec<TorrentView>, Failure> {
        Ok(self.select_hashes(form.required("hashes")?).await)
    }

    /// The torrents `hashes` names (`|`-separated, or `all`).
    async fn select_hashes(&self, hashes: &str) -> Vec<TorrentView> {
        let all = self.backend.torrents(Default::default()).await;
        if hashes == "all" {
            return all;
        }
        let wanted: Vec<Hash> = hashes.split('|').filter_map(Hash::from_hex).collect();
        all.into_iter()
            .filter(|t| wanted.contains(&t.hash))
            .collect()
    }

    /// The ids of [`Self::select`].
    async fn ids(&self, form: &Form) -> Result<Vec<Id>, Failure> {
        Ok(self.select(form).await?.iter().map(|t| t.id).collect())
    }

    /// The one torrent named by `hash` (404 if none).
    async fn one(
        &self,
        form: &Form,
        detail: crate::daemon::backend::Detail,
    ) -> Result<TorrentView, Failure> {
        let hash = form.required("hash")?;
        let hash = Hash::from_hex(hash).ok_or_else(|| Failure::NotFound("Not Found".into()))?;
        self.backend
            .torrents(detail)
            .await
            .into_iter()
            .find(|t| t.hash == hash)
            .ok_or_else(|| Failure::NotFound("Not Found".into()))
    }
}
