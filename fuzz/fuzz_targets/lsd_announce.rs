#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sanstorrent_core::testing::fuzz::lsd_announce::lsd_announce(std::time::Instant::now(), data);
});
