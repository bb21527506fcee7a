//! A stable digest of what an event says, so the same event delivered twice
//! is recognised, and two different events with the same timestamp are
//! applied in one defined order (see `apply`).

use std::fmt;

use chrono::SecondsFormat;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::message::LifecycleEvent;

/// SHA-256, as 64 lower-case hex digits; ordered as its bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventDigest(String);

impl EventDigest {
    /// Reads back a stored digest.
    pub fn parse(value: &str) -> Option<EventDigest> {
        let ok = value.len() == 64
            && value
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| EventDigest(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for EventDigest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EventDigest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<EventDigest, D::Error> {
        let value = String::deserialize(deserializer)?;
        EventDigest::parse(&value)
            .ok_or_else(|| serde::de::Error::custom("an event digest is 64 lower-case hex digits"))
    }
}

impl LifecycleEvent {
    /// The digest of the decoded event, not of its bytes: the same event
    /// re-published with other whitespace or key order digests the same.
    /// It covers everything that is applied or recorded (subject, event
    /// type, time to the nanosecond, source, actor, fields and the
    /// references read from them, additional subjects) and leaves out the
    /// trace context, field changes and additional data, which can differ
    /// between re-publications of one event and change nothing applied.
    pub fn digest(&self) -> EventDigest {
        let mut hasher = Sha256::new();
        // Every part is length-prefixed, so no two events encode the same.
        let mut part = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        };
        part(b"lifecycle-event/v1");
        part(self.subject.to_string().as_bytes());
        part(self.event_type.as_str().as_bytes());
        part(
            self.timestamp
                .to_rfc3339_opts(SecondsFormat::Nanos, true)
                .as_bytes(),
        );
        part(self.source.as_bytes());
        part(
            self.actor
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
                .as_bytes(),
        );
        part(&(self.fields.len() as u64).to_be_bytes());
        for (key, value) in &self.fields {
            part(key.as_bytes());
            part(value.as_bytes());
        }
        part(&(self.related.len() as u64).to_be_bytes());
        for (relation, urn) in &self.related {
            part(relation.as_bytes());
            part(urn.to_string().as_bytes());
        }
        part(&(self.unresolved_related.len() as u64).to_be_bytes());
        for (relation, id) in &self.unresolved_related {
            part(relation.as_bytes());
            part(id.to_string().as_bytes());
        }
        part(&(self.additional_subjects.len() as u64).to_be_bytes());
        for urn in &self.additional_subjects {
            part(urn.to_string().as_bytes());
        }
        part(&(self.unresolved_subjects.len() as u64).to_be_bytes());
        for id in &self.unresolved_subjects {
            part(id.to_string().as_bytes());
        }
        let bytes = hasher.finalize();
        EventDigest(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
}
