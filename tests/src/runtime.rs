//! The adapters and executors the scenario tests run on, one module each, and the
//! macros that declare a `#[test]` per scenario for one of them.
//!
//! The scenario files ([`edge`](crate::runtime::tokio::edge),
//! [`hostile`](crate::runtime::tokio::hostile),
//! [`interop`](crate::runtime::tokio::interop),
//! [`interop_deflate`](crate::runtime::tokio::interop_deflate),
//! [`interop_serve`](crate::runtime::tokio::interop_serve),
//! [`interop_tls`](crate::runtime::tokio::interop_tls),
//! [`loopback`](crate::runtime::tokio::loopback),
//! [`notifications`](crate::runtime::tokio::notifications),
//! [`pool`](crate::runtime::tokio::pool),
//! [`pool_metrics`](crate::runtime::tokio::pool_metrics),
//! [`pool_tracing`](crate::runtime::tokio::pool_tracing),
//! [`rpc_jsonrpsee`](crate::runtime::tokio::rpc_jsonrpsee),
//! [`rpc_loopback`](crate::runtime::tokio::rpc_loopback),
//! [`rpc_python`](crate::runtime::tokio::rpc_python),
//! [`session`](crate::runtime::tokio::session),
//! [`session_python`](crate::runtime::tokio::session_python),
//! [`tls`](crate::runtime::tokio::tls),
//! [`cross_runtime`](crate::runtime::tokio::cross_runtime)) are written once, against
//! `super::adapter` (and `super::rt` for spawning and sleeping), and compiled into each
//! adapter's module: [`tokio`] over tether-tokio, [`async_std`] over tether-async-std.
//! [`smol`] runs the same compiled scenarios as [`async_std`] (one adapter, two
//! executors). Each module's `block_on` runs a scenario on its executor. The scenarios
//! name no runtime: waits are bounded with [`timeout`] (an `async-io` timer, which any
//! executor can poll), and a task whose end matters is spawned with `rt::spawn_task`,
//! which hands back a [`Task`].

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

/// A task spawned by a runtime module's `rt::spawn_task`: its output once it has one, and
/// a way to stop it. Dropping it lets the task run on (as a tokio `JoinHandle` does).
#[derive(Debug)]
pub struct Task<T> {
    output: async_channel::Receiver<T>,
    stop: async_channel::Sender<()>,
}

impl<T> Task<T> {
    /// Whether the task has ended (with an output, or by a panic or [`abort`](Self::abort)).
    pub fn is_finished(&self) -> bool {
        !self.output.is_empty() || self.output.is_closed()
    }

    /// The task's output; panics if it panicked or was aborted.
    pub async fn join(self) -> T {
        self.output
            .recv()
            .await
            .expect("the task panicked or was aborted")
    }

    /// Stops the task: it is dropped the next time its executor polls it.
    pub fn abort(&self) {
        self.stop.close();
    }
}

/// `future` made into what a runtime spawns (which ends with `future` or at
/// [`Task::abort`]), and the [`Task`] that watches it.
pub fn task<T: Send + 'static>(
    future: impl Future<Output = T> + Send + 'static,
) -> (impl Future<Output = ()> + Send + 'static, Task<T>) {
    let (done, output) = async_channel::bounded(1);
    let (stop, stopped) = async_channel::bounded::<()>(1);
    // The task holds a sender of its own, so only `abort` closes the stop channel.
    let keep_open = stop.clone();
    let run = async move {
        let _keep_open = keep_open;
        let finished = async { Some(future.await) }
            .or(async {
                let _ = stopped.recv().await;
                None
            })
            .await;
        if let Some(finished) = finished {
            let _ = done.try_send(finished);
        }
    };
    (run, Task { output, stop })
}

/// A `mod tokio`, `mod async_std` and `mod smol`, each with `$family!(that_runtime)`: the
/// scenario family declared once per runtime.
#[macro_export]
#[doc(hidden)]
macro_rules! every_runtime {
    ($family:ident) => {
        mod tokio {
            $crate::$family!(tokio);
        }
        mod async_std {
            $crate::$family!(async_std);
        }
        mod smol {
            $crate::$family!(smol);
        }
    };
}

