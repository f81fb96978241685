//! The session methods: `session-get`, `session-set`, `session-stats`, `free-space`,
//! `port-test`, `blocklist-update`.

use serde_json::{Map, Value, json};

use super::error::{self, MethodError};
use super::params::{AllowedDirs, Params};
use super::torrent_get::SPEED_K;
use crate::daemon::backend::{Backend, Settings, SettingsChanges, Stats, Totals};

/// What `session-get` reports about the RPC server itself.
#[derive(Clone, Debug)]
pub(crate) struct ServerFacts {
    /// The current `X-Transmission-Session-Id`.
    pub(crate) session_id: String,
    /// Whether `--http-auth` is on.
    pub(crate) auth_required: bool,
    /// The RPC port.
    pub(crate) rpc_port: u16,
}

/// The RPC version this daemon speaks: Transmission 4.1.1's.
const RPC_VERSION: u32 = 19;
const RPC_VERSION_SEMVER: &str = "6.0.1";
const RPC_VERSION_MINIMUM: u32 = 14;

/// Answers `session-get`: every field, or those in `fields`.
pub(crate) async fn get<B: Backend>(
    backend: &B,
    params: &Params<'_>,
    facts: &ServerFacts,
) -> Result<Map<String, Value>, MethodError> {
    let wanted = params.strings("fields")?;
    let settings = backend.settings().await;
    let all = settings_value(&settings, facts);
    Ok(match wanted {
        None => all,
        Some(fields) => fields
            .iter()
            .map(|f| super::names::snake(f))
            .filter_map(|f| all.get(&f).map(|v| (f, v.clone())))
            .collect(),
    })
}

