#![allow(dead_code)] // each test binary uses a different part of this module
//! Shared set-up of the change feed's tests: a feed stream of the test's
//! own on the real nats-server (`NATS_URL`), the table stream's records,
//! and the messages the feed's stream holds.

use async_nats::jetstream;
use feed::FeedConfig;
use serde_json::Value;
use store::stream::{StreamRecord, TableStream};
use store::Store;

/// A feed configuration of the test's own: stream, subject prefix and
/// position bucket named after a fresh uuid; the stream created.
pub async fn feed_config(nats_url: &str) -> (FeedConfig, jetstream::Context) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let config = FeedConfig {
        nats_url: nats_url.to_string(),
        stream: format!("CHANGES_{id}"),
        prefix: format!("test.{id}"),
        checkpoints: format!("positions-{id}"),
        duplicate_window: feed::config::DEFAULT_DUPLICATE_WINDOW,
        watch_stream: format!("WATCH_{id}"),
        watch_prefix: format!("watch.{id}"),
        watch_window: feed::config::DEFAULT_WATCH_WINDOW,
    };
    let client = async_nats::connect(nats_url).await.expect("nats-server");
    let js = jetstream::new(client);
    feed::streams::ensure_streams(&js, &config)
        .await
        .expect("the feed's stream");
    (config, js)
}

pub fn nats_url() -> String {
    std::env::var("NATS_URL")
        .expect("NATS_URL is not set: run the tests with `make test`, which starts nats-server")
}

/// Every record the table's stream holds now, shards in the order listed.
pub async fn table_records(store: &Store) -> Vec<StreamRecord> {
    let stream = TableStream::open(store).await.expect("the table's stream");
    let mut records = Vec::new();
    for shard in stream.shards().await.expect("shards") {
        let mut at = stream.iterator(&shard.id, None).await.expect("iterator");
        while let Some(iterator) = at {
            let page = stream.records(&iterator).await.expect("records");
            if page.records.is_empty() {
                break;
            }
            records.extend(page.records);
            at = page.next;
        }
    }
    records
}

/// One message of the feed's stream.
#[derive(Debug, Clone)]
pub struct Message {
    pub subject: String,
    pub id: String,
    pub payload: Value,
}

/// Every message the feed's stream holds, in its order.
pub async fn messages(js: &jetstream::Context, stream: &str) -> Vec<Message> {
    let stream = js.get_stream(stream).await.expect("the feed's stream");
    let state = stream.get_info().await.expect("stream info").state;
    let mut messages = Vec::new();
    for sequence in state.first_sequence..=state.last_sequence {
        if state.messages == 0 {
            break;
        }
        let raw = stream.get_raw_message(sequence).await.expect("a message");
        messages.push(Message {
            subject: raw.subject.to_string(),
            id: raw
                .headers
                .get("Nats-Msg-Id")
                .map(|v| v.to_string())
                .unwrap_or_default(),
            payload: serde_json::from_slice(&raw.payload).expect("a JSON payload"),
        });
    }
    messages
}
