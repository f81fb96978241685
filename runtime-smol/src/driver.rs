//! The loop task: it owns the session (inside [`Core`]) and waits for one thing at a time.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use async_io::{Async, Timer};
use futures_lite::{FutureExt, future};
use sanstorrent_core::session::{Action, ConnId, Dest, Transmit};
use sanstorrent_runtime_common::{ClientConfig, Command, Core, Done, NetIo, take_waiting};
use smol::net::TcpListener;

use crate::http_client::HttpClient;
use crate::net::{self, ConnHandle, Input, Read, Write};

/// Capacity of the socket tasks' input channel (each item holds up to one read buffer). Small:
/// what is queued here when the session pauses a connection's reading still arrives, so this
/// is how far a pause overshoots `max_unwritten_bytes`; readers simply wait for room.
const INPUTS: usize = 4;

/// The sockets and channels of one client.
pub(crate) struct Sockets {
    pub(crate) listener: TcpListener,
    pub(crate) udp: Arc<Async<UdpSocket>>,
    pub(crate) http: HttpClient,
}

/// The runtime's half of the loop: connections and the UDP socket.
struct Net {
    conns: HashMap<ConnId, ConnHandle>,
    udp: Arc<Async<UdpSocket>>,
    http: HttpClient,
    inputs: Sender<Input>,
    connect_timeout: Duration,
    read_buffer: usize,
}

impl NetIo for Net {
    fn transmit(&mut self, t: Transmit) {
        match t.dest {
            Dest::Peer(conn) => {
                if let Some(c) = self.conns.get(&conn) {
                    let _ = c.writes.try_send(Write::Data(t.payload));
                }
            }
            Dest::Udp(addr) => net::send_udp(&self.udp, addr, &t.payload),
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Connect { conn, addr } => {
                let handle = net::spawn_conn(
                    conn,
                    Err(addr),
                    self.connect_timeout,
                    self.read_buffer,
                    self.inputs.clone(),
                );
                self.conns.insert(conn, handle);
            }
            Action::Close { conn } => {
                if let Some(c) = self.conns.remove(&conn) {
                    let _ = c.writes.try_send(Write::Close);
                }
            }
            Action::PauseReading { conn } => self.control(conn, Read::Pause),
            Action::ResumeReading { conn } => self.control(conn, Read::Resume),
            Action::HttpRequest { id, url, request } => {
                net::spawn_http(self.http.clone(), id, url, request, self.inputs.clone());
            }
            Action::Resolve { id, host, port } => {
                net::spawn_resolve(id, host, port, self.inputs.clone());
            }
            // Disk actions are performed by `Core`; anything newer is ignored.
            _ => {}
        }
    }
}

impl Net {
    fn control(&self, conn: ConnId, read: Read) {
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.reads.try_send(read);
        }
    }
}

enum Wake {
    Input(Input),
    Done(Done),
    Command(Option<Command>),
    Timer,
}

/// Runs the loop until a shutdown finishes.
pub(crate) async fn run(
    mut core: Core,
    sockets: Sockets,
    config: ClientConfig,
    done: Receiver<Done>,
    commands: Receiver<Command>,
) {
    let (inputs, input_rx) = async_channel::bounded(INPUTS);
    let listener = smol::spawn(net::listen(sockets.listener, inputs.clone()));
    let udp = smol::spawn(net::receive_udp(Arc::clone(&sockets.udp), inputs.clone()));
    let mut net = Net {
        conns: HashMap::new(),
        udp: sockets.udp,
        http: sockets.http,
        inputs,
        connect_timeout: config.connect_timeout,
        read_buffer: config.read_buffer,
    };
    let mut deadline: Option<Instant> = None;
    // One timer, re-armed only when the session's deadline moves (arming one wakes the
    // reactor thread) or after it fired.
    let mut timer = Timer::never();
    let mut armed: Option<Instant> = None;
    let mut commands_open = true;
    core.drain(&mut net);
    loop {
        if deadline != armed {
            match deadline {
                Some(at) => timer.set_at(at),
                None => timer = Timer::never(),
            }
            armed = deadline;
        }
        let timer = async {
            (&mut timer).await;
            Wake::Timer
        };
        let wake = async { done.recv().await.map_or(Wake::Timer, Wake::Done) }
            .or(async {
                match commands_open {
                    true => Wake::Command(commands.recv().await.ok()),
                    false => future::pending().await,
                }
            })
            .or(timer)
            .or(async { input_rx.recv().await.map_or(Wake::Timer, Wake::Input) })
            .await;
        let now = Instant::now();
        match wake {
            Wake::Input(input) => handle_input(&mut core, &mut net, now, input),
            Wake::Done(d) => core.done(now, d),
            Wake::Command(Some(c)) => core.command(now, c),
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
    // Cancelled and awaited: the sockets are closed when `stop` returns.
    listener.cancel().await;
    udp.cancel().await;
    // Dropping the connection handles ends their tasks (writers close their sockets).
    drop(net);
    core.finish();
}

fn handle_input(core: &mut Core, net: &mut Net, now: Instant, input: Input) {
    let session = &mut core.session;
    match input {
        Input::Accepted(stream, addr) => {
            if let Some(conn) = session.handle_accept(now, addr) {
                let handle = net::spawn_conn(
                    conn,
                    Ok(stream),
                    net.connect_timeout,
                    net.read_buffer,
                    net.inputs.clone(),
                );
                net.conns.insert(conn, handle);
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
        Input::Datagram(from, data) => session.handle_datagram(now, from, &data),
        Input::Http(id, result) => session.handle_http_response(now, id, result),
        Input::Resolved(id, result) => session.handle_resolved(now, id, result),
    }
}
