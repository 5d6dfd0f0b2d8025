//! The PostgreSQL front end's framing: a client's whole byte stream (SSLRequest, startup
//! packet, then typed messages).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mdbd::pg_wire::fuzzing::frontend_messages(data);
});
