//! `transfer/…`: global rates, totals and limits; also the `server_state` of `sync/maindata`.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use super::{Answer, Failure, Form, Qbit, Reply};
use crate::daemon::backend::{Backend, SettingsChanges, SpeedLimit};

impl<B: Backend> Qbit<B> {
    pub(super) async fn transfer(&self, method: &str, form: &Form) -> Answer {
        match method {
            "info" => {
                let mut state = self.server_state().await;
                if let Value::Object(map) = &mut state {
                    map.retain(|k, _| INFO_KEYS.contains(&k.as_str()));
                }
                Ok(Reply::json(&state))
            }
            "speedLimitsMode" => Ok(Reply::text(
                200,
                if self.alt_speed.load(Ordering::Relaxed) {
                    "1"
                } else {
                    "0"
                },
            )),
            "toggleSpeedLimitsMode" => {
                self.alt_speed.fetch_xor(true, Ordering::Relaxed);
                Ok(Reply::ok())
            }
            "setSpeedLimitsMode" => {
                let mode = form.i64("mode")?.unwrap_or(0);
                self.alt_speed.store(mode == 1, Ordering::Relaxed);
                Ok(Reply::ok())
            }
            "downloadLimit" => {
                let s = self.backend.settings().await;
                Ok(Reply::text(200, &rate(s.download_limit).to_string()))
            }
            "uploadLimit" => {
                let s = self.backend.settings().await;
                Ok(Reply::text(200, &rate(s.upload_limit).to_string()))
            }
            "setDownloadLimit" | "setUploadLimit" => {
                let limit = form.i64("limit")?.unwrap_or(0);
                let bytes = u64::try_from(limit.max(0)).unwrap_or(0);
                let mut c = SettingsChanges::default();
                if method == "setDownloadLimit" {
                    c.download_limit = Some(bytes);
                    c.download_limited = Some(bytes > 0);
                } else {
                    c.upload_limit = Some(bytes);
                    c.upload_limited = Some(bytes > 0);
                }
                self.backend.change_settings(c).await?;
                Ok(Reply::ok())
            }
            "banPeers" => Err(Failure::Internal(
                "not supported by this daemon: banning peers".into(),
            )),
            _ => Err(Failure::NotFound("Not Found".into())),
        }
    }

    /// `server_state`: the session's rates, totals, limits and modes.
    pub(super) async fn server_state(&self) -> Value {
        let stats = self.backend.stats().await;
        let s = self.backend.settings().await;
        let free = self
            .backend
            .free_space(&s.download_dir)
            .await
            .map_or(0, |sp| sp.free);
        let ratio = if stats.cumulative.downloaded > 0 {
            stats.cumulative.uploaded as f64 / stats.cumulative.downloaded as f64
        } else {
            0.0
        };
        json!({
            "alltime_dl": stats.cumulative.downloaded,
            "alltime_ul": stats.cumulative.uploaded,
            "connection_status": "connected",
            "dht_nodes": 0,
            "dl_info_data": stats.current.downloaded,
            "dl_info_speed": stats.download_rate,
            "dl_rate_limit": rate(s.download_limit),
            "free_space_on_disk": free,
            "global_ratio": format!("{ratio:.2}"),
            "queueing": s.download_queue_enabled || s.seed_queue_enabled,
            "refresh_interval": 1500,
            "total_peer_connections": 0,
            "up_info_data": stats.current.uploaded,
            "up_info_speed": stats.upload_rate,
            "up_rate_limit": rate(s.upload_limit),
            "use_alt_speed_limits": self.alt_speed.load(Ordering::Relaxed),
            "use_subcategories": false,
        })
    }
}

/// The keys of `transfer/info` (a subset of `server_state`).
const INFO_KEYS: &[&str] = &[
    "connection_status",
    "dht_nodes",
    "dl_info_data",
    "dl_info_speed",
    "dl_rate_limit",
    "up_info_data",
    "up_info_speed",
    "up_rate_limit",
];

/// A limit in bytes/s, 0 for none.
fn rate(l: SpeedLimit) -> u64 {
    if l.enabled { l.bytes_per_sec } else { 0 }
}
