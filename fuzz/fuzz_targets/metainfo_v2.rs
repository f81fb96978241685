#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sanstorrent_core::testing::fuzz::metainfo_v2::metainfo_v2(data));
