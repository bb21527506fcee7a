//! The `events` function: lifecycle events from NATS JetStream into the
//! graph. As a Lambda (a schedule's invoke, any payload) it drains batches
//! until the stream is empty or the time budget is spent; with `--consume`
//! it is the long-running consumer (`make dev`). Both share
//! `ingest::Consumer` and its one handler core, writing as `system:events`.
//! Environment: `TABLE_NAME`,
//! `DYNAMODB_ENDPOINT` (local), and the `NATS_URL` / `EVENTS_*` variables
//! of `ingest::config`.

use std::time::{Duration, Instant};

use ingest::{Consumer, ConsumerConfig, DrainReport};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

/// Messages per fetch, and how long a fetch waits for them.
const BATCH: usize = 100;
const FETCH_WAIT: Duration = Duration::from_secs(2);
/// A scheduled invoke stops fetching after this long (the function's
/// timeout in infra/template.yaml is 60 s).
const DRAIN_BUDGET: Duration = Duration::from_secs(40);

#[tokio::main]
async fn main() -> Result<(), Error> {
    apiserver::lambda::init_logs();
    let consumer = connect().await?;
    if std::env::args().any(|a| a == "--consume") {
        tracing::info!("consuming until stopped");
        consumer.run().await?;
        return Ok(());
    }
    let consumer = &consumer;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let report = drain(consumer).await?;
        Ok::<_, Error>(json!({
            "acked": report.acked,
            "deadLettered": report.dead_lettered,
            "retried": report.retried,
            "unsettled": report.unsettled,
        }))
    }))
    .await
}

async fn connect() -> Result<Consumer, Error> {
    let config = ConsumerConfig::from_env()?;
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let store = store::Store::new(store::Store::client_from_env().await, table);
    let graph = apiserver::events_graph(store, apiserver::DEFAULT_CATALOG_REFRESH);
    Ok(Consumer::connect(config, graph).await?)
}

/// Batches until one comes back empty or the budget is spent.
async fn drain(consumer: &Consumer) -> Result<DrainReport, Error> {
    let started = Instant::now();
    let mut total = DrainReport::default();
    while started.elapsed() < DRAIN_BUDGET {
        let report = consumer.drain(BATCH, FETCH_WAIT).await?;
        if report.messages() == 0 {
            break;
        }
        total.acked += report.acked;
        total.dead_lettered += report.dead_lettered;
        total.retried += report.retried;
        total.unsettled += report.unsettled;
    }
    tracing::info!(?total, "drained");
    Ok(total)
}
