//! The watch stream as the resources function reads it: the change feed's
//! publisher puts every change on its collection's subject (domain::watch)
//! and a watch reads its collection's subjects from a position on, through
//! an ordered consumer of its own (ephemeral: nothing is kept per watcher
//! once it closes, and nothing at all while no one watches).

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream::Stream as JetStream};
use domain::watch::ChangeKind;

pub use super::events::Pacing;
use domain::ApiError;
use futures_util::{Stream, StreamExt};
use serde_json::Value;

/// How long a watch runs at most unless told otherwise: clients watch
/// again from their last resourceVersion when it ends.
const DEFAULT_LIMIT: Duration = Duration::from_secs(300);

/// Where the watch stream is: `NATS_URL`, `FEED_WATCH_STREAM`,
/// `FEED_WATCH_PREFIX` (the publisher reads the same variables), and how
/// long a watch may run (`WATCH_MAX_SECONDS`).
pub struct WatchSource {
    js: jetstream::Context,
    stream: String,
    prefix: String,
    /// The longest a watch runs before it ends cleanly.
    limit: Duration,
    pacing: Pacing,
}

/// One change as a watch reads it.
#[derive(Debug, Clone)]
pub struct Change {
    pub sequence: u64,
    pub kind: ChangeKind,
    pub object: Value,
    pub previous: Option<Value>,
}

/// The positions the stream holds: from `first` to `last` (`first` is
/// `last + 1` when it holds none).
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub first: u64,
    pub last: u64,
}

fn unavailable(what: &str, err: impl std::fmt::Display) -> ApiError {
    ApiError::ServiceUnavailable {
        message: format!("the watch stream could not be read ({what}: {err}); retry"),
    }
}

impl WatchSource {
    /// From the environment; None without `NATS_URL` (watch is then 405).
    /// The connection is made in the background, so a NATS that is away
    /// delays watches, never the instance's start.
    pub async fn from_env() -> Option<WatchSource> {
        let url = std::env::var("NATS_URL").ok()?;
        let var = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(&url)
            .await
            .ok()?;
        let source = WatchSource::new(
            jetstream::new(client),
            var("FEED_WATCH_STREAM", domain::watch::DEFAULT_STREAM),
            var("FEED_WATCH_PREFIX", domain::watch::DEFAULT_PREFIX),
        );
        let limit = std::env::var("WATCH_MAX_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok());
        Some(match limit {
            Some(seconds) => source.with_limit(Duration::from_secs(seconds)),
            None => source,
        })
    }

    pub fn new(js: jetstream::Context, stream: String, prefix: String) -> WatchSource {
        WatchSource {
            js,
            stream,
            prefix,
            limit: DEFAULT_LIMIT,
            pacing: Pacing::default(),
        }
    }

    /// The same source pacing its watches so (bookmarks, a slow reader).
    pub fn with_pacing(mut self, pacing: Pacing) -> WatchSource {
        self.pacing = pacing;
        self
    }

    pub fn pacing(&self) -> Pacing {
        self.pacing
    }

    /// The same source ending each watch after `limit` at the latest
    /// (`WATCH_MAX_SECONDS`: under the function's timeout).
    pub fn with_limit(mut self, limit: Duration) -> WatchSource {
        self.limit = limit;
        self
    }

    pub fn limit(&self) -> Duration {
        self.limit
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    async fn stream(&self) -> Result<JetStream, ApiError> {
        self.js
            .get_stream(&self.stream)
            .await
            .map_err(|e| unavailable(&self.stream, e))
    }

    pub async fn bounds(&self) -> Result<Bounds, ApiError> {
        let state = self
            .stream()
            .await?
            .get_info()
            .await
            .map_err(|e| unavailable("its state", e))?
            .state;
        Ok(Bounds {
            first: state.first_sequence,
            last: state.last_sequence,
        })
    }

    /// The changes on `filter` after position `after`, as they come.
    pub async fn changes(
        &self,
        filter: String,
        after: u64,
    ) -> Result<impl Stream<Item = Result<Change, ApiError>> + Send + 'static, ApiError> {
        let consumer = self
            .stream()
            .await?
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: filter,
                deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: after + 1,
                },
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable("a consumer", e))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| unavailable("its messages", e))?;
        Ok(messages.filter_map(|message| async move {
            let message = match message {
                Ok(message) => message,
                Err(err) => return Some(Err(unavailable("a message", err))),
            };
            let sequence = message.info().ok()?.stream_sequence;
            let payload: Value = serde_json::from_slice(&message.payload).ok()?;
            Some(Ok(Change {
                sequence,
                kind: ChangeKind::parse(payload["change"].as_str()?)?,
                previous: payload.get("previous").cloned(),
                object: payload.get("object")?.clone(),
            }))
        }))
    }
}
