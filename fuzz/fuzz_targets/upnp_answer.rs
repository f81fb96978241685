#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sanstorrent_core::testing::fuzz::upnp_answer::upnp_answer(std::time::Instant::now(), data);
});
