//! cargo-fuzz target; the body is `tether_core::fuzzing::pool`, shared with the corpus
//! replay test in `tests/` (see its docs for what it checks). Structure-aware: the bytes
//! are read as a script of operations with `arbitrary`, the peers' answers built from
//! what the pool writes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tether_core::fuzzing::pool(std::time::Instant::now(), data);
});
