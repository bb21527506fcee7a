//! The table's stream (DynamoDB Streams, `NEW_AND_OLD_IMAGES`): every
//! committed change of an item, in commit order per item. The change
//! feed's publisher reads it; on AWS an event-source mapping hands it the
//! same records ([`StreamRecord::from_lambda_record`]), locally its poller
//! reads them with [`TableStream`].

use aws_sdk_dynamodbstreams::types::{AttributeValue, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client;
use serde_json::Value;

use crate::{backend, ItemKey, Store, StoreError, WRITER};

/// One item's change, with only what the publisher reads: the key, the
/// object document (`obj`) before and after, and who wrote it. A record of
/// an item that holds no document (an index item, a queue entry) has
/// neither document.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRecord {
    pub key: ItemKey,
    pub old: Option<String>,
    pub new: Option<String>,
    /// Who wrote the new version (the item's writer field), if it says.
    pub writer: Option<String>,
    /// The record's place in its shard: where a reader resumes after it.
    pub sequence: String,
    /// When the change was committed, in seconds since the epoch.
    pub created: i64,
}

/// One shard of the stream. A shard's records come after its parent's.
#[derive(Debug, Clone, PartialEq)]
pub struct Shard {
    pub id: String,
    pub parent: Option<String>,
}

/// One page of a shard's records; `next` is None once the shard is closed
/// and read to its end.
pub struct RecordPage {
    pub records: Vec<StreamRecord>,
    pub next: Option<String>,
}

/// The reader of one table's stream.
pub struct TableStream {
    client: Client,
    arn: String,
}

impl TableStream {
    /// The stream of `store`'s table; DynamoDB Local's when
    /// `DYNAMODB_ENDPOINT` is set (it serves streams on the same endpoint).
    pub async fn open(store: &Store) -> Result<TableStream, StoreError> {
        let table = store
            .client()
            .describe_table()
            .table_name(store.table())
            .send()
            .await
            .map_err(backend)?;
        let arn = table
            .table()
            .and_then(|t| t.latest_stream_arn())
            .ok_or_else(|| {
                StoreError::Backend(format!(
                    "table {} has no stream; infra/template.yaml enables it",
                    store.table()
                ))
            })?
            .to_string();
        let config = aws_config::load_from_env().await;
        let mut builder = aws_sdk_dynamodbstreams::config::Builder::from(&config);
        if let Ok(endpoint) = std::env::var("DYNAMODB_ENDPOINT") {
            builder = builder.endpoint_url(endpoint);
        }
        Ok(TableStream {
            client: Client::from_conf(builder.build()),
            arn,
        })
    }

    /// Every shard the stream still holds.
    pub async fn shards(&self) -> Result<Vec<Shard>, StoreError> {
        let mut shards = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let page = self
                .client
                .describe_stream()
                .stream_arn(&self.arn)
                .set_exclusive_start_shard_id(start.take())
                .send()
                .await
                .map_err(backend)?;
            let Some(description) = page.stream_description() else {
                return Ok(shards);
            };
            shards.extend(description.shards().iter().filter_map(|shard| {
                Some(Shard {
                    id: shard.shard_id()?.to_string(),
                    parent: shard.parent_shard_id().map(str::to_string),
                })
            }));
            match description.last_evaluated_shard_id() {
                Some(last) => start = Some(last.to_string()),
                None => return Ok(shards),
            }
        }
    }

    /// Where to read `shard` from: after `sequence`, or from its oldest
    /// record. None when the shard is gone (trimmed).
    pub async fn iterator(
        &self,
        shard: &str,
        after: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let request = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.arn)
            .shard_id(shard);
        let request = match after {
            Some(sequence) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(sequence),
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        match request.send().await {
            Ok(answer) => Ok(answer.shard_iterator().map(str::to_string)),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(backend(err)),
        }
    }

    /// The records at `iterator`, and where the next page starts.
    pub async fn records(&self, iterator: &str) -> Result<RecordPage, StoreError> {
        let page = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(1000)
            .send()
            .await
            .map_err(backend)?;
        let records = page
            .records()
            .iter()
            .filter_map(|record| {
                let change = record.dynamodb()?;
                let key = change.keys()?;
                Some(StreamRecord {
                    key: ItemKey {
                        pk: text(key.get("pk"))?,
                        sk: text(key.get("sk"))?,
                    },
                    old: change.old_image().and_then(|image| text(image.get("obj"))),
                    new: change.new_image().and_then(|image| text(image.get("obj"))),
                    writer: change.new_image().and_then(|image| text(image.get(WRITER))),
                    sequence: change.sequence_number()?.to_string(),
                    created: change
                        .approximate_creation_date_time()
                        .map_or(0, |time| time.secs()),
                })
            })
            .collect();
        Ok(RecordPage {
            records,
            next: page.next_shard_iterator().map(str::to_string),
        })
    }
}

