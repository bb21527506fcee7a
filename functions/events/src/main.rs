//! The `events` function: lifecycle events in and out of the platform.
//!
//! - In: events from NATS JetStream into the graph. A schedule's invoke
//!   drains batches until the stream is empty or the time budget is spent;
//!   `--consume` is the long-running consumer (`make dev`). Both share
//!   `ingest::Consumer`, writing as `system:events`.
//! - Out: the change feed. An invoke with the table stream's records (the
//!   event-source mapping) publishes them; `--publish` is the long-running
//!   poller of the stream (`make dev`). Both share `feed::Publisher`.
//!
//! Each side connects on its first use, so a deployment of one side needs
//! nothing of the other. Environment: `TABLE_NAME`, `DYNAMODB_ENDPOINT`
//! (local), `NATS_URL`, and the `EVENTS_*` (ingest::config) and `FEED_*`
//! (feed::config) variables.

use std::time::{Duration, Instant};

use feed::{FeedConfig, Poller, Publisher};
use ingest::{Consumer, ConsumerConfig, DrainReport};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use store::stream::{StreamRecord, TableStream};
use store::Store;
use tokio::sync::OnceCell;

/// Messages per fetch, and how long a fetch waits for them.
const BATCH: usize = 100;
const FETCH_WAIT: Duration = Duration::from_secs(2);
/// A scheduled invoke stops fetching after this long (the function's
/// timeout in infra/template.yaml is 60 s).
const DRAIN_BUDGET: Duration = Duration::from_secs(40);

#[tokio::main]
async fn main() -> Result<(), Error> {
    apiserver::lambda::init_logs();
    if std::env::args().any(|a| a == "--consume") {
        tracing::info!("consuming until stopped");
        consumer().await?.run().await?;
        return Ok(());
    }
    if std::env::args().any(|a| a == "--publish") {
        let publisher = publisher().await?;
        let stream = TableStream::open(&table().await?).await?;
        tracing::info!("publishing the table's changes until stopped");
        Poller::new(publisher, stream).await?.run().await;
    }
    let consumer = OnceCell::new();
    let publisher = OnceCell::new();
    let (consumer, publisher) = (&consumer, &publisher);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        match stream_records(&event.payload) {
            Some(records) => {
                let publisher = publisher.get_or_try_init(publisher_once).await?;
                let report = publisher.publish(&records).await?;
                tracing::info!(?report, "published");
                Ok::<_, Error>(json!({"stored": report.stored, "duplicates": report.duplicates}))
            }
            None => {
                let report = drain(consumer.get_or_try_init(consumer_once).await?).await?;
                Ok(json!({
                    "acked": report.acked,
                    "deadLettered": report.dead_lettered,
                    "retried": report.retried,
                    "unsettled": report.unsettled,
                }))
            }
        }
    }))
    .await
}

/// The records of a DynamoDB stream event; None for any other payload.
fn stream_records(payload: &Value) -> Option<Vec<StreamRecord>> {
    let records = payload.get("Records")?.as_array()?;
    let from_stream = records
        .iter()
        .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:dynamodb"));
    from_stream.then(|| {
        records
            .iter()
            .filter_map(StreamRecord::from_lambda_record)
            .collect()
    })
}

async fn table() -> Result<Store, Error> {
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    Ok(Store::new(Store::client_from_env().await, table))
}

async fn consumer() -> Result<Consumer, Error> {
    let config = ConsumerConfig::from_env()?;
    let graph = apiserver::events_graph(table().await?, apiserver::DEFAULT_CATALOG_REFRESH);
    Ok(Consumer::connect(config, graph).await?)
}

async fn publisher() -> Result<Publisher, Error> {
    Ok(Publisher::connect(FeedConfig::from_env()?, table().await?).await?)
}

// `OnceCell::get_or_try_init` takes a function returning a future.
async fn consumer_once() -> Result<Consumer, Error> {
    consumer().await
}

async fn publisher_once() -> Result<Publisher, Error> {
    publisher().await
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
