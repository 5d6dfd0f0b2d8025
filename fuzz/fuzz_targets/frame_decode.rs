//! Arbitrary bytes as a stored frame: header checks, decompression, batch layout, records.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdbd_engine::fuzzing::frame_decode(data));
