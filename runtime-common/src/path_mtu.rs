//! The runtime half of uTP's path MTU discovery (core's `utp/mtu.rs`): every datagram of the
//! shared UDP socket leaves with don't-fragment, and the session learns the link MTU to probe
//! up to ([`SessionConfig::utp_link_mtu`](sanstorrent_core::session::SessionConfig)).
//!
//! Linux: `IP_MTU_DISCOVER = IP_PMTUDISC_PROBE` (and for IPv6 `IPV6_MTU_DISCOVER =
//! IPV6_PMTUDISC_PROBE` plus `IPV6_DONTFRAG`): don't-fragment is set, and the kernel checks a
//! datagram against the interface's MTU only, not against a path MTU it learnt from ICMP (core
//! does its own search, and an ICMP message forged to shrink it is ignored). A datagram larger
//! than the interface's MTU fails at once with `EMSGSIZE`; the loop drops it as the network
//! would, and core's search lowers its ceiling when the probe goes unacknowledged.
//!
//! The link MTU is the interface's (`SIOCGIFMTU`), for the interface carrying the bound
//! address (the largest of the up interfaces' for an unspecified address),
//! at most [`MAX_LINK_MTU`]. Where an interface is too small for uTP's first packets
//! ([`SMALLEST_MTU`]), or the platform has none of this, don't-fragment stays off and packets
//! keep their first size, fragmented where they must be.

use std::net::IpAddr;

pub use sanstorrent_core::utp::MAX_LINK_MTU;

/// The smallest interface MTU don't-fragment is set for: a 1,200-byte uTP packet (core's
/// first size) with IPv6 and UDP headers.
pub const SMALLEST_MTU: usize = 1200 + 40 + 8;

/// Sets don't-fragment on `socket`, bound to `bound` (`dual_stack`: an IPv6 socket also
/// carrying IPv4), where every interface it may send on can take uTP's first packets; the
/// link MTU for uTP's search, or `None` where don't-fragment stays off.
#[cfg(target_os = "linux")]
pub fn enable(socket: impl std::os::fd::AsFd, bound: IpAddr, dual_stack: bool) -> Option<usize> {
    let mtu = link_mtu(&interfaces(socket.as_fd()), bound)?;
    set_dont_fragment(socket, bound.is_ipv6(), dual_stack).then_some(mtu)
}

/// Sets don't-fragment in probe mode (see the [module docs](self)) on an `ipv6` socket (and
/// for its IPv4 peers when `dual_stack`); whether the kernel took it.
#[cfg(target_os = "linux")]
fn set_dont_fragment(socket: impl std::os::fd::AsFd, ipv6: bool, dual_stack: bool) -> bool {
    use nix::sys::socket::{setsockopt, sockopt::Ipv6DontFrag};
    use rustix::net::sockopt::{
        Ipv4PathMtuDiscovery, Ipv6PathMtuDiscovery, set_ip_mtu_discover, set_ipv6_mtu_discover,
    };

    let fd = socket.as_fd();
    if !ipv6 {
        return set_ip_mtu_discover(fd, Ipv4PathMtuDiscovery::PROBE).is_ok();
    }
    set_ipv6_mtu_discover(fd, Ipv6PathMtuDiscovery::PROBE).is_ok()
        && setsockopt(&fd, Ipv6DontFrag, &true).is_ok()
        // IPv4 peers of a dual-stack socket go out under the IPv4 options.
        && (!dual_stack || set_ip_mtu_discover(fd, Ipv4PathMtuDiscovery::PROBE).is_ok())
}

/// Sets don't-fragment on `socket`: not on this platform (packets keep their first size).
#[cfg(not(target_os = "linux"))]
pub fn enable<S>(_: S, _: IpAddr, _: bool) -> Option<usize> {
    None
}

/// Whether don't-fragment is on for `socket`'s datagrams to `ipv6` peers (a dual-stack socket
/// answers for both).
#[cfg(target_os = "linux")]
pub fn is_enabled(socket: impl std::os::fd::AsFd, ipv6: bool) -> bool {
    use nix::sys::socket::{getsockopt, sockopt::Ipv6DontFrag};
    use rustix::net::sockopt::{
        Ipv4PathMtuDiscovery, Ipv6PathMtuDiscovery, ip_mtu_discover, ipv6_mtu_discover,
    };
    let fd = socket.as_fd();
    if ipv6 {
        ipv6_mtu_discover(fd).ok() == Some(Ipv6PathMtuDiscovery::PROBE)
            && getsockopt(&fd, Ipv6DontFrag).unwrap_or(false)
    } else {
        ip_mtu_discover(fd).ok() == Some(Ipv4PathMtuDiscovery::PROBE)
    }
}

