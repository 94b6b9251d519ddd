//! Shared harness of the core's scenario tests.

#![allow(dead_code)]

mod pair;

pub use pair::Pair;
