//! The adapters and executors the scenario tests run on, one module each, and the
//! macros that declare a `#[test]` per scenario for one of them.
//!
//! [`interop`](crate::runtime::tokio::interop), [`loopback`](crate::runtime::tokio::loopback)
//! and [`rpc_loopback`](crate::runtime::async_std::rpc_loopback) are written once, against
//! `super::adapter` (and `super::rt` for spawning and sleeping), and compiled into each
//! adapter's module: [`tokio`] over tether-tokio,
//! [`async_std`] over tether-async-std. [`smol`] runs the same compiled scenarios as
//! [`async_std`] (one adapter, two executors). Each module's `block_on` runs a scenario on
//! its executor. The scenarios name no runtime: waits are bounded with [`timeout`] (an
//! `async-io` timer, which any executor can poll), and concurrent halves are joined in one
//! task instead of spawned.

use std::future::Future;
use std::time::Duration;

use futures_lite::FutureExt;

pub mod async_std;
pub mod smol;
pub mod tokio;

/// A wait that took longer than its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// `task`'s output, or [`Elapsed`] once `limit` has passed; works on any executor.
pub async fn timeout<T>(limit: Duration, task: impl Future<Output = T>) -> Result<T, Elapsed> {
    async { Ok(task.await) }
        .or(async {
            async_io::Timer::after(limit).await;
            Err(Elapsed)
        })
        .await
}

/// Declares a `#[test]` for each interop scenario against one peer, on one runtime module
/// (`tokio`, `async_std` or `smol`; `tokio` if none is named), or with `every_runtime:` in
/// a module per runtime, so each peer's test file is one line and no scenario can be
/// forgotten for one of them.
#[macro_export]
macro_rules! interop_tests {
    (every_runtime: $peer:expr) => {
        mod tokio {
            $crate::interop_tests!(tokio: $peer);
        }
        mod async_std {
            $crate::interop_tests!(async_std: $peer);
        }
        mod smol {
            $crate::interop_tests!(smol: $peer);
        }
    };
    ($runtime:ident: $peer:expr) => {
        $crate::scenario_tests!($runtime, interop, ($peer),
            tether_client_echo_every_size,
            tether_client_reassembles_peer_fragments,
            tether_client_sends_fragments,
            tether_client_ping_gets_pong,
            tether_client_answers_peer_ping,
            tether_client_closes_with_code_and_reason,
            tether_client_sees_peer_close,
            tether_client_fails_invalid_utf8_with_1007,
            tether_client_fails_oversized_with_1009,
            tether_server_echo_every_size,
            tether_server_reassembles_peer_fragments,
            tether_server_sends_fragments,
            tether_server_answers_peer_ping,
            tether_server_ping_gets_pong,
            tether_server_closes_with_code_and_reason,
            tether_server_sees_peer_close,
            tether_server_fails_invalid_utf8_with_1007,
            tether_server_fails_oversized_with_1009,
        );
    };
    ($peer:expr) => {
        $crate::interop_tests!(tokio: $peer);
    };
}

/// Declares a `#[test]` for each loopback scenario (our client against our server) on one
/// runtime module.
#[macro_export]
macro_rules! loopback_tests {
    ($runtime:ident) => {
        $crate::scenario_tests!(
            $runtime,
            loopback,
            (),
            client_and_server_exchange_messages_pings_and_close,
            dropping_every_handle_closes_normally,
            commands_after_the_end_answer_even_while_events_wait_unread,
            a_receiver_that_falls_behind_slows_the_peer_and_loses_nothing,
            a_refused_upgrade_and_a_dead_port_are_typed_errors,
        );
    };
}

/// Declares a `#[test]` for each JSON-RPC loopback scenario (our client against our
/// server) on one runtime module.
#[macro_export]
macro_rules! rpc_loopback_tests {
    ($runtime:ident) => {
        $crate::scenario_tests!(
            $runtime,
            rpc_loopback,
            (),
            typed_calls_errors_and_notifications,
            many_concurrent_calls_each_get_their_own_answer,
            deadlines_and_cancels_end_calls_and_keep_the_connection,
            a_server_that_goes_away_ends_calls_with_connection_lost,
        );
    };
}

/// One `#[test]` per name: `$crate::runtime::$runtime::block_on` of the scenario of that
/// name in `$crate::runtime::$runtime::$module`, called with `$args` (a parenthesised list).
#[macro_export]
#[doc(hidden)]
macro_rules! scenario_tests {
    ($runtime:ident, $module:ident, $args:tt, $($scenario:ident),+ $(,)?) => {
        $(
            #[test]
            fn $scenario() {
                $crate::runtime::$runtime::block_on(
                    $crate::runtime::$runtime::$module::$scenario $args,
                );
            }
        )+
    };
}
