//! The MySQL front end's decoder for handshake response: arbitrary bytes from a client.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdbd::mysql_wire::fuzzing::handshake_response(data));
