//! The durable JetStream pull consumer, shared by every replica under one
//! configured name, with explicit acks. Two entry points over the same
//! handler core: [`Consumer::drain`] (a batch, for the Lambda on a
//! schedule) and [`Consumer::run`] (the long-running loop).
//!
//! Within a batch, the messages that have arrived are sorted into lanes,
//! one per resource ([`domain::lanes`]): up to [`RESOURCES_IN_FLIGHT`]
//! resources' events are handled at once, each resource's in the stream's
//! order. Acks are sent without waiting for each, and flushed once for the
//! messages handled together: a lost ack is a redelivery, which the graph
//! skips as already applied.
//!
//! The consumer is created (if missing) on the existing stream with
//! `max_deliver` unlimited on the server: the delivery bound is enforced by
//! [`settle`], which dead-letters a message still failing on its
//! `EVENTS_MAX_DELIVER`-th delivery. So the server never drops a message
//! silently; a process killed mid-message gets it redelivered after
//! `ack_wait`.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy, AckKind};
use domain::ingest::{LifecycleEvent, RelationshipType};
use futures_util::{stream, StreamExt};

use crate::config::ConsumerConfig;
use crate::graph::{Graph, GraphError};
use crate::handler::{apply, decode_message, settle, Action, Outcome};
use domain::lanes::lanes;

/// Redelivery of a message whose handler died (no ack, no nak).
pub const ACK_WAIT: Duration = Duration::from_secs(30);

/// Resources whose events one consumer handles at once. Each event waits
/// mostly on two DynamoDB round trips; several resources in flight hide
/// those waits. Not tuned: docs/benchmarks.md (Ingestion) measures at it.
pub const RESOURCES_IN_FLIGHT: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("connecting to NATS at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("the events stream {stream} does not exist or cannot be read ({message}); create it with `devctl create-stream` (see infra/README.md)")]
    Stream { stream: String, message: String },
    #[error("the durable consumer {name}: {message}")]
    Consumer { name: String, message: String },
    #[error("fetching messages: {0}")]
    Fetch(String),
}

/// What one drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    pub acked: usize,
    pub dead_lettered: usize,
    pub retried: usize,
    /// Messages whose ack, nak or dead-letter publish failed; they are
    /// redelivered after the ack wait.
    pub unsettled: usize,
}

impl DrainReport {
    pub fn messages(&self) -> usize {
        self.acked + self.dead_lettered + self.retried + self.unsettled
    }

    fn add(&mut self, other: DrainReport) {
        self.acked += other.acked;
        self.dead_lettered += other.dead_lettered;
        self.retried += other.retried;
        self.unsettled += other.unsettled;
    }
}

/// A message with what reading it gave.
type Read = (jetstream::Message, Result<LifecycleEvent, Outcome>);

pub struct Consumer {
    config: ConsumerConfig,
    graph: Graph,
    client: async_nats::Client,
    js: jetstream::Context,
    consumer: jetstream::consumer::PullConsumer,
}

