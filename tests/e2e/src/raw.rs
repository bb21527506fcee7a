//! The benchmarks' raw side: aws-sdk-dynamodb calls as a hand-written
//! client would make them, with the item shapes store::operation builds and
//! the store's retry of conflicting transactions; and the benchmark table's
//! creation (its stream off) and clean-up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use store::ItemKey;

/// As the store: transactions cancelled by a concurrent one are retried.
pub const CONFLICT_ATTEMPTS: u32 = 5;

/// A string attribute.
pub fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

/// An item's key attributes, pk and sk.
pub fn key_item(key: &ItemKey) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), s(&key.pk)),
        ("sk".to_string(), s(&key.sk)),
    ])
}

/// A consistent GetItem of `key`.
pub async fn get_item(
    client: &Client,
    table: &str,
    key: &ItemKey,
) -> anyhow::Result<Option<HashMap<String, AttributeValue>>> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(key_item(key)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| anyhow!("raw GetItem: {}", DisplayErrorContext(e)))?;
    Ok(out.item)
}

/// TransactWriteItems with the store's retry of conflicts: a fresh client
/// request token per attempt, jittered back-off; each retry is counted in
/// `retries`.
pub async fn transact(
    client: &Client,
    items: Vec<TransactWriteItem>,
    retries: &AtomicUsize,
) -> anyhow::Result<()> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = client
            .transact_write_items()
            .set_transact_items(Some(items.clone()))
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .send()
            .await;
        match result {
            Ok(_) => return Ok(()),
            Err(e) if attempt < CONFLICT_ATTEMPTS && is_conflict(&e) => {
                retries.fetch_add(1, Ordering::Relaxed);
                let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0] % 16);
                tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt) + jitter)).await;
            }
            Err(e) => bail!("raw TransactWriteItems: {}", DisplayErrorContext(e)),
        }
    }
}

/// Whether a transaction failed only because a concurrent one got in the
/// way, so that it may be retried.
pub fn is_conflict<R>(
    err: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        R,
    >,
) -> bool {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
    match err.as_service_error() {
        Some(E::TransactionCanceledException(c)) => c
            .cancellation_reasons()
            .iter()
            .any(|r| r.code() == Some("TransactionConflict")),
        Some(E::TransactionInProgressException(_)) => true,
        _ => false,
    }
}

/// Creates `table` as the store's template does, then turns its stream off
/// (see [`disable_stream`]).
pub async fn create_table(client: &Client, table: &str) -> anyhow::Result<()> {
    store::table::create_table(client, table)
        .await
        .with_context(|| format!("creating table {table}"))?;
    disable_stream(client, table).await
}

/// DynamoDB Local keeps every stream record in its SQLite database and
/// reads them back on each write, so with the template's stream on, a write
/// gets slower with every write before it and figures drift within a run.
/// AWS's streams are off the write path; turning the stream off here keeps
/// DynamoDB Local's latencies flat (see docs/benchmarks.md).
async fn disable_stream(client: &Client, table: &str) -> anyhow::Result<()> {
    let spec = aws_sdk_dynamodb::types::StreamSpecification::builder()
        .stream_enabled(false)
        .build()?;
    client
        .update_table()
        .table_name(table)
        .stream_specification(spec)
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "turning off the stream of {table}: {}",
                DisplayErrorContext(e)
            )
        })?;
    Ok(())
}

/// Best effort: a failed delete leaves a table behind, nothing worse.
pub async fn drop_table(client: &Client, table: &str) {
    if let Err(e) = client.delete_table().table_name(table).send().await {
        eprintln!("could not delete table {table}: {}", DisplayErrorContext(e));
    }
}
