//! Drives sanstorrent's Sans-IO [`Session`] from a plain std event loop: non-blocking std
//! sockets, no async runtime. The example owns the session and shows what embedding it in a
//! custom event loop takes: wait for one input, hand it to the matching `handle_*`, perform
//! what the session polls out, re-arm the timer. The disk work goes to runtime-common's
//! [`DiskIo`] (files on a worker pool); everything else is written out here.
//!
//! ```text
//! cargo run -p sanstorrent-runtime-common --example std_loop -- FILE.torrent OUT_DIR PEER_ADDR...
//! ```
//! downloads the torrent into OUT_DIR from the peers given (e.g. `127.0.0.1:6881`), also
//! accepting connections on 127.0.0.1 (any port), and exits once it is complete.
//!
//! Kept simple on purpose: the loop sleeps 1 ms when nothing is ready (a real one would use
//! epoll/kqueue through `polling` or `mio`), each outbound connect blocks a thread of its own
//! (std has no non-blocking connect), and HTTP trackers are not carried (a full runtime uses
//! `HttpClient`). A connect has no timeout here: the session's
//! (`SessionConfig::connect_timeout`) closes a dial that takes too long, and the loop then
//! drops whatever the thread connects.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use sanstorrent_core::tracker::{TrackerError, TransportError, http::HttpResponse};
use sanstorrent_core::{
    Action, ConnId, Dest, Event, RequestId, Session, SessionConfig, SessionError, TorrentOptions,
};
use sanstorrent_runtime_common::{DiskConfig, DiskIo, Done, Sink, torrent_file};

/// One input for the session.
enum Input {
    Accepted(TcpStream, SocketAddr),
    Connected(ConnId, Result<TcpStream, ErrorKind>),
    PeerData(ConnId, BytesMut),
    /// A socket took this many bytes of a connection's transmits.
    PeerSent(ConnId, usize),
    PeerClosed(ConnId),
    Datagram(SocketAddr, Vec<u8>),
    Disk(Done),
    Http(RequestId, Result<HttpResponse, TrackerError>),
    Resolved(RequestId, Result<Vec<SocketAddr>, ErrorKind>),
    Timeout,
}

/// One peer connection: the socket, bytes waiting to be written, and flow control.
struct Peer {
    stream: TcpStream,
    out: Vec<u8>,
    paused: bool,
    /// The session asked to close it: write what is queued, then drop it.
    closing: bool,
}

