#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sanstorrent_core::testing::fuzz::peer_connection::peer_connection(std::time::Instant::now(), data);
});
