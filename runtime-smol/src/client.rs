//! [`Client`]: the application's handle on a session running on smol.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use async_channel::{Receiver, Sender};
use async_io::Async;
use sanstorrent_core::session::{Event, TorrentId, TorrentOptions, TorrentSource, TorrentStats};
use sanstorrent_runtime_common::{
    ClientConfig, ClientError, Command, Core, Done, Sink, TorrentHandle, magnet, torrent_file,
};
use smol::net::TcpListener;

use crate::driver::{self, Sockets};
use crate::http_client::{HttpClient, HttpClientConfig};

/// A BitTorrent client: a session on its own loop task, with its sockets and disk workers.
/// Cheap calls send commands to the loop; [`Client::next_event`] watches progress.
#[derive(Debug)]
pub struct Client {
    commands: Sender<Command>,
    events: Receiver<Event>,
    listen: SocketAddr,
    udp: SocketAddr,
}

impl Client {
    /// Binds the sockets, starts the disk workers and the loop task.
    pub async fn new(config: ClientConfig) -> Result<Self, ClientError> {
        let listener = TcpListener::bind(config.listen).await?;
        let listen = listener.local_addr()?;
        let udp = Arc::new(Async::<UdpSocket>::bind(config.udp.unwrap_or(listen))?);
        let udp_addr = udp.get_ref().local_addr()?;
        let http = HttpClient::new(HttpClientConfig {
            request_timeout: config.http_timeout,
            extra_roots: config.extra_roots.clone(),
            ..HttpClientConfig::default()
        })
        .map_err(|e| ClientError::Tls(e.to_string()))?;
        let (done_tx, done) = async_channel::unbounded::<Done>();
        let sink: Sink = Arc::new(move |d| {
            let _ = done_tx.try_send(d);
        });
        let (events_tx, events) = async_channel::unbounded();
        let (commands, command_rx) = async_channel::unbounded();
        let core = Core::new(&config, listen, sink, events_tx, Instant::now())?;
        let sockets = Sockets {
            listener,
            udp,
            http,
        };
        smol::spawn(driver::run(core, sockets, config, done, command_rx)).detach();
        Ok(Self {
            commands,
            events,
            listen,
            udp: udp_addr,
        })
    }

    /// The bound TCP listen address.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// The bound UDP address (DHT and UDP trackers).
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp
    }

    /// Adds a torrent; its files go under `download_dir`.
    pub async fn add_torrent(
        &self,
        source: TorrentSource,
        download_dir: impl Into<PathBuf>,
        options: TorrentOptions,
    ) -> Result<TorrentHandle, ClientError> {
        let (reply, answer) = async_channel::bounded(1);
        let dir = download_dir.into();
        self.send(Command::AddTorrent {
            source,
            dir,
            options,
            reply,
        })
        .await?;
        answer.recv().await.map_err(|_| ClientError::Stopped)?
    }

    /// Adds a torrent from a .torrent file.
    pub async fn add_torrent_file(
        &self,
        path: impl Into<PathBuf>,
        download_dir: impl Into<PathBuf>,
        options: TorrentOptions,
    ) -> Result<TorrentHandle, ClientError> {
        self.add_torrent(torrent_file(path)?, download_dir, options)
            .await
    }

    /// Adds a torrent from a magnet link (the metadata is fetched from peers first).
    pub async fn add_magnet(
        &self,
        uri: &str,
        download_dir: impl Into<PathBuf>,
        options: TorrentOptions,
    ) -> Result<TorrentHandle, ClientError> {
        self.add_torrent(magnet(uri)?, download_dir, options).await
    }

    /// Gives a torrent peer addresses to dial.
    pub async fn add_peers(
        &self,
        torrent: TorrentId,
        peers: Vec<SocketAddr>,
    ) -> Result<(), ClientError> {
        self.send(Command::AddPeers { torrent, peers }).await
    }

    /// A torrent's statistics (`None`: no such torrent).
    pub async fn stats(&self, torrent: TorrentId) -> Result<Option<TorrentStats>, ClientError> {
        let (reply, answer) = async_channel::bounded(1);
        self.send(Command::Stats { torrent, reply }).await?;
        answer.recv().await.map_err(|_| ClientError::Stopped)
    }

    /// Stops one torrent gracefully ([`Event::TorrentStopped`] follows).
    pub async fn stop_torrent(&self, torrent: TorrentId) -> Result<(), ClientError> {
        self.send(Command::StopTorrent { torrent }).await
    }

    /// The next event (`None` once the client has stopped). Events queue up until read.
    pub async fn next_event(&self) -> Option<Event> {
        self.events.recv().await.ok()
    }

    /// Stops gracefully: `stopped` announces, flushes, resume data and DHT state saved,
    /// connections closed. Returns when the loop has ended.
    pub async fn stop(self) -> Result<(), ClientError> {
        let (reply, answer) = async_channel::bounded(1);
        self.send(Command::Shutdown { reply }).await?;
        // Closed without a message if the loop gave up waiting: stopped all the same.
        let _ = answer.recv().await;
        Ok(())
    }

    async fn send(&self, command: Command) -> Result<(), ClientError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| ClientError::Stopped)
    }
}
