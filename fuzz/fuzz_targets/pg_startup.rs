//! The path of an unauthenticated PostgreSQL connection: SSLRequest / GSSENCRequest /
//! CancelRequest openings, the startup packet, then password messages through the
//! authentication parsers.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mdbd::pg_wire::fuzzing::startup_path(data);
});
