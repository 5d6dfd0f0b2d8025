//! The MySQL front end's decoder for stmt execute: arbitrary bytes from a client.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdbd::mysql_wire::fuzzing::stmt_execute(data));
