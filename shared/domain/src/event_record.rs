//! The Events the platform records for what a person should see (#22): a
//! quota denial, an admission policy's denial or warning, a pre-deletion
//! hook that failed. A [`Notice`] is what happened to one object; it is
//! stored as one Event under each API that serves Events (core/v1, which
//! `kubectl describe` and `kubectl get events` read, and events.k8s.io/v1),
//! named from what it says, so that the same notice again counts up its
//! Event (as Kubernetes' recorder aggregates) instead of adding another.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::kinds::{self, KindId, KindInfo};
use crate::quota::Denial;

/// Who records them: `source.component`, `reportingComponent` and
/// events.k8s.io's `reportingController` (a qualified name there).
pub const REPORTER: &str = "resourcemanager.miloapis.com/platform";

/// The longest message kept (events.k8s.io's limit on `note`).
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// Where the Events of a cluster-scoped object live, as Kubernetes keeps
/// them (kubectl finds them by field selector across namespaces).
pub const CLUSTER_SCOPED_NAMESPACE: &str = "default";

/// The object an Event is about (`involvedObject`, `regarding`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Involved {
    pub api_version: String,
    pub kind: String,
    /// Empty for a cluster-scoped object.
    pub namespace: String,
    pub name: String,
    /// Empty while the object does not exist (a refused create): kubectl
    /// describe selects by uid, so an existing object's Events carry it.
    pub uid: String,
}

impl Involved {
    pub fn of_kind(kind: &KindId, namespace: &str, name: &str, uid: &str) -> Involved {
        Involved {
            api_version: kind.api_version(),
            kind: kind.kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid: uid.to_string(),
        }
    }

