//! The consumer's configuration, from the environment.
//!
//! | variable                     | default                         | meaning |
//! |------------------------------|---------------------------------|---------|
//! | `NATS_URL`                   | `nats://127.0.0.1:4222`         | the NATS server |
//! | `EVENTS_STREAM`              | `LIFECYCLE`                     | the JetStream stream holding the events (created by `devctl create-stream` / the operator, never by the consumer) |
//! | `EVENTS_SUBJECT_PREFIX`      | `com.infratographer.events`     | subjects are `{prefix}.{resource_type}.{event}` |
//! | `EVENTS_CONSUMER`            | `milo-events-ingest`            | the durable pull consumer, shared by every replica |
//! | `EVENTS_PREFIX_MAP`          | empty                           | camelCase id prefixes: `loadbal=infratographer:loadbalancer,...` |
//! | `EVENTS_DEAD_LETTER_SUBJECT` | `{prefix}.deadletter`           | where messages that can never succeed go (its own stream) |
//! | `EVENTS_MAX_DELIVER`         | `5`                             | deliveries of a message failing for a passing reason before it is dead-lettered |
//! | `EVENTS_BACKOFF_SECONDS`     | `1,5,30,120`                    | delay before the 2nd, 3rd, ... delivery (the last repeats) |
//!
//! The stream captures `{prefix}.*.*`; the dead-letter subject must not be
//! one of those subjects, or dead letters would be consumed again.

use std::time::Duration;

use domain::ingest::{ConfigError, IngestConfig};

pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";
pub const DEFAULT_STREAM: &str = "LIFECYCLE";
pub const DEFAULT_PREFIX: &str = "com.infratographer.events";
pub const DEFAULT_CONSUMER: &str = "milo-events-ingest";
pub const DEFAULT_MAX_DELIVER: i64 = 5;
pub const DEFAULT_BACKOFF_SECONDS: &[u64] = &[1, 5, 30, 120];

#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerConfig {
    pub nats_url: String,
    pub stream: String,
    pub consumer: String,
    pub dead_letter_subject: String,
    pub max_deliver: i64,
    pub backoff: Vec<Duration>,
    pub ingest: IngestConfig,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConsumerConfigError {
    #[error(transparent)]
    Ingest(#[from] ConfigError),
    #[error("{name} is {value:?}; {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("the dead-letter subject {subject:?} is captured by the event subjects {pattern:?}: choose one outside them")]
    DeadLetterCaptured { subject: String, pattern: String },
}

impl ConsumerConfig {
    /// From the environment (see the module's table).
    pub fn from_env() -> Result<ConsumerConfig, ConsumerConfigError> {
        ConsumerConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// From `lookup(name)`, the environment or a test's map.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ConsumerConfig, ConsumerConfigError> {
        let get = |name: &str, default: &str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        let prefix = get("EVENTS_SUBJECT_PREFIX", DEFAULT_PREFIX);
        let ingest = IngestConfig::from_env_values(&prefix, &get("EVENTS_PREFIX_MAP", ""))?;
        let dead_letter_subject = get(
            "EVENTS_DEAD_LETTER_SUBJECT",
            &format!("{prefix}.deadletter"),
        );
        let pattern = event_subjects(&prefix);
        if subject_matches(&pattern, &dead_letter_subject) {
            return Err(ConsumerConfigError::DeadLetterCaptured {
                subject: dead_letter_subject,
                pattern,
            });
        }
        let max_deliver_text = get("EVENTS_MAX_DELIVER", &DEFAULT_MAX_DELIVER.to_string());
        let max_deliver = max_deliver_text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or(ConsumerConfigError::Invalid {
                name: "EVENTS_MAX_DELIVER",
                value: max_deliver_text.clone(),
                expected: "expected a whole number of at least 1",
            })?;
        let default_backoff = DEFAULT_BACKOFF_SECONDS
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let backoff_text = get("EVENTS_BACKOFF_SECONDS", &default_backoff);
        let backoff = backoff_text
            .split(',')
            .map(|s| s.trim().parse::<u64>().map(Duration::from_secs))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ConsumerConfigError::Invalid {
                name: "EVENTS_BACKOFF_SECONDS",
                value: backoff_text.clone(),
                expected: "expected whole seconds separated by commas, e.g. 1,5,30",
            })?;
        Ok(ConsumerConfig {
            nats_url: get("NATS_URL", DEFAULT_NATS_URL),
            stream: get("EVENTS_STREAM", DEFAULT_STREAM),
            consumer: get("EVENTS_CONSUMER", DEFAULT_CONSUMER),
            dead_letter_subject,
            max_deliver,
            backoff,
            ingest,
        })
    }

    /// The subjects of the events stream and the consumer's filter.
    pub fn event_subjects(&self) -> String {
        event_subjects(&self.ingest.prefix)
    }

    /// The delay before redelivering a message delivered `delivered` times.
    pub fn backoff_after(&self, delivered: i64) -> Duration {
        let index = usize::try_from(delivered.max(1) - 1).unwrap_or(0);
        self.backoff
            .get(index)
            .or(self.backoff.last())
            .copied()
            .unwrap_or(Duration::from_secs(1))
    }
}

