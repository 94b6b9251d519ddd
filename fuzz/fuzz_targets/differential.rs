//! cargo-fuzz target; the body is `tether_core::fuzzing::differential`, shared with the
//! corpus replay test in `tests/` (see its docs for what it checks), against tungstenite.
#![no_main]

#[path = "../common/tungstenite_reading.rs"]
mod tungstenite_reading;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tether_core::fuzzing::differential(
        std::time::Instant::now(),
        data,
        tungstenite_reading::tungstenite_reading,
    );
});
