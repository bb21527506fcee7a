//! The `quota` function (#5): on a schedule, recompute every bucket from
//! the grants and claims that exist, repair and report drift
//! (`apiserver::quota_audit`). With `--dry-run` on the command line it
//! reports without repairing and exits (a CLI for operators). It acts as
//! `system:quota`, refused unless that principal may. Environment:
//! `TABLE_NAME`, `DYNAMODB_ENDPOINT` (local).

use apiserver::{ServicePrincipal, DEFAULT_CATALOG_REFRESH};
use domain::iam::QUOTA_PRINCIPAL;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    apiserver::lambda::init_logs();
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let store = store::Store::new(store::Store::client_from_env().await, table);
    let quota = ServicePrincipal::new(QUOTA_PRINCIPAL, store.clone(), DEFAULT_CATALOG_REFRESH);
    if std::env::args().any(|a| a == "--dry-run") {
        let report = run(&quota, &store, false).await?;
        println!("{report}");
        return Ok(());
    }
    let (quota, store) = (&quota, &store);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        run(quota, store, true).await
    }))
    .await
}

async fn run(quota: &ServicePrincipal, store: &store::Store, repair: bool) -> Result<Value, Error> {
    let report = apiserver::quota_audit::audit_as(quota, store, repair)
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
