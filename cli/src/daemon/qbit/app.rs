//! `app/…`: versions, build facts, and the preferences the *arr apps read and set.

use serde_json::{Map, Value, json};

use super::{Answer, Failure, Form, Qbit, Reply};
use crate::daemon::backend::{Backend, SeedLimitAction, SettingsChanges};

/// The qBittorrent version reported (clients switch on its major number).
pub(super) const VERSION: &str = "v5.0.0";
/// The Web API version reported (qBittorrent 5.0's).
pub(super) const WEBAPI_VERSION: &str = "2.11.2";

impl<B: Backend> Qbit<B> {
    pub(super) async fn app(&self, method: &str, form: &Form) -> Answer {
        match method {
            "version" => Ok(Reply::text(200, VERSION)),
            "webapiVersion" => Ok(Reply::text(200, WEBAPI_VERSION)),
            "buildInfo" => Ok(Reply::json(&json!({
                "qt": "none",
                "libtorrent": concat!("sanstorrent ", env!("CARGO_PKG_VERSION")),
                "boost": "none",
                "openssl": "none",
                "zlib": "none",
                "bitness": usize::BITS,
                "platform": std::env::consts::OS,
            }))),
            "defaultSavePath" => {
                let s = self.backend.settings().await;
                Ok(Reply::text(200, &s.download_dir.display().to_string()))
            }
            "preferences" => Ok(Reply::json(&self.preferences().await)),
            "setPreferences" => self.set_preferences(form).await,
            "shutdown" => Err(Failure::Internal(
                "not supported by this daemon: shutdown over the qBittorrent API (use \
                 Transmission's session-close or a signal)"
                    .into(),
            )),
            _ => Err(Failure::NotFound("Not Found".into())),
        }
    }

    async fn preferences(&self) -> Value {
        let s = self.backend.settings().await;
        let limit = |l: crate::daemon::backend::SpeedLimit| {
            if l.enabled { l.bytes_per_sec } else { 0 }
        };
        // qBittorrent keeps each size while queueing is off; -1 is "no limit" while it is on.
        let queueing = s.download_queue_enabled || s.seed_queue_enabled;
        let active = |on: bool, size: u32| {
            if on || !queueing { i64::from(size) } else { -1 }
        };
        let mut prefs = json!({
            "save_path": s.download_dir.display().to_string(),
            "temp_path_enabled": false,
            "temp_path": "",
            "start_paused_enabled": !s.start_added_torrents,
            "add_stopped_enabled": !s.start_added_torrents,
            "auto_tmm_enabled": false,
            "queueing_enabled": queueing,
            "max_active_downloads": active(s.download_queue_enabled, s.download_queue_size),
            "max_active_uploads": active(s.seed_queue_enabled, s.seed_queue_size),
            "max_active_torrents": s.max_active_torrents.map_or(-1, i64::from),
            "dont_count_slow_torrents": s.queue_stalled_enabled,
            "slow_torrent_dl_rate_threshold": 2,
            "slow_torrent_ul_rate_threshold": 2,
            "slow_torrent_inactive_timer": u64::from(s.queue_stalled_minutes) * 60,
            "dl_limit": limit(s.download_limit),
            "up_limit": limit(s.upload_limit),
            "max_ratio_enabled": s.seed_ratio_limited,
            "max_ratio": if s.seed_ratio_limited { s.seed_ratio_limit } else { -1.0 },
            "max_ratio_act": match s.seed_limit_action {
                SeedLimitAction::Stop => 0,
                SeedLimitAction::Remove => 1,
                SeedLimitAction::RemoveWithData => 3,
            },
            "max_seeding_time_enabled": s.seeding_time_limit_enabled,
            "max_seeding_time": if s.seeding_time_limit_enabled { i64::from(s.seeding_time_limit) } else { -1 },
            "max_inactive_seeding_time_enabled": s.idle_seeding_limit_enabled,
            "max_inactive_seeding_time": if s.idle_seeding_limit_enabled { i64::from(s.idle_seeding_limit) } else { -1 },
            "dht": s.dht_enabled,
            "pex": s.pex_enabled,
            "lsd": s.lpd_running(),
            // qBittorrent's numbering: 0 TCP and uTP, 1 TCP only, 2 uTP only.
            "bittorrent_protocol": match (s.tcp_enabled, s.utp_enabled) {
                (true, false) => 1,
                (false, true) => 2,
                _ => 0,
            },
            "encryption": 0,
            "listen_port": s.peer_port,
            "random_port": false,
            "upnp": s.port_forwarding_enabled,
            "max_connec": s.peer_limit_global,
            "max_connec_per_torrent": s.peer_limit_per_torrent,
            "web_ui_port": 0,
            "bypass_local_auth": true,
            "torrent_content_layout": "Original",
            "create_subfolder_enabled": true,
            "category_changed_tmm_enabled": false,
            "save_path_changed_tmm_enabled": false,
        });
        let alt = s.alt_speed;
        let schedule = json!({
            "alt_dl_limit": alt.down,
            "alt_up_limit": alt.up,
            "scheduler_enabled": alt.time_enabled,
            "schedule_from_hour": alt.time_begin / 60,
            "schedule_from_min": alt.time_begin % 60,
            "schedule_to_hour": alt.time_end / 60,
            "schedule_to_min": alt.time_end % 60,
            "scheduler_days": scheduler_days(alt.time_day),
        });
        if let (Value::Object(all), Value::Object(more)) = (&mut prefs, schedule) {
            all.extend(more);
        }
        prefs
    }

