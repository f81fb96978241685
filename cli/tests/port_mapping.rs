//! Port mapping against a real gateway: Debian's `miniupnpd` (nftables backend) in a network
//! namespace the test creates (`unshare -n`: a veth pair, `lan0` with the gateway's
//! 192.168.77.1 and our 192.168.77.2, `ext0` the "external" side; nothing leaves the
//! namespace). Our seeder maps its TCP and UDP ports over PCP, over NAT-PMP, over UPnP IGD
//! (SSDP search, device description, SOAP) and with `auto` (all of them at once): the
//! gateway's lease file and forwarding rules show both mappings while it runs; asked for a
//! 4-second lifetime (`--port-mapping-lifetime 4`), both are renewed (the lease file's expiry,
//! a Unix time, moves later, and the gateway's log shows the second request); and neither is
//! left after a graceful stop (Ctrl+C). `--no-port-mapping` asks for nothing.
//!
//! The lease file has one line per mapping, `PROTO:EXT_PORT:CLIENT:INT_PORT:EXPIRY:DESC`, with
//! EXPIRY in seconds since the epoch; miniupnpd rewrites the line when a mapping is renewed.
//! PCP lifetimes under `min_lifetime` (120 s unless configured) are raised to it, so the
//! gateway is configured with `min_lifetime=2`.
//!
//! UPnP runs with miniupnpd's `secure_mode` off: in one namespace the gateway's address is
//! ours too, so our HTTP connection to it comes from its own address (192.168.77.1), not
//! from the 192.168.77.2 we ask the ports for, and secure mode refuses a mapping for another
//! host. Our SOAP calls still name 192.168.77.2, which the leases must show.

mod interop_support;

use std::path::Path;
use std::process::Command;

use interop_support::{bin, data, s};
use sanstorrent_tests::interop::WorkDir;

/// The namespace: the LAN and external sides, the default route via the gateway, the
/// nftables chains miniupnpd fills, and the gateway itself.
const GATEWAY: &str = r#"set -e
ip link set lo up
ip link add lan0 type veth peer name ext0
ip addr add 192.168.77.1/24 dev lan0
ip addr add 192.168.77.2/24 dev lan0
ip addr add 100.200.0.1/24 dev ext0
ip link set lan0 up
ip link set ext0 up
ip route add default via 192.168.77.1 dev lan0
nft -f - <<'NFT'
table inet filter {
    chain forward {
        type filter hook forward priority 0; policy drop;
        jump miniupnpd
    }
    chain miniupnpd {
    }
    chain prerouting {
        type nat hook prerouting priority -100; policy accept;
        jump prerouting_miniupnpd
    }
    chain postrouting {
        type nat hook postrouting priority 100; policy accept;
        jump postrouting_miniupnpd
    }
    chain prerouting_miniupnpd {
    }
    chain postrouting_miniupnpd {
    }
}
NFT
cat > mu.conf <<CONF
ext_ifname=ext0
listening_ip=lan0
port=0
enable_natpmp=yes
enable_upnp=yes
secure_mode=$SECURE_MODE
system_uptime=yes
min_lifetime=2
lease_file=$PWD/leases
uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b
upnp_table_name=filter
upnp_nat_table_name=filter
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
allow 1024-65535 192.168.77.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
CONF
/usr/sbin/miniupnpd -f mu.conf -d -P $PWD/mu.pid > gateway.log 2>&1 &
GW=$!
for i in $(seq 50); do grep -q 'Listening for NAT-PMP' gateway.log && break; sleep 0.1; done
set +e
"#;

/// Runs our seeder with `flags` on 192.168.77.2:46881, then Ctrl+C; the lease file and rules
/// seen while it ran, the lease file once both mappings were renewed (with `renew`: each
/// lease's expiry later than first seen, waited for up to 60 s), and both after it stopped
/// (given the gateway up to 5 s to act on the removals our seeder sent as it exited).
fn seed_behind_gateway(dir: &Path, torrent: &str, src: &str, flags: &str, renew: bool) -> String {
    let secure = if flags.contains("upnp") { "no" } else { "yes" };
    let renew = if renew { 600 } else { 0 };
    let script = format!(
        "SECURE_MODE={secure}
{GATEWAY}
$BIN seed {torrent} -o {src} --bind 192.168.77.2 -p 46881 --no-dht --no-lsd {flags} > ours.log 2>&1 &
OURS=$!
for i in $(seq 50); do [ -s leases ] && [ $(wc -l < leases) -ge 2 ] && break; sleep 0.1; done
sleep 0.5
echo '--- while'
cat leases 2>/dev/null
nft list chain inet filter prerouting_miniupnpd | grep dnat
expiry() {{ awk -F: -v p=$1 '$1 == p && $2 == 46881 {{ print $5 }}' leases 2>/dev/null | tail -n 1; }}
TCP0=$(expiry TCP); UDP0=$(expiry UDP)
for i in $(seq {renew}); do
  TCP=$(expiry TCP); UDP=$(expiry UDP)
  [ -n \"$TCP\" ] && [ -n \"$UDP\" ] && [ \"$TCP\" -gt \"${{TCP0:-0}}\" ] && [ \"$UDP\" -gt \"${{UDP0:-0}}\" ] && break
  sleep 0.1
done
echo '--- renewed'
cat leases 2>/dev/null
kill -INT $OURS
wait $OURS
for i in $(seq 50); do
    grep -q 46881 leases 2>/dev/null || nft list chain inet filter prerouting_miniupnpd | grep -q 46881 || break
    sleep 0.1
done
echo '--- after'
cat leases 2>/dev/null
nft list chain inet filter prerouting_miniupnpd | grep dnat
echo '--- end'
kill $GW
"
    );
    let out = Command::new("timeout")
        .args(["150", "unshare", "-n", "bash", "-c", &script])
        .current_dir(dir)
        .env("BIN", bin())
        .env("HOME", dir)
        .output()
        .expect("run unshare (util-linux) as root");
    let log = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("--- end"),
        "the namespace script failed ({}):\n{stdout}\n{}\ngateway:\n{}\nours:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        log("gateway.log"),
        log("ours.log")
    );
    format!("{stdout}\n--- gateway\n{}", log("gateway.log"))
}

