//! What an event does to the stored state of its resource, as a decision the
//! store adapter then writes in one transaction (the record, the added and
//! removed relationship items and their inverses), conditional on the record
//! it read still being there unchanged (its `last_event_digest`, or its
//! absence). That condition is what makes two consumers racing on one
//! resource safe: the loser re-reads and plans again.
//!
//! Order. Events for one resource are ordered by (timestamp, digest). An
//! event is applied only if it comes after the record's last applied event;
//! otherwise it is skipped:
//!
//! - the same event again (same time, same digest): `AlreadyApplied`, so
//!   redelivery is harmless;
//! - an older one, or one with the same time and a smaller digest: `Stale`.
//!
//! Two different events with the same timestamp therefore always end as if
//! the one with the larger digest came last, whatever order they arrive in.
//! (For two updates that is exactly the state after the larger one. For two
//! creates of one resource, which only add, the set may also keep what the
//! smaller one added if it arrived first; publishers do not do that.)
//!
//! Semantics, the later event being applied:
//!
//! - create: the resource exists (not deleted); the event's relationships
//!   are added and the record's other relationships are kept (README: a
//!   create creates). After a delete the set is empty, so a re-create holds
//!   exactly what it names.
//! - update: the set becomes exactly the event's: missing ones added, all
//!   others removed, in the same transaction. An update of a resource never
//!   seen is applied the same way (its create may be late or lost).
//! - delete: every relationship where the resource is the resource side is
//!   removed and the record kept, marked deleted, so later-arriving older
//!   events are skipped. Relationships where it is the subject live on the
//!   other resources' records and are untouched: deletion does not cascade.
//!   A delete of a resource never seen records it as deleted, for the same
//!   reason.
//! - An event newer than a delete is applied like any other: the publisher's
//!   latest word wins (a create or update brings the resource back).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::digest::EventDigest;
use super::message::{Actor, EventType, LifecycleEvent};
use super::relations::Relationship;
use super::urn::Urn;

/// What is stored for every ingested resource; the kind `ExternalResource`
/// shows it read-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRecord {
    pub urn: Urn,
    /// The service that published the last event (kept if it sent none).
    pub source: String,
    #[serde(with = "rfc3339")]
    pub last_event_time: DateTime<Utc>,
    /// With `last_event_time`, the ordering key of the last applied event.
    pub last_event_digest: EventDigest,
    pub last_event_type: EventType,
    /// Who caused the last applied event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_actor: Option<Actor>,
    /// The resource's facts as its last create or update told them; a
    /// delete keeps them unless it carries its own.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    #[serde(default)]
    pub deleted: bool,
    /// The relationships where this resource is the resource side.
    #[serde(default)]
    pub relationships: BTreeSet<Relationship>,
}