    /// An object of a kind as served at its request's version.
    pub fn of_served(kind: &KindInfo, namespace: &str, name: &str, uid: &str) -> Involved {
        Involved {
            api_version: kinds::api_version(&kind.group, &kind.version),
            kind: kind.kind.clone(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid: uid.to_string(),
        }
    }

    fn reference(&self) -> Value {
        let mut reference = json!({
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
        });
        if !self.namespace.is_empty() {
            reference["namespace"] = json!(self.namespace);
        }
        if !self.uid.is_empty() {
            reference["uid"] = json!(self.uid);
        }
        reference
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// What happened to one object, as a person should read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub involved: Involved,
    pub event_type: EventType,
    /// A short UpperCamelCase word (`QuotaExceeded`).
    pub reason: String,
    /// What was being done (`Create`, `Update`, `Delete`).
    pub action: String,
    pub message: String,
}

impl Notice {
    pub fn warning(involved: Involved, reason: &str, action: &str, message: &str) -> Notice {
        Notice {
            involved,
            event_type: EventType::Warning,
            reason: reason.to_string(),
            action: action_word(action),
            message: truncated(message, MAX_MESSAGE_BYTES),
        }
    }

    /// A write refused for want of quota, on the consumer whose bucket
    /// had no room (the organization, folder or project a person
    /// describes; its uid is the recorder's to read).
    pub fn quota_exceeded(action: &str, refused: &str, denial: &Denial) -> Notice {
        let consumer = Involved {
            api_version: kinds::ORGANIZATION.api_version(),
            kind: denial.consumer.kind.kind().to_string(),
            namespace: String::new(),
            name: denial.consumer.name.clone(),
            uid: String::new(),
        };
        let message = format!("{} of {refused} refused: {denial}", action.to_lowercase());
        Notice::warning(consumer, "QuotaExceeded", action, &message)
    }

    /// A write an admission policy refused, on the object written.
    pub fn admission_denied(object: Involved, action: &str, message: &str) -> Notice {
        Notice::warning(object, "AdmissionDenied", action, message)
    }

    /// A policy's warning about a write it let through.
    pub fn admission_warning(object: Involved, action: &str, warning: &str) -> Notice {
        Notice::warning(object, "AdmissionWarning", action, warning)
    }

    /// A pre-deletion hook that failed for an object being deleted: tried
    /// again after its back-off (`gave_up`: its failurePolicy Ignore let
    /// the object go). Repeats of one error count up one Event.
    pub fn hook_failed(object: Involved, hook: &str, error: &str, gave_up: bool) -> Notice {
        let (reason, then) = match gave_up {
            false => ("PreDeletionHookFailed", "tried again after its back-off"),
            true => (
                "PreDeletionHookIgnored",
                "failurePolicy Ignore lets the object go",
            ),
        };
        let message = format!("pre-deletion hook {hook:?} failed: {error}; {then}");
        Notice::warning(object, reason, "Delete", &message)
    }

    /// The namespace its Events live in.
    pub fn namespace(&self) -> &str {
        match self.involved.namespace.as_str() {
            "" => CLUSTER_SCOPED_NAMESPACE,
            namespace => namespace,
        }
    }

    /// Its Events' name: the object's name and a digest of everything the
    /// notice says, so the same notice again names the same Event.
    pub fn event_name(&self) -> String {
        let i = &self.involved;
        let said = [
            &i.api_version,
            &i.kind,
            &i.namespace,
            &i.name,
            &i.uid,
            self.event_type.as_str(),
            &self.reason,
            &self.action,
            &self.message,
        ];
        let mut hash = Sha256::new();
        for part in said {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let digest: String = hash.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // A name is at most 253 characters; the object's may be as long.
        format!("{}.{digest}", truncated(&i.name, 200))
    }
}

/// How often a notice was seen: first and last, and how many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub count: u64,
}

impl Occurrence {
    /// The occurrence at `now`, after `previous` (its stored core/v1
    /// Event, if it has one).
    pub fn next(previous: Option<&Value>, now: DateTime<Utc>) -> Occurrence {
        let first = previous
            .and_then(|e| e["firstTimestamp"].as_str())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or(now, |t| t.with_timezone(&Utc));
        let count = previous.and_then(|e| e["count"].as_u64()).unwrap_or(0);
        Occurrence {
            first,
            last: now,
            count: count + 1,
        }
    }
}

fn seconds(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn micros(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// An Event's metadata but for uid and resourceVersion (the store's): it
/// was created when the notice was first seen.
fn metadata(notice: &Notice, seen: &Occurrence) -> Value {
    json!({
        "name": notice.event_name(),
        "namespace": notice.namespace(),
        "creationTimestamp": seconds(seen.first),
    })
}

/// The core/v1 Event of a notice (metadata without uid and resourceVersion).
pub fn core_event(notice: &Notice, seen: &Occurrence) -> Value {
    json!({
        "apiVersion": kinds::EVENT.api_version(),
        "kind": "Event",
        "metadata": metadata(notice, seen),
        "involvedObject": notice.involved.reference(),
        "type": notice.event_type.as_str(),
        "reason": notice.reason,
        "action": notice.action,
        "message": notice.message,
        "source": {"component": REPORTER},
        "reportingComponent": REPORTER,
        "reportingInstance": "",
        "firstTimestamp": seconds(seen.first),
        "lastTimestamp": seconds(seen.last),
        "count": seen.count,
    })
}

/// The events.k8s.io/v1 Event of a notice: the same, in that API's words
/// (a repeat is a `series`).
pub fn events_api_event(notice: &Notice, seen: &Occurrence) -> Value {
    let mut event = json!({
        "apiVersion": kinds::EVENTS_API_EVENT.api_version(),
        "kind": "Event",
        "metadata": metadata(notice, seen),
        "eventTime": micros(seen.first),
        "regarding": notice.involved.reference(),
        "type": notice.event_type.as_str(),
        "reason": notice.reason,
        "action": notice.action,
        "note": notice.message,
        "reportingController": REPORTER,
        "reportingInstance": REPORTER,
        "deprecatedSource": {"component": REPORTER},
        "deprecatedFirstTimestamp": seconds(seen.first),
        "deprecatedLastTimestamp": seconds(seen.last),
        "deprecatedCount": seen.count,
    });
    if seen.count > 1 {
        event["series"] = json!({"count": seen.count, "lastObservedTime": micros(seen.last)});
    }
    event
}

/// A verb as an Event's action: `create` and `CREATE` are `Create`.
fn action_word(verb: &str) -> String {
    let lower = verb.to_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn truncated(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(uid: &str) -> Involved {
        Involved::of_kind(&kinds::PROJECT, "", "p1", uid)
    }

    fn at(second: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-12-07T10:00:{second:02}Z"))
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_same_notice_names_the_same_event_and_any_difference_another() {
        let notice = Notice::warning(project("u1"), "QuotaExceeded", "Create", "no room");
        assert_eq!(notice.event_name(), notice.clone().event_name());
        assert!(notice.event_name().starts_with("p1."));
        let others = [
            Notice::warning(project("u2"), "QuotaExceeded", "Create", "no room"),
            Notice::warning(project("u1"), "AdmissionDenied", "Create", "no room"),
            Notice::warning(project("u1"), "QuotaExceeded", "Update", "no room"),
            Notice::warning(project("u1"), "QuotaExceeded", "Create", "no room at all"),
        ];
        for other in others {
            assert_ne!(other.event_name(), notice.event_name(), "{other:?}");
        }
    }

    #[test]
    fn a_cluster_scoped_objects_events_live_in_default_and_a_namespaced_ones_beside_it() {
        let cluster = Notice::warning(project("u1"), "R", "Create", "m");
        assert_eq!(cluster.namespace(), "default");
        let cm = Involved::of_kind(&kinds::CONFIG_MAP, "team", "c1", "");
        let namespaced = Notice::admission_denied(cm, "Create", "denied");
        assert_eq!(namespaced.namespace(), "team");
        let event = core_event(&namespaced, &Occurrence::next(None, at(0)));
        assert_eq!(event["involvedObject"]["namespace"], "team");
        assert!(event["involvedObject"].get("uid").is_none());
        assert!(
            core_event(&cluster, &Occurrence::next(None, at(0)))["involvedObject"]
                .get("namespace")
                .is_none()
        );
    }

    #[test]
    fn a_repeat_counts_up_from_the_first_time() {
        let notice = Notice::warning(project("u1"), "QuotaExceeded", "Create", "no room");
        let first = Occurrence::next(None, at(1));
        let stored = core_event(&notice, &first);
        assert_eq!(
            (stored["count"].clone(), stored["firstTimestamp"].clone()),
            (json!(1), json!("2026-12-07T10:00:01Z"))
        );
        assert!(events_api_event(&notice, &first).get("series").is_none());

        let again = Occurrence::next(Some(&stored), at(9));
        assert_eq!((again.first, again.last, again.count), (at(1), at(9), 2));
        let core = core_event(&notice, &again);
        assert_eq!(core["lastTimestamp"], "2026-12-07T10:00:09Z");
        assert_eq!(core["firstTimestamp"], "2026-12-07T10:00:01Z");
        let new_api = events_api_event(&notice, &again);
        assert_eq!(new_api["series"]["count"], 2);
        assert_eq!(
            new_api["series"]["lastObservedTime"],
            "2026-12-07T10:00:09.000000Z"
        );
        assert_eq!(new_api["eventTime"], "2026-12-07T10:00:01.000000Z");
        assert_eq!(new_api["regarding"], core["involvedObject"]);
        assert_eq!(new_api["note"], core["message"]);
    }

    #[test]
    fn a_quota_denial_reads_as_what_was_refused_and_the_numbers() {
        let denial = Denial {
            resource_type: "resourcemanager.miloapis.com/projects".into(),
            requested: 1,
            consumer: crate::quota::Node::organization("acme"),
            allocated: 2,
            limit: 2,
        };
        let notice = Notice::quota_exceeded("create", "projects \"p3\"", &denial);
        assert_eq!(
            notice.involved,
            Involved::of_kind(&kinds::ORGANIZATION, "", "acme", "")
        );
        assert_eq!(
            (notice.reason.as_str(), notice.action.as_str()),
            ("QuotaExceeded", "Create")
        );
        assert_eq!(notice.event_type, EventType::Warning);
        for part in [
            "create of projects \"p3\" refused",
            "requested 1",
            "allocated 2",
            "limit 2",
        ] {
            assert!(
                notice.message.contains(part),
                "{part:?} in {}",
                notice.message
            );
        }
    }

    #[test]
    fn a_long_message_is_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let notice = Notice::warning(project(""), "R", "Create", &long);
        assert!(notice.message.len() <= MAX_MESSAGE_BYTES);
        assert!(notice.message.chars().all(|c| c == 'é'));
    }
}
