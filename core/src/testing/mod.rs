//! Support for tests outside this crate; not part of the API (hidden from the docs, and may
//! change at any time): disk jobs made without a session, for the tests of a runtime's disk
//! side, the session's piece picker for its benchmark, and, with the `fuzzing` feature, the
//! bodies of the cargo-fuzz targets in `fuzz/`.

#[cfg(feature = "fuzzing")]
pub mod fuzz;

pub use crate::session::testing::{flush_job, verify_job, write_job};

/// The session's piece picker, driven alone (by `benches/picker.rs`).
pub mod picker {
    pub use crate::picker::{
        BLOCK_LEN, PeerKey, PeerRate, Picker, PickerConfig, PiecePassed, Received,
    };
}
