//! The feed's streams, created by the deployment (`devctl create-stream`,
//! an operator), never by the publisher: on `{prefix}.>` and
//! `{watch prefix}.>`, file storage, and the duplicate window that makes a
//! republish harmless.

use async_nats::jetstream::{self, stream};

use crate::config::FeedConfig;
use crate::publisher::FeedError;

/// Creates the feed's streams if missing (an existing one is left as it
/// is): the lifecycle events', kept as the operator's limits say, and the
/// watch stream, which keeps a change for the watch window.
pub async fn ensure_streams(js: &jetstream::Context, config: &FeedConfig) -> Result<(), FeedError> {
    let watch_window = config.watch_window;
    for stream in [
        stream::Config {
            name: config.stream.clone(),
            subjects: vec![config.subjects()],
            storage: stream::StorageType::File,
            duplicate_window: config.duplicate_window,
            ..Default::default()
        },
        stream::Config {
            name: config.watch_stream.clone(),
            subjects: vec![format!("{}.>", config.watch_prefix)],
            storage: stream::StorageType::File,
            max_age: watch_window,
            // JetStream keeps ids no longer than messages.
            duplicate_window: config.duplicate_window.min(watch_window),
            ..Default::default()
        },
    ] {
        let name = stream.name.clone();
        js.get_or_create_stream(stream)
            .await
            .map_err(|e| FeedError::Stream {
                stream: name,
                reason: e.to_string(),
            })?;
    }
    Ok(())
}
