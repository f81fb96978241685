//! The loop task: it owns the session (inside [`Core`]) and waits for one thing at a time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use async_channel::{Receiver, Sender};
use futures_lite::{FutureExt, future};
use sanstorrent_core::session::{Action, ConnId, Dest, RequestId, Transmit};

use crate::bind;
use crate::change::Change;
use crate::client::{ClientConfig, Command};
use crate::conn::{self, ConnHandle, Read, Write};
use crate::driver::{Core, NetIo, take_waiting};
use crate::gso::Segments;
use crate::http::HttpClient;
use crate::local_discovery::LocalSockets;
use crate::net::{self, HttpTask, Input};
use crate::pool::Done;
use crate::runtime::Runtime;
use crate::udp;

/// Capacity of the socket tasks' input channel (each item holds up to one read buffer). Small:
/// what is queued here when the session pauses a connection's reading still arrives, so this
/// is how far a pause overshoots `max_unwritten_bytes`; readers simply wait for room.
const INPUTS: usize = 4;

/// The sockets of one client.
pub(crate) struct Sockets<R: Runtime> {
    pub(crate) listener: R::TcpListener,
    pub(crate) udp: Arc<R::UdpSocket>,
    /// The local discovery sockets opened at start, each with its group (none when
    /// discovery is off).
    pub(crate) lsd: Vec<(SocketAddr, std::net::UdpSocket)>,
    pub(crate) http: HttpClient<R>,
}

/// The runtime's half of the loop: connections and the UDP socket.
struct Net<R: Runtime> {
    conns: HashMap<ConnId, ConnHandle>,
    udp: Arc<R::UdpSocket>,
    lsd: LocalSockets<R>,
    http: HttpClient<R>,
    /// The tracker requests running, each until its answer reaches the loop or the session
    /// cancels it.
    http_tasks: HashMap<RequestId, HttpTask>,
    inputs: Sender<Input<R>>,
    read_buffer: usize,
    /// Datagrams of this loop turn, sent together when the drain ends.
    datagrams: Segments,
}

impl<R: Runtime> NetIo for Net<R> {
    fn transmit(&mut self, t: Transmit) {
        match t.dest {
            Dest::Peer(conn) => {
                if let Some(c) = self.conns.get(&conn) {
                    let _ = c.writes.try_send(Write::Data(t.payload));
                }
            }
            Dest::Udp(addr) => self.datagrams.push(addr, t.payload),
            Dest::LocalDiscovery(group) => self.lsd.send(group, &t.payload),
        }
    }

    fn flush(&mut self) {
        let udp = &self.udp;
        self.datagrams.flush(
            |payload, segment, to| R::try_send_segments(udp, payload, segment, to),
            // A full socket buffer drops the datagram, as the network may.
            |payload, to| _ = R::try_send_to(udp, payload, to),
        );
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Connect { conn, addr } => self.start_conn(conn, Err(addr)),
            Action::Close { conn } => {
                if let Some(c) = self.conns.remove(&conn) {
                    let _ = c.writes.try_send(Write::Close);
                }
            }
            Action::PauseReading { conn } => self.control(conn, Read::Pause),
            Action::ResumeReading { conn } => self.control(conn, Read::Resume),
            Action::HttpRequest { id, url, request } => {
                let task =
                    net::spawn_http(self.http.clone(), id, url, request, self.inputs.clone());
                self.http_tasks.insert(id, task);
            }
            Action::CancelHttp { id } => {
                self.http_tasks.remove(&id);
            }
            Action::WebSeedRequest {
                id,
                url,
                request,
                max_response,
            } => {
                net::spawn_web_seed(
                    self.http.clone(),
                    id,
                    url,
                    request,
                    max_response,
                    self.inputs.clone(),
                );
            }
            Action::Resolve { id, host, port } => {
                net::spawn_resolve(id, host, port, self.inputs.clone());
            }
            // Disk actions are performed by `Core`; anything newer is ignored.
            _ => {}
        }
    }
}

impl<R: Runtime> Net<R> {
    /// The sockets a command needs, before the session carries it out: turning local
    /// discovery on opens its sockets (and turns it on only if one opened), off closes them.
    fn prepare(&mut self, command: &mut Command) {
        if let Command::Change {
            change: Change::LocalDiscovery(on),
            ..
        } = command
        {
            if *on {
                *on = self.lsd.start(&self.inputs);
            } else {
                self.lsd.stop();
            }
        }
    }

    fn control(&self, conn: ConnId, read: Read) {
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.reads.try_send(read);
        }
    }

    /// Starts the tasks of `conn`: dials `Err(addr)`, or takes over an accepted stream.
    fn start_conn(&mut self, conn: ConnId, target: Result<R::TcpStream, SocketAddr>) {
        let handle = conn::spawn_conn::<R>(conn, target, self.read_buffer, self.inputs.clone());
        self.conns.insert(conn, handle);
    }
}

enum Wake<R: Runtime> {
    Input(Input<R>),
    Done(Done),
    /// Boxed: an add carries its whole `TorrentOptions`.
    Command(Option<Box<Command>>),
    Timer,
}

