//! uTP packets grow with the path, and a path smaller than the interface list says is
//! survived: in a network namespace the test creates (`unshare -n`) whose loopback has an MTU
//! of 1,300 and whose other interface (one end of a veth pair) 1,500, our seeder (bound to `[::]`, so it
//! searches up to 1,500) sends to our leecher through a UDP relay that counts datagram sizes.
//! Its probes over 1,272 bytes (1,300 less the IPv4 and UDP headers) fail with `EMSGSIZE`
//! (don't-fragment is set), which must count as lost datagrams, not kill its loop; the others
//! raise the packet size past uTP's first 1,200 bytes. Every byte is compared.

mod interop_support;

use std::path::Path;
use std::process::Command;

use interop_support::{assert_same_tree, bin, data, s};
use sanstorrent_tests::interop::{WorkDir, python};

/// The namespace's network: loopback at 1,300 bytes, a veth pair at 1,500.
const NETWORK: &str = "set -e
ip link set lo mtu 1300 up
ip link add v0 mtu 1500 type veth peer name v1 mtu 1500
ip link set v0 up
ip link set v1 up
ip addr add 10.79.0.1/24 dev v0
set +e
";

/// The largest UDP payload the loopback carries: its MTU less the IPv4 and UDP headers.
const PATH_PAYLOAD: u64 = 1300 - 20 - 8;

/// One direction of the relay's counts: datagrams, the largest, how many over 1,200 bytes.
#[derive(Debug)]
struct Way {
    count: u64,
    max: u64,
    over_1200: u64,
}

fn relay_counts(path: &Path, way: &str) -> Way {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let line = text
        .lines()
        .find(|l| l.starts_with(way))
        .unwrap_or_else(|| panic!("no {way} line in the relay's counts:\n{text}"));
    let n: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    Way {
        count: n[0],
        max: n[1],
        over_1200: n[2],
    }
}

#[test]
fn packets_grow_past_1200_bytes_up_to_a_smaller_path_and_emsgsize_is_survived() {
    let work = WorkDir::new("utp-mtu");
    let d = data(&work, "single", 16 * 1024 * 1024, 256 * 1024, &[], &[]);
    let dir = work.path();
    let (torrent, src) = (s(&d.torrent), s(&d.dir));
    let common = "--no-dht --no-lsd --no-port-mapping --transport utp --quiet";
    let script = format!(
        "$BIN seed {torrent} -o {src} -p 7001 {common} > seed.log 2>&1 &
SEED=$!
$PY $RELAY 7002 7001 relay.txt > relay.log 2>&1 &
RELAY=$!
sleep 2
timeout 90 $BIN download {torrent} -o ours --bind 127.0.0.1 -p 0 {common} \
  --peer 127.0.0.1:7002 > ours.log 2>&1
echo ours=$?
kill -0 $SEED && echo seeder-alive
sleep 1.5
kill $RELAY
wait $RELAY
kill $SEED
true
"
    );
    let out = Command::new("timeout")
        .args(["150", "unshare", "-n", "bash", "-c"])
        .arg(format!("{NETWORK}{script}"))
        .current_dir(dir)
        .env("BIN", bin())
        .env("PY", python())
        .env(
            "RELAY",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop_support/udp_relay.py"),
        )
        .output()
        .expect("run unshare (util-linux) as root");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let logs = ["seed.log", "ours.log", "relay.log"]
        .map(|n| {
            format!(
                "--- {n}\n{}",
                std::fs::read_to_string(dir.join(n)).unwrap_or_default()
            )
        })
        .join("\n");
    assert!(
        out.status.success(),
        "the namespace script failed ({}):\n{stdout}\n{}\n{logs}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ours=0"), "{stdout}\n{logs}");
    assert!(stdout.contains("seeder-alive"), "{stdout}\n{logs}");
    assert_same_tree(&d.dir, &dir.join("ours"));
    let to_leecher = relay_counts(&dir.join("relay.txt"), "to-client");
    let to_seeder = relay_counts(&dir.join("relay.txt"), "to-target");
    println!("seeder -> leecher: {to_leecher:?}; leecher -> seeder: {to_seeder:?}");
    assert!(
        to_leecher.max > 1200 && to_leecher.max <= PATH_PAYLOAD,
        "the seeder's largest datagram: {to_leecher:?}"
    );
    // 16 MiB in packets of about 1,200 bytes: most datagrams carry data, most of them grown.
    assert!(
        to_leecher.over_1200 * 2 > to_leecher.count,
        "packets did not grow: {to_leecher:?}"
    );
}