    async fn set_preferences(&self, form: &Form) -> Answer {
        let text = form.required("json")?;
        let Ok(Value::Object(prefs)) = serde_json::from_str::<Value>(text) else {
            return Err(Failure::BadParams("json: not a JSON object".into()));
        };
        let mut c = SettingsChanges::default();
        let n = |prefs: &Map<String, Value>, k: &str| prefs.get(k).and_then(Value::as_i64);
        if let Some(p) = prefs.get("save_path").and_then(Value::as_str) {
            c.download_dir = Some(self.check_dir(p)?);
        }
        if let Some(b) = prefs.get("dht").and_then(Value::as_bool) {
            c.dht_enabled = Some(b);
        }
        if let Some(b) = prefs.get("pex").and_then(Value::as_bool) {
            c.pex_enabled = Some(b);
        }
        if let Some(b) = prefs.get("lsd").and_then(Value::as_bool) {
            c.lpd_enabled = Some(b);
        }
        if let Some(b) = prefs
            .get("add_stopped_enabled")
            .or_else(|| prefs.get("start_paused_enabled"))
            .and_then(Value::as_bool)
        {
            c.start_added_torrents = Some(!b);
        }
        if let Some(v) = n(&prefs, "dl_limit") {
            c.download_limited = Some(v > 0);
            c.download_limit = Some(u64::try_from(v.max(0)).unwrap_or(0));
        }
        if let Some(v) = n(&prefs, "up_limit") {
            c.upload_limited = Some(v > 0);
            c.upload_limit = Some(u64::try_from(v.max(0)).unwrap_or(0));
        }
        if let Some(v) = n(&prefs, "alt_dl_limit") {
            c.alt_speed_down = Some(u64::try_from(v.max(0)).unwrap_or(0));
        }
        if let Some(v) = n(&prefs, "alt_up_limit") {
            c.alt_speed_up = Some(u64::try_from(v.max(0)).unwrap_or(0));
        }
        if let Some(b) = prefs.get("scheduler_enabled").and_then(Value::as_bool) {
            c.alt_speed_time_enabled = Some(b);
        }
        let settings = self.backend.settings().await;
        let time = |hour: &str, min: &str, old: u32| -> Option<u32> {
            let (h, m) = (n(&prefs, hour), n(&prefs, min));
            if h.is_none() && m.is_none() {
                return None;
            }
            let h = h.map_or(old / 60, |h| u32::try_from(h.clamp(0, 23)).unwrap_or(0));
            let m = m.map_or(old % 60, |m| u32::try_from(m.clamp(0, 59)).unwrap_or(0));
            Some(h * 60 + m)
        };
        let alt = settings.alt_speed;
        c.alt_speed_time_begin = time("schedule_from_hour", "schedule_from_min", alt.time_begin);
        c.alt_speed_time_end = time("schedule_to_hour", "schedule_to_min", alt.time_end);
        if let Some(days) = n(&prefs, "scheduler_days") {
            c.alt_speed_time_day = Some(day_mask(days).ok_or_else(|| {
                Failure::BadParams(format!("scheduler_days: 0 to 9, not {days}"))
            })?);
        }
        self.queue_preferences(&prefs, &mut c).await?;
        if let Some(b) = prefs.get("max_ratio_enabled").and_then(Value::as_bool) {
            c.seed_ratio_limited = Some(b);
        }
        if let Some(v) = prefs
            .get("max_ratio")
            .and_then(Value::as_f64)
            .filter(|v| *v >= 0.0)
        {
            c.seed_ratio_limit = Some(v);
        }
        if let Some(v) = n(&prefs, "max_connec").filter(|v| *v > 0) {
            c.peer_limit_global = u32::try_from(v).ok();
        }
        if let Some(v) = n(&prefs, "max_connec_per_torrent").filter(|v| *v > 0) {
            c.peer_limit_per_torrent = u32::try_from(v).ok();
        }
        if c != SettingsChanges::default() {
            self.backend.change_settings(c).await?;
        }
        Ok(Reply::ok())
    }

