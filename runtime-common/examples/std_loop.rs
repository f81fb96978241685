//! Drives sanstorrent's Sans-IO session from a plain std event loop: non-blocking std sockets,
//! no async runtime. It shows what embedding in a custom event loop takes: feed bytes and time
//! in, perform what the session polls out.
//!
//! ```text
//! cargo run -p sanstorrent-runtime-common --example std_loop -- FILE.torrent OUT_DIR PEER_ADDR...
//! ```
//! downloads the torrent into OUT_DIR from the peers given (e.g. `127.0.0.1:6881`), also
//! accepting connections on 127.0.0.1 (any port), and exits once it is complete.
//!
//! Kept simple on purpose: the loop sleeps 1 ms when nothing moved (a real one would use
//! epoll/kqueue through `polling` or `mio`), outbound connects block for up to the timeout
//! (std has no non-blocking connect), and HTTP trackers are not carried (a full runtime uses
//! `HttpClient`); disk work runs on the shared worker pool.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sanstorrent_core::session::{Action, ConnId, Dest, Event, TorrentOptions, Transmit};
use sanstorrent_core::tracker::TrackerError;
use sanstorrent_runtime_common::{ClientConfig, Command, Core, Done, NetIo, Sink, torrent_file};

/// One peer connection: the socket, bytes waiting to be written, and flow control.
struct Conn {
    stream: TcpStream,
    out: Vec<u8>,
    paused: bool,
    closing: bool,
}

/// The loop's sockets.
struct Net {
    conns: HashMap<ConnId, Conn>,
    udp: UdpSocket,
    /// Results of connects, HTTP requests and lookups, fed to the session next turn.
    pending: Vec<Pending>,
}

enum Pending {
    Connected(ConnId, Result<(), ErrorKind>),
    Http(sanstorrent_core::session::RequestId, TrackerError),
    Resolved(
        sanstorrent_core::session::RequestId,
        Result<Vec<SocketAddr>, ErrorKind>,
    ),
}

impl NetIo for Net {
    fn transmit(&mut self, t: Transmit) {
        match t.dest {
            Dest::Peer(conn) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.out.extend_from_slice(&t.payload);
                }
            }
            Dest::Udp(addr) => {
                let _ = self.udp.send_to(&t.payload, addr);
            }
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Connect { conn, addr } => {
                let result = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                    .and_then(|s| s.set_nonblocking(true).map(|()| s));
                match result {
                    Ok(stream) => {
                        let _ = stream.set_nodelay(true);
                        self.conns.insert(conn, Conn::new(stream));
                        self.pending.push(Pending::Connected(conn, Ok(())));
                    }
                    Err(e) => self.pending.push(Pending::Connected(conn, Err(e.kind()))),
                }
            }
            Action::Close { conn } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.closing = true;
                }
            }
            Action::PauseReading { conn } => self.set_paused(conn, true),
            Action::ResumeReading { conn } => self.set_paused(conn, false),
            Action::HttpRequest { id, .. } => self.pending.push(Pending::Http(
                id,
                TrackerError::Transport("this example carries no HTTP".into()),
            )),
            Action::Resolve { id, host, port } => {
                let result = (host.as_str(), port)
                    .to_socket_addrs()
                    .map(Iterator::collect)
                    .map_err(|e| e.kind());
                self.pending.push(Pending::Resolved(id, result));
            }
            _ => {}
        }
    }
}

impl Net {
    fn set_paused(&mut self, conn: ConnId, paused: bool) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.paused = paused;
        }
    }
}

