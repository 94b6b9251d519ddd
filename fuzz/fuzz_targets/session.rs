//! cargo-fuzz target; the body is `tether_core::fuzzing::session`, shared with the corpus
//! replay test in `tests/` (see its docs for what it checks). Structure-aware: the bytes
//! are read as a script of operations with `arbitrary`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tether_core::fuzzing::session(std::time::Instant::now(), data);
});