/// The expiry (Unix time) of our `proto` lease on port 46881 in a copy of the lease file.
fn expiry(leases: &str, proto: &str) -> Option<u64> {
    leases.lines().rev().find_map(|line| {
        let fields: Vec<&str> = line.splitn(6, ':').collect();
        match fields[..] {
            [p, "46881", "192.168.77.2", "46881", expiry, _] if p == proto => expiry.parse().ok(),
            _ => None,
        }
    })
}

fn section<'a>(out: &'a str, name: &str) -> &'a str {
    let start = out.find(&format!("--- {name}")).expect("section");
    let rest = &out[start + 5 + name.len()..];
    &rest[..rest.find("--- ").unwrap_or(rest.len())]
}

#[test]
fn ports_are_mapped_renewed_and_removed_on_a_real_gateway_over_pcp_natpmp_and_upnp() {
    let work = WorkDir::new("portmap");
    let d = data(&work, "single", 100_000, 16 * 1024, &[], &[]);
    // What the gateway logs for the first requests, and for a renewal of each port.
    let replacing = &[
        "port 46881 tcp already redirected to 192.168.77.2:46881, replacing",
        "port 46881 udp already redirected to 192.168.77.2:46881, replacing",
    ][..];
    for (protocol, says, renewal) in [
        ("pcp", &["PCP request"][..], replacing),
        (
            "natpmp",
            &["NAT-PMP port mapping request : 46881->192.168.77.2:46881 tcp lifetime=4s"],
            replacing,
        ),
        (
            "upnp",
            &[
                "SSDP M-SEARCH from 192.168.77.2:46881",
                "AddPortMapping: ext port 46881 to 192.168.77.2:46881 protocol TCP",
                "AddPortMapping: ext port 46881 to 192.168.77.2:46881 protocol UDP",
                "leaseduration=4",
                "DeletePortMapping",
            ],
            &[
                "updating existing port mapping 46881 TCP (rhost '') => 192.168.77.2:46881",
                "updating existing port mapping 46881 UDP (rhost '') => 192.168.77.2:46881",
            ],
        ),
        (
            "auto",
            &["PCP request", "SSDP M-SEARCH from 192.168.77.2:46881"],
            &[],
        ),
    ] {
        let dir = work.join(protocol);
        std::fs::create_dir_all(&dir).unwrap();
        let flags = format!("--port-mapping-protocol {protocol} --port-mapping-lifetime 4");
        let out = seed_behind_gateway(&dir, s(&d.torrent), s(&d.dir), &flags, true);
        let during = section(&out, "while");
        let renewed = section(&out, "renewed");
        for proto in ["TCP", "UDP"] {
            let first = expiry(during, proto)
                .unwrap_or_else(|| panic!("{protocol}: no {proto} lease while running:\n{out}"));
            let later = expiry(renewed, proto).unwrap_or(0);
            assert!(
                later > first,
                "{protocol}: the {proto} lease (expiring at {first}) was not renewed:\n{out}"
            );
            eprintln!("{protocol} {proto}: lease expiry {first} -> {later}");
        }
        assert_eq!(
            during.matches("dnat ip to 192.168.77.2:46881").count(),
            2,
            "{out}"
        );
        let after = section(&out, "after");
        assert!(
            !after.contains("46881"),
            "{protocol}: mappings left after exit:\n{out}"
        );
        for says in says.iter().chain(renewal) {
            assert!(
                out.contains(says),
                "{protocol}: the gateway saw no {says}:\n{out}"
            );
        }
    }
    let dir = work.join("off");
    std::fs::create_dir_all(&dir).unwrap();
    let out = seed_behind_gateway(&dir, s(&d.torrent), s(&d.dir), "--no-port-mapping", false);
    assert!(!section(&out, "while").contains("46881"), "{out}");
}
