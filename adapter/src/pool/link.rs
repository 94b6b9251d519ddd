//! The task of one link's transport: it dials (for a link we open), then moves bytes
//! between the socket and the pool until the pool is done with the link.

use std::sync::Arc;

use futures_lite::future;
use tether_core::pool::LinkId;
use tokio::sync::Notify;
use tracing::debug;

use super::driver::Shared;
use crate::runtime::within;
use crate::stream::{self, Stream};
use crate::transport::Transport;
use crate::{ConnectionId, Context, Identity, Runtime, Target};

/// Opens the transport of `link` to `target` and runs it; the pool hears of a failure.
pub(crate) async fn dial<R: Runtime>(
    shared: Arc<Shared<R>>,
    link: LinkId,
    target: Option<Arc<Target>>,
) {
    let Some(target) = target else {
        debug!("no address for the node");
        shared.locked(|core| core.pool.transport_failed(R::now(), link));
        return;
    };
    // The pool times the whole open out; this bounds the task's own wait.
    let limit = shared.config.pool.connect_timeout;
    let connect = stream::connect::<R>(&target, shared.client_tls.as_deref());
    match within::<R, _>(limit, connect).await {
        Some(Ok(stream)) => {
            let wake = Arc::new(Notify::new());
            let request = target.request(shared.config.headers.clone(), Vec::new());
            // The peer is who it was dialed as; its handlers get no identity of the hook's.
            let context = Context::new(Identity::anonymous(), None, ConnectionId::next());
            shared.locked(|core| {
                core.wakes.insert(link, wake.clone());
                core.contexts.insert(link, context);
                core.pool.transport_open(R::now(), link, request);
            });
            run(shared, link, stream, wake).await;
        }
        Some(Err(error)) => {
            debug!(%error, "connect failed");
            shared.locked(|core| core.pool.transport_failed(R::now(), link));
        }
        None => shared.locked(|core| core.pool.transport_failed(R::now(), link)),
    }
}

/// What woke a link's task.
enum Wake {
    Io(std::io::Result<crate::transport::Happened>),
    Pool,
}

/// Moves `link`'s bytes until the pool is done with it and they are written; `wake` is
/// how the pool says it has more to write. Registered in the pool's `wakes` by the caller.
pub(crate) async fn run<R: Runtime>(
    shared: Arc<Shared<R>>,
    link: LinkId,
    stream: Stream<R>,
    wake: Arc<Notify>,
) {
    let stall = shared.config.pool.ws.write_stall_timeout;
    let mut io = Transport::<R>::new(stream, shared.config.linger(), stall);
    let max = shared.config.max_handlers_per_link.max(1);
    let mut was_reading = true;
    loop {
        let (reading, finished, node) = shared.locked(|core| {
            let mut view = core.pool.link(link);
            io.drain(&mut view, None);
            let reading = view.pool().serving(link) < max;
            (reading, io.finished(&view), view.pool().link_node(link))
        });
        if finished {
            break;
        }
        if was_reading && !reading {
            // The peer's requests fill the handler budget: it waits for room.
            shared.observer.budget_wait(link, node, max);
        }
        was_reading = reading;
        let active = io.is_active(reading);
        let socket = async {
            if active {
                Wake::Io(io.wait(reading).await)
            } else {
                future::pending().await
            }
        };
        let woken = async {
            wake.notified().await;
            Wake::Pool
        };
        match future::race(socket, woken).await {
            Wake::Io(Ok(happened)) => {
                shared.locked(|core| io.feed(&mut core.pool.link(link), happened));
            }
            Wake::Io(Err(error)) => {
                debug!(%error, "socket error");
                // The pool ends the link and drops what it still had for the socket.
                shared.locked(|core| {
                    core.forget(link);
                    core.pool.release(R::now(), link);
                });
                return;
            }
            Wake::Pool => {}
        }
    }
    shared.locked(|core| core.forget(link));
    io.shutdown().await;
    debug!("link finished");
}