    /// The queue and share-limit preferences into `c`: qBittorrent's one `queueing_enabled`
    /// with a size of -1 (no limit) becomes Transmission's enabled flag per queue.
    async fn queue_preferences(
        &self,
        prefs: &Map<String, Value>,
        c: &mut SettingsChanges,
    ) -> Result<(), Failure> {
        let n = |k: &str| prefs.get(k).and_then(Value::as_i64);
        let on = |k: &str| prefs.get(k).and_then(Value::as_bool);
        let s = self.backend.settings().await;
        let was = s.download_queue_enabled || s.seed_queue_enabled;
        let (queueing, downloads, uploads) = (
            on("queueing_enabled"),
            n("max_active_downloads"),
            n("max_active_uploads"),
        );
        if queueing.is_some() || downloads.is_some() || uploads.is_some() {
            let queueing = queueing.unwrap_or(was);
            let size = |enabled: bool, size: u32| {
                if enabled || !was { i64::from(size) } else { -1 }
            };
            let downloads =
                downloads.unwrap_or_else(|| size(s.download_queue_enabled, s.download_queue_size));
            let uploads = uploads.unwrap_or_else(|| size(s.seed_queue_enabled, s.seed_queue_size));
            c.download_queue_enabled = Some(queueing && downloads >= 0);
            c.download_queue_size = u32::try_from(downloads).ok();
            c.seed_queue_enabled = Some(queueing && uploads >= 0);
            c.seed_queue_size = u32::try_from(uploads).ok();
        }
        if let Some(v) = n("max_active_torrents") {
            c.max_active_torrents = Some(u32::try_from(v).ok());
        }
        c.queue_stalled_enabled = on("dont_count_slow_torrents");
        if let Some(secs) = n("slow_torrent_inactive_timer").filter(|s| *s > 0) {
            c.queue_stalled_minutes = u32::try_from(secs.saturating_add(59) / 60).ok();
        }
        if let Some(b) = on("max_seeding_time_enabled") {
            c.seeding_time_limit_enabled = Some(b);
        }
        if let Some(v) = n("max_seeding_time") {
            // -1 turns it off, as qBittorrent's own front end does.
            match u32::try_from(v) {
                Ok(v) => c.seeding_time_limit = Some(v),
                Err(_) => c.seeding_time_limit_enabled = Some(false),
            }
        }
        if let Some(b) = on("max_inactive_seeding_time_enabled") {
            c.idle_seeding_limit_enabled = Some(b);
        }
        if let Some(v) = n("max_inactive_seeding_time") {
            match u32::try_from(v) {
                Ok(v) => c.idle_seeding_limit = Some(v),
                Err(_) => c.idle_seeding_limit_enabled = Some(false),
            }
        }
        if let Some(act) = n("max_ratio_act") {
            c.seed_limit_action = Some(match act {
                0 => SeedLimitAction::Stop,
                1 => SeedLimitAction::Remove,
                3 => SeedLimitAction::RemoveWithData,
                2 => {
                    return Err(Failure::BadParams(
                        "max_ratio_act: super seeding (2) is not supported by this daemon".into(),
                    ));
                }
                _ => {
                    return Err(Failure::BadParams(format!(
                        "max_ratio_act: 0 (stop), 1 (remove) or 3 (remove with files), not {act}"
                    )));
                }
            });
        }
        Ok(())
    }

    /// A directory a request names: absolute, no `..`, inside an allowed directory.
    pub(super) fn check_dir(&self, path: &str) -> Result<std::path::PathBuf, Failure> {
        self.allowed
            .check("savepath", path)
            .map_err(|e| Failure::BadParams(e.detail.unwrap_or_default()))
    }
}

/// qBittorrent's `scheduler_days` for Transmission's day mask (bit 0 Sunday ... bit 6
/// Saturday): 0 every day, 1 weekdays, 2 weekends, 3 Monday ... 8 Saturday, 9 Sunday. A mask
/// qBittorrent cannot name shows as every day.
fn scheduler_days(mask: u32) -> u32 {
    match mask {
        0b011_1110 => 1,
        0b100_0001 => 2,
        0b000_0001 => 9,
        m if m.count_ones() == 1 && m < 128 => m.trailing_zeros() + 2,
        _ => 0,
    }
}

/// Transmission's day mask for qBittorrent's `scheduler_days` (`None`: not 0 to 9).
fn day_mask(days: i64) -> Option<u32> {
    match days {
        0 => Some(0b111_1111),
        1 => Some(0b011_1110),
        2 => Some(0b100_0001),
        3..=8 => Some(1 << (days - 2)),
        9 => Some(1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_days_and_day_masks_agree() {
        for days in 0..=9 {
            assert_eq!(scheduler_days(day_mask(days).unwrap()), days as u32);
        }
        assert_eq!(day_mask(3), Some(0b10), "Monday is bit 1");
        assert_eq!(day_mask(10), None);
        assert_eq!(scheduler_days(0b11), 0);
    }
}
