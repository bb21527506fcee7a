//! The feed's stream, created by the deployment (`devctl create-stream`,
//! an operator), never by the publisher: on `{prefix}.>`, file storage,
//! and the duplicate window that makes a republish harmless.

use async_nats::jetstream::{self, stream};

use crate::config::FeedConfig;
use crate::publisher::FeedError;

/// Creates the feed's stream if missing (an existing one is left as it is).
pub async fn ensure_stream(js: &jetstream::Context, config: &FeedConfig) -> Result<(), FeedError> {
    js.get_or_create_stream(stream::Config {
        name: config.stream.clone(),
        subjects: vec![config.subjects()],
        storage: stream::StorageType::File,
        duplicate_window: config.duplicate_window,
        ..Default::default()
    })
    .await
    .map(|_| ())
    .map_err(|e| FeedError::Stream {
        stream: config.stream.clone(),
        reason: e.to_string(),
    })
}
