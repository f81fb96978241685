//! Local service discovery (BEP 14) with no tracker and no DHT, in a network namespace the
//! test creates (`unshare -n`: its loopback carries 10.77.0.1-4 and routes the multicast
//! group, so nothing leaves the namespace): our leecher finds our seeder, a libtorrent 2.0
//! leecher hears our seeder's announces and downloads from it, and our leecher downloads from
//! a libtorrent seeder it finds the same way. `--no-lsd` turns it off: then nobody is found.
//! Over IPv6 (a namespace whose veth carries fd77::1-4 and routes the IPv6 group): a
//! dual-stack seeder (no `--bind`) is found by our leecher bound to one IPv6 address, through
//! the announce it hears from the seeder's link-local address.

mod interop_support;

use std::path::Path;
use std::process::Command;

use interop_support::{assert_same_tree, bin, data, s};
use sanstorrent_tests::interop::{WorkDir, python};

/// The namespace's network: four addresses on its loopback and the group routed there.
const NETWORK: &str = "set -e
ip link set lo up
ip link set lo multicast on
for i in 1 2 3 4; do ip addr add 10.77.0.$i/24 dev lo; done
ip route add 239.0.0.0/8 dev lo
set +e
";

/// An IPv6 network: a veth pair (multicast looped back on it to the host's other sockets),
/// fd77::1-4 on one end without duplicate address detection, the IPv6 group routed there.
const NETWORK6: &str = "set -e
sysctl -qw net.ipv6.conf.default.accept_dad=0
sysctl -qw net.ipv6.conf.all.accept_dad=0
ip link set lo up
ip link add v0 type veth peer name v1
ip link set v0 up
ip link set v1 up
for i in 1 2 3 4; do ip -6 addr add fd77::$i/64 dev v0 nodad; done
ip -6 route add ff15::/16 dev v0
set +e
";

/// Runs `script` (after [`NETWORK`]) in a new network namespace, in `dir`, bounded; its
/// standard output.
fn in_namespace(dir: &Path, script: &str) -> String {
    in_network(dir, NETWORK, script)
}

/// Runs `script` after `network` in a new network namespace, in `dir`, bounded; its standard
/// output.
fn in_network(dir: &Path, network: &str, script: &str) -> String {
    let out = Command::new("timeout")
        .args(["170", "unshare", "-n", "bash", "-c"])
        .arg(format!("{network}{script}"))
        .current_dir(dir)
        .env("BIN", bin())
        .env("PY", python())
        .env(
            "LT",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop_support/lt_lsd.py"),
        )
        .output()
        .expect("run unshare (util-linux) as root");
    let mut stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the namespace script failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["seed.log", "lt-leech.log", "lt-seed.log"] {
        stdout.push_str(&format!("--- {name}\n{}", log(dir, name)));
    }
    stdout
}

fn log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

#[test]
fn peers_on_one_network_find_each_other_by_local_discovery_alone() {
    let work = WorkDir::new("lsd");
    let d = data(&work, "multi", 3_000_000, 32 * 1024, &[], &[]);
    let dir = work.path();
    let torrent = s(&d.torrent);
    let src = s(&d.dir);
    // libtorrent's leecher on .3 first (its announce finds nobody yet), then our seeder on
    // .1, whose announce it must hear, and our leecher on .2, with nothing but discovery to
    // find the seeder. Then a libtorrent seeder on .4 and our second leecher on .2.
    let script = format!(
        "$PY $LT {torrent} lt-out 10.77.0.3 60 > lt-leech.log 2>&1 &
LT_LEECH=$!
sleep 1
$BIN seed {torrent} -o {src} --bind 10.77.0.1 -p 0 --no-dht --quiet > seed.log 2>&1 &
SEED=$!
timeout 60 $BIN download {torrent} -o ours --bind 10.77.0.2 -p 0 --no-dht --quiet > ours.log 2>&1
echo ours=$?
wait $LT_LEECH
echo lt-leech=$?
kill $SEED
$PY $LT {torrent} {src} 10.77.0.4 60 --seed > lt-seed.log 2>&1 &
LT_SEED=$!
timeout 60 $BIN download {torrent} -o from-lt --bind 10.77.0.2 -p 0 --no-dht --quiet > from-lt.log 2>&1
echo from-lt=$?
timeout 8 $BIN download {torrent} -o deaf --bind 10.77.0.2 -p 0 --no-dht --no-lsd --quiet \
  --no-peers-timeout 5 > deaf.log 2>&1
echo deaf=$?
kill $LT_SEED
true
"
    );
    let out = in_namespace(dir, &script);
    assert!(out.contains("ours=0"), "{out}\n{}", log(dir, "ours.log"));
    assert_same_tree(&d.dir, &dir.join("ours"));
    let lt = log(dir, "lt-leech.log");
    assert!(lt.contains("DONE"), "libtorrent did not finish:\n{lt}");
    assert!(
        lt.lines().any(|l| l.starts_with("LSD_PEER 10.77.0.1:")),
        "libtorrent never heard our seeder's announce:\n{lt}"
    );
    assert_same_tree(&d.dir, &dir.join("lt-out"));
    assert!(
        out.contains("from-lt=0"),
        "{out}\n{}",
        log(dir, "from-lt.log")
    );
    assert_same_tree(&d.dir, &dir.join("from-lt"));
    assert!(
        !out.contains("deaf=0"),
        "with --no-lsd nothing should be found:\n{out}\n{}",
        log(dir, "deaf.log")
    );
}

