//! What a session's torrents share instead of each holding a copy: tracker URLs (one per
//! tracker, however many torrents announce to it) and the announcers', chokers' and candidate
//! lists' settings, and torrents' options (most torrents are added alike).

use std::sync::Arc;

use super::candidates::Backoff;
use crate::choker::ChokerConfig;
use crate::session::TorrentOptions;
use crate::tracker::{AnnouncerConfig, UrlTable};

/// The parts torrents share; the torrent table holds one.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// One copy of each tracker URL.
    pub(crate) urls: UrlTable,
    /// The settings the last announcer was made with.
    announcer: Option<Arc<AnnouncerConfig>>,
    /// The settings the last choker was made with.
    choker: Option<Arc<ChokerConfig>>,
    /// The backoff the last candidate list was made with.
    backoff: Option<Arc<Backoff>>,
    /// The options the last torrent was added with, as it keeps them.
    options: Option<Arc<TorrentOptions>>,
}

impl Shared {
    /// Settings equal to `wanted`, shared with the announcers made before if they match.
    pub(crate) fn announcer_config(&mut self, wanted: AnnouncerConfig) -> Arc<AnnouncerConfig> {
        share(&mut self.announcer, wanted)
    }

    /// Settings equal to `wanted`, shared with the chokers made before if they match.
    pub(crate) fn choker_config(&mut self, wanted: &ChokerConfig) -> Arc<ChokerConfig> {
        share(&mut self.choker, wanted.clone())
    }

    /// Backoff settings equal to `wanted`, shared with the candidate lists made before if
    /// they match.
    pub(crate) fn backoff(&mut self, wanted: Backoff) -> Arc<Backoff> {
        share(&mut self.backoff, wanted)
    }

    /// Torrent options equal to `wanted`, shared with the torrent added before if they
    /// match (a torrent changing its own copies them first, `Arc::make_mut`).
    pub(crate) fn options(&mut self, wanted: TorrentOptions) -> Arc<TorrentOptions> {
        share(&mut self.options, wanted)
    }
}

/// `last` if it equals `wanted`; else `wanted`, remembered as `last`.
fn share<T: PartialEq>(last: &mut Option<Arc<T>>, wanted: T) -> Arc<T> {
    match last {
        Some(known) if **known == wanted => Arc::clone(known),
        _ => {
            let shared = Arc::new(wanted);
            *last = Some(Arc::clone(&shared));
            shared
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A magnet torrent added with `options`.
    fn torrent(byte: u8, options: TorrentOptions, shared: &mut Shared) -> super::super::Torrent {
        use crate::magnet::MagnetLink;
        use crate::session::{SessionConfig, TorrentSource};
        let hash = format!("{byte:02x}").repeat(20);
        let link = MagnetLink::parse(&format!("magnet:?xt=urn:btih:{hash}")).unwrap();
        let now = std::time::Instant::now();
        let config = SessionConfig::default();
        let source = TorrentSource::Magnet(link);
        let rng = &mut crate::rng::Rng::new(1);
        super::super::Torrent::new(now, &source, options, &config, rng, shared)
    }

    #[test]
    fn torrents_added_alike_share_their_options_and_a_change_copies_them() {
        let mut shared = Shared::default();
        let a = torrent(1, TorrentOptions::default(), &mut shared);
        // What a torrent reads only at the add does not keep it from sharing.
        let own = TorrentOptions {
            resume: Some(vec![1, 2, 3]),
            stopped: true,
            trackers: Some(vec![vec!["http://t/announce".into()]]),
            limits: crate::session::TorrentLimits {
                download_rate: Some(1000),
                ..Default::default()
            },
            ..TorrentOptions::default()
        };
        let mut b = torrent(2, own, &mut shared);
        assert!(Arc::ptr_eq(&a.options, &b.options));
        assert_eq!(b.resume.as_deref(), Some(&[1, 2, 3][..]));
        assert!(b.hold);
        assert_eq!(b.limits().download_rate, Some(1000));
        assert_eq!(b.tracker_list.tiers().len(), 1);
        let sequential = TorrentOptions {
            sequential: true,
            ..TorrentOptions::default()
        };
        let c = torrent(3, sequential, &mut shared);
        assert!(c.options.sequential);
        assert!(!Arc::ptr_eq(&a.options, &c.options));

        b.set_sequential(true);
        assert!(b.options.sequential && !a.options.sequential);
        assert!(!Arc::ptr_eq(&a.options, &b.options));
    }

    #[test]
    fn own_limits_are_boxed_only_while_other_than_the_defaults() {
        use crate::session::TorrentLimits;
        let mut shared = Shared::default();
        let mut t = torrent(4, TorrentOptions::default(), &mut shared);
        assert!(t.limits.is_none(), "the defaults: no box, unlimited");
        let now = std::time::Instant::now();
        let limited = TorrentLimits {
            upload_rate: Some(1000),
            ..TorrentLimits::default()
        };
        t.set_limits(now, limited);
        let own = t.limits.as_mut().expect("boxed");
        assert_eq!(own.limits, limited);
        own.up.spend(now, 5000);
        assert!(!own.up.allows(now), "in debt");
        // Another rate changes the bucket in place: its debt stays.
        let faster = TorrentLimits {
            upload_rate: Some(2000),
            ..limited
        };
        t.set_limits(now, faster);
        let own = t.limits.as_mut().expect("boxed");
        assert!(!own.up.allows(now), "the debt kept");
        assert!(own.down.allows(now), "no download limit");
        t.set_limits(now, TorrentLimits::default());
        assert!(t.limits.is_none(), "back to the defaults");
        assert_eq!(t.limits(), TorrentLimits::default());
    }

    #[test]
    fn equal_settings_are_shared_and_others_replace_them() {
        let mut shared = Shared::default();
        let a = shared.announcer_config(AnnouncerConfig::default());
        let b = shared.announcer_config(AnnouncerConfig::default());
        assert!(Arc::ptr_eq(&a, &b));
        let gated = AnnouncerConfig {
            gated: true,
            ..AnnouncerConfig::default()
        };
        let c = shared.announcer_config(gated.clone());
        assert_eq!(*c, gated);
        assert!(!Arc::ptr_eq(&a, &c));
    }
}
