//! Why a message can never be applied. The consumer publishes it to the
//! dead-letter subject with [`DeadLetterReason::as_str`] and the message, and
//! acknowledges it: retrying cannot help.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadLetterReason {
    /// The payload is over `max_message_bytes`.
    TooLarge,
    /// The NATS subject is not `{prefix}.{resource_type}.{event}`.
    InvalidSubject,
    /// The JSON ends before it is complete.
    Truncated,
    /// Not JSON, or not a JSON object.
    MalformedJson,
    /// Neither (or both) of `subject_urn` and `subjectID`: no known form.
    UnknownForm,
    /// A required field is absent or null.
    MissingField,
    /// A field has the wrong JSON type (e.g. a number where a string goes).
    InvalidField,
    /// A field that holds a URN does not hold a valid one.
    InvalidUrn,
    /// A field that holds a prefixed id does not hold a valid one.
    InvalidPrefixedId,
    /// A prefixed id whose prefix is not configured, where its type is needed.
    UnknownPrefix,
    /// An event type other than create, update, delete.
    UnknownEventType,
    /// The timestamp is not RFC 3339.
    InvalidTimestamp,
    /// The subject's event type is not the message's.
    EventTypeMismatch,
    /// The subject's resource type is not the message's.
    ResourceTypeMismatch,
    /// No RelationshipType names the resource's type.
    UndefinedResourceType,
    /// A related resource's type is not allowed for its relation.
    SubjectTypeNotAllowed,
    /// A relation of cardinality One names two different subjects.
    CardinalityExceeded,
}

impl DeadLetterReason {
    /// A stable code for the dead-letter message header and for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::TooLarge => "TooLarge",
            DeadLetterReason::InvalidSubject => "InvalidSubject",
            DeadLetterReason::Truncated => "Truncated",
            DeadLetterReason::MalformedJson => "MalformedJson",
            DeadLetterReason::UnknownForm => "UnknownForm",
            DeadLetterReason::MissingField => "MissingField",
            DeadLetterReason::InvalidField => "InvalidField",
            DeadLetterReason::InvalidUrn => "InvalidUrn",
            DeadLetterReason::InvalidPrefixedId => "InvalidPrefixedId",
            DeadLetterReason::UnknownPrefix => "UnknownPrefix",
            DeadLetterReason::UnknownEventType => "UnknownEventType",
            DeadLetterReason::InvalidTimestamp => "InvalidTimestamp",
            DeadLetterReason::EventTypeMismatch => "EventTypeMismatch",
            DeadLetterReason::ResourceTypeMismatch => "ResourceTypeMismatch",
            DeadLetterReason::UndefinedResourceType => "UndefinedResourceType",
            DeadLetterReason::SubjectTypeNotAllowed => "SubjectTypeNotAllowed",
            DeadLetterReason::CardinalityExceeded => "CardinalityExceeded",
        }
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message that can never succeed, and why, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct DeadLetter {
    pub reason: DeadLetterReason,
    pub message: String,
}

impl DeadLetter {
    pub(crate) fn new(reason: DeadLetterReason, message: impl Into<String>) -> DeadLetter {
        DeadLetter {
            reason,
            message: message.into(),
        }
    }
}
