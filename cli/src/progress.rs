//! The progress display: live indicatif bars on a terminal, one plain line per torrent every
//! few seconds otherwise, nothing with `--quiet`. Log lines (tracing) go through
//! [`LogWriter`] so they never tear a bar.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sanstorrent_core::session::{TorrentPhase, TorrentStats};

use crate::fmt::size;

/// Time between two plain progress lines of one torrent.
const LINE_EVERY: Duration = Duration::from_secs(3);

/// The bars, shared with the log writer so logging can hide them while it prints.
static MULTI: OnceLock<MultiProgress> = OnceLock::new();

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Live bars on stderr (a terminal).
    Bars,
    /// Plain lines on stderr every few seconds (CI, pipes).
    Lines,
    /// Nothing but errors.
    Quiet,
}

impl Mode {
    /// `Quiet` if asked, else bars when stderr is a terminal, lines otherwise.
    pub(crate) fn detect(quiet: bool) -> Self {
        if quiet {
            Self::Quiet
        } else if std::io::stderr().is_terminal() {
            Self::Bars
        } else {
            Self::Lines
        }
    }
}

/// One progress display with one row per torrent (or per demo client).
#[derive(Debug)]
pub(crate) struct Progress {
    mode: Mode,
    rows: Vec<Row>,
}

#[derive(Debug)]
struct Row {
    label: String,
    bar: Option<ProgressBar>,
    last_line: Option<Instant>,
    last_text: String,
}

impl Progress {
    /// An empty display in `mode`.
    pub(crate) fn new(mode: Mode) -> Self {
        Self {
            mode,
            rows: Vec::new(),
        }
    }

    /// Adds a row named `label`; returns its index for [`Progress::update`].
    pub(crate) fn add(&mut self, label: &str) -> usize {
        let bar = (self.mode == Mode::Bars).then(|| {
            let multi = MULTI.get_or_init(|| {
                MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8))
            });
            let style = ProgressStyle::with_template(
                "{prefix:<10.bold} {bar:12.cyan/blue} {percent:>3}% {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            let bar = multi.add(ProgressBar::new(1).with_style(style));
            bar.set_prefix(label.to_string());
            bar
        });
        self.rows.push(Row {
            label: label.to_string(),
            bar,
            last_line: None,
            last_text: String::new(),
        });
        self.rows.len() - 1
    }

    /// Shows `stats` on row `row`. In line mode a line is printed at most every few seconds,
    /// unless `force`.
    pub(crate) fn update(&mut self, row: usize, stats: &TorrentStats, now: Instant, force: bool) {
        let Some(r) = self.rows.get_mut(row) else {
            return;
        };
        let text = describe(stats);
        match self.mode {
            Mode::Quiet => {}
            Mode::Bars => {
                if let Some(bar) = &r.bar {
                    let (pos, len) = position(stats);
                    bar.set_length(len.max(1));
                    bar.set_position(pos);
                    bar.set_message(compact(stats));
                }
            }
            Mode::Lines => {
                let due = r
                    .last_line
                    .is_none_or(|t| now.duration_since(t) >= LINE_EVERY);
                if due || (force && text != r.last_text) {
                    r.last_line = Some(now);
                    let (pos, len) = position(stats);
                    let pct = if len == 0 {
                        0.0
                    } else {
                        pos as f64 * 100.0 / len as f64
                    };
                    let line = format!("{}: {pct:5.1}% {text}\n", r.label);
                    let mut err = std::io::stderr().lock();
                    let _ = err.write_all(line.as_bytes());
                    r.last_text = text;
                }
            }
        }
    }

    /// Prints a line of text above the bars (on stderr), unless quiet.
    pub(crate) fn note(&self, text: &str) {
        if self.mode == Mode::Quiet {
            return;
        }
        print_above(&format!("{text}\n"));
    }

    /// Stops drawing; the bars stay on screen as last drawn.
    pub(crate) fn finish(&mut self) {
        for r in &self.rows {
            if let Some(bar) = &r.bar {
                bar.abandon();
            }
        }
    }
}

/// Writes `text` to stderr, hiding the bars meanwhile if there are any.
fn print_above(text: &str) {
    let write = || {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
    };
    match MULTI.get() {
        Some(m) => m.suspend(write),
        None => write(),
    }
}

/// The bar's position and length: bytes verified of bytes wanted, or pieces checked while
/// checking.
fn position(stats: &TorrentStats) -> (u64, u64) {
    if stats.phase == TorrentPhase::Checking && stats.piece_count > 0 {
        (
            u64::from(stats.pieces_checked),
            u64::from(stats.piece_count),
        )
    } else {
        (stats.have_bytes, stats.wanted_bytes)
    }
}

