//! PostgreSQL's binary forms (numeric, dates, timestamps, uuid, jsonb, arrays, intervals,
//! ...) as servers and clients' binary parameters send them: decoded, printed, re-encoded.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mdbd_backends::postgres::fuzzing::binary_value(data);
});
