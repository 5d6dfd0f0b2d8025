//! Arbitrary records: encode, decode, compare.
#![no_main]
libfuzzer_sys::fuzz_target!(|record: mdbd_engine::log::Record| mdbd_engine::fuzzing::roundtrip(&record));