/// Declares a `#[test]` for each interop scenario against one peer, the permessage-deflate
/// ones included, on one runtime module (`tokio`, `async_std` or `smol`; `tokio` if none is
/// named), or with `every_runtime:` in a module per runtime, so each peer's test file is one
/// line and no scenario can be forgotten for one of them.
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
        $crate::interop_deflate_tests!($runtime: $peer);
        $crate::scenario_tests!($runtime, interop_serve, ($peer),
            tether_serve_echoes_every_size,
            tether_serve_closes_for_a_panicking_handler,
            tether_serve_shutdown_closes_with_1001,
            tether_serve_shutdown_drops_a_handler_past_the_grace,
            tether_serve_shutdown_drops_a_handler_its_peer_left,
        );
    };
    ($peer:expr) => {
        $crate::interop_tests!(tokio: $peer);
    };
}

/// Declares a `#[test]` for each permessage-deflate interop scenario against one peer, on
/// one runtime module; [`interop_tests!`](crate::interop_tests) declares them with the
/// others.
#[macro_export]
macro_rules! interop_deflate_tests {
    ($runtime:ident: $peer:expr) => {
        $crate::scenario_tests!(
            $runtime,
            interop_deflate,
            ($peer),
            tether_client_deflate_echo,
            tether_client_deflate_no_context_takeover_small_windows,
            tether_client_deflate_fails_inflated_oversized_with_1009,
            tether_server_deflate_echo,
            tether_server_deflate_honours_peer_requests,
            tether_server_deflate_imposes_its_settings,
            tether_server_deflate_fails_inflated_oversized_with_1009,
        );
    };
}

/// Declares a `#[test]` for each `wss://` interop scenario against one peer, like
/// [`interop_tests!`](crate::interop_tests): on one runtime module, or with
/// `every_runtime:` in a module per runtime.
#[macro_export]
macro_rules! interop_tls_tests {
    (every_runtime: $peer:expr) => {
        mod tokio {
            $crate::interop_tls_tests!(tokio: $peer);
        }
        mod async_std {
            $crate::interop_tls_tests!(async_std: $peer);
        }
        mod smol {
            $crate::interop_tls_tests!(smol: $peer);
        }
    };
    ($runtime:ident: $peer:expr) => {
        $crate::scenario_tests!($runtime, interop_tls, ($peer),
            tether_client_echoes_over_wss,
            tether_client_refuses_an_unknown_issuer,
            tether_client_needs_a_certificate_for_a_mutual_tls_peer,
            tether_client_fails_fast_against_a_plain_peer,
            peer_client_echoes_over_wss,
            peer_client_needs_a_certificate_for_a_mutual_tls_server,
        );
    };
}

/// Declares a `#[test]` for each loopback scenario (our client against our server) on one
/// runtime module, or with no argument in a module per runtime.
#[macro_export]
macro_rules! loopback_tests {
    () => {
        $crate::every_runtime!(loopback_tests);
    };
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
            compression_is_agreed_and_carries_messages_when_both_sides_set_it,
            a_send_right_after_close_returns_is_refused,
        );
    };
}

/// Declares a `#[test]` for each JSON-RPC loopback scenario (our client against our
/// server) on one runtime module, or with no argument in a module per runtime.
#[macro_export]
macro_rules! rpc_loopback_tests {
    () => {
        $crate::every_runtime!(rpc_loopback_tests);
    };
    ($runtime:ident) => {
        $crate::scenario_tests!(
            $runtime,
            rpc_loopback,
            (),
            example_methods_answer_typed_calls,
            ten_thousand_concurrent_calls_on_one_connection_each_get_their_own_answer,
            a_slow_handler_does_not_block_a_fast_one_on_the_same_connection,
            a_handler_that_panics_is_answered_internal_error_and_the_connection_goes_on,
            handlers_past_the_bound_wait_instead_of_being_refused,
            a_call_past_its_deadline_times_out_and_the_connection_stays_usable,
            dropping_a_call_future_cancels_the_call,
            a_batch_is_answered_as_one_array,
            a_server_that_goes_away_ends_calls_with_connection_lost,
            a_server_that_dies_loses_the_pending_calls_and_the_client_gives_up_after_max_attempts,
        );
    };
}