/// An up interface's address and MTU.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[derive(Clone, Debug, PartialEq, Eq)]
struct Interface {
    ip: IpAddr,
    mtu: usize,
}

/// The link MTU to search up to for a socket bound to `bound`, given the host's interfaces:
/// the MTU of the interface carrying `bound` (the largest for an unspecified address), at
/// most [`MAX_LINK_MTU`]; `None` when one the socket may send on is below [`SMALLEST_MTU`].
/// An address no interface carries (or no interface known) gets [`MAX_LINK_MTU`]: the
/// search finds the path's limit by itself.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn link_mtu(interfaces: &[Interface], bound: IpAddr) -> Option<usize> {
    let mut used = interfaces
        .iter()
        .filter(|i| bound.is_unspecified() || i.ip == bound)
        .map(|i| i.mtu);
    let Some(first) = used.next() else {
        return Some(MAX_LINK_MTU);
    };
    let (smallest, largest) = used.fold((first, first), |(lo, hi), mtu| (lo.min(mtu), hi.max(mtu)));
    (smallest >= SMALLEST_MTU).then_some(largest.min(MAX_LINK_MTU))
}

/// The up interfaces with an IP address and a known MTU, of the network namespace `socket`
/// is in.
#[cfg(target_os = "linux")]
fn interfaces(socket: std::os::fd::BorrowedFd<'_>) -> Vec<Interface> {
    use nix::net::if_::InterfaceFlags;
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter(|a| a.flags.contains(InterfaceFlags::IFF_UP))
        .filter_map(|a| {
            let addr = a.address?;
            let ip = match (addr.as_sockaddr_in(), addr.as_sockaddr_in6()) {
                (Some(v4), _) => IpAddr::V4(v4.ip()),
                (_, Some(v6)) => IpAddr::V6(v6.ip()),
                _ => return None,
            };
            let mtu = interface_mtu(socket, &a.interface_name)?;
            Some(Interface { ip, mtu })
        })
        .collect()
}

