//! A batch of stream records published: each object's change becomes its
//! lifecycle event (domain::change_event) and its watch message
//! (domain::watch, on its collection's subject), each sent with its message
//! id so that JetStream's duplicate window drops a republish. One object's
//! events go one after another, each acknowledged before the next, so a
//! failure never lets a later change overtake an earlier one; different
//! objects' go side by side.

use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage};
use chrono::{DateTime, SecondsFormat};
use domain::change_event::{outbound, Change, Outbound};
use domain::lanes::lanes;
use domain::watch::{self, ChangeKind};
use futures_util::{stream, StreamExt, TryStreamExt};
use store::stream::StreamRecord;
use store::{Store, StoreError};

use crate::actors::Actors;
use crate::changes::{object_change, ObjectChange};
use crate::config::FeedConfig;
use crate::places::Places;

/// How many objects' events are in flight at once.
const OBJECTS_IN_FLIGHT: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("reading the table: {0}")]
    Store(#[from] StoreError),
    #[error("publishing {message_id} on {subject}: {reason}")]
    Publish {
        subject: String,
        message_id: String,
        reason: String,
    },
    #[error("the feed's stream {stream}: {reason}")]
    Stream { stream: String, reason: String },
    #[error("the publisher's position: {0}")]
    Checkpoint(String),
    #[error("connecting to NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
}

/// What one batch came to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Messages JetStream stored.
    pub stored: usize,
    /// Messages it had already (a republish after a stop).
    pub duplicates: usize,
    /// Records that are not an object's change, or whose document is corrupt.
    pub skipped: usize,
}

pub struct Publisher {
    js: jetstream::Context,
    store: Store,
    config: FeedConfig,
}

impl Publisher {
    /// Connects to NATS; the feed's stream must exist (devctl create-stream
    /// or the operator creates it, so that a mistyped name is an error,
    /// not a new stream no one reads).
    pub async fn connect(config: FeedConfig, store: Store) -> Result<Publisher, FeedError> {
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(&config.nats_url)
            .await
            .map_err(|e| FeedError::Connect {
                url: config.nats_url.clone(),
                reason: e.to_string(),
            })?;
        let js = jetstream::new(client);
        for stream in [&config.stream, &config.watch_stream] {
            js.get_stream(stream).await.map_err(|e| FeedError::Stream {
                stream: stream.clone(),
                reason: format!("{e}; create it with `devctl create-stream`"),
            })?;
        }
        Ok(Publisher { js, store, config })
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    pub fn config(&self) -> &FeedConfig {
        &self.config
    }

    /// Publishes every object change of `records` (in the stream's order
    /// per item). An error means some may not be stored: publish the same
    /// records again, and JetStream drops what it already has.
    pub async fn publish(&self, records: &[StreamRecord]) -> Result<Published, FeedError> {
        let mut report = Published::default();
        let mut changes = Vec::new();
        for record in records {
            match object_change(record) {
                Ok(Some(change)) => changes.push((record, change)),
                Ok(None) => report.skipped += 1,
                Err(corrupt) => {
                    tracing::error!(%corrupt, "not published");
                    report.skipped += 1;
                }
            }
        }
        let mut places = Places::new(&self.store, changes.iter().map(|(_, change)| change));
        let mut actors = Actors::new(&self.store);
        let mut messages = Vec::new();
        for (record, change) in &changes {
            let place = places.place(change).await?;
            let actor = actors.actor(record, change).await?;
            let timestamp = DateTime::from_timestamp(record.created, 0)
                .unwrap_or_default()
                .to_rfc3339_opts(SecondsFormat::Secs, true);
            let event = Change {
                kind: &change.at.kind,
                before: change.before.as_ref(),
                after: change.after.as_ref(),
                place: &place,
                actor: actor.as_ref(),
                timestamp: &timestamp,
            };
            let lane = Some(format!("{}#{}", record.key.pk, record.key.sk));
            let change_messages = outbound(&self.config.prefix, &event)
                .into_iter()
                .chain(self.watch_message(change))
                .collect();
            messages.push((lane, change_messages));
        }
        let acks: Vec<Vec<bool>> = stream::iter(lanes(messages))
            .map(|lane| self.publish_lane(lane))
            .buffer_unordered(OBJECTS_IN_FLIGHT)
            .try_collect()
            .await?;
        for duplicate in acks.into_iter().flatten() {
            if duplicate {
                report.duplicates += 1;
            } else {
                report.stored += 1;
            }
        }
        Ok(report)
    }

    /// The watch stream's message of `change`, on its collection's
    /// subject; None for an object without a uid.
    fn watch_message(&self, change: &ObjectChange) -> Option<Outbound> {
        let object = change.object()?;
        let kind = match (&change.before, &change.after) {
            (None, Some(_)) => ChangeKind::Create,
            (Some(_), Some(_)) => ChangeKind::Update,
            _ => ChangeKind::Delete,
        };
        let version = match kind {
            ChangeKind::Delete => "delete",
            _ => object.metadata.resource_version.as_str(),
        };
        let previous = change
            .before
            .as_ref()
            .filter(|_| kind == ChangeKind::Update);
        (!object.metadata.uid.is_empty()).then(|| Outbound {
            subject: watch::subject(
                &self.config.watch_prefix,
                &change.at.context.key_part(),
                &change.at.group,
                &change.at.kind,
                &change.at.namespace,
            ),
            message_id: format!("{}:{version}", object.metadata.uid),
            payload: watch::message(
                kind,
                &object.to_value(),
                previous.map(|p| p.to_value()).as_ref(),
            ),
        })
    }

    /// One object's changes in order, each change's messages (one per
    /// stream, so no order between them) sent together and all stored
    /// before the next change's are sent; whether each was a duplicate.
    async fn publish_lane(&self, lane: Vec<Vec<Outbound>>) -> Result<Vec<bool>, FeedError> {
        let mut duplicates = Vec::with_capacity(lane.len() * 2);
        for change in lane {
            let mut acks = Vec::with_capacity(change.len());
            for message in &change {
                acks.push(self.send(message).await?);
            }
            for (message, ack) in change.iter().zip(acks) {
                let ack = ack.await.map_err(|e| failed(message, e.to_string()))?;
                duplicates.push(ack.duplicate);
            }
        }
        Ok(duplicates)
    }

    async fn send(&self, message: &Outbound) -> Result<PublishAckFuture, FeedError> {
        let payload =
            serde_json::to_vec(&message.payload).map_err(|e| failed(message, e.to_string()))?;
        let publish = PublishMessage::build()
            .payload(payload.into())
            .message_id(&message.message_id);
        self.js
            .send_publish(message.subject.clone(), publish)
            .await
            .map_err(|e| failed(message, e.to_string()))
    }
}

fn failed(message: &Outbound, reason: String) -> FeedError {
    FeedError::Publish {
        subject: message.subject.clone(),
        message_id: message.message_id.clone(),
        reason,
    }
}
