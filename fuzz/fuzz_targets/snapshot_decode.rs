//! Arbitrary bytes as a snapshot stream, fed to the decoder in pieces.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdbd_engine::fuzzing::snapshot_decode(data));
