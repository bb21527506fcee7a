//! The one write that is not conditional: deleting many items with
//! BatchWriteItem, 25 to a call. Only a caller that has made the items
//! impossible to change meanwhile may use it (the gc function, emptying a
//! container flagged as deleting: see apiserver's `objects/delete_collection.rs`),
//! because a batch checks nothing: it is what a transaction of the same
//! items costs in a fraction of the time.

use std::time::Duration;

use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};

use crate::{backend, key_item, ItemKey, Store, StoreError};

/// BatchWriteItem's limit.
const BATCH_ITEMS: usize = 25;

/// How long to wait before sending again what a batch left unprocessed
/// (DynamoDB's answer to throttling), doubled each time up to 1.6 s.
const FIRST_RETRY: Duration = Duration::from_millis(50);

impl Store {
    /// Deletes `keys`, whatever the items hold (an absent one is no
    /// error), one BatchWriteItem call after another.
    pub async fn delete_unchecked(&self, keys: &[ItemKey]) -> Result<(), StoreError> {
        for chunk in keys.chunks(BATCH_ITEMS) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|key| {
                    DeleteRequest::builder()
                        .set_key(Some(key_item(key)))
                        .build()
                        .map(|delete| WriteRequest::builder().delete_request(delete).build())
                        .map_err(|e| StoreError::Backend(e.to_string()))
                })
                .collect::<Result<_, _>>()?;
            let mut wait = FIRST_RETRY;
            loop {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(backend)?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut rest| rest.remove(&self.table))
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(FIRST_RETRY * 32);
            }
        }
        Ok(())
    }

    /// Whether an object item is flagged as being deleted
    /// ([`crate::Write::MarkDeleting`]); false when it is absent. Strongly
    /// consistent.
    pub async fn is_flagged_deleting(&self, key: &ItemKey) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .projection_expression("deleting")
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(out.item.is_some_and(|item| item.contains_key("deleting")))
    }
}