impl ResourceRecord {
    pub fn resource_type(&self) -> &str {
        self.urn.resource_type()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// This very event was applied already (a redelivery).
    AlreadyApplied,
    /// A later event was applied already.
    Stale {
        applied_time: DateTime<Utc>,
        applied_digest: EventDigest,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::AlreadyApplied => f.write_str("the event was applied already"),
            SkipReason::Stale {
                applied_time,
                applied_digest,
            } => write!(
                f,
                "a later event (at {applied_time}, digest {applied_digest}) was applied already"
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Write `record` and the relationship changes together. (The record is
    /// boxed only to keep `Plan` small.)
    Apply {
        record: Box<ResourceRecord>,
        add: Vec<Relationship>,
        remove: Vec<Relationship>,
    },
    /// Change nothing; acknowledge the message.
    Skip(SkipReason),
}

/// Decides what `event` does, given the stored record of `event.subject`
/// (`None` if there is none) and the event's relationships as
/// `relationships` returned them. Relationships whose resource is not the
/// event's subject are not the event's to change and are ignored.
pub fn plan(
    current: Option<&ResourceRecord>,
    event: &LifecycleEvent,
    relationships: &[Relationship],
) -> Plan {
    let digest = event.digest();
    if let Some(current) = current {
        let applied = (current.last_event_time, &current.last_event_digest);
        match (event.timestamp, &digest).cmp(&applied) {
            std::cmp::Ordering::Equal => return Plan::Skip(SkipReason::AlreadyApplied),
            std::cmp::Ordering::Less => {
                return Plan::Skip(SkipReason::Stale {
                    applied_time: current.last_event_time,
                    applied_digest: current.last_event_digest.clone(),
                })
            }
            std::cmp::Ordering::Greater => {}
        }
    }

    let old = current.map(|c| c.relationships.clone()).unwrap_or_default();
    let named: BTreeSet<Relationship> = relationships
        .iter()
        .filter(|r| r.resource == event.subject)
        .cloned()
        .collect();
    let new: BTreeSet<Relationship> = match event.event_type {
        EventType::Create => old.union(&named).cloned().collect(),
        EventType::Update => named,
        EventType::Delete => BTreeSet::new(),
    };
    let fields = match (event.event_type, current) {
        (EventType::Delete, Some(current)) if event.fields.is_empty() => current.fields.clone(),
        _ => event.fields.clone(),
    };
    let source = match current {
        Some(current) if event.source.is_empty() => current.source.clone(),
        _ => event.source.clone(),
    };

    Plan::Apply {
        add: new.difference(&old).cloned().collect(),
        remove: old.difference(&new).cloned().collect(),
        record: Box::new(ResourceRecord {
            urn: event.subject.clone(),
            source,
            last_event_time: event.timestamp,
            last_event_digest: digest,
            last_event_type: event.event_type,
            last_actor: event.actor.clone(),
            fields,
            deleted: event.event_type == EventType::Delete,
            relationships: new,
        }),
    }
}

/// chrono is built without its serde feature here; times are stored as
/// RFC 3339 with nanoseconds, which sort as they compare.
mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Nanos, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let value = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&value)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::tests::{event, lb, rel, urn};

    /// Plans and returns the new record, failing the test on a skip.
    fn applied(
        current: Option<&ResourceRecord>,
        e: &LifecycleEvent,
    ) -> (ResourceRecord, Vec<Relationship>, Vec<Relationship>) {
        let named: Vec<Relationship> = e
            .related
            .iter()
            .map(|(r, s)| rel(&e.subject, r, s))
            .collect();
        match plan(current, e, &named) {
            Plan::Apply {
                record,
                add,
                remove,
            } => (*record, add, remove),
            Plan::Skip(reason) => panic!("expected the event to apply, skipped: {reason}"),
        }
    }

    fn with_tenant(kind: EventType, minute: u32, tenant: u128) -> LifecycleEvent {
        let mut e = event(kind, minute);
        e.related = vec![("tenant".into(), urn("tenant", tenant))];
        e
    }

    #[test]
    fn create_of_a_new_resource_records_it_and_adds_its_relationships() {
        let e = with_tenant(EventType::Create, 1, 1);
        let (record, add, remove) = applied(None, &e);
        assert_eq!(add, vec![rel(&lb(), "tenant", &urn("tenant", 1))]);
        assert!(remove.is_empty());
        assert!(!record.deleted);
        assert_eq!(record.urn, lb());
        assert_eq!(record.last_event_time, e.timestamp);
        assert_eq!(record.last_event_digest, e.digest());
        assert_eq!(record.last_event_type, EventType::Create);
        assert_eq!(record.fields, e.fields);
        assert_eq!(record.source, "loadbalancer-api");
        assert_eq!(record.last_actor, e.actor);
        assert_eq!(record.relationships.len(), 1);
    }

    #[test]
    fn the_same_event_twice_is_skipped_the_second_time() {
        let e = with_tenant(EventType::Create, 1, 1);
        let (record, _, _) = applied(None, &e);
        assert_eq!(
            plan(Some(&record), &e, &[]),
            Plan::Skip(SkipReason::AlreadyApplied)
        );
    }

    #[test]
    fn an_older_event_is_skipped() {
        let (record, _, _) = applied(None, &with_tenant(EventType::Create, 5, 1));
        let older = with_tenant(EventType::Create, 4, 2);
        assert!(matches!(
            plan(Some(&record), &older, &[]),
            Plan::Skip(SkipReason::Stale { .. })
        ));
    }

    #[test]
    fn an_update_arriving_after_a_newer_one_is_skipped() {
        let (created, _, _) = applied(None, &with_tenant(EventType::Create, 1, 1));
        let (newer, _, _) = applied(Some(&created), &with_tenant(EventType::Update, 3, 3));
        let late = with_tenant(EventType::Update, 2, 2);
        let skipped = plan(
            Some(&newer),
            &late,
            &[rel(&lb(), "tenant", &urn("tenant", 2))],
        );
        assert!(
            matches!(skipped, Plan::Skip(SkipReason::Stale { applied_time, .. }) if applied_time == newer.last_event_time)
        );
    }

    #[test]
    fn an_update_leaves_exactly_the_new_relationships() {
        // A move to another tenant, and a location given up.
        let mut create = with_tenant(EventType::Create, 1, 1);
        create.related.push(("location".into(), urn("location", 1)));
        let (record, _, _) = applied(None, &create);
        let moved = with_tenant(EventType::Update, 2, 2);
        let (record, add, remove) = applied(Some(&record), &moved);
        assert_eq!(add, vec![rel(&lb(), "tenant", &urn("tenant", 2))]);
        assert_eq!(
            remove,
            vec![
                rel(&lb(), "location", &urn("location", 1)),
                rel(&lb(), "tenant", &urn("tenant", 1))
            ]
        );
        assert_eq!(
            record.relationships.into_iter().collect::<Vec<_>>(),
            vec![rel(&lb(), "tenant", &urn("tenant", 2))]
        );
    }

    #[test]
    fn an_update_keeping_a_relationship_neither_adds_nor_removes_it() {
        let (record, _, _) = applied(None, &with_tenant(EventType::Create, 1, 1));
        let (_, add, remove) = applied(Some(&record), &with_tenant(EventType::Update, 2, 1));
        assert!(add.is_empty() && remove.is_empty());
    }

    #[test]
    fn create_of_an_existing_resource_adds_the_missing_and_keeps_the_rest() {
        let (record, _, _) = applied(None, &with_tenant(EventType::Create, 1, 1));
        let mut again = event(EventType::Create, 2);
        again.related = vec![("location".into(), urn("location", 1))];
        let (record, add, remove) = applied(Some(&record), &again);
        assert_eq!(add, vec![rel(&lb(), "location", &urn("location", 1))]);
        assert!(remove.is_empty());
        assert_eq!(record.relationships.len(), 2);
    }

    #[test]
    fn delete_removes_the_resource_side_and_leaves_the_subject_side() {
        // The tenant has its own relationship (to its parent); a load balancer
        // points at the tenant. Deleting the tenant removes only the first.
        let tenant = urn("tenant", 1);
        let mut create = event(EventType::Create, 1);
        create.subject = tenant.clone();
        create.related = vec![("parent".into(), urn("tenant", 9))];
        let (tenant_record, _, _) = applied(None, &create);
        let (lb_record, _, _) = applied(None, &with_tenant(EventType::Create, 1, 1));

        let mut delete = event(EventType::Delete, 2);
        delete.subject = tenant.clone();
        let (record, add, remove) = applied(Some(&tenant_record), &delete);
        assert!(add.is_empty());
        assert_eq!(remove, vec![rel(&tenant, "parent", &urn("tenant", 9))]);
        assert!(record.deleted);
        assert!(record.relationships.is_empty());
        assert!(
            !remove.iter().any(|r| r.subject == tenant),
            "a relationship pointing at the tenant is not the delete's to remove"
        );
        assert!(lb_record
            .relationships
            .contains(&rel(&lb(), "tenant", &tenant)));
    }

    #[test]
    fn delete_keeps_the_last_known_fields() {
        let (record, _, _) = applied(None, &with_tenant(EventType::Create, 1, 1));
        let (deleted, _, _) = applied(Some(&record), &event(EventType::Delete, 2));
        assert_eq!(deleted.fields, record.fields);
        assert_eq!(deleted.last_event_type, EventType::Delete);
    }

    #[test]
    fn events_older_than_a_delete_are_skipped_and_newer_ones_apply() {
        let (record, _, _) = applied(None, &with_tenant(EventType::Create, 1, 1));
        let (deleted, _, _) = applied(Some(&record), &event(EventType::Delete, 5));
        let late_update = with_tenant(EventType::Update, 4, 2);
        assert!(matches!(
            plan(Some(&deleted), &late_update, &[]),
            Plan::Skip(SkipReason::Stale { .. })
        ));
        let (revived, add, _) = applied(Some(&deleted), &with_tenant(EventType::Create, 6, 3));
        assert!(!revived.deleted);
        assert_eq!(add, vec![rel(&lb(), "tenant", &urn("tenant", 3))]);
    }

    #[test]
    fn a_delete_of_an_unseen_resource_leaves_a_tombstone() {
        let (tombstone, add, remove) = applied(None, &event(EventType::Delete, 5));
        assert!(tombstone.deleted && add.is_empty() && remove.is_empty());
        let late_create = with_tenant(EventType::Create, 1, 1);
        assert!(matches!(
            plan(Some(&tombstone), &late_create, &[]),
            Plan::Skip(SkipReason::Stale { .. })
        ));
    }

    #[test]
    fn an_update_of_an_unseen_resource_records_it() {
        let (record, add, _) = applied(None, &with_tenant(EventType::Update, 1, 1));
        assert!(!record.deleted);
        assert_eq!(add.len(), 1);
    }

    #[test]
    fn same_time_updates_end_the_same_in_either_order() {
        let a = with_tenant(EventType::Update, 3, 1);
        let b = with_tenant(EventType::Update, 3, 2);
        assert_eq!(a.timestamp, b.timestamp);
        assert_ne!(a.digest(), b.digest());
        let (base, _, _) = applied(None, &with_tenant(EventType::Create, 1, 9));
        let settle = |first: &LifecycleEvent, second: &LifecycleEvent| {
            let (after_first, _, _) = applied(Some(&base), first);
            let named: Vec<_> = second
                .related
                .iter()
                .map(|(r, s)| rel(&second.subject, r, s))
                .collect();
            match plan(Some(&after_first), second, &named) {
                Plan::Apply { record, .. } => *record,
                Plan::Skip(_) => after_first,
            }
        };
        let ab = settle(&a, &b);
        let ba = settle(&b, &a);
        assert_eq!(ab, ba);
        let winner = if a.digest() > b.digest() { &a } else { &b };
        assert_eq!(
            ab.last_event_digest,
            winner.digest(),
            "the larger digest is applied last"
        );
    }

    #[test]
    fn relationships_of_other_resources_are_ignored() {
        let e = event(EventType::Update, 1);
        let foreign = rel(&urn("loadbalancer", 2), "tenant", &urn("tenant", 1));
        match plan(None, &e, &[foreign]) {
            Plan::Apply { add, record, .. } => {
                assert!(add.is_empty() && record.relationships.is_empty())
            }
            Plan::Skip(reason) => panic!("skipped: {reason}"),
        }
    }

    #[test]
    fn a_source_less_event_keeps_the_recorded_source() {
        let (record, _, _) = applied(None, &with_tenant(EventType::Create, 1, 1));
        let mut update = with_tenant(EventType::Update, 2, 1);
        update.source.clear();
        let (record, _, _) = applied(Some(&record), &update);
        assert_eq!(record.source, "loadbalancer-api");
    }

    #[test]
    fn the_record_round_trips_through_json() {
        let mut e = with_tenant(EventType::Create, 1, 1);
        e.timestamp += chrono::Duration::nanoseconds(123);
        let (record, _, _) = applied(None, &e);
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["lastEventTime"], "2023-05-06T17:01:00.000000123Z");
        assert_eq!(json["lastEventType"], "create");
        assert_eq!(json["relationships"][0]["relation"], "tenant");
        let back: ResourceRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
    }
}