impl Consumer {
    /// Connects, finds the stream (never creates it) and binds the durable
    /// consumer (created on the stream if missing).
    pub async fn connect(config: ConsumerConfig, graph: Graph) -> Result<Consumer, ConsumerError> {
        let client =
            async_nats::connect(&config.nats_url)
                .await
                .map_err(|e| ConsumerError::Connect {
                    url: config.nats_url.clone(),
                    message: e.to_string(),
                })?;
        let js = jetstream::new(client.clone());
        let stream = js
            .get_stream(&config.stream)
            .await
            .map_err(|e| ConsumerError::Stream {
                stream: config.stream.clone(),
                message: e.to_string(),
            })?;
        let consumer = stream
            .get_or_create_consumer(
                &config.consumer,
                pull::Config {
                    durable_name: Some(config.consumer.clone()),
                    filter_subject: config.event_subjects(),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: ACK_WAIT,
                    max_deliver: -1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| ConsumerError::Consumer {
                name: config.consumer.clone(),
                message: e.to_string(),
            })?;
        Ok(Consumer {
            config,
            graph,
            client,
            js,
            consumer,
        })
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// Handles up to `batch_size` messages, waiting at most `max_wait` for
    /// them to arrive.
    pub async fn drain(
        &self,
        batch_size: usize,
        max_wait: Duration,
    ) -> Result<DrainReport, ConsumerError> {
        let batch = self
            .consumer
            .fetch()
            .max_messages(batch_size)
            .expires(max_wait)
            .messages()
            .await
            .map_err(|e| ConsumerError::Fetch(e.to_string()))?;
        // Read once per batch: a RelationshipType change is in force from
        // the next batch on.
        let definitions = self.graph.definitions().await;
        let mut report = DrainReport::default();
        // What has arrived is handled while the rest is on its way.
        let mut arrived = batch.ready_chunks(batch_size.max(1));
        while let Some(chunk) = arrived.next().await {
            let mut failed = None;
            let mut read = Vec::with_capacity(chunk.len());
            for message in chunk {
                match message {
                    Ok(message) => read.push(self.read(message)),
                    Err(e) => failed = Some(ConsumerError::Fetch(e.to_string())),
                }
            }
            let keyed = read.into_iter().map(|(message, event)| {
                let key = event.as_ref().ok().map(|e| e.subject.to_string());
                (key, (message, event))
            });
            let reports: Vec<DrainReport> = stream::iter(lanes(keyed))
                .map(|lane| self.handle_lane(lane, &definitions))
                .buffer_unordered(RESOURCES_IN_FLIGHT)
                .collect()
                .await;
            reports.into_iter().for_each(|r| report.add(r));
            // The chunk's acks, sent without waiting, leave together.
            if let Err(e) = self.client.flush().await {
                tracing::warn!(error = %e, "acks not flushed; their messages are redelivered and skipped as applied");
            }
            if let Some(err) = failed {
                return Err(err);
            }
        }
        Ok(report)
    }

    fn read(&self, message: jetstream::Message) -> Read {
        let event = decode_message(
            &self.config.ingest,
            message.subject.as_str(),
            &message.payload,
        );
        (message, event)
    }

    /// One resource's messages, one after another.
    async fn handle_lane(
        &self,
        lane: Vec<Read>,
        definitions: &Result<Vec<RelationshipType>, GraphError>,
    ) -> DrainReport {
        let mut report = DrainReport::default();
        for (message, event) in lane {
            let outcome = match (event, definitions) {
                (Err(dead), _) => dead,
                (Ok(event), Ok(definitions)) => apply(&self.graph, definitions, &event).await,
                (Ok(_), Err(e)) => Outcome::Retry {
                    reason: e.to_string(),
                },
            };
            let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
            let action = settle(outcome, delivered, self.config.max_deliver, |n| {
                self.config.backoff_after(n)
            });
            self.carry_out(&message, action, &mut report).await;
        }
        report
    }

    async fn carry_out(
        &self,
        message: &jetstream::Message,
        action: Action,
        report: &mut DrainReport,
    ) {
        let subject = message.subject.as_str();
        let result = match &action {
            Action::Ack => message.ack().await.map(|()| &mut report.acked),
            Action::Nak(delay) => {
                tracing::warn!(subject, ?delay, "retrying later");
                message
                    .ack_with(AckKind::Nak(Some(*delay)))
                    .await
                    .map(|()| &mut report.retried)
            }
            Action::DeadLetter {
                reason,
                message: why,
            } => {
                tracing::warn!(subject, reason, why, "dead letter");
                match self.publish_dead_letter(message, reason, why).await {
                    Ok(()) => message.ack().await.map(|()| &mut report.dead_lettered),
                    Err(e) => Err(e),
                }
            }
        };
        match result {
            Ok(counter) => *counter += 1,
            Err(e) => {
                tracing::error!(subject, error = %e, ?action, "could not settle the message; it is redelivered");
                report.unsettled += 1;
            }
        }
    }

    /// The original payload, with headers `Milo-Dead-Letter-Reason` (a
    /// stable code), `Milo-Dead-Letter-Message` and `Milo-Original-Subject`,
    /// published through JetStream and acknowledged by it.
    async fn publish_dead_letter(
        &self,
        message: &jetstream::Message,
        reason: &str,
        why: &str,
    ) -> Result<(), async_nats::Error> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Milo-Dead-Letter-Reason", header_value(reason).as_str());
        headers.insert("Milo-Dead-Letter-Message", header_value(why).as_str());
        headers.insert(
            "Milo-Original-Subject",
            header_value(message.subject.as_str()).as_str(),
        );
        self.js
            .publish_with_headers(
                self.config.dead_letter_subject.clone(),
                headers,
                message.payload.clone(),
            )
            .await?
            .await?;
        Ok(())
    }

    /// The long-running consumer: drains batches until the process stops.
    /// A failing fetch (NATS away) is retried after a pause.
    pub async fn run(&self) -> Result<(), ConsumerError> {
        loop {
            match self.drain(100, Duration::from_secs(5)).await {
                Ok(report) if report.messages() > 0 => {
                    tracing::info!(?report, "batch handled");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "fetch failed; trying again shortly");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// A header value: one line, at most 1 KiB.
fn header_value(value: &str) -> String {
    let line: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(1024)
        .collect();
    line
}
