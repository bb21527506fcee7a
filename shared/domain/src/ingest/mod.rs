//! Ingesting lifecycle events from other services (../shared/events/README.md):
//! the pure core. The adapters (the JetStream pull consumer, the DynamoDB
//! writes, the graph API) call these functions in this order:
//!
//! 1. [`decode`] the NATS subject and payload into a [`LifecycleEvent`], or a
//!    [`DeadLetter`] for a message that can never succeed;
//! 2. [`relationships`] keeps the relations defined by the
//!    [`RelationshipType`] objects for the resource's type, or dead-letters the
//!    event (undefined resource type, subject type not allowed, a `One`
//!    relation given twice);
//! 3. [`plan`] decides, from the resource's stored [`ResourceRecord`], what
//!    the event changes: the new record and the relationships to add and to
//!    remove (written together, so an update is atomic), or [`Plan::Skip`] for
//!    an event that is older than, or the same as, the last one applied.
//!
//! Failures that may pass (storage throttled or down) are not decided here:
//! nothing in this module does I/O, so everything it refuses is permanent.

mod apply;
mod config;
mod dead_letter;
mod digest;
mod external;
mod message;
mod platform;
mod prefixed;
mod relations;
mod subject;
mod traverse;
mod urn;
mod wire;

#[cfg(test)]
mod tests;

pub use apply::{plan, Plan, ResourceRecord, SkipReason};
pub use config::{ConfigError, IngestConfig, DEFAULT_MAX_MESSAGE_BYTES};
pub use dead_letter::{DeadLetter, DeadLetterReason};
pub use digest::EventDigest;
pub use external::{
    from_document, label_value, labels, object_name, to_document, DocumentError, ObjectIdentity,
    RESOURCE_TYPE_LABEL, SOURCE_LABEL,
};
pub use message::{decode, Actor, EventType, FieldChange, LifecycleEvent, MessageForm};
pub use platform::{
    object_urn, owner_relation, platform_relationship_changes, platform_relationships,
    OWNER_RELATION, PARENT_RELATION, PLATFORM_URN_NAMESPACE,
};
pub use prefixed::{PrefixMap, PrefixMapError, PrefixedId, PrefixedIdError, UnknownPrefix};
pub use relations::{
    is_defined_type, relationships, Cardinality, KeyError, Relationship, RelationshipKey,
    RelationshipType, RelationshipTypeError,
};
pub use subject::{parse_subject, NatsSubject};
pub use traverse::{Bounds, Direction, GraphView, Traversal};
pub use urn::{ResourceId, Urn, UrnError};

/// At most a hundred characters of a value, for a message: a rejected
/// payload can be a megabyte, and a dead-letter reason should stay readable.
pub(crate) fn clip(value: &str) -> String {
    const MAX: usize = 100;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_string(),
    }
}

/// A value quoted for a message, clipped.
pub(crate) fn shown(value: &str) -> String {
    format!("`{}`", clip(value))
}
