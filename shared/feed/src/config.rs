//! The publisher's configuration, from the environment.
//!
//! | variable                        | default                  | meaning |
//! |---------------------------------|--------------------------|---------|
//! | `NATS_URL`                      | `nats://127.0.0.1:4222`  | the NATS server |
//! | `FEED_STREAM`                   | `MILO_CHANGES`           | the JetStream stream the changes go to (created by `devctl create-stream` / the operator) |
//! | `FEED_SUBJECT_PREFIX`           | `com.miloapis.events`    | subjects are `{prefix}.{resource_type}.{create,update,delete}` |
//! | `FEED_CHECKPOINTS`              | `milo-feed-checkpoints`  | the key-value bucket where the local poller keeps each shard's position |
//! | `FEED_DUPLICATE_WINDOW_SECONDS` | `3600`                   | the stream's duplicate window, set when it is created |
//! | `FEED_WATCH_STREAM`             | `MILO_WATCH`             | the stream watches read (the resources function reads the same variable) |
//! | `FEED_WATCH_PREFIX`             | `milo.watch`             | its subjects: `{prefix}.{context}.{group}.{kind}.{namespace}` (domain::watch) |
//! | `FEED_WATCH_WINDOW_SECONDS`     | `900`                    | how long it keeps a change: a watch from an older position is 410 Gone |
//!
//! The prefix must differ from the events consumer's (`EVENTS_SUBJECT_PREFIX`):
//! a platform that ingested its own changes would record each of them again.

use std::time::Duration;

pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";
pub const DEFAULT_STREAM: &str = "MILO_CHANGES";
pub const DEFAULT_PREFIX: &str = "com.miloapis.events";
pub const DEFAULT_CHECKPOINTS: &str = "milo-feed-checkpoints";
/// Long enough for any republish: one happens only when a publisher
/// stopped between publishing a batch and recording its position, and a
/// poller restarts, or Lambda retries the batch, within seconds. An outage
/// of NATS publishes nothing, so it opens no window.
pub const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(3600);
/// Longer than a client's re-watch (client-go every 5–10 minutes, kube-rs
/// 290 s), so a re-watch from the last event's position is served, not a
/// relist; short enough that the stream holds 15 minutes of changes.
pub const DEFAULT_WATCH_WINDOW: Duration = Duration::from_secs(900);

#[derive(Debug, Clone, PartialEq)]
pub struct FeedConfig {
    pub nats_url: String,
    pub stream: String,
    pub prefix: String,
    pub checkpoints: String,
    pub duplicate_window: Duration,
    pub watch_stream: String,
    pub watch_prefix: String,
    pub watch_window: Duration,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeedConfigError {
    #[error("{name} is {value:?}; {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("FEED_SUBJECT_PREFIX {0:?} is also EVENTS_SUBJECT_PREFIX: the platform would ingest its own changes; choose another")]
    SameAsIngest(String),
}

impl FeedConfig {
    /// From the environment (see the module's table).
    pub fn from_env() -> Result<FeedConfig, FeedConfigError> {
        FeedConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// From `lookup(name)`, the environment or a test's map.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<FeedConfig, FeedConfigError> {
        let get = |name: &str, default: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        let prefix = get("FEED_SUBJECT_PREFIX", DEFAULT_PREFIX);
        if !is_subject(&prefix) {
            return Err(FeedConfigError::Invalid {
                name: "FEED_SUBJECT_PREFIX",
                value: prefix,
                expected: "dot-separated tokens without spaces or wildcards",
            });
        }
        if lookup("EVENTS_SUBJECT_PREFIX").is_some_and(|ingest| ingest.trim() == prefix) {
            return Err(FeedConfigError::SameAsIngest(prefix));
        }
        let duplicate_window = seconds(
            &get("FEED_DUPLICATE_WINDOW_SECONDS", "3600"),
            "FEED_DUPLICATE_WINDOW_SECONDS",
        )?;
        let watch_window = seconds(
            &get("FEED_WATCH_WINDOW_SECONDS", "900"),
            "FEED_WATCH_WINDOW_SECONDS",
        )?;
        let watch_prefix = get("FEED_WATCH_PREFIX", domain::watch::DEFAULT_PREFIX);
        if !is_subject(&watch_prefix) || watch_prefix == prefix {
            return Err(FeedConfigError::Invalid {
                name: "FEED_WATCH_PREFIX",
                value: watch_prefix,
                expected: "dot-separated tokens without spaces or wildcards, other than FEED_SUBJECT_PREFIX",
            });
        }
        Ok(FeedConfig {
            nats_url: get("NATS_URL", DEFAULT_NATS_URL),
            stream: get("FEED_STREAM", DEFAULT_STREAM),
            prefix,
            checkpoints: get("FEED_CHECKPOINTS", DEFAULT_CHECKPOINTS),
            duplicate_window,
            watch_stream: get("FEED_WATCH_STREAM", domain::watch::DEFAULT_STREAM),
            watch_prefix,
            watch_window,
        })
    }

