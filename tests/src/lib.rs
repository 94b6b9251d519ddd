//! Shared helpers for tether's scenario tests.