/// The loop's sockets and the inputs already known.
struct Sockets {
    listener: TcpListener,
    udp: UdpSocket,
    peers: HashMap<ConnId, Peer>,
    /// Results of the actions performed, handed to the session next.
    ready: VecDeque<Input>,
    /// Disk results from the worker threads.
    disk_done: mpsc::Receiver<Done>,
    /// Outbound connects in progress, each on a thread of its own.
    dialing: HashSet<ConnId>,
    /// Their results, sent by those threads.
    dialed: mpsc::Receiver<(ConnId, std::io::Result<TcpStream>)>,
    dial_done: mpsc::Sender<(ConnId, std::io::Result<TcpStream>)>,
    buf: Vec<u8>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        return Err("usage: std_loop FILE.torrent OUT_DIR PEER_ADDR...".into());
    }
    let peers: Vec<SocketAddr> = args[2..]
        .iter()
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;

    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let listen = listener.local_addr()?;
    let udp = UdpSocket::bind(listen)?;
    udp.set_nonblocking(true)?;

    // The disk workers report on a std channel the loop polls.
    let (done_tx, disk_done) = mpsc::channel::<Done>();
    let done_tx = Mutex::new(done_tx);
    let sink: Sink = Arc::new(move |d| {
        let _ = done_tx.lock().map(|tx| tx.send(d));
    });
    let mut disk = DiskIo::new(DiskConfig::default(), sink)?;

    let config = SessionConfig {
        // This loop reports what each socket wrote (`handle_peer_sent`), so the session
        // bounds every connection's write queue.
        send_accounting: true,
        ..SessionConfig::default()
    };
    let seed = u64::from(std::process::id());
    let mut session = Session::new(config, Instant::now(), seed);
    session.set_listen_addr(listen);
    let source = torrent_file(&args[0])?;
    let info_hash = source.info_hash();
    let options = TorrentOptions {
        peers,
        ..TorrentOptions::default()
    };
    let torrent = session.add_torrent(Instant::now(), source, options)?;
    disk.add_torrent(torrent, info_hash, args[1].clone().into());
    println!("added {} (listening on {listen})", info_hash.to_hex());

    let (dial_done, dialed) = mpsc::channel();
    let mut sockets = Sockets {
        listener,
        udp,
        peers: HashMap::new(),
        ready: VecDeque::new(),
        disk_done,
        dialing: HashSet::new(),
        dialed,
        dial_done,
        buf: vec![0; 64 * 1024],
    };
    let started = Instant::now();
    let mut shut_down = false;
    loop {
        // 1. Drain the outputs of the last call: bytes to send, work to do, news.
        while let Some(transmit) = session.poll_transmit() {
            match transmit.dest {
                Dest::Peer(conn) => {
                    if let Some(peer) = sockets.peers.get_mut(&conn) {
                        peer.out.extend_from_slice(&transmit.payload);
                    }
                }
                Dest::Udp(addr) => drop(sockets.udp.send_to(&transmit.payload, addr)),
                // Local discovery is off in this loop's configuration.
                Dest::LocalDiscovery(_) => {}
            }
        }
        while let Some(action) = session.poll_action() {
            // Disk work (storage, jobs, resume data, DHT state) goes to the worker pool.
            if let Some(action) = disk.perform(action) {
                sockets.act(action);
            }
        }
        while let Some(event) = session.poll_event() {
            match event {
                Event::TorrentComplete { .. } => {
                    let secs = started.elapsed().as_secs_f64();
                    println!("complete in {secs:.2} s; stopping");
                    session.shutdown(Instant::now());
                }
                Event::PeerConnected { addr, .. } => println!("peer {addr} connected"),
                Event::Error { error, .. } => eprintln!("error: {error}"),
                Event::TorrentStopped { torrent } => disk.remove_torrent(torrent),
                Event::ShutdownComplete => shut_down = true,
                _ => {}
            }
        }
        // Done once the session stopped and the disk wrote what it was given.
        if shut_down && disk.pending() == 0 {
            return Ok(());
        }

        // 2. Wait for one input (the timer re-armed from `poll_timeout`) and hand it to the
        //    matching `handle_*`.
        let input = sockets.wait(session.poll_timeout());
        let now = Instant::now();
        match input {
            Input::Accepted(stream, remote) => {
                // `None`: refused (limits, shutting down); dropping the stream closes it.
                if let Some(conn) = session.handle_accept(now, remote) {
                    sockets.add_peer(conn, stream);
                }
            }
            Input::Connected(conn, result) => {
                let result = result.map(|stream| sockets.add_peer(conn, stream));
                session.handle_connected(now, conn, result);
            }
            Input::PeerData(conn, data) => session.handle_peer_data(now, conn, data),
            Input::PeerSent(conn, n) => session.handle_peer_sent(now, conn, n),
            Input::PeerClosed(conn) => {
                sockets.peers.remove(&conn);
                session.handle_peer_closed(now, conn);
            }
            Input::Datagram(from, data) => session.handle_datagram(now, from, &data),
            Input::Disk(done) => {
                disk.finished(&done);
                match done {
                    Done::Disk(completion) => session.handle_completion(now, completion),
                    Done::Saved {
                        path,
                        result: Err(e),
                    } => {
                        let error = SessionError::SaveState {
                            path,
                            error: Arc::new(e),
                        };
                        eprintln!("error: {error}");
                    }
                    _ => {}
                }
            }
            Input::Http(id, response) => session.handle_http_response(now, id, response),
            Input::Resolved(id, addrs) => session.handle_resolved(now, id, addrs),
            Input::Timeout => session.handle_timeout(now),
        }
    }
}

