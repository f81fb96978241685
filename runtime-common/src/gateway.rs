//! The IPv4 default gateway (for port mapping) and our address towards it, from the
//! routing table (Linux's `/proc/net/route`).

use std::net::{IpAddr, Ipv4Addr, UdpSocket};

use sanstorrent_core::portmap::GATEWAY_PORT;

/// The gateway and our address towards it, for a client bound to `bind`: `None` without a
/// default route, or when bound to loopback or to an IPv6 address (no gateway to map on; a
/// dual-stack client, bound to `[::]`, maps its IPv4 side).
pub(crate) fn find(bind: IpAddr) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let bind = match bind {
        IpAddr::V4(ip) if !ip.is_loopback() => ip,
        IpAddr::V6(ip) if ip.is_unspecified() => Ipv4Addr::UNSPECIFIED,
        _ => return None,
    };
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    let gateway = default_gateway(&table)?;
    let probe = UdpSocket::bind((bind, 0)).ok()?;
    probe.connect((gateway, GATEWAY_PORT)).ok()?;
    match probe.local_addr().ok()?.ip() {
        IpAddr::V4(local) => Some((gateway, local)),
        IpAddr::V6(_) => None,
    }
}

/// The gateway of the default route in a `/proc/net/route` table (addresses in hexadecimal,
/// in the machine's byte order, which is little-endian wherever this runs).
fn default_gateway(table: &str) -> Option<Ipv4Addr> {
    const RTF_UP: u32 = 0x1;
    const RTF_GATEWAY: u32 = 0x2;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (destination, gateway, flags) = (fields.get(1)?, fields.get(2)?, fields.get(3)?);
        let flags = u32::from_str_radix(flags, 16).ok()?;
        if *destination != "00000000" || flags & (RTF_UP | RTF_GATEWAY) != RTF_UP | RTF_GATEWAY {
            return None;
        }
        let raw = u32::from_str_radix(gateway, 16).ok()?;
        Some(Ipv4Addr::from(raw.to_le_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_routes_gateway_is_read_from_the_table() {
        let table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n\
lan0\t004DA8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n\
lan0\t00000000\t014DA8C0\t0003\t0\t0\t0\t00000000\n";
        assert_eq!(default_gateway(table), Some(Ipv4Addr::new(192, 168, 77, 1)));
        assert_eq!(default_gateway("Iface\tDestination\n"), None);
        assert_eq!(default_gateway("h\nlan0\t00000000\t00000000\t0001\n"), None);
    }

    #[test]
    fn loopback_and_ipv6_have_no_gateway() {
        assert_eq!(find("127.0.0.1".parse().unwrap()), None);
        assert_eq!(find("::1".parse().unwrap()), None);
    }
}
