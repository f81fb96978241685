#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sanstorrent_core::testing::fuzz::upnp_xml::upnp_xml(std::time::Instant::now(), data);
});
