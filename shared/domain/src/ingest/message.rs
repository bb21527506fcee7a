//! A decoded lifecycle event, whichever form it came in, and [`decode`].

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::config::IngestConfig;
use super::dead_letter::{DeadLetter, DeadLetterReason};
use super::prefixed::PrefixedId;
use super::subject::parse_subject;
use super::urn::Urn;
use super::wire;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Create,
    Update,
    Delete,
}

impl EventType {
    /// Exactly `create`, `update` or `delete`, as the publishers write them.
    pub fn parse(value: &str) -> Option<EventType> {
        match value {
            "create" => Some(EventType::Create),
            "update" => Some(EventType::Update),
            "delete" => Some(EventType::Delete),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Create => "create",
            EventType::Update => "update",
            EventType::Delete => "delete",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which of the two message forms an event came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageForm {
    /// infratographer's `pubsubx` message: snake_case keys, URNs.
    Snake,
    /// infratographer's `events.ChangeMessage`: camelCase keys, prefixed ids.
    Camel,
}

/// Who caused an event. A snake-form actor is a URN. A camel-form actor is a
/// prefixed id: resolved to a URN when its prefix is configured, kept as the
/// id otherwise, because actors (users, service accounts) usually live in a
/// service whose types are not ingested, and an unknown actor is no reason
/// to refuse the event.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Actor {
    Urn(Urn),
    Unresolved(PrefixedId),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Urn(urn) => urn.fmt(f),
            Actor::Unresolved(id) => id.fmt(f),
        }
    }
}

// Stored as its string form; a URN and a prefixed id cannot be mistaken for
// each other (a prefixed id has no `:`).
impl Serialize for Actor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Actor, D::Error> {
        let value = String::deserialize(deserializer)?;
        if value.contains(':') {
            Urn::parse_stored(&value)
                .map(Actor::Urn)
                .map_err(serde::de::Error::custom)
        } else {
            PrefixedId::parse(&value)
                .map(Actor::Unresolved)
                .map_err(serde::de::Error::custom)
        }
    }
}

/// One entry of a camel-form `fieldChanges`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: String,
    pub previous_value: String,
    pub current_value: String,
}

/// An event, checked whole. The subject, event type and timestamp are always
/// there; collections are empty when the message left them out.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleEvent {
    pub form: MessageForm,
    /// The resource the event is about (`subject_urn` / `subjectID`).
    pub subject: Urn,
    pub event_type: EventType,
    /// Other resources the event touches, those that have a URN.
    pub additional_subjects: Vec<Urn>,
    /// Camel-form additional subjects whose prefix is not configured: kept
    /// so that nothing in the message is silently lost (they can be logged).
    pub unresolved_subjects: Vec<PrefixedId>,
    /// Absent when the message has none or an empty one (Go's zero value).
    pub actor: Option<Actor>,
    /// The publishing service; empty when the message has none.
    pub source: String,
    pub timestamp: DateTime<Utc>,
    /// `fields` / `subjectFields`, all of them, references included.
    pub fields: BTreeMap<String, String>,
    /// (relation, related resource), in field-name order: snake fields
    /// `{relation}_urn` (whose values must be URNs), camel fields
    /// `{relation}_id` whose values are prefixed ids of a configured prefix.
    pub related: Vec<(String, Urn)>,
    /// Camel fields `{relation}_id` holding a prefixed id whose prefix is not
    /// configured. Refused by `relationships` if the relation is defined.
    pub unresolved_related: Vec<(String, PrefixedId)>,
    /// Camel form only.
    pub field_changes: Vec<FieldChange>,
    /// Camel form only (W3C trace context carrier).
    pub trace_context: BTreeMap<String, String>,
    pub additional_data: Map<String, Value>,
}

/// Decodes the message `payload` that arrived on NATS `subject`.
///
/// Checks, in this order, so the cheapest refusal comes first: the size, the
/// subject, the JSON, the form, the resource's id, the event type, that the
/// subject and the message agree, the timestamp, then everything else. Any
/// failure is permanent: the `DeadLetter` says which and why.
pub fn decode(
    subject: &str,
    payload: &[u8],
    config: &IngestConfig,
) -> Result<LifecycleEvent, DeadLetter> {
    if payload.len() > config.max_message_bytes {
        return Err(DeadLetter::new(
            DeadLetterReason::TooLarge,
            format!(
                "the message is {} bytes; the limit is {}",
                payload.len(),
                config.max_message_bytes
            ),
        ));
    }
    let nats = parse_subject(subject, &config.prefix)?;
    let object = wire::parse_object(payload)?;
    wire::extract(&object, &nats, &config.prefixes)
}
