//! The `quota` function (#5): on a schedule, recompute every bucket from
//! the grants and claims that exist, repair and report drift
//! (`apiserver::quota_audit`). With `--dry-run` on the command line it
//! reports without repairing and exits (a CLI for operators). Environment:
//! `TABLE_NAME`, `DYNAMODB_ENDPOINT` (local).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let store = store::Store::new(store::Store::client_from_env().await, table);
    if std::env::args().any(|a| a == "--dry-run") {
        let report = run(&store, false).await?;
        println!("{report}");
        return Ok(());
    }
    let store = &store;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        run(store, true).await
    }))
    .await
}

async fn run(store: &store::Store, repair: bool) -> Result<Value, Error> {
    let report = apiserver::quota_audit::audit(store, repair)
        .await
        .map_err(|e| e.to_string())?;
    Ok(json!({
        "buckets": report.buckets,
        "grants": report.grants,
        "claims": report.claims,
        "drifts": report.drifts,
        "repaired": report.repaired,
        "readEveryContext": report.read_every_context,
    }))
}