fn settings_value(s: &Settings, facts: &ServerFacts) -> Map<String, Value> {
    // The Transmission release whose RPC this is, first: front ends parse the leading
    // number (Sonarr and Radarr refuse anything below 2.40).
    let version = format!("4.1.1 (sanstorrent {})", env!("CARGO_PKG_VERSION"));
    let transports: Vec<&str> = [(s.utp_enabled, "utp"), (s.tcp_enabled, "tcp")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
    let value = json!({
        "alt_speed_down": s.alt_speed.down / SPEED_K, "alt_speed_enabled": s.alt_speed.enabled,
        "alt_speed_time_begin": s.alt_speed.time_begin, "alt_speed_time_day": s.alt_speed.time_day,
        "alt_speed_time_enabled": s.alt_speed.time_enabled,
        "alt_speed_time_end": s.alt_speed.time_end, "alt_speed_up": s.alt_speed.up / SPEED_K,
        "anti_brute_force_enabled": false, "blocklist_enabled": false,
        "blocklist_size": 0, "blocklist_url": "", "cache_size_mib": 4,
        "config_dir": s.state_dir.display().to_string(), "default_trackers": "",
        "dht_enabled": s.dht_enabled, "download_dir": s.download_dir.display().to_string(),
        "download_queue_enabled": s.download_queue_enabled,
        "download_queue_size": s.download_queue_size, "encryption": "preferred",
        "idle_seeding_limit": s.idle_seeding_limit,
        "idle_seeding_limit_enabled": s.idle_seeding_limit_enabled,
        "incomplete_dir": s.download_dir.display().to_string(), "incomplete_dir_enabled": false,
    });
    let more = json!({
        "lpd_enabled": s.lpd_running(), "peer_limit_global": s.peer_limit_global,
        "peer_limit_per_torrent": s.peer_limit_per_torrent, "peer_port": s.peer_port,
        "peer_port_random_on_start": false, "pex_enabled": s.pex_enabled,
        "port_forwarding_enabled": s.port_forwarding_enabled, "preferred_transports": transports,
        "queue_stalled_enabled": s.queue_stalled_enabled,
        "queue_stalled_minutes": s.queue_stalled_minutes,
        "rename_partial_files": false, "reqq": 500,
        "rpc_authentication_required": facts.auth_required, "rpc_port": facts.rpc_port,
        "rpc_version": RPC_VERSION, "rpc_version_minimum": RPC_VERSION_MINIMUM,
        "rpc_version_semver": RPC_VERSION_SEMVER,
    });
    let rest = json!({
        "script_torrent_added_enabled": false, "script_torrent_added_filename": "",
        "script_torrent_done_enabled": false, "script_torrent_done_filename": "",
        "script_torrent_done_seeding_enabled": false,
        "script_torrent_done_seeding_filename": "",
        "seed_queue_enabled": s.seed_queue_enabled, "seed_queue_size": s.seed_queue_size,
        "seed_ratio_limit": s.seed_ratio_limit, "seed_ratio_limited": s.seed_ratio_limited,
        "sequential_download": false, "session_id": facts.session_id,
        "speed_limit_down": s.download_limit.bytes_per_sec / SPEED_K,
        "speed_limit_down_enabled": s.download_limit.enabled,
        "speed_limit_up": s.upload_limit.bytes_per_sec / SPEED_K,
        "speed_limit_up_enabled": s.upload_limit.enabled,
        "start_added_torrents": s.start_added_torrents, "tcp_enabled": s.tcp_enabled,
        "trash_original_torrent_files": false,
        "units": {
            "speed_units": ["kB/s", "MB/s", "GB/s", "TB/s"], "speed_bytes": SPEED_K,
            "size_units": ["kB", "MB", "GB", "TB"], "size_bytes": 1000,
            "memory_units": ["KiB", "MiB", "GiB", "TiB"], "memory_bytes": 1024,
        },
        "utp_enabled": s.utp_enabled, "version": version,
    });
    let mut out = Map::new();
    for part in [value, more, rest] {
        if let Value::Object(map) = part {
            out.extend(map);
        }
    }
    out
}

/// Answers `session-set`: the settings this daemon honours change; the rest are ignored,
/// as Transmission ignores keys it does not know.
pub(crate) async fn set<B: Backend>(
    backend: &B,
    params: &Params<'_>,
    allowed: &AllowedDirs,
) -> Result<Map<String, Value>, MethodError> {
    let download_dir = params
        .str("download_dir")?
        .map(|d| allowed.check("download_dir", d))
        .transpose()?;
    let changes = SettingsChanges {
        download_dir,
        dht_enabled: params.bool("dht_enabled")?,
        pex_enabled: params.bool("pex_enabled")?,
        lpd_enabled: params.bool("lpd_enabled")?,
        download_limit: params
            .u64("speed_limit_down")?
            .map(|k| k.saturating_mul(SPEED_K)),
        download_limited: params.bool("speed_limit_down_enabled")?,
        upload_limit: params
            .u64("speed_limit_up")?
            .map(|k| k.saturating_mul(SPEED_K)),
        upload_limited: params.bool("speed_limit_up_enabled")?,
        alt_speed_down: params
            .u64("alt_speed_down")?
            .map(|k| k.saturating_mul(SPEED_K)),
        alt_speed_up: params
            .u64("alt_speed_up")?
            .map(|k| k.saturating_mul(SPEED_K)),
        alt_speed_enabled: params.bool("alt_speed_enabled")?,
        alt_speed_time_enabled: params.bool("alt_speed_time_enabled")?,
        alt_speed_time_begin: minute(params, "alt_speed_time_begin")?,
        alt_speed_time_end: minute(params, "alt_speed_time_end")?,
        alt_speed_time_day: match params.u32("alt_speed_time_day")? {
            Some(d) if d > 127 => {
                return Err(MethodError::invalid_params(
                    "`alt_speed_time_day` is a mask of the 7 days (0 to 127)",
                ));
            }
            d => d,
        },
        download_queue_enabled: params.bool("download_queue_enabled")?,
        download_queue_size: params.u32("download_queue_size")?,
        seed_queue_enabled: params.bool("seed_queue_enabled")?,
        seed_queue_size: params.u32("seed_queue_size")?,
        seed_ratio_limit: params.f64("seed_ratio_limit")?,
        seed_ratio_limited: params.bool("seed_ratio_limited")?,
        idle_seeding_limit: params.u32("idle_seeding_limit")?,
        idle_seeding_limit_enabled: params.bool("idle_seeding_limit_enabled")?,
        seeding_time_limit: None,
        seeding_time_limit_enabled: None,
        seed_limit_action: None,
        max_active_torrents: None,
        queue_stalled_enabled: params.bool("queue_stalled_enabled")?,
        queue_stalled_minutes: params.u32("queue_stalled_minutes")?,
        start_added_torrents: params.bool("start_added_torrents")?,
        peer_limit_global: params.u32("peer_limit_global")?,
        peer_limit_per_torrent: params.u32("peer_limit_per_torrent")?,
    };
    if changes != SettingsChanges::default() {
        backend.change_settings(changes).await?;
    }
    Ok(Map::new())
}

/// A time of day in minutes after midnight (0 to 1439).
fn minute(params: &Params<'_>, key: &str) -> Result<Option<u32>, MethodError> {
    match params.u32(key)? {
        Some(m) if m >= 24 * 60 => Err(MethodError::invalid_params(format!(
            "`{key}` is minutes after midnight (0 to 1439)"
        ))),
        m => Ok(m),
    }
}

/// Answers `session-stats`.
pub(crate) async fn stats<B: Backend>(backend: &B) -> Map<String, Value> {
    let s: Stats = backend.stats().await;
    let totals = |t: Totals| {
        json!({
            "uploaded_bytes": t.uploaded, "downloaded_bytes": t.downloaded,
            "files_added": t.files_added, "session_count": t.sessions,
            "seconds_active": t.seconds_active,
        })
    };
    let mut out = Map::new();
    out.insert("active_torrent_count".into(), s.active.into());
    out.insert("download_speed".into(), s.download_rate.into());
    out.insert("paused_torrent_count".into(), s.paused.into());
    out.insert("torrent_count".into(), s.total.into());
    out.insert("upload_speed".into(), s.upload_rate.into());
    out.insert("cumulative_stats".into(), totals(s.cumulative));
    out.insert("current_stats".into(), totals(s.current));
    out
}

/// Answers `free-space`.
pub(crate) async fn free_space<B: Backend>(
    backend: &B,
    params: &Params<'_>,
    allowed: &AllowedDirs,
) -> Result<Map<String, Value>, MethodError> {
    let Some(path) = params.str("path")? else {
        return Err(MethodError::invalid_params("`path` is required"));
    };
    let clean = allowed.check("path", path)?;
    let space = backend.free_space(&clean).await?;
    let mut out = Map::new();
    out.insert("path".into(), path.into());
    out.insert("size_bytes".into(), space.free.into());
    out.insert("total_size".into(), space.total.into());
    Ok(out)
}

/// Answers `port-test`.
pub(crate) async fn port_test<B: Backend>(
    backend: &B,
    params: &Params<'_>,
) -> Result<Map<String, Value>, MethodError> {
    let mut out = Map::new();
    out.insert("port_is_open".into(), backend.port_test().await.into());
    if let Some(protocol) = params.str("ip_protocol")? {
        out.insert("ip_protocol".into(), protocol.into());
    }
    Ok(out)
}

/// Answers `blocklist-update`: this daemon keeps no blocklist.
pub(crate) fn blocklist_update() -> Result<Map<String, Value>, MethodError> {
    Err(MethodError::new(
        error::INVALID_BLOCKLIST_DATA,
        "this daemon keeps no blocklist",
    ))
}
