//! A hello-world Lambda function: the local baseline of the cold-start
//! bench (src/bin/cold_start.rs), the same program as the public Rust
//! hello-world figures (`lambda_runtime` and tokio, nothing else), built in
//! the same run and with the same release profile as the functions. An
//! example, so nothing that ships depends on it.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({"message": "Hello World"}))
    }))
    .await
}
