//! Client authentication messages: SASLInitialResponse (and the SCRAM exchange it starts),
//! SCRAM client-final, stored verifiers and PasswordMessage, certificates' signature
//! algorithm for channel binding. The first byte picks the parser.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mdbd::auth::fuzzing::auth_messages(data);
});
