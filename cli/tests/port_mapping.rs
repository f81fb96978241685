//! Port mapping against a real gateway: Debian's `miniupnpd` (nftables backend) in a network
//! namespace the test creates (`unshare -n`: a veth pair, `lan0` with the gateway's
//! 192.168.77.1 and our 192.168.77.2, `ext0` the "external" side; nothing leaves the
//! namespace). Our seeder maps its TCP and UDP ports over PCP, over NAT-PMP, over UPnP IGD
//! (SSDP search, device description, SOAP) and with `auto` (all of them at once): the
//! gateway's lease file and forwarding rules show both mappings while it runs, and neither
//! after a graceful stop (Ctrl+C). `--no-port-mapping` asks for nothing.
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

/// Runs our seeder with `flags` on 192.168.77.2:46881 for a few seconds, then Ctrl+C; the
/// lease file and rules seen while it ran and after it stopped (given the gateway up to 5 s to
/// act on the removals our seeder sent as it exited).
fn seed_behind_gateway(dir: &Path, torrent: &str, src: &str, flags: &str) -> String {
    let secure = if flags.contains("upnp") { "no" } else { "yes" };
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
        .args(["60", "unshare", "-n", "bash", "-c", &script])
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

fn section<'a>(out: &'a str, name: &str) -> &'a str {
    let start = out.find(&format!("--- {name}")).expect("section");
    let rest = &out[start + 5 + name.len()..];
    &rest[..rest.find("--- ").unwrap_or(rest.len())]
}

#[test]
fn ports_are_mapped_on_a_real_gateway_over_pcp_natpmp_and_upnp_and_removed_at_exit() {
    let work = WorkDir::new("portmap");
    let d = data(&work, "single", 100_000, 16 * 1024, &[], &[]);
    for (protocol, says) in [
        ("pcp", &["PCP request"][..]),
        ("natpmp", &["NAT-PMP port mapping request"]),
        (
            "upnp",
            &[
                "SSDP M-SEARCH from 192.168.77.2:46881",
                "AddPortMapping: ext port 46881 to 192.168.77.2:46881 protocol TCP",
                "AddPortMapping: ext port 46881 to 192.168.77.2:46881 protocol UDP",
                "DeletePortMapping",
            ],
        ),
        (
            "auto",
            &["PCP request", "SSDP M-SEARCH from 192.168.77.2:46881"],
        ),
    ] {
        let dir = work.join(protocol);
        std::fs::create_dir_all(&dir).unwrap();
        let flags = format!("--port-mapping-protocol {protocol}");
        let out = seed_behind_gateway(&dir, s(&d.torrent), s(&d.dir), &flags);
        let during = section(&out, "while");
        for proto in ["TCP", "UDP"] {
            assert!(
                during.contains(&format!("{proto}:46881:192.168.77.2:46881:")),
                "{protocol}: no {proto} lease while running:\n{out}"
            );
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
        for says in says {
            assert!(
                out.contains(says),
                "{protocol}: the gateway saw no {says}:\n{out}"
            );
        }
    }
    let dir = work.join("off");
    std::fs::create_dir_all(&dir).unwrap();
    let out = seed_behind_gateway(&dir, s(&d.torrent), s(&d.dir), "--no-port-mapping");
    assert!(!section(&out, "while").contains("46881"), "{out}");
}
