//! A listed torrent's files' states ([`FileStates`]): most torrents have one file or a few,
//! and a `Vec` of them was one small allocation per torrent on the daemon's thread (32 bytes
//! with glibc's overhead, among the entries of 10,000 torrents: `bench/README.md`, session
//! 25). Up to [`INLINE`] are kept in place; more are boxed.

use std::ops::{Deref, DerefMut};

use super::live::FileState;
use crate::daemon::backend::Priority;

/// Files kept in place (what fits beside the length in the room of a boxed slice's pointer,
/// length and tag).
pub(super) const INLINE: usize = 6;

/// The filler of unused inline places (never read).
const FILLER: FileState = FileState {
    wanted: true,
    priority: Priority::Normal,
};

/// A torrent's files' wanted flags and priorities, as a slice.
#[derive(Clone, Debug)]
pub(super) enum FileStates {
    /// Up to [`INLINE`] files, the first `len` places used.
    Inline {
        /// Places used.
        len: u8,
        /// The states.
        states: [FileState; INLINE],
    },
    /// More files.
    Boxed(Box<[FileState]>),
}

impl Default for FileStates {
    fn default() -> Self {
        Self::Inline {
            len: 0,
            states: [FILLER; INLINE],
        }
    }
}

impl From<Vec<FileState>> for FileStates {
    fn from(files: Vec<FileState>) -> Self {
        match u8::try_from(files.len()) {
            Ok(len) if files.len() <= INLINE => {
                let mut states = [FILLER; INLINE];
                states[..files.len()].copy_from_slice(&files);
                Self::Inline { len, states }
            }
            _ => Self::Boxed(files.into_boxed_slice()),
        }
    }
}

impl Deref for FileStates {
    type Target = [FileState];

    fn deref(&self) -> &[FileState] {
        match self {
            Self::Inline { len, states } => &states[..usize::from(*len)],
            Self::Boxed(files) => files,
        }
    }
}

impl DerefMut for FileStates {
    fn deref_mut(&mut self) -> &mut [FileState] {
        match self {
            Self::Inline { len, states } => &mut states[..usize::from(*len)],
            Self::Boxed(files) => files,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(n: usize) -> Vec<FileState> {
        (0..n)
            .map(|i| FileState {
                wanted: i % 2 == 0,
                priority: [Priority::Low, Priority::Normal, Priority::High][i % 3],
            })
            .collect()
    }

    #[test]
    fn holds_any_count_as_the_vec_it_came_from() {
        for n in [0, 1, INLINE - 1, INLINE, INLINE + 1, 300] {
            let vec = states(n);
            let mut files = FileStates::from(vec.clone());
            assert_eq!(&*files, &vec[..], "{n}");
            assert_eq!(matches!(files, FileStates::Inline { .. }), n <= INLINE);
            for f in files.iter_mut() {
                f.wanted = !f.wanted;
            }
            assert!(files.iter().zip(&vec).all(|(a, b)| a.wanted != b.wanted));
            assert_eq!(files.len(), n);
        }
        assert!(FileStates::default().is_empty());
        assert!(size_of::<FileStates>() <= size_of::<Vec<FileState>>());
    }
}
