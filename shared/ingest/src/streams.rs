//! The streams the consumer reads and writes, created by the deployment
//! (`devctl create-stream`, localstack/start.sh's callers, an operator),
//! never by the consumer itself: a consumer that created its stream at start
//! would hide a misconfigured subject prefix behind an empty new stream.
//!
//! - the events stream (`EVENTS_STREAM`, default `LIFECYCLE`) on
//!   `{prefix}.*.*`, file storage, limits retention;
//! - the dead-letter stream `{EVENTS_STREAM}_DEADLETTER` on the dead-letter
//!   subject, so dead letters are kept for an operator to inspect, and the
//!   consumer's publish of one is acknowledged by JetStream before the
//!   original is acked (nothing is lost between the two).

use async_nats::jetstream::{self, stream};

use crate::config::ConsumerConfig;

/// The name of the dead-letter stream of `config`.
pub fn dead_letter_stream(config: &ConsumerConfig) -> String {
    format!("{}_DEADLETTER", config.stream)
}

#[derive(Debug, thiserror::Error)]
#[error("creating stream {stream}: {message}")]
pub struct StreamSetupError {
    pub stream: String,
    pub message: String,
}

/// Creates both streams if missing (an existing stream is left as it is).
pub async fn ensure_streams(
    js: &jetstream::Context,
    config: &ConsumerConfig,
) -> Result<(), StreamSetupError> {
    for (name, subject) in [
        (config.stream.clone(), config.event_subjects()),
        (
            dead_letter_stream(config),
            config.dead_letter_subject.clone(),
        ),
    ] {
        js.get_or_create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![subject],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|e| StreamSetupError {
            stream: name,
            message: e.to_string(),
        })?;
    }
    Ok(())
}
