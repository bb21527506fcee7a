//! The durable JetStream pull consumer, shared by every replica under one
//! configured name, with explicit acks. Two entry points over the same
//! handler core: [`Consumer::drain`] (a batch, for the Lambda on a
//! schedule) and [`Consumer::run`] (the long-running loop).
//!
//! The consumer is created (if missing) on the existing stream with
//! `max_deliver` unlimited on the server: the delivery bound is enforced by
//! [`settle`], which dead-letters a message still failing on its
//! `EVENTS_MAX_DELIVER`-th delivery. So the server never drops a message
//! silently; a process killed mid-message gets it redelivered after
//! `ack_wait`.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy, AckKind};
use futures_util::StreamExt;

use crate::config::ConsumerConfig;
use crate::graph::Graph;
use crate::handler::{handle, settle, Action, Outcome};

/// Redelivery of a message whose handler died (no ack, no nak).
pub const ACK_WAIT: Duration = Duration::from_secs(30);

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
}

pub struct Consumer {
    config: ConsumerConfig,
    graph: Graph,
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
        let js = jetstream::new(client);
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
        let mut batch = self
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
        while let Some(message) = batch.next().await {
            let message = message.map_err(|e| ConsumerError::Fetch(e.to_string()))?;
            let outcome = match &definitions {
                Ok(definitions) => {
                    handle(
                        &self.graph,
                        &self.config.ingest,
                        definitions,
                        message.subject.as_str(),
                        &message.payload,
                    )
                    .await
                }
                Err(e) => Outcome::Retry {
                    reason: e.to_string(),
                },
            };
            let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
            let action = settle(outcome, delivered, self.config.max_deliver, |n| {
                self.config.backoff_after(n)
            });
            self.apply(&message, action, &mut report).await;
        }
        Ok(report)
    }

    async fn apply(&self, message: &jetstream::Message, action: Action, report: &mut DrainReport) {
        let subject = message.subject.as_str();
        let result = match &action {
            Action::Ack => message.double_ack().await.map(|()| &mut report.acked),
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
                    Ok(()) => message
                        .double_ack()
                        .await
                        .map(|()| &mut report.dead_lettered),
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
