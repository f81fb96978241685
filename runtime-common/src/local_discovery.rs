//! The local discovery sockets (BEP 14), one per group the client announces to (both for a
//! dual-stack client): bound to the shared port with address reuse, so that every client on
//! the host hears the group, joined to the group on the listening interface, with multicast
//! loop on so that clients on one host hear each other.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use sanstorrent_core::lsd::{LSD_PORT, groups_for};
use socket2::{Domain, Protocol, Socket, Type};

/// Opens a socket per group for a client listening on `listen`, each with its group. A group
/// whose socket cannot be opened (no IPv6 on the host, say) is left out; loopback has no
/// neighbours: nothing there.
pub(crate) fn open(listen: IpAddr) -> Vec<(SocketAddr, UdpSocket)> {
    if listen.is_loopback() {
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
