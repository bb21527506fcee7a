//! What the ingest core needs to know about its deployment.

use super::prefixed::{PrefixMap, PrefixMapError};
use super::shown;

/// NATS's own default `max_payload`; a larger message is refused before it
/// is parsed, so a huge payload costs no memory beyond its bytes.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    /// The subject prefix, e.g. `com.infratographer.events`; it may hold
    /// dots. Subjects are `{prefix}.{resource_type}.{event}`.
    pub prefix: String,
    /// Which type each camelCase id prefix stands for.
    pub prefixes: PrefixMap,
    /// Larger payloads are dead-lettered (`TooLarge`).
    pub max_message_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the subject prefix {prefix} is not dot-separated tokens without blanks or the wildcards `*` and `>`")]
    Prefix { prefix: String },
    #[error(transparent)]
    PrefixMap(#[from] PrefixMapError),
}

impl IngestConfig {
    /// A checked configuration with the default 1 MiB message limit.
    pub fn new(prefix: &str, prefixes: PrefixMap) -> Result<IngestConfig, ConfigError> {
        let token_ok = |t: &str| {
            !t.is_empty()
                && !t
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>')
        };
        if !prefix.split('.').all(token_ok) {
            return Err(ConfigError::Prefix {
                prefix: shown(prefix),
            });
        }
        Ok(IngestConfig {
            prefix: prefix.to_string(),
            prefixes,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        })
    }

    /// From the two environment values: the subject prefix and the prefix
    /// map in the form documented on [`PrefixMap`].
    pub fn from_env_values(prefix: &str, prefix_map: &str) -> Result<IngestConfig, ConfigError> {
        IngestConfig::new(prefix, PrefixMap::parse(prefix_map)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_one_mebibyte() {
        let config = IngestConfig::new("com.infratographer.events", PrefixMap::new()).unwrap();
        assert_eq!(config.max_message_bytes, 1_048_576);
    }

    #[test]
    fn from_env_values_reads_both() {
        let config = IngestConfig::from_env_values(
            "com.infratographer.events",
            "loadbal=infratographer:loadbalancer",
        )
        .unwrap();
        assert_eq!(config.prefix, "com.infratographer.events");
        assert_eq!(
            config.prefixes.get("loadbal"),
            Some(("infratographer", "loadbalancer"))
        );
        assert!(matches!(
            IngestConfig::from_env_values("events", "bad"),
            Err(ConfigError::PrefixMap(_))
        ));
    }

    #[test]
    fn refuses_prefixes_no_subject_could_match() {
        for prefix in ["", "a..b", "a.", ".a", "a.*", "a.>", "a b"] {
            assert!(
                matches!(
                    IngestConfig::new(prefix, PrefixMap::new()),
                    Err(ConfigError::Prefix { .. })
                ),
                "{prefix:?}"
            );
        }
    }
}
