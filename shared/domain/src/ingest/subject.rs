//! The NATS subject an event arrived on: `{prefix}.{resource_type}.{event}`.

use super::dead_letter::{DeadLetter, DeadLetterReason};
use super::message::EventType;
use super::shown;
use super::urn::is_resource_type;

/// What the subject says; the message must say the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsSubject {
    /// Lower-case, as in a canonical URN.
    pub resource_type: String,
    pub event_type: EventType,
}

/// Parses a subject under the configured `prefix` (which may hold dots: the
/// prefix is matched whole, then exactly two tokens must follow).
pub fn parse_subject(subject: &str, prefix: &str) -> Result<NatsSubject, DeadLetter> {
    let invalid = |why: String| DeadLetter::new(DeadLetterReason::InvalidSubject, why);
    if subject.is_empty() {
        return Err(invalid("the NATS subject is empty".into()));
    }
    let rest = subject
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('.'))
        .ok_or_else(|| {
            invalid(format!(
                "the subject {} is not under the configured prefix `{prefix}.`",
                shown(subject)
            ))
        })?;
    let Some((resource_type, event)) = rest
        .split_once('.')
        .filter(|(_, e)| !e.is_empty() && !e.contains('.'))
    else {
        return Err(invalid(format!(
            "the subject {} is not {prefix}.{{resource_type}}.{{create|update|delete}}",
            shown(subject)
        )));
    };
    if !is_resource_type(resource_type) {
        return Err(invalid(format!(
            "the subject's resource type {} is not 1 to 255 letters, digits or `-`",
            shown(resource_type)
        )));
    }
    let event_type = EventType::parse(event).ok_or_else(|| {
        DeadLetter::new(
            DeadLetterReason::UnknownEventType,
            format!(
                "the subject's event type {} is not create, update or delete",
                shown(event)
            ),
        )
    })?;
    Ok(NatsSubject {
        resource_type: resource_type.to_ascii_lowercase(),
        event_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "com.infratographer.events";

    fn reason(subject: &str) -> DeadLetterReason {
        parse_subject(subject, PREFIX).unwrap_err().reason
    }

    #[test]
    fn parses_type_and_event_under_a_dotted_prefix() {
        let parsed =
            parse_subject("com.infratographer.events.loadbalancer.update", PREFIX).unwrap();
        assert_eq!(parsed.resource_type, "loadbalancer");
        assert_eq!(parsed.event_type, EventType::Update);
    }

    #[test]
    fn an_empty_subject_is_invalid() {
        let err = parse_subject("", PREFIX).unwrap_err();
        assert_eq!(err.reason, DeadLetterReason::InvalidSubject);
        assert!(err.message.contains("empty"));
    }

    #[test]
    fn another_prefix_is_invalid() {
        assert_eq!(
            reason("com.other.events.loadbalancer.create"),
            DeadLetterReason::InvalidSubject
        );
        // The prefix must end at a token boundary.
        assert_eq!(
            reason("com.infratographer.eventsx.loadbalancer.create"),
            DeadLetterReason::InvalidSubject
        );
    }

    #[test]
    fn the_tail_is_exactly_two_tokens() {
        for subject in [
            "com.infratographer.events.create",
            "com.infratographer.events.loadbalancer.create.extra",
            "com.infratographer.events.loadbalancer.",
            "com.infratographer.events..create",
            "com.infratographer.events.load_balancer.create",
        ] {
            assert_eq!(
                reason(subject),
                DeadLetterReason::InvalidSubject,
                "{subject}"
            );
        }
    }

    #[test]
    fn an_unknown_event_is_named() {
        assert_eq!(
            reason("com.infratographer.events.loadbalancer.explode"),
            DeadLetterReason::UnknownEventType
        );
    }
}