fn text(value: Option<&AttributeValue>) -> Option<String> {
    match value? {
        AttributeValue::S(text) => Some(text.clone()),
        _ => None,
    }
}

impl StreamRecord {
    /// A record of a Lambda DynamoDB stream event (`Records[i]`, the
    /// attribute values in DynamoDB's JSON); None when it is not one.
    pub fn from_lambda_record(record: &Value) -> Option<StreamRecord> {
        let change = record.get("dynamodb")?;
        let string = |image: &str, name: &str| -> Option<String> {
            Some(
                change
                    .get(image)?
                    .get(name)?
                    .get("S")?
                    .as_str()?
                    .to_string(),
            )
        };
        Some(StreamRecord {
            key: ItemKey {
                pk: string("Keys", "pk")?,
                sk: string("Keys", "sk")?,
            },
            old: string("OldImage", "obj"),
            new: string("NewImage", "obj"),
            writer: string("NewImage", WRITER),
            sequence: change.get("SequenceNumber")?.as_str()?.to_string(),
            created: change
                .get("ApproximateCreationDateTime")
                .and_then(Value::as_f64)
                .map_or(0, |seconds| seconds as i64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_lambda_record_gives_its_key_images_writer_and_sequence() {
        let record = json!({
            "eventName": "MODIFY",
            "dynamodb": {
                "ApproximateCreationDateTime": 1_765_000_000.0,
                "Keys": {"pk": {"S": "o#_#g#Kind"}, "sk": {"S": "#name"}},
                "OldImage": {"obj": {"S": "{\"a\":1}"}, "rv": {"N": "1"}},
                "NewImage": {"obj": {"S": "{\"a\":2}"}, "rv": {"N": "2"}, "by": {"S": "alice"}},
                "SequenceNumber": "4100000000000000000001",
            }
        });
        let parsed = StreamRecord::from_lambda_record(&record).unwrap();
        assert_eq!(parsed.key.pk, "o#_#g#Kind");
        assert_eq!(parsed.key.sk, "#name");
        assert_eq!(parsed.old.as_deref(), Some("{\"a\":1}"));
        assert_eq!(parsed.new.as_deref(), Some("{\"a\":2}"));
        assert_eq!(parsed.sequence, "4100000000000000000001");
        assert_eq!(parsed.created, 1_765_000_000);
        assert_eq!(parsed.writer.as_deref(), Some("alice"));
    }

    #[test]
    fn a_removed_item_has_no_new_image_and_an_index_item_no_document() {
        let removed = json!({"dynamodb": {
            "Keys": {"pk": {"S": "o#_#g#Kind"}, "sk": {"S": "#name"}},
            "OldImage": {"obj": {"S": "{}"}},
            "SequenceNumber": "7",
        }});
        let parsed = StreamRecord::from_lambda_record(&removed).unwrap();
        assert_eq!((parsed.old.is_some(), parsed.new.is_some()), (true, false));
        let index = json!({"dynamodb": {
            "Keys": {"pk": {"S": "l#_#g#Kind#app"}, "sk": {"S": "web##name"}},
            "NewImage": {"opk": {"S": "o#_#g#Kind"}},
            "SequenceNumber": "8",
        }});
        let parsed = StreamRecord::from_lambda_record(&index).unwrap();
        assert_eq!((parsed.old, parsed.new), (None, None));
        assert!(StreamRecord::from_lambda_record(&json!({"eventName": "x"})).is_none());
    }
}
