//! `transfer/…`: global rates, totals and limits; also the `server_state` of `sync/maindata`.

use serde_json::{Value, json};

use super::{Answer, Failure, Form, Qbit, Reply};
use crate::daemon::backend::{Backend, SettingsChanges};

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
            "speedLimitsMode" => {
                let alt = self.backend.settings().await.alt_speed.enabled;
                Ok(Reply::text(200, if alt { "1" } else { "0" }))
            }
            "toggleSpeedLimitsMode" => {
                let alt = self.backend.settings().await.alt_speed.enabled;
                self.set_alt_speed(!alt).await
            }
            "setSpeedLimitsMode" => {
                let mode = form.i64("mode")?.unwrap_or(0);
                if mode != 0 && mode != 1 {
                    return Err(Failure::BadParams(format!("mode: 0 or 1, not {mode}")));
                }
                self.set_alt_speed(mode == 1).await
            }
            "downloadLimit" | "uploadLimit" => {
                let (down, up) = self.backend.settings().await.rates_in_force();
                let limit = if method == "downloadLimit" { down } else { up };
                Ok(Reply::text(200, &limit.unwrap_or(0).to_string()))
            }
            // As qBittorrent: the limits of the mode in force change.
            "setDownloadLimit" | "setUploadLimit" => {
                let limit = form.i64("limit")?.unwrap_or(0);
                let bytes = u64::try_from(limit.max(0)).unwrap_or(0);
                let alt = self.backend.settings().await.alt_speed.enabled;
                let mut c = SettingsChanges::default();
                match (method == "setDownloadLimit", alt) {
                    (true, true) => c.alt_speed_down = Some(bytes),
                    (false, true) => c.alt_speed_up = Some(bytes),
                    (true, false) => {
                        c.download_limit = Some(bytes);
                        c.download_limited = Some(bytes > 0);
                    }
                    (false, false) => {
                        c.upload_limit = Some(bytes);
                        c.upload_limited = Some(bytes > 0);
                    }
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

    /// Turns the alternative limits on or off.
    async fn set_alt_speed(&self, on: bool) -> Answer {
        let changes = SettingsChanges {
            alt_speed_enabled: Some(on),
            ..SettingsChanges::default()
        };
        self.backend.change_settings(changes).await?;
        Ok(Reply::ok())
    }

    /// `server_state`: the session's rates, totals, limits and modes.
    pub(super) async fn server_state(&self) -> Value {
        let stats = self.backend.stats().await;
        let s = self.backend.settings().await;
        let (down_limit, up_limit) = s.rates_in_force();
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
            "dht_nodes": stats.dht_nodes,
            "dl_info_data": stats.current.downloaded,
            "dl_info_speed": stats.download_rate,
            "dl_rate_limit": down_limit.unwrap_or(0),
            "free_space_on_disk": free,
            "global_ratio": format!("{ratio:.2}"),
            "queueing": s.download_queue_enabled || s.seed_queue_enabled,
            "refresh_interval": 1500,
            "total_peer_connections": stats.peers_connected,
            "up_info_data": stats.current.uploaded,
            "up_info_speed": stats.upload_rate,
            "up_rate_limit": up_limit.unwrap_or(0),
            "use_alt_speed_limits": s.alt_speed.enabled,
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
