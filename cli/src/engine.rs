//! The runtime choice as a thin layer: [`Engine`] is one of the runtimes' `Client`s (they have
//! the same API), and [`block_on`] runs the command's future on the matching executor. The
//! command logic is written once, against `Engine`.

use std::net::SocketAddr;
use std::path::PathBuf;

use sanstorrent_core::session::{Event, TorrentId, TorrentOptions, TorrentSource, TorrentStats};
use sanstorrent_runtime_common::{ClientConfig, ClientError, TorrentHandle};

use crate::args::Runtime;

#[cfg(not(any(feature = "smol", feature = "tokio")))]
compile_error!("enable the `smol` feature, the `tokio` feature, or both");

/// A running client on either runtime.
#[derive(Debug)]
pub(crate) enum Engine {
    /// On smol.
    #[cfg(feature = "smol")]
    Smol(sanstorrent_smol::Client),
    /// On tokio.
    #[cfg(feature = "tokio")]
    Tokio(sanstorrent_tokio::Client),
}

/// Calls the same method on whichever client `$engine` holds.
macro_rules! each {
    ($engine:expr, $c:ident => $body:expr) => {
        match $engine {
            #[cfg(feature = "smol")]
            Engine::Smol($c) => $body,
            #[cfg(feature = "tokio")]
            Engine::Tokio($c) => $body,
        }
    };
}

impl Engine {
    /// Starts a client on `runtime`; call inside [`block_on`] with the same runtime.
    pub(crate) async fn start(runtime: Runtime, config: ClientConfig) -> Result<Self, ClientError> {
        match runtime {
            #[cfg(feature = "smol")]
            Runtime::Smol => Ok(Self::Smol(sanstorrent_smol::Client::new(config).await?)),
            #[cfg(feature = "tokio")]
            Runtime::Tokio => Ok(Self::Tokio(sanstorrent_tokio::Client::new(config).await?)),
            #[allow(unreachable_patterns)] // Reached only when a feature is off.
            other => Err(ClientError::Io(std::io::Error::other(format!(
                "built without the {other:?} runtime"
            )))),
        }
    }

    /// The bound TCP listen address.
    pub(crate) fn listen_addr(&self) -> SocketAddr {
        each!(self, c => c.listen_addr())
    }

    /// Adds a torrent whose files go under `dir`.
    pub(crate) async fn add_torrent(
        &self,
        source: TorrentSource,
        dir: PathBuf,
        options: TorrentOptions,
    ) -> Result<TorrentHandle, ClientError> {
        each!(self, c => c.add_torrent(source, dir, options).await)
    }

    /// A torrent's statistics (`None`: no such torrent).
    pub(crate) async fn stats(
        &self,
        torrent: TorrentId,
    ) -> Result<Option<TorrentStats>, ClientError> {
        each!(self, c => c.stats(torrent).await)
    }

    /// Stops one torrent gracefully (its `stopped` announce goes out; it stays stopped).
    pub(crate) async fn stop_torrent(&self, torrent: TorrentId) -> Result<(), ClientError> {
        each!(self, c => c.stop_torrent(torrent).await)
    }

    /// The next event if one is queued, without waiting: `None` if nothing is queued,
    /// `Some(None)` if the client's loop has ended.
    pub(crate) async fn try_event(&self) -> Option<Option<Event>> {
        each!(self, c => futures_lite::future::poll_once(c.next_event()).await)
    }

    /// The next event, waiting for it (`None`: the client stopped). Cancel-safe: dropping the
    /// future loses no event.
    pub(crate) async fn next_event(&self) -> Option<Event> {
        each!(self, c => c.next_event().await)
    }

    /// Stops gracefully (`stopped` announces, flush, resume and DHT state saved).
    pub(crate) async fn stop(self) -> Result<(), ClientError> {
        each!(self, c => c.stop().await)
    }
}

/// Whether this binary was built with `runtime`.
pub(crate) fn available(runtime: Runtime) -> bool {
    match runtime {
        Runtime::Smol => cfg!(feature = "smol"),
        Runtime::Tokio => cfg!(feature = "tokio"),
    }
}

/// Runs `future` to completion on `runtime`'s executor (the client tasks run there too).
pub(crate) fn block_on<T>(runtime: Runtime, future: impl Future<Output = T>) -> T {
    match runtime {
        #[cfg(feature = "smol")]
        Runtime::Smol => sanstorrent_smol::block_on(future),
        #[cfg(feature = "tokio")]
        Runtime::Tokio => sanstorrent_tokio::block_on(future),
        #[allow(unreachable_patterns)] // Callers check `available` first.
        _ => unreachable!("runtime availability is checked when the arguments are read"),
    }
}
