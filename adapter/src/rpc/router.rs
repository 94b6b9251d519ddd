//! The methods a server serves: typed handlers behind one erased signature.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures_lite::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use tether_core::rpc::ErrorObject;

use crate::Context;

/// What a handler's future gives: the result as raw JSON, or the error to answer with.
pub type Outcome = Result<Box<RawValue>, ErrorObject>;

/// A running handler, boxed so handlers of every type fit in one map.
pub type Running = Pin<Box<dyn Future<Output = Outcome> + Send>>;

type Handler = Box<dyn Fn(Option<Box<RawValue>>, Context) -> Running + Send + Sync>;

/// Methods by name, each a typed async handler behind one erased signature. Handlers run
/// in whatever task the adapter gives each call; a panic in one answers `-32603`.
///
/// A handler takes the params, or (inserted with [`insert_with_context`]) the params and
/// the caller's [`Context`]: who the server's upgrade hook said the caller is, its
/// address, its connection.
///
/// [`insert_with_context`]: Self::insert_with_context
#[derive(Default)]
pub struct Router {
    handlers: HashMap<String, Handler>,
}

impl Router {
    /// Serves `method` with `handler`, which takes the params alone; a later route for the
    /// same name replaces it.
    pub fn insert<P, R, F, Fut>(&mut self, method: &str, handler: F)
    where
        F: Fn(P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ErrorObject>> + Send + 'static,
        P: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
    {
        self.insert_with_context(method, move |params: P, _: Context| handler(params));
    }

    /// Serves `method` with `handler`, which takes the params and the caller's
    /// [`Context`] (to authorise the call by the caller's identity, say); a later route
    /// for the same name replaces it.
    pub fn insert_with_context<P, R, F, Fut>(&mut self, method: &str, handler: F)
    where
        F: Fn(P, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ErrorObject>> + Send + 'static,
        P: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
    {
        // Shared with each running call, so even the handler's synchronous part runs
        // inside the call's future, where a panic is caught.
        let handler = Arc::new(handler);
        let erased = move |params: Option<Box<RawValue>>, context: Context| -> Running {
            let handler = handler.clone();
            let call = async move {
                // No params reads as `null`, so `()` and `Option<T>` params accept it.
                let text = params.as_deref().map_or("null", RawValue::get);
                let params: P = serde_json::from_str(text)
                    .map_err(|e| ErrorObject::invalid_params(format!("Invalid params: {e}")))?;
                let result = handler(params, context).await?;
                serde_json::value::to_raw_value(&result)
                    .map_err(|e| ErrorObject::internal(format!("cannot encode the result: {e}")))
            };
            // One allocation per call: the panic guard wraps the call in the same box.
            Box::pin(async move {
                match AssertUnwindSafe(call).catch_unwind().await {
                    Ok(outcome) => outcome,
                    // A handler that panics answers `-32603` instead of leaving its caller
                    // waiting forever.
                    Err(_) => Err(ErrorObject::internal("Internal error")),
                }
            })
        };
        self.handlers.insert(method.to_owned(), Box::new(erased));
    }

    /// Starts `method` on `params` for the caller of `context`; `None` if no such method
    /// is served.
    pub fn dispatch(
        &self,
        method: &str,
        params: Option<Box<RawValue>>,
        context: Context,
    ) -> Option<Running> {
        self.handlers
            .get(method)
            .map(|handler| handler(params, context))
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut methods: Vec<_> = self.handlers.keys().collect();
        methods.sort();
        f.debug_struct("Router").field("methods", &methods).finish()
    }
}