#[test]
fn a_dual_stack_seeder_is_found_over_ipv6_local_discovery() {
    let work = WorkDir::new("lsd6");
    let d = data(&work, "multi", 2_000_000, 32 * 1024, &[], &[]);
    let dir = work.path();
    let torrent = s(&d.torrent);
    let src = s(&d.dir);
    // Our leecher first (its announce finds nobody yet), then the dual-stack seeder, whose
    // announce at start it must hear: started together, each could announce before the other
    // joined the group, and the next announces are minutes away.
    let script = format!(
        "timeout 60 $BIN download {torrent} -o ours --bind fd77::2 -p 0 --no-dht --quiet > ours.log 2>&1 &
OURS=$!
sleep 2
$BIN seed {torrent} -o {src} -p 0 --no-dht --no-port-mapping --quiet > seed.log 2>&1 &
SEED=$!
wait $OURS
echo ours=$?
kill $SEED
true
"
    );
    let out = in_network(dir, NETWORK6, &script);
    assert!(out.contains("ours=0"), "{out}\n{}", log(dir, "ours.log"));
    assert_same_tree(&d.dir, &dir.join("ours"));
}

#[test]
fn the_daemon_turns_local_discovery_off_and_on_at_run_time() {
    let work = WorkDir::new("lsd-toggle");
    let d = data(&work, "multi", 2_000_000, 32 * 1024, &[], &[]);
    let dir = work.path();
    let torrent = s(&d.torrent);
    let src = s(&d.dir);
    // The daemon seeds on .1 with discovery switched off over RPC: a leecher on .2 finds
    // nobody. Switched on, the same leecher finds it.
    let script = format!(
        "$BIN daemon -o {src} --state-dir state --http 127.0.0.1:9091 -p 0 --bind 10.77.0.1 \
  --no-dht --quiet > seed.log 2>&1 &
DAEMON=$!
TR='transmission-remote 127.0.0.1:9091'
for i in $(seq 100); do $TR -si > /dev/null 2>&1 && break; sleep 0.1; done
$TR -si | grep 'Local peer discovery'
$TR -Y > /dev/null
$TR -si | grep 'Local peer discovery'
$TR -a {torrent} > /dev/null
sleep 2
timeout 8 $BIN download {torrent} -o deaf --bind 10.77.0.2 -p 0 --no-dht --quiet \
  --no-peers-timeout 5 > deaf.log 2>&1
echo deaf=$?
$TR -y > /dev/null
$TR -si | grep 'Local peer discovery'
timeout 60 $BIN download {torrent} -o ours --bind 10.77.0.2 -p 0 --no-dht --quiet > ours.log 2>&1
echo ours=$?
kill $DAEMON
true
"
    );
    let out = in_namespace(dir, &script);
    let states: Vec<&str> = (out.lines())
        .filter_map(|l| l.trim().strip_prefix("Local peer discovery enabled: "))
        .collect();
    assert_eq!(states, ["Yes", "No", "Yes"], "{out}");
    assert!(
        !out.contains("deaf=0"),
        "with discovery off nothing should be found:\n{out}\n{}",
        log(dir, "deaf.log")
    );
    assert!(out.contains("ours=0"), "{out}\n{}", log(dir, "ours.log"));
    assert_same_tree(&d.dir, &dir.join("ours"));
}