/// Declares a `#[test]` for each hostile-client scenario against our JSON-RPC server (a
/// flood that never reads, invalid batches, a huge batch, a silent client, a client that
/// stops reading, a handler past its timeout) on one runtime module, or with no argument
/// in a module per runtime.
#[macro_export]
macro_rules! hostile_tests {
    () => {
        $crate::every_runtime!(hostile_tests);
    };
    ($runtime:ident) => {
        $crate::scenario_tests!(
            $runtime,
            hostile,
            (),
            a_client_that_floods_calls_and_never_reads_is_held_to_its_budget,
            a_flood_of_invalid_batches_is_held_to_its_budget,
            a_huge_batch_is_refused_and_the_connection_goes_on,
            a_silent_client_is_dropped_after_the_idle_timeout,
            a_client_that_stops_reading_is_dropped_after_the_write_stall_timeout,
            a_handler_past_its_timeout_is_answered_with_an_error,
            a_websocket_flood_the_application_never_receives_is_held_to_its_budget,
            messages_for_a_dropped_receiver_are_not_held,
        );
    };
}

/// Declares a `#[test]` for each jsonrpsee scenario (jsonrpsee's client against our server,
/// our client against jsonrpsee's server) on one runtime module, or with no argument in a
/// module per runtime.
#[macro_export]
macro_rules! rpc_jsonrpsee_tests {
    () => {
        $crate::every_runtime!(rpc_jsonrpsee_tests);
    };
    ($runtime:ident) => {
        $crate::scenario_tests!(
            $runtime,
            rpc_jsonrpsee,
            (),
            jsonrpsee_client_calls_tether_methods,
            jsonrpsee_client_gets_tether_errors,
            jsonrpsee_client_concurrent_calls,
            jsonrpsee_client_batch,
            jsonrpsee_client_batch_larger_than_handler_limit,
            jsonrpsee_client_notifications,
            jsonrpsee_client_notification_without_params,
            jsonrpsee_client_with_string_ids,
            tether_client_calls_jsonrpsee_methods,
            tether_client_gets_jsonrpsee_errors,
            tether_client_concurrent_calls_to_jsonrpsee,
            tether_client_notifies_times_out_and_closes,
        );
    };
}

/// Declares a `#[test]` for each scenario of raw JSON-RPC from Python against our server
/// on one runtime module, or with no argument in a module per runtime.
#[macro_export]
macro_rules! rpc_python_tests {
    () => {
        $crate::every_runtime!(rpc_python_tests);
    };
    ($runtime:ident) => {
        $crate::scenario_tests!(
            $runtime,
            rpc_python,
            (),
            python_raw_jsonrpc_against_tether_server,
        );
    };
}

/// Declares a `#[test]` for each session scenario (the reconnecting JSON-RPC client over
/// loopback, behind a proxy or in front of nobody) on one runtime module, or with no
/// argument in a module per runtime.
#[macro_export]
macro_rules! session_tests {
    () => {
        $crate::every_runtime!(session_tests);
    };
    ($runtime:ident) => {
        $crate::scenario_tests!(
            $runtime,
            session,
            (),
            a_silent_link_is_found_by_the_heartbeat_and_replaced,
            after_max_attempts_against_a_closed_port_the_client_has_failed_and_says_so,
            a_call_made_as_the_client_gives_up_ends_failed,
            a_full_queue_refuses_what_does_not_fit_and_close_ends_what_waits,
            dropping_a_queued_call_cancels_it_and_dropping_every_clone_ends_the_session,
        );
    };
}

/// Declares a `#[test]` for each cluster-layer scenario on one runtime module, or with no
/// argument in a module per runtime.
#[macro_export]
macro_rules! pool_tests {
    () => {
        $crate::every_runtime!(pool_tests);
    };
    ($runtime:ident) => {
        $crate::scenario_tests!(
            $runtime,
            pool,
            (),
            calls_flow_both_ways_over_one_link,
            sixty_four_tasks_calling_eight_peers_get_their_own_answers,
            a_killed_peer_is_marked_down_and_linked_again_when_it_returns,
            a_silent_peer_is_found_by_the_heartbeat,
            shutdown_loses_no_call_in_flight,
            an_unreachable_node_is_named_in_the_error,
            a_plain_client_calls_a_node,
            a_quorum_write_with_one_of_three_down_succeeds_and_names_it,
            a_quorum_write_with_two_of_three_down_fails_fast,
            a_failover_read_skips_a_dead_replica,
            a_bulk_call_gets_a_link_of_its_own,
            two_nodes_calling_each_other_at_once_end_with_one_link,
        );
    };
}