impl Sockets {
    /// Performs a network action; its result, if any, becomes an input.
    fn act(&mut self, action: Action) {
        match action {
            Action::Connect { conn, addr } => {
                self.dialing.insert(conn);
                let done = self.dial_done.clone();
                std::thread::spawn(move || drop(done.send((conn, TcpStream::connect(addr)))));
            }
            // Closed at the session's request: no `handle_peer_closed` for it. A dial still
            // in progress is forgotten (its socket is dropped when the thread reports).
            Action::Close { conn } => {
                self.dialing.remove(&conn);
                if let Some(peer) = self.peers.get_mut(&conn) {
                    peer.closing = true;
                }
            }
            Action::PauseReading { conn } => self.set_paused(conn, true),
            Action::ResumeReading { conn } => self.set_paused(conn, false),
            Action::HttpRequest { id, .. } => {
                let error = TrackerError::Transport(TransportError::Unavailable);
                self.ready.push_back(Input::Http(id, Err(error)));
            }
            Action::Resolve { id, host, port } => {
                let addrs = (host.as_str(), port).to_socket_addrs();
                let addrs = addrs.map(Iterator::collect).map_err(|e| e.kind());
                self.ready.push_back(Input::Resolved(id, addrs));
            }
            _ => {}
        }
    }

    fn add_peer(&mut self, conn: ConnId, stream: TcpStream) {
        let _ = stream.set_nonblocking(true);
        let _ = stream.set_nodelay(true);
        let peer = Peer {
            stream,
            out: Vec::new(),
            paused: false,
            closing: false,
        };
        self.peers.insert(conn, peer);
    }

    fn set_paused(&mut self, conn: ConnId, paused: bool) {
        if let Some(peer) = self.peers.get_mut(&conn) {
            peer.paused = paused;
        }
    }

    /// Waits until an input is ready: a result of an action, a disk result, a connection,
    /// bytes written or read, a datagram, or the timer at `timeout`.
    fn wait(&mut self, timeout: Option<Instant>) -> Input {
        loop {
            if let Some(input) = self.ready.pop_front() {
                return input;
            }
            if let Ok(done) = self.disk_done.try_recv() {
                return Input::Disk(done);
            }
            while let Ok((conn, result)) = self.dialed.try_recv() {
                if self.dialing.remove(&conn) {
                    return Input::Connected(conn, result.map_err(|e| e.kind()));
                }
            }
            if let Ok((stream, remote)) = self.listener.accept() {
                return Input::Accepted(stream, remote);
            }
            if let Ok((n, from)) = self.udp.recv_from(&mut self.buf) {
                return Input::Datagram(from, self.buf[..n].to_vec());
            }
            for conn in self.peers.keys().copied().collect::<Vec<_>>() {
                self.poll_peer(conn);
            }
            if let Some(input) = self.ready.pop_front() {
                return input;
            }
            let now = Instant::now();
            if timeout.is_some_and(|t| t <= now) {
                return Input::Timeout;
            }
            let nap = timeout.map_or(Duration::from_millis(1), |t| t.duration_since(now));
            std::thread::sleep(nap.min(Duration::from_millis(1)));
        }
    }

    /// Writes what a peer has queued, then reads from it; what happened becomes inputs.
    fn poll_peer(&mut self, conn: ConnId) {
        let Some(peer) = self.peers.get_mut(&conn) else {
            return;
        };
        let mut wrote = 0;
        let mut failed = false;
        while !peer.out.is_empty() {
            match peer.stream.write(&peer.out) {
                Ok(n) if n > 0 => {
                    peer.out.drain(..n);
                    wrote += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                _ => {
                    failed = true;
                    break;
                }
            }
        }
        if peer.closing && (failed || peer.out.is_empty()) {
            self.peers.remove(&conn);
            return;
        }
        if wrote > 0 {
            self.ready.push_back(Input::PeerSent(conn, wrote));
        }
        if !failed && !peer.paused {
            match peer.stream.read(&mut self.buf) {
                Ok(0) => failed = true,
                Ok(n) => {
                    let data = BytesMut::from(&self.buf[..n]);
                    self.ready.push_back(Input::PeerData(conn, data));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => failed = true,
            }
        }
        if failed {
            self.peers.remove(&conn);
            self.ready.push_back(Input::PeerClosed(conn));
        }
    }
}