/// Runs the loop until a shutdown finishes.
pub(crate) async fn run<R: Runtime>(
    mut core: Core,
    sockets: Sockets<R>,
    config: ClientConfig,
    done: Receiver<Done>,
    commands: Receiver<Command>,
) {
    let (inputs, input_rx) = async_channel::bounded(INPUTS);
    // Closed at the end: the listener and the UDP receiver stop, and their sockets close.
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let listen = R::listener_addr(&sockets.listener).map_or(config.listen.ip(), |a| a.ip());
    let mut lsd = LocalSockets::new(listen);
    lsd.adopt(sockets.lsd, &inputs);
    let listener = net::spawn_until::<R>(
        net::listen::<R>(sockets.listener, inputs.clone()),
        stopped.clone(),
    );
    let udp = net::spawn_until::<R>(
        udp::receive::<R>(
            Arc::clone(&sockets.udp),
            inputs.clone(),
            Input::Datagrams,
            udp::Reads::Coalesced,
        ),
        stopped.clone(),
    );
    let mut net = Net {
        conns: HashMap::new(),
        udp: sockets.udp,
        lsd,
        http: sockets.http,
        http_tasks: HashMap::new(),
        inputs,
        read_buffer: config.read_buffer,
        datagrams: Segments::new(),
    };
    let mut deadline: Option<Instant> = None;
    // One timer, re-armed only when the session's deadline moves (arming one may wake the
    // runtime's timer thread) or after it fired; no deadline, no timer.
    let mut timer: Option<R::Timer> = None;
    let mut armed: Option<Instant> = None;
    let mut commands_open = true;
    core.drain(&mut net);
    loop {
        if deadline != armed {
            match (deadline, &mut timer) {
                (Some(at), Some(t)) => R::reset(t, at),
                (Some(at), None) => timer = Some(R::timer(at)),
                (None, _) => timer = None,
            }
            armed = deadline;
        }
        let fire = async {
            match &mut timer {
                Some(t) => R::wait(t).await,
                None => future::pending().await,
            }
            Wake::Timer
        };
        let wake = async { done.recv().await.map_or(Wake::Timer, Wake::Done) }
            .or(async {
                match commands_open {
                    true => Wake::Command(commands.recv().await.ok().map(Box::new)),
                    false => future::pending().await,
                }
            })
            .or(fire)
            .or(async { input_rx.recv().await.map_or(Wake::Timer, Wake::Input) })
            .await;
        let now = Instant::now();
        match wake {
            Wake::Input(input) => handle_input(&mut core, &mut net, now, input),
            Wake::Done(d) => core.done(now, d),
            Wake::Command(Some(mut c)) => {
                net.prepare(&mut c);
                core.command(now, *c);
            }
            // The application dropped its client: stop gracefully all the same.
            Wake::Command(None) => {
                commands_open = false;
                core.shutdown(now);
            }
            Wake::Timer => {
                armed = None;
                core.session.handle_timeout(now);
            }
        }
        take_waiting(&input_rx, |input| {
            handle_input(&mut core, &mut net, now, input)
        });
        take_waiting(&done, |d| core.done(now, d));
        core.drain(&mut net);
        if core.should_exit(now) {
            break;
        }
        deadline = core.poll_timeout();
    }
    // Awaited: the sockets are closed when `stop` returns.
    drop(stop);
    let _ = listener.recv().await;
    let _ = udp.recv().await;
    // Dropping the connection handles ends their tasks (writers close their sockets).
    let Net { lsd, .. } = net;
    lsd.finish().await;
    core.finish();
}

fn handle_input<R: Runtime>(core: &mut Core, net: &mut Net<R>, now: Instant, input: Input<R>) {
    let session = &mut core.session;
    match input {
        Input::Accepted(stream, addr) => {
            if let Some(conn) = session.handle_accept(now, bind::canonical(addr)) {
                net.start_conn(conn, Ok(stream));
            }
        }
        Input::Connected(conn, result) => {
            if net.conns.contains_key(&conn) {
                if result.is_err() {
                    net.conns.remove(&conn);
                }
                session.handle_connected(now, conn, result);
            }
        }
        Input::Data(conn, data) => {
            if net.conns.contains_key(&conn) {
                session.handle_peer_data(now, conn, data);
            }
        }
        Input::Sent(conn, n) => {
            if net.conns.contains_key(&conn) {
                session.handle_peer_sent(now, conn, n);
            }
        }
        Input::Closed(conn) => {
            if net.conns.remove(&conn).is_some() {
                session.handle_peer_closed(now, conn);
            }
        }
        Input::Datagrams(batch) => {
            let datagrams = batch
                .iter()
                .map(|(from, data)| (bind::canonical(from), data));
            session.handle_datagrams(now, datagrams);
        }
        Input::Local(batch) => {
            for (from, data) in batch.iter() {
                session.handle_local_datagram(now, bind::canonical(from), data);
            }
        }
        Input::Http(id, result) => {
            net.http_tasks.remove(&id);
            session.handle_http_response(now, id, result);
        }
        Input::Resolved(id, result) => session.handle_resolved(now, id, result),
    }
}