impl Conn {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            out: Vec::new(),
            paused: false,
            closing: false,
        }
    }

    /// Writes what it can and returns how many bytes the socket took; `Err` means the socket
    /// failed.
    fn flush(&mut self) -> std::io::Result<usize> {
        let mut wrote = 0;
        while !self.out.is_empty() {
            match self.stream.write(&self.out) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out.drain(..n);
                    wrote += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(wrote)
    }
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

    // Worker results come back on a std channel the loop polls.
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let done_tx = std::sync::Mutex::new(done_tx);
    let sink: Sink = Arc::new(move |d| {
        let _ = done_tx.lock().map(|tx| tx.send(d));
    });
    let (events_tx, events) = async_channel::unbounded();
    let config = ClientConfig::loopback();
    let mut core = Core::new(&config, listen, sink, events_tx, Instant::now())?;
    let mut net = Net {
        conns: HashMap::new(),
        udp,
        pending: Vec::new(),
    };

    let (reply, answer) = async_channel::bounded(1);
    let options = TorrentOptions {
        peers,
        ..TorrentOptions::default()
    };
    core.command(
        Instant::now(),
        Command::AddTorrent {
            source: torrent_file(&args[0])?,
            dir: args[1].clone().into(),
            options,
            reply,
        },
    );
    let torrent = answer.try_recv()??;
    println!(
        "added {} (listening on {listen})",
        torrent.info_hash.to_hex()
    );
    core.drain(&mut net);

    let started = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let now = Instant::now();
        let mut moved = false;

        // Inbound connections.
        while let Ok((stream, addr)) = listener.accept() {
            moved = true;
            if let Some(conn) = core.session.handle_accept(now, addr) {
                match stream.set_nonblocking(true) {
                    Ok(()) => drop(net.conns.insert(conn, Conn::new(stream))),
                    Err(_) => core.session.handle_peer_closed(now, conn),
                }
            }
            core.drain(&mut net);
        }
        // Results of the previous turn's actions.
        for p in std::mem::take(&mut net.pending) {
            moved = true;
            match p {
                Pending::Connected(conn, r) => core.session.handle_connected(now, conn, r),
                Pending::Http(id, e) => core.session.handle_http_response(now, id, Err(e)),
                Pending::Resolved(id, r) => core.session.handle_resolved(now, id, r),
            }
            core.drain(&mut net);
        }
        // Peer sockets: write what is queued, then read.
        let ids: Vec<ConnId> = net.conns.keys().copied().collect();
        for id in ids {
            let Some(c) = net.conns.get_mut(&id) else {
                continue;
            };
            let mut closed = match c.flush() {
                // `Core` turned send accounting on: report what the socket took.
                Ok(n) if n > 0 => {
                    moved = true;
                    core.session.handle_peer_sent(now, id, n);
                    false
                }
                Ok(_) => false,
                Err(_) => true,
            };
            if c.closing && (closed || c.out.is_empty()) {
                // Closed at the session's request: no `handle_peer_closed`.
                net.conns.remove(&id);
                continue;
            }
            if !closed && !c.paused {
                match c.stream.read(&mut buf) {
                    Ok(0) => closed = true,
                    Ok(n) => {
                        moved = true;
                        core.session
                            .handle_peer_data(now, id, bytes::BytesMut::from(&buf[..n]));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => closed = true,
                }
            }
            if closed {
                net.conns.remove(&id);
                core.session.handle_peer_closed(now, id);
            }
            core.drain(&mut net);
        }
        // Datagrams (DHT, UDP trackers).
        while let Ok((n, from)) = net.udp.recv_from(&mut buf) {
            moved = true;
            core.session.handle_datagram(now, from, &buf[..n]);
            core.drain(&mut net);
        }
        // Disk and hashing results.
        while let Ok(d) = done_rx.try_recv() {
            moved = true;
            core.done(now, d);
            core.drain(&mut net);
        }
        // The timer.
        if core.session.poll_timeout().is_some_and(|t| t <= now) {
            core.session.handle_timeout(now);
            core.drain(&mut net);
        }
        // What the application sees.
        while let Ok(event) = events.try_recv() {
            match event {
                Event::TorrentComplete { .. } => {
                    let secs = started.elapsed().as_secs_f64();
                    println!("complete in {secs:.2} s; stopping");
                    core.shutdown(now);
                    core.drain(&mut net);
                }
                Event::PeerConnected { addr, .. } => println!("peer {addr} connected"),
                Event::Error { error, .. } => eprintln!("error: {error}"),
                _ => {}
            }
        }
        if core.finished() {
            core.finish();
            return Ok(());
        }
        if !moved {
            let nap = core
                .session
                .poll_timeout()
                .map_or(Duration::from_millis(1), |t| {
                    t.saturating_duration_since(now)
                })
                .min(Duration::from_millis(1));
            std::thread::sleep(nap);
        }
    }
}
