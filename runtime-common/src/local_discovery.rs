//! The local discovery sockets (BEP 14), one per group the client announces to (both for a
//! dual-stack client): bound to the shared port with address reuse, so that every client on
//! the host hears the group, joined to the group on the listening interface, with multicast
//! loop on so that clients on one host hear each other.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;

use async_channel::{Receiver, Sender};
use sanstorrent_core::lsd::{LSD_PORT, groups_for};
use socket2::{Domain, Protocol, Socket, Type};

use crate::net::{self, Input};
use crate::runtime::Runtime;
use crate::udp;

/// The loop's discovery sockets, opened when discovery starts (at start or at run time) and
/// closed when it stops, each with the task that receives on it.
pub(crate) struct LocalSockets<R: Runtime> {
    listen: IpAddr,
    sockets: Vec<(SocketAddr, Arc<R::UdpSocket>)>,
    /// Dropped to stop the receiving tasks.
    stop: Option<Sender<()>>,
    /// Each closes when its receiving task has ended (and so its socket is closed).
    ended: Vec<Receiver<()>>,
}

impl<R: Runtime> LocalSockets<R> {
    /// Sockets for a client listening on `listen`, none open yet.
    pub(crate) fn new(listen: IpAddr) -> Self {
        Self {
            listen,
            sockets: Vec::new(),
            stop: None,
            ended: Vec::new(),
        }
    }

    /// Takes over `sockets` (opened by [`open`]) and receives on them.
    pub(crate) fn adopt(
        &mut self,
        sockets: Vec<(SocketAddr, UdpSocket)>,
        inputs: &Sender<Input<R>>,
    ) {
        let (stop, stopped) = async_channel::bounded::<()>(1);
        for (group, socket) in sockets {
            let Ok(socket) = R::adopt_udp(socket) else {
                continue;
            };
            let socket = Arc::new(socket);
            let receive = udp::receive::<R>(
                Arc::clone(&socket),
                inputs.clone(),
                Input::Local,
                udp::Reads::Coalesced,
            );
            self.ended
                .push(net::spawn_until::<R>(receive, stopped.clone()));
            self.sockets.push((group, socket));
        }
        self.stop = Some(stop);
    }

    /// Opens the sockets unless they are open; whether any is open after.
    pub(crate) fn start(&mut self, inputs: &Sender<Input<R>>) -> bool {
        if self.sockets.is_empty() {
            self.adopt(open(self.listen), inputs);
        }
        !self.sockets.is_empty()
    }

    /// Closes the sockets (their tasks end by themselves).
    pub(crate) fn stop(&mut self) {
        self.sockets.clear();
        self.stop = None;
    }

    /// Sends `payload` to `group` from its socket, if open (a full buffer drops it).
    pub(crate) fn send(&self, group: SocketAddr, payload: &[u8]) {
        if let Some((_, socket)) = self.sockets.iter().find(|(g, _)| *g == group) {
            _ = R::try_send_to(socket, payload, group);
        }
    }

    /// Closes the sockets and waits until their tasks have ended.
    pub(crate) async fn finish(mut self) {
        self.stop();
        for ended in self.ended {
            let _ = ended.recv().await;
        }
    }
}

/// Whether a client listening on `listen` has neighbours to discover (not on loopback).
pub(crate) fn available(listen: IpAddr) -> bool {
    !listen.is_loopback()
}

/// Opens a socket per group for a client listening on `listen`, each with its group. A group
/// whose socket cannot be opened (no IPv6 on the host, say) is left out; loopback has no
/// neighbours: nothing there.
pub(crate) fn open(listen: IpAddr) -> Vec<(SocketAddr, UdpSocket)> {
    if !available(listen) {
        return Vec::new();
    }
    groups_for(listen)
        .iter()
        .filter_map(|group| Some((*group, open_group(*group, listen).ok()?)))
        .collect()
}

fn open_group(group: SocketAddr, listen: IpAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(group), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    match group.ip() {
        IpAddr::V4(group) => {
            let interface = match listen {
                IpAddr::V4(interface) => interface,
                IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
            };
            socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, LSD_PORT)).into())?;
            socket.join_multicast_v4(&group, &interface)?;
            if !interface.is_unspecified() {
                socket.set_multicast_if_v4(&interface)?;
            }
            socket.set_multicast_loop_v4(true)?;
            socket.set_multicast_ttl_v4(1)?;
        }
        IpAddr::V6(group) => {
            socket.set_only_v6(true)?;
            socket.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, LSD_PORT)).into())?;
            socket.join_multicast_v6(&group, 0)?;
            socket.set_multicast_loop_v6(true)?;
            socket.set_multicast_hops_v6(1)?;
        }
    }
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}