/// The MTU of interface `name` (`SIOCGIFMTU` on `socket`: the interface of the socket's
/// network namespace, where `/sys/class/net` shows the namespace sysfs was mounted in).
#[cfg(target_os = "linux")]
fn interface_mtu(socket: std::os::fd::BorrowedFd<'_>, name: &str) -> Option<usize> {
    use std::os::fd::AsRawFd;

    use nix::libc;
    // SAFETY: `ifreq` is plain data (arrays, integers, a union of them); all zeros is a valid
    // value of it.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    // The name and its terminating zero must fit.
    if bytes.len() >= req.ifr_name.len() || bytes.contains(&0) {
        return None;
    }
    for (to, &from) in req.ifr_name.iter_mut().zip(bytes) {
        *to = from as libc::c_char;
    }
    // SAFETY: `socket` is an open socket, and `req` a zero-terminated interface name in an
    // `ifreq` that outlives the call; SIOCGIFMTU writes only `ifr_ifru.ifru_mtu` into it.
    let done = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFMTU, &mut req) };
    if done != 0 {
        return None;
    }
    // SAFETY: the call succeeded, so it wrote the union's `ifru_mtu` (and every bit pattern
    // is a valid `c_int`).
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    usize::try_from(mtu).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ip: &str, mtu: usize) -> Interface {
        Interface {
            ip: ip.parse().unwrap(),
            mtu,
        }
    }

    #[test]
    fn the_link_mtu_is_the_bound_interface_s_at_most_1500() {
        let host = [
            at("127.0.0.1", 65536),
            at("::1", 65536),
            at("10.0.0.2", 1400),
            at("fd00::2", 1400),
            at("10.8.0.2", 1000),
        ];
        let mtu = |ip: &str| link_mtu(&host, ip.parse().unwrap());
        assert_eq!(mtu("10.0.0.2"), Some(1400));
        assert_eq!(mtu("fd00::2"), Some(1400));
        assert_eq!(mtu("127.0.0.1"), Some(MAX_LINK_MTU));
        // Too small for uTP's first packets: don't-fragment stays off.
        assert_eq!(mtu("10.8.0.2"), None);
        // An unspecified address may send on any of them, the small one too.
        assert_eq!(mtu("0.0.0.0"), None);
        assert_eq!(link_mtu(&host[..4], "::".parse().unwrap()), Some(1500));
        let small = [at("10.0.0.2", 1300), at("10.0.0.3", 1280)];
        assert_eq!(link_mtu(&small, "0.0.0.0".parse().unwrap()), Some(1300));
        // An address no interface carries: the search finds the path's limit.
        assert_eq!(mtu("192.0.2.1"), Some(MAX_LINK_MTU));
        assert_eq!(link_mtu(&[], "::".parse().unwrap()), Some(MAX_LINK_MTU));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_host_s_loopback_is_seen_with_its_mtu() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let lo = interfaces(std::os::fd::AsFd::as_fd(&socket))
            .into_iter()
            .find(|i| i.ip == IpAddr::from([127, 0, 0, 1]))
            .expect("127.0.0.1 on an up interface");
        let sys = std::fs::read_to_string("/sys/class/net/lo/mtu").unwrap();
        assert_eq!(lo.mtu, sys.trim().parse::<usize>().unwrap());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sockets_of_both_families_send_with_dont_fragment() {
        for (addr, dual) in [("127.0.0.1:0", false), ("[::1]:0", false), ("[::]:0", true)] {
            let addr: std::net::SocketAddr = addr.parse().unwrap();
            let socket = socket2::Socket::new(
                socket2::Domain::for_address(addr),
                socket2::Type::DGRAM,
                None,
            )
            .unwrap();
            if dual {
                socket.set_only_v6(false).unwrap();
            }
            socket.bind(&addr.into()).unwrap();
            assert!(!is_enabled(&socket, addr.is_ipv6()), "{addr}: off at first");
            assert!(set_dont_fragment(&socket, addr.is_ipv6(), dual), "{addr}");
            assert!(is_enabled(&socket, addr.is_ipv6()), "{addr}");
            if dual {
                assert!(is_enabled(&socket, false), "{addr}: for IPv4 peers too");
            }
        }
    }

    /// Runs `test` on a thread of its own in a new network namespace whose loopback has an
    /// MTU of `mtu` (this needs root, as CI has; elsewhere the test is skipped unless
    /// `CI` or `SANSTORRENT_FULL_TESTS` says it must run).
    #[cfg(target_os = "linux")]
    fn in_namespace(mtu: usize, test: impl FnOnce() + Send + 'static) {
        std::thread::spawn(move || {
            if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
                let must = ["CI", "SANSTORRENT_FULL_TESTS"]
                    .iter()
                    .any(|v| std::env::var_os(v).is_some());
                assert!(!must, "unshare(CLONE_NEWNET): {e} (run as root)");
                eprintln!("skipped: unshare(CLONE_NEWNET): {e}");
                return;
            }
            let ip = std::process::Command::new("ip")
                .args(["link", "set", "lo", "mtu", &mtu.to_string(), "up"])
                .status()
                .expect("run ip (iproute2)");
            assert!(ip.success(), "ip link set lo mtu {mtu} up: {ip}");
            test();
        })
        .join()
        .unwrap();
    }

    /// Waits for the next datagram on the non-blocking `socket`: its length.
    #[cfg(target_os = "linux")]
    fn next_len(socket: &std::net::UdpSocket) -> usize {
        let mut buf = [0; 2048];
        for _ in 0..10_000 {
            match socket.recv_from(&mut buf) {
                Ok((n, _)) => return n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("no datagram");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_datagram_over_the_interface_mtu_is_refused_with_emsgsize_and_the_socket_goes_on() {
        in_namespace(1300, || {
            let localhost = IpAddr::from([127, 0, 0, 1]);
            let socket = crate::udp::bind((localhost, 0).into()).unwrap();
            assert_eq!(enable(&socket, localhost, false), Some(1300));
            let to = socket.local_addr().unwrap();
            let emsgsize = Some(nix::errno::Errno::EMSGSIZE as i32);
            // 1,272 bytes and the IPv4 and UDP headers fill 1,300.
            socket.send_to(&[1; 1272], to).unwrap();
            let refused = socket.send_to(&[2; 1273], to).unwrap_err();
            assert_eq!(refused.raw_os_error(), emsgsize, "{refused}");
            // A segmented send of a size over the MTU is refused too, and the loop's sender
            // sends that run one by one (refused again) and keeps segmented sends.
            let mut segments = crate::gso::Segments::new();
            for size in [1200, 1200, 1200, 1400, 1400] {
                segments.push(to, bytes::Bytes::from(vec![3; size]));
            }
            let mut refusals = Vec::new();
            segments.flush(
                |payload, segment, to| crate::gso::send_segments(&socket, payload, segment, to),
                |payload, to| {
                    if let Err(e) = socket.send_to(payload, to) {
                        refusals.push((payload.len(), e.raw_os_error()));
                    }
                },
            );
            assert_eq!(refusals, [(1400, emsgsize), (1400, emsgsize)]);
            assert!(segments.is_enabled());
            socket.send_to(b"after", to).unwrap();
            let got: Vec<_> = (0..5).map(|_| next_len(&socket)).collect();
            assert_eq!(got, [1272, 1200, 1200, 1200, 5]);
        });
    }
}
