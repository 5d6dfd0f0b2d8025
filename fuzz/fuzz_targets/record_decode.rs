//! Arbitrary bytes as one record; what decodes must re-encode to the same record.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdbd_engine::fuzzing::record_decode(data));
