//! The one handler core both entry points share: a message in, an
//! [`Outcome`] out; and [`settle`], which turns an outcome and the message's
//! delivery count into what is done with the message.

use std::time::Duration;

use domain::ingest::{decode, relationships, IngestConfig, LifecycleEvent, RelationshipType};
use store::StoreError;

use crate::graph::{Graph, GraphError, Ingested};

/// What handling a message came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Applied, or skipped (a redelivery, an older event): acknowledge.
    Ack(Ingested),
    /// Can never succeed: publish to the dead-letter subject, then ack.
    DeadLetter { reason: String, message: String },
    /// Failed for a passing reason (storage throttled or down): redeliver.
    Retry { reason: String },
}

/// Reason codes of dead letters decided here rather than by the domain.
pub const RECORD_TOO_LARGE: &str = "RecordTooLarge";
pub const TOO_MANY_CHANGES: &str = "TooManyChanges";
pub const RETRIES_EXHAUSTED: &str = "RetriesExhausted";
pub const FORBIDDEN: &str = "Forbidden";

/// Handles one message that arrived on `subject`, given the defined
/// relationship types (read once per batch).
pub async fn handle(
    graph: &Graph,
    config: &IngestConfig,
    definitions: &[RelationshipType],
    subject: &str,
    payload: &[u8],
) -> Outcome {
    match decode_message(config, subject, payload) {
        Ok(event) => apply(graph, definitions, &event).await,
        Err(dead) => dead,
    }
}

/// A message read, or the dead letter it makes.
pub fn decode_message(
    config: &IngestConfig,
    subject: &str,
    payload: &[u8],
) -> Result<LifecycleEvent, Outcome> {
    decode(subject, payload, config).map_err(dead_letter)
}

/// An event, decoded, written to the graph.
pub async fn apply(
    graph: &Graph,
    definitions: &[RelationshipType],
    event: &LifecycleEvent,
) -> Outcome {
    let related = match relationships(event, definitions) {
        Ok(related) => related,
        Err(d) => return dead_letter(d),
    };
    match graph.ingest(event, &related).await {
        Ok(done) => Outcome::Ack(done),
        Err(e) => from_graph_error(e),
    }
}

fn dead_letter(d: domain::ingest::DeadLetter) -> Outcome {
    Outcome::DeadLetter {
        reason: d.reason.as_str().to_string(),
        message: d.message,
    }
}

/// Permanent failures are dead letters; everything that may pass is retried.
pub fn from_graph_error(err: GraphError) -> Outcome {
    match err {
        GraphError::TooManyItems { .. } => Outcome::DeadLetter {
            reason: TOO_MANY_CHANGES.into(),
            message: err.to_string(),
        },
        GraphError::Store(StoreError::TooLarge(message)) => Outcome::DeadLetter {
            reason: RECORD_TOO_LARGE.into(),
            message,
        },
        // Kept on the dead-letter subject, to be replayed once granted.
        GraphError::Forbidden(message) => Outcome::DeadLetter {
            reason: FORBIDDEN.into(),
            message,
        },
        // Throttled, down, contended, or data an operator can repair.
        other => Outcome::Retry {
            reason: other.to_string(),
        },
    }
}

/// What to do with a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Ack,
    /// Publish the message to the dead-letter subject with this reason and
    /// message, then ack it (if the publish fails: redeliver instead).
    DeadLetter {
        reason: String,
        message: String,
    },
    /// Negative acknowledgement: redeliver after this delay.
    Nak(Duration),
}

/// `outcome` of a message delivered `delivered` times (1 the first time),
/// given at most `max_deliver` deliveries and the back-off `backoff(n)`
/// after delivery n. A message still failing on its last allowed delivery
/// is dead-lettered with the last reason.
pub fn settle(
    outcome: Outcome,
    delivered: i64,
    max_deliver: i64,
    backoff: impl Fn(i64) -> Duration,
) -> Action {
    match outcome {
        Outcome::Ack(_) => Action::Ack,
        Outcome::DeadLetter { reason, message } => Action::DeadLetter { reason, message },
        Outcome::Retry { reason } if delivered >= max_deliver => Action::DeadLetter {
            reason: RETRIES_EXHAUSTED.into(),
            message: format!("failed on each of {delivered} deliveries; last: {reason}"),
        },
        Outcome::Retry { .. } => Action::Nak(backoff(delivered)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry() -> Outcome {
        Outcome::Retry {
            reason: "the table is throttling requests".into(),
        }
    }

    #[test]
    fn passing_failures_are_retried_with_back_off_then_dead_lettered() {
        let backoff = |n: i64| Duration::from_secs(n as u64 * 10);
        assert_eq!(
            settle(retry(), 1, 3, backoff),
            Action::Nak(Duration::from_secs(10))
        );
        assert_eq!(
            settle(retry(), 2, 3, backoff),
            Action::Nak(Duration::from_secs(20))
        );
        match settle(retry(), 3, 3, backoff) {
            Action::DeadLetter { reason, message } => {
                assert_eq!(reason, RETRIES_EXHAUSTED);
                assert!(message.contains("3 deliveries") && message.contains("throttling"));
            }
            other => panic!("expected a dead letter, got {other:?}"),
        }
    }

    #[test]
    fn dead_letters_and_acks_do_not_depend_on_the_delivery() {
        let dead = Outcome::DeadLetter {
            reason: "InvalidUrn".into(),
            message: "m".into(),
        };
        assert!(
            matches!(settle(dead, 1, 5, |_| Duration::ZERO), Action::DeadLetter { reason, .. } if reason == "InvalidUrn")
        );
        let skipped = Outcome::Ack(Ingested::Skipped(
            domain::ingest::SkipReason::AlreadyApplied,
        ));
        assert_eq!(settle(skipped, 9, 5, |_| Duration::ZERO), Action::Ack);
    }

    #[test]
    fn store_errors_are_sorted_into_permanent_and_passing() {
        assert!(matches!(
            from_graph_error(GraphError::TooManyItems { count: 120, limit: 100 }),
            Outcome::DeadLetter { reason, .. } if reason == TOO_MANY_CHANGES
        ));
        assert!(matches!(
            from_graph_error(GraphError::Store(StoreError::TooLarge("big".into()))),
            Outcome::DeadLetter { reason, .. } if reason == RECORD_TOO_LARGE
        ));
        for passing in [
            StoreError::Throttled,
            StoreError::Backend("connection refused".into()),
            StoreError::TransactionConflict,
        ] {
            assert!(matches!(
                from_graph_error(GraphError::Store(passing)),
                Outcome::Retry { .. }
            ));
        }
    }
}