/// `{prefix}.*.*`: a resource type and an event type after the prefix.
pub fn event_subjects(prefix: &str) -> String {
    format!("{prefix}.*.*")
}

/// Whether NATS subject `subject` matches `pattern` (`*` one token, `>` the rest).
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut tokens = subject.split('.');
    for want in pattern.split('.') {
        match (want, tokens.next()) {
            (">", Some(_)) => return true,
            (_, None) => return false,
            ("*", Some(_)) => {}
            (want, Some(got)) if want == got => {}
            _ => return false,
        }
    }
    tokens.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<ConsumerConfig, ConsumerConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ConsumerConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.stream, "LIFECYCLE");
        assert_eq!(c.consumer, "milo-events-ingest");
        assert_eq!(c.ingest.prefix, "com.infratographer.events");
        assert_eq!(
            c.dead_letter_subject,
            "com.infratographer.events.deadletter"
        );
        assert_eq!(c.event_subjects(), "com.infratographer.events.*.*");
        assert_eq!(c.max_deliver, 5);
        assert_eq!(c.backoff_after(1), Duration::from_secs(1));
        assert_eq!(c.backoff_after(3), Duration::from_secs(30));
        assert_eq!(c.backoff_after(40), Duration::from_secs(120));
    }

    #[test]
    fn reads_every_variable() {
        let c = config(&[
            ("NATS_URL", "nats://h:1"),
            ("EVENTS_STREAM", "S"),
            ("EVENTS_CONSUMER", "c"),
            ("EVENTS_SUBJECT_PREFIX", "p.q"),
            ("EVENTS_PREFIX_MAP", "loadbal=infratographer:loadbalancer"),
            ("EVENTS_DEAD_LETTER_SUBJECT", "dead.letters"),
            ("EVENTS_MAX_DELIVER", "2"),
            ("EVENTS_BACKOFF_SECONDS", "0, 3"),
        ])
        .unwrap();
        assert_eq!(c.nats_url, "nats://h:1");
        assert_eq!((c.stream.as_str(), c.consumer.as_str()), ("S", "c"));
        assert_eq!(c.dead_letter_subject, "dead.letters");
        assert_eq!(c.max_deliver, 2);
        assert_eq!(c.backoff, vec![Duration::ZERO, Duration::from_secs(3)]);
        assert_eq!(c.ingest.prefixes.len(), 1);
    }

    #[test]
    fn refuses_a_dead_letter_subject_the_stream_would_capture() {
        let err = config(&[(
            "EVENTS_DEAD_LETTER_SUBJECT",
            "com.infratographer.events.dead.letter",
        )])
        .unwrap_err();
        assert!(
            matches!(err, ConsumerConfigError::DeadLetterCaptured { .. }),
            "{err}"
        );
    }

    #[test]
    fn refuses_bad_numbers() {
        assert!(config(&[("EVENTS_MAX_DELIVER", "0")]).is_err());
        assert!(config(&[("EVENTS_BACKOFF_SECONDS", "1,x")]).is_err());
        assert!(config(&[("EVENTS_PREFIX_MAP", "nonsense")]).is_err());
    }

    #[test]
    fn subjects_match_as_nats_does() {
        assert!(subject_matches("a.*.*", "a.b.c"));
        assert!(!subject_matches("a.*.*", "a.b"));
        assert!(!subject_matches("a.*.*", "a.b.c.d"));
        assert!(subject_matches("a.>", "a.b.c"));
        assert!(!subject_matches("a.>", "a"));
        assert!(!subject_matches("a.b", "a.c"));
    }
}
