//! What the JetStream log store reads back from a NATS server: a message's headers and
//! payload, and the bucket's keys.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mdbd_jetstream::names::fuzz_message(data);
});