    /// The subjects of the feed's stream.
    pub fn subjects(&self) -> String {
        format!("{}.>", self.prefix)
    }
}

/// A number of seconds, at least a minute.
fn seconds(value: &str, name: &'static str) -> Result<Duration, FeedConfigError> {
    match value.parse::<u64>() {
        Ok(seconds) if seconds >= 60 => Ok(Duration::from_secs(seconds)),
        _ => Err(FeedConfigError::Invalid {
            name,
            value: value.to_string(),
            expected: "a whole number of seconds, at least 60",
        }),
    }
}

fn is_subject(value: &str) -> bool {
    value.split('.').all(|token| {
        !token.is_empty()
            && token
                .chars()
                .all(|c| !c.is_whitespace() && c != '*' && c != '>')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<FeedConfig, FeedConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        FeedConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let config = config(&[]).unwrap();
        assert_eq!(config.stream, "MILO_CHANGES");
        assert_eq!(config.subjects(), "com.miloapis.events.>");
        assert_eq!(config.duplicate_window, Duration::from_secs(3600));
        assert_eq!(
            (config.watch_stream.as_str(), config.watch_prefix.as_str()),
            ("MILO_WATCH", "milo.watch")
        );
        assert_eq!(config.watch_window, Duration::from_secs(900));
    }

    #[test]
    fn a_prefix_with_wildcards_or_the_ingest_prefix_is_refused() {
        for bad in ["a.*", "a..b", "a b", "x.>"] {
            assert!(
                matches!(
                    config(&[("FEED_SUBJECT_PREFIX", bad)]),
                    Err(FeedConfigError::Invalid { .. })
                ),
                "{bad}"
            );
        }
        let watch_same = config(&[("FEED_WATCH_PREFIX", DEFAULT_PREFIX)]);
        assert!(matches!(
            watch_same,
            Err(FeedConfigError::Invalid {
                name: "FEED_WATCH_PREFIX",
                ..
            })
        ));
        let same = config(&[
            ("FEED_SUBJECT_PREFIX", "com.example.events"),
            ("EVENTS_SUBJECT_PREFIX", "com.example.events"),
        ]);
        assert_eq!(
            same,
            Err(FeedConfigError::SameAsIngest("com.example.events".into()))
        );
    }

    #[test]
    fn a_duplicate_window_under_a_minute_is_refused() {
        for bad in ["10", "soon", "-5"] {
            assert!(
                config(&[("FEED_DUPLICATE_WINDOW_SECONDS", bad)]).is_err(),
                "{bad}"
            );
        }
        let config = config(&[("FEED_DUPLICATE_WINDOW_SECONDS", "7200")]).unwrap();
        assert_eq!(config.duplicate_window, Duration::from_secs(7200));
    }
}
