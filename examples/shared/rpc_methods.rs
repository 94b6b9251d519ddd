//! The methods every adapter's `rpc_server` example serves (`echo`, `add`, `sleep`,
//! `fail`), shared with the tests so both serve the same thing. The including crate
//! provides `adapter` (the tether adapter crate) and `rt::sleep`.

use std::time::Duration;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Number;

use super::adapter::rpc::{ErrorObject, Server};
use super::rt;

/// The code `fail` answers with.
pub const FAIL_CODE: i64 = 1000;

/// Params of `sleep`.
#[derive(Debug, Deserialize)]
pub struct Sleep {
    /// How long to wait, in milliseconds.
    pub ms: u64,
}

/// Adds the example methods to `server`: `echo`, `add`, `sleep`, `fail`.
pub fn routes(server: Server) -> Server {
    server
        // Raw JSON in and out: the params come back byte for byte. No params echo `null`.
        .route("echo", |params: Option<Box<RawValue>>| async move {
            Ok::<_, ErrorObject>(params)
        })
        .route("add", |(a, b): (Number, Number)| async move { add(&a, &b) })
        .route("sleep", |Sleep { ms }| async move {
            rt::sleep(Duration::from_millis(ms)).await;
            Ok::<_, ErrorObject>(ms)
        })
        .route("fail", |_: IgnoredAny| async {
            Err::<(), _>(ErrorObject::new(FAIL_CODE, "failed on purpose"))
        })
}

/// Integers stay integers while the sum fits in an `i64`; anything else adds as `f64`.
pub fn add(a: &Number, b: &Number) -> Result<Number, ErrorObject> {
    if let Some(sum) = a
        .as_i64()
        .zip(b.as_i64())
        .and_then(|(a, b)| a.checked_add(b))
    {
        return Ok(sum.into());
    }
    let (Some(a), Some(b)) = (a.as_f64(), b.as_f64()) else {
        return Err(ErrorObject::invalid_params("add takes two numbers"));
    };
    Number::from_f64(a + b).ok_or_else(|| ErrorObject::invalid_params("the sum is not finite"))
}