/// The phase's name as shown to the user.
pub(crate) fn phase_name(phase: TorrentPhase) -> &'static str {
    match phase {
        TorrentPhase::Checking => "checking",
        TorrentPhase::FetchingMetadata => "fetching metadata",
        TorrentPhase::Downloading => "downloading",
        TorrentPhase::Seeding => "seeding",
        TorrentPhase::Stopping => "stopping",
        TorrentPhase::Stopped => "stopped",
        _ => "working",
    }
}

/// `downloading 12.0 MiB/64.0 MiB ↓ 5.1 MiB/s ↑ 0 B/s peers 3/7 eta 10s`.
fn describe(s: &TorrentStats) -> String {
    format!(
        "{} {}/{} down {}/s up {}/s peers {}/{} eta {}",
        phase_name(s.phase),
        size(s.have_bytes),
        size(s.wanted_bytes),
        size(s.download_rate),
        size(s.upload_rate),
        s.peers_connected,
        s.peers_known + s.peers_connected,
        eta(s),
    )
}

/// The bar's text, short enough for 80 columns:
/// `downloading 12.0M/64.0M ↓5.1M/s ↑0B/s peers 3/7 eta 10s`.
fn compact(s: &TorrentStats) -> String {
    let short = |b: u64| {
        size(b)
            .replace(" B", "B")
            .replace("iB", "")
            .replace(' ', "")
    };
    let eta = match s.phase {
        TorrentPhase::Downloading => format!(" eta {}", eta(s)),
        _ => String::new(),
    };
    format!(
        "{} {}/{} ↓{}/s ↑{}/s peers {}/{}{eta}",
        phase_name(s.phase),
        short(s.have_bytes),
        short(s.wanted_bytes),
        short(s.download_rate),
        short(s.upload_rate),
        s.peers_connected,
        s.peers_known + s.peers_connected,
    )
}

/// Time left at the current rate while downloading.
fn eta(s: &TorrentStats) -> String {
    match s.phase {
        TorrentPhase::Downloading if s.download_rate > 0 => {
            let left = s.wanted_bytes.saturating_sub(s.have_bytes);
            duration(left / s.download_rate)
        }
        TorrentPhase::Downloading | TorrentPhase::FetchingMetadata => "-".to_string(),
        _ => "0s".to_string(),
    }
}

/// `3725` → `1h02m05s`.
pub(crate) fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m{:02}s", secs / 3600, secs % 3600 / 60, secs % 60),
    }
}

/// A tracing writer that prints each log line above the progress bars.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        print_above(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sanstorrent_core::id::InfoHash;

    fn stats(phase: TorrentPhase, have: u64, rate: u64) -> TorrentStats {
        TorrentStats {
            phase,
            info_hash: InfoHash([0; 20]),
            info_hash_v2: None,
            total_bytes: 1 << 20,
            wanted_bytes: 1 << 20,
            have_bytes: have,
            wanted_have_bytes: have,
            downloaded: have,
            uploaded: 0,
            download_rate: rate,
            upload_rate: 0,
            peers_connected: 2,
            peers_connecting: 0,
            peers_known: 3,
            seeds_connected: 1,
            pieces_have: 0,
            piece_count: 4,
            pieces_checked: 1,
            hash_failures: 0,
            swarm: None,
        }
    }

    #[test]
    fn describes_phase_sizes_rates_peers_and_eta() {
        let s = describe(&stats(TorrentPhase::Downloading, 1 << 19, 1 << 10));
        assert_eq!(
            s,
            "downloading 512.0 KiB/1.0 MiB down 1.0 KiB/s up 0 B/s peers 2/5 eta 8m32s"
        );
        let s = describe(&stats(TorrentPhase::Downloading, 0, 0));
        assert!(s.ends_with("eta -"), "{s}");
        assert!(describe(&stats(TorrentPhase::Seeding, 1 << 20, 0)).starts_with("seeding "));
        assert_eq!(
            compact(&stats(TorrentPhase::Downloading, 1 << 19, 1 << 10)),
            "downloading 512.0K/1.0M ↓1.0K/s ↑0B/s peers 2/5 eta 8m32s"
        );
        assert_eq!(
            position(&stats(TorrentPhase::Checking, 0, 0)),
            (1, 4),
            "checking counts pieces"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(61), "1m01s");
        assert_eq!(duration(3725), "1h02m05s");
        assert!(duration(u64::MAX).starts_with("5124095576030431h"));
    }
}
