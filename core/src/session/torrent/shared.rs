//! What a session's torrents share instead of each holding a copy: tracker URLs (one per
//! tracker, however many torrents announce to it) and the announcers', chokers' and candidate
//! lists' settings.

use std::sync::Arc;

use super::candidates::Backoff;
use crate::choker::ChokerConfig;
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
