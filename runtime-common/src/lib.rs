//! The runtime-independent half of sanstorrent's runtimes (`sanstorrent-smol`,
//! `sanstorrent-tokio`, or a hand-written event loop): a worker pool of std threads for disk
//! I/O and piece hashing, the execution of each [`DiskJob`](sanstorrent_core::session::DiskJob)
//! against a torrent's [`Storage`](sanstorrent_core::storage::Storage), and the state files
//! (resume data, DHT state) written atomically.
//!
//! A runtime's loop hands every action it polls from the session to [`DiskIo::perform`]
//! first: disk work is queued on the pool, and network work comes back for the runtime to do.
//! Results arrive through the [`Sink`] the runtime gave the pool, usually a channel into its
//! loop, and go to `Session::handle_completion`.
//!
//! [`Core`] is the rest of a runtime's loop that does not depend on the runtime: it owns the
//! session and the disk half, performs the application's [`Command`]s and drains the session's
//! outputs into a [`NetIo`] (a hand-written loop's sockets, as in `examples/std_loop.rs`).
//!
//! # The driver, written once
//! [`Client`] runs on any [`Runtime`] (spawning, timers, TCP and UDP sockets, DNS);
//! `sanstorrent-smol` and `sanstorrent-tokio` are the two implementations. One loop task owns
//! the [`Session`](sanstorrent_core::session::Session) by `&mut` (no lock). Socket tasks (a
//! listener, a reader and a writer per peer connection, a UDP receiver, one task per tracker
//! HTTP exchange or DNS lookup) and the disk workers talk to it through channels. The loop
//! waits for one thing (a disk completion, an application command, the timer, or socket
//! input), calls the one matching `handle_*` method, takes up to [`BATCH`](driver::BATCH) more
//! inputs already waiting, then drains `poll_transmit`, `poll_action` and `poll_event` until
//! each returns `None`, and re-arms its timer from `poll_timeout`.

mod add_batch;
mod bind;
mod block_writer;
mod change;
pub mod client;
mod conn;
pub mod disk;
pub mod driver;
mod event_loop;
pub mod events;
pub mod fetch;
mod gateway;
pub mod gro;
pub mod gso;
pub mod http;
#[cfg(feature = "testing")]
mod http_hostile;
pub mod jobs;
mod keepalive;
mod local_discovery;
mod location;
pub mod metainfo_source;
pub mod mmsg;
mod net;
mod packed_paths;
pub mod path_mtu;
pub mod pool;
pub mod read_buffer;
mod read_pool;
mod rename;
pub mod runtime;
pub mod storage;
pub mod trust;
mod udp;
#[cfg(feature = "testing")]
mod webseed_hostile;
pub mod write_batch;

pub use add_batch::{BatchAdded, NewTorrent};
pub use change::Change;
pub use client::{Client, ClientConfig, ClientError, Command, TorrentHandle, magnet, torrent_file};
pub use disk::{DiskConfig, DiskIo};
pub use driver::{Core, NetIo, take_waiting};
pub use events::{EventReceiver, EventSender, event_queue};
pub use fetch::TorrentFetchError;
pub use http::{HttpClient, HttpClientConfig};
pub use metainfo_source::{MetainfoSource, SharedSource};
pub use pool::{Done, Sink, WorkerPool};
pub use read_buffer::ReadBuffer;
pub use runtime::Runtime;
pub use trust::{PemRootsError, roots_from_pem};
pub use write_batch::WriteBatch;

/// What each runtime crate re-exports for its users, besides its `Client` and `block_on`: the
/// same names whichever runtime.
pub mod api {
    pub use sanstorrent_core::session::{
        ChangeError, Event, Priority, SessionConfig, TorrentId, TorrentLimits, TorrentOptions,
        TorrentSource, TorrentStats, TrackerEdit, TrackerInfo, WebSeedInfo,
    };

    pub use crate::{Change, ClientConfig, ClientError, Runtime, TorrentHandle};
}

/// The shared code's tests, as async functions generic over the runtime (see
/// [`runtime_tests`]).
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing {
    pub use crate::conn::tests::a_pause_stops_the_reader_of_a_busy_socket;
    pub use crate::http::tests::{
        https_with_a_root_trusted_by_configuration, plain_http_cap_timeout_and_errors,
    };
    pub use crate::http_hostile::{
        a_slow_trickle_is_cut_off_by_the_request_timeout,
        hostile_bodies_and_heads_are_cut_off_at_a_bound, redirect_loops_stop_with_a_typed_error,
    };
    pub use crate::net::runtime_tests::a_cancelled_http_request_is_closed_and_not_reported;
    pub use crate::udp::runtime_tests::without_gro_datagrams_arrive_intact_in_batches;
    pub use crate::webseed_hostile::{
        a_body_longer_than_announced_is_not_read_as_the_next_answer,
        hostile_mirrors_end_a_part_with_a_typed_error,
    };
}

/// Defines the shared code's tests as `#[test]` functions run on the runtime `$rt`: each
/// runtime crate calls it once in its test module, so every test runs on both runtimes.
#[cfg(feature = "testing")]
#[doc(hidden)]
#[macro_export]
macro_rules! runtime_tests {
    ($rt:ty) => {
        $crate::runtime_tests!($rt, a_pause_stops_the_reader_of_a_busy_socket);
        $crate::runtime_tests!($rt, without_gro_datagrams_arrive_intact_in_batches);
        $crate::runtime_tests!($rt, https_with_a_root_trusted_by_configuration);
        $crate::runtime_tests!($rt, plain_http_cap_timeout_and_errors);
        $crate::runtime_tests!($rt, a_cancelled_http_request_is_closed_and_not_reported);
        $crate::runtime_tests!($rt, hostile_bodies_and_heads_are_cut_off_at_a_bound);
        $crate::runtime_tests!($rt, a_slow_trickle_is_cut_off_by_the_request_timeout);
        $crate::runtime_tests!($rt, redirect_loops_stop_with_a_typed_error);
        $crate::runtime_tests!($rt, hostile_mirrors_end_a_part_with_a_typed_error);
        $crate::runtime_tests!(
            $rt,
            a_body_longer_than_announced_is_not_read_as_the_next_answer
        );
    };
    ($rt:ty, $name:ident) => {
        #[test]
        fn $name() {
            <$rt as $crate::Runtime>::block_on($crate::testing::$name::<$rt>());
        }
    };
}