/// Declares a `#[test]` for each session scenario against the Python JSON-RPC server
/// (killed and restarted) on one runtime module, or with no argument in a module per
/// runtime.
#[macro_export]
macro_rules! session_python_tests {
    () => {
        $crate::every_runtime!(session_python_tests);
    };
    ($runtime:ident) => {
        $crate::scenario_tests!(
            $runtime,
            session_python,
            (),
            a_server_killed_mid_traffic_and_restarted_gets_every_queued_message_once_in_order,
            connect_reports_a_refused_upgrade_with_its_status,
            a_client_made_before_its_server_exists_sends_its_queue_once_the_server_is_up,
        );
    };
}

/// Declares a `#[test]` for each scenario of the server's notifications reaching the
/// reconnecting JSON-RPC client (from the Python JSON-RPC server) on one runtime module, or
/// with no argument in a module per runtime.
#[macro_export]
macro_rules! notifications_tests {
    () => {
        $crate::every_runtime!(notifications_tests);
    };
    ($runtime:ident) => {
        $crate::scenario_tests!(
            $runtime,
            notifications,
            (),
            every_notification_arrives_in_order_before_the_answer_of_the_call_that_made_them,
            notifications_nobody_asked_for_are_dropped_and_counted,
            a_receiver_that_does_not_read_stops_the_client_reading_and_loses_nothing,
            dropping_a_full_receiver_lets_the_client_read_on,
            closing_with_a_full_receiver_hands_it_everything_the_client_took,
        );
    };
}

/// Declares a `#[test]` for each scenario of a server's edge (the upgrade hook, connection
/// limits, accept errors, shutdown) on one runtime module, or with no argument in a module
/// per runtime.
#[macro_export]
macro_rules! edge_tests {
    () => {
        $crate::every_runtime!(edge_tests);
    };
    ($runtime:ident) => {
        $crate::scenario_tests!(
            $runtime,
            edge,
            (),
            every_server_refuses_with_the_hooks_status_and_headers,
            handlers_see_the_identity_the_hook_gave_for_a_header,
            handlers_see_the_identity_the_hook_read_from_the_client_certificate,
            a_plain_http_request_is_answered_by_the_hook_on_the_same_port,
            connections_past_the_limits_get_503_and_are_released_when_they_end,
            shutdown_lets_a_running_handler_finish_then_closes_with_1001,
            shutdown_closes_websocket_connections_with_1001_and_ends_accept,
            an_upgrade_request_sent_after_a_pause_is_answered,
            dropping_serve_closes_the_listening_socket,
        );
        $crate::scenario_tests!(
            $runtime,
            edge,
            (stringify!($runtime)),
            a_server_out_of_descriptors_keeps_serving_once_they_free_up,
        );
    };
}

/// Declares a `#[test]` for each `wss://` scenario between our own client and server on
/// one runtime module, or with no argument in a module per runtime.
#[macro_export]
macro_rules! tls_tests {
    () => {
        $crate::every_runtime!(tls_tests);
    };
    ($runtime:ident) => {
        $crate::scenario_tests!(
            $runtime,
            tls,
            (),
            wss_carries_messages_both_ways_and_closes_cleanly,
            json_rpc_runs_over_wss,
            a_private_ca_is_an_unknown_issuer_to_the_default_roots,
            an_expired_certificate_is_named_expired,
            a_certificate_from_the_future_is_not_yet_valid,
            a_certificate_for_another_host_is_a_name_mismatch,
            mutual_tls_refuses_nodes_without_a_trusted_certificate_and_serves_the_others,
            a_revoked_client_certificate_is_refused_and_the_others_are_served,
            wss_to_a_plain_tether_server_ends_within_the_connect_timeout,
            a_plain_client_fails_against_a_tls_server_which_keeps_serving,
            a_tls_server_drops_a_client_that_never_starts_the_handshake,
            a_tls_rpc_server_drops_a_client_that_never_starts_the_handshake,
            the_connect_timeout_covers_the_tls_handshake,
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
