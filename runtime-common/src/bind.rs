//! The client's own TCP listener and UDP socket. The unspecified IPv6 address (`[::]`, the
//! command line's default) binds one dual-stack socket of each kind, reached over IPv4 and
//! IPv6 alike; where the host has no IPv6 it falls back to `0.0.0.0` on the same port. Peers
//! reached over IPv4 show up as IPv4-mapped IPv6 addresses on such a socket: [`canonical`]
//! turns them back into IPv4 before the session sees them, so an address means one peer.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

use crate::path_mtu;
use crate::runtime::Runtime;
use crate::udp;

/// How many connections the kernel queues before the accept loop takes them.
const BACKLOG: i32 = 1024;

/// Binds the TCP listener on `addr` (dual-stack for `[::]`).
pub(crate) async fn tcp<R: Runtime>(addr: SocketAddr) -> io::Result<R::TcpListener> {
    if !dual_stack(addr) {
        return R::bind_tcp(addr).await;
    }
    match dual_stack_socket(addr, Type::STREAM).and_then(|socket| {
        socket.listen(BACKLOG)?;
        R::adopt_tcp(socket.into())
    }) {
        Ok(listener) => Ok(listener),
        Err(_) => R::bind_tcp(ipv4_fallback(addr)).await,
    }
}

/// Binds the UDP socket on `addr` (dual-stack for `[::]`), with large kernel buffers (see
/// [`udp::enlarge`]) and don't-fragment where the links allow it; the link MTU for uTP's path
/// MTU discovery once don't-fragment is on (see [`path_mtu`]).
pub(crate) fn udp<R: Runtime>(addr: SocketAddr) -> io::Result<(R::UdpSocket, Option<usize>)> {
    let single = |addr: SocketAddr| {
        let socket = udp::bind(addr)?;
        let mtu = path_mtu::enable(&socket, addr.ip(), false);
        Ok::<_, io::Error>((R::adopt_udp(socket)?, mtu))
    };
    if !dual_stack(addr) {
        return single(addr);
    }
    match dual_stack_socket(addr, Type::DGRAM).and_then(|socket| {
        udp::enlarge(&socket);
        let mtu = path_mtu::enable(&socket, addr.ip(), true);
        Ok((R::adopt_udp(socket.into())?, mtu))
    }) {
        Ok(bound) => Ok(bound),
        Err(_) => single(ipv4_fallback(addr)),
    }
}

/// `addr` as the session should see it: an IPv4-mapped IPv6 address as the IPv4 address it
/// carries; any other address (a link-local one with its scope) as it is.
pub(crate) fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

fn dual_stack(addr: SocketAddr) -> bool {
    addr.is_ipv6() && addr.ip().is_unspecified()
}

fn ipv4_fallback(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), addr.port())
}

fn dual_stack_socket(addr: SocketAddr, kind: Type) -> io::Result<Socket> {
    let protocol = if kind == Type::STREAM {
        Protocol::TCP
    } else {
        Protocol::UDP
    };
    let socket = Socket::new(Domain::IPV6, kind, Some(protocol))?;
    socket.set_only_v6(false)?;
    if kind == Type::STREAM {
        #[cfg(unix)]
        socket.set_reuse_address(true)?;
    }
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_become_ipv4_and_others_stay() {
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:6881".parse().unwrap();
        assert_eq!(canonical(mapped), "127.0.0.1:6881".parse().unwrap());
        for other in ["[::1]:6881", "[fe80::1%2]:6881", "10.0.0.1:6881"] {
            let addr: SocketAddr = other.parse().unwrap();
            assert_eq!(canonical(addr), addr);
        }
    }

    #[test]
    fn the_unspecified_ipv6_address_takes_ipv4_and_ipv6() {
        let socket = dual_stack_socket("[::]:0".parse().unwrap(), Type::DGRAM).unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        let socket: std::net::UdpSocket = socket.into();
        socket.set_nonblocking(false).unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0; 8];
        for (from, to) in [("127.0.0.1:0", "127.0.0.1"), ("[::1]:0", "::1")] {
            let sender = std::net::UdpSocket::bind(from).unwrap();
            let to: std::net::IpAddr = to.parse().unwrap();
            sender.send_to(b"hi", (to, port)).unwrap();
            let (n, source) = socket.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"hi");
            assert_eq!(canonical(source), sender.local_addr().unwrap());
            // And back, to an IPv4 address given as such.
            socket.send_to(b"ho", canonical(source)).unwrap();
            let (n, _) = sender.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"ho");
        }
    }
}
