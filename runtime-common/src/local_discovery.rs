//! The local discovery socket (BEP 14): bound to the shared port with address reuse, so that
//! every client on the host hears the group, joined to the group on the listening interface,
//! with multicast loop on so that clients on one host hear each other.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use sanstorrent_core::lsd::{LSD_PORT, group_for};
use socket2::{Domain, Protocol, Socket, Type};

/// Opens the socket for a client listening on `listen` (the group of its address family, on
/// its interface when it is bound to one). Loopback has no neighbours: `None` there.
pub(crate) fn open(listen: IpAddr) -> io::Result<Option<UdpSocket>> {
    if listen.is_loopback() {
        return Ok(None);
    }
    let group = group_for(listen);
    let socket = Socket::new(Domain::for_address(group), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    match (group.ip(), listen) {
        (IpAddr::V4(group), IpAddr::V4(interface)) => {
            socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, LSD_PORT)).into())?;
            socket.join_multicast_v4(&group, &interface)?;
            if !interface.is_unspecified() {
                socket.set_multicast_if_v4(&interface)?;
            }
            socket.set_multicast_loop_v4(true)?;
            socket.set_multicast_ttl_v4(1)?;
        }
        (IpAddr::V6(group), _) => {
            socket.set_only_v6(true)?;
            socket.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, LSD_PORT)).into())?;
            socket.join_multicast_v6(&group, 0)?;
            socket.set_multicast_loop_v6(true)?;
            socket.set_multicast_hops_v6(1)?;
        }
        _ => return Err(io::ErrorKind::InvalidInput.into()),
    }
    socket.set_nonblocking(true)?;
    Ok(Some(socket.into()))
}
