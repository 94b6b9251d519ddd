//! cargo-fuzz target; the body is `tether_core::fuzzing::rpc_message`, shared with the corpus
//! replay test in `tests/` (see its docs for what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tether_core::fuzzing::rpc_message(data);
});
