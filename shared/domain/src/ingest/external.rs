//! How an ingested resource is shown through the API: the read-only kind
//! `ExternalResource` (group `graph.miloapis.com`, platform context,
//! cluster-scoped). Its object is the stored [`ResourceRecord`]:
//!
//! - `spec`: what a reader wants: urn, resourceType, namespace, source,
//!   lastEventTime, lastEventType, lastActor, fields, deleted;
//! - `status`: what the ingest needs besides: `lastEventDigest` (with the
//!   time, the ordering key) and `relationships` (the resource side's
//!   relationships, so a plan knows what to remove without a Query);
//! - labels [`RESOURCE_TYPE_LABEL`] and [`SOURCE_LABEL`] (values made label
//!   values by [`label_value`]) so a label selector filters by both.
//!
//! [`to_document`] and [`from_document`] are inverse: the record round-trips.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::apply::ResourceRecord;
use super::urn::{ResourceId, Urn};
use crate::kinds::EXTERNAL_RESOURCE;
use crate::metadata_rules::{dns1123_subdomain_errors, is_label_value};

pub const RESOURCE_TYPE_LABEL: &str = "graph.miloapis.com/resource-type";
pub const SOURCE_LABEL: &str = "graph.miloapis.com/source";

/// The object name of the resource `urn`: deterministic, a DNS-1123
/// subdomain, and different for different URNs.
///
/// - A UUID id: `{namespace}.{type}.{uuid}` (all lower-case already), when
///   that is a valid subdomain.
/// - A prefixed id (case-sensitive, may hold `_`): `{namespace}.{type}.{id
///   prefix}-{32 hex digits of SHA-256 of the URN}`. Its last label has no
///   dash at the 14th character, so it is never a UUID: the two forms cannot
///   collide.
/// - Anything else (over 253 characters, a label starting or ending with
///   `-`): `urn-{56 hex digits of SHA-256 of the URN}`, a
///   single label, which the dotted forms never are.
pub fn object_name(urn: &Urn) -> String {
    let digest = hex_digest(&urn.to_string());
    let candidate = match urn.id() {
        ResourceId::Uuid(uuid) => format!("{}.{}.{uuid}", urn.namespace(), urn.resource_type()),
        ResourceId::Prefixed(id) => format!(
            "{}.{}.{}-{}",
            urn.namespace(),
            urn.resource_type(),
            id.prefix(),
            &digest[..32]
        ),
    };
    if dns1123_subdomain_errors(&candidate).is_empty() {
        candidate
    } else {
        format!("urn-{}", &digest[..56])
    }
}

fn hex_digest(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `value` made a label value: characters other than letters, digits, `-`,
/// `_` and `.` become `-`, at most 63 characters, starting and ending with a
/// letter or digit (trimmed). Empty if nothing is left.
pub fn label_value(value: &str) -> String {
    let mapped: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trim = |s: &str| {
        s.trim_matches(|c: char| !c.is_ascii_alphanumeric())
            .to_string()
    };
    let trimmed = trim(&mapped);
    let cut: String = trimmed.chars().take(63).collect();
    trim(&cut)
}

/// The labels of a record's object.
pub fn labels(record: &ResourceRecord) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    for (key, value) in [
        (RESOURCE_TYPE_LABEL, label_value(record.resource_type())),
        (SOURCE_LABEL, label_value(&record.source)),
    ] {
        if !value.is_empty() && is_label_value(&value) {
            labels.insert(key.to_string(), value);
        }
    }
    labels
}

/// What the server keeps of an object across writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectIdentity {
    pub uid: String,
    /// RFC 3339, seconds.
    pub creation_timestamp: String,
}

/// The ExternalResource object of `record` at `version`.
pub fn to_document(record: &ResourceRecord, identity: &ObjectIdentity, version: u64) -> Value {
    let Value::Object(mut fields) = serde_json::to_value(record).unwrap_or(Value::Null) else {
        // A record always serialises to an object (plain strings and maps).
        return Value::Null;
    };
    let digest = fields.remove("lastEventDigest").unwrap_or(Value::Null);
    let relationships = fields.remove("relationships").unwrap_or(json!([]));
    fields.insert(
        "resourceType".into(),
        Value::String(record.resource_type().into()),
    );
    fields.insert(
        "namespace".into(),
        Value::String(record.urn.namespace().into()),
    );
    json!({
        "apiVersion": EXTERNAL_RESOURCE.api_version(),
        "kind": EXTERNAL_RESOURCE.kind,
        "metadata": {
            "name": object_name(&record.urn),
            "uid": identity.uid,
            "resourceVersion": version.to_string(),
            "generation": version,
            "creationTimestamp": identity.creation_timestamp,
            "labels": labels(record),
        },
        "spec": Value::Object(fields),
        "status": {
            "lastEventDigest": digest,
            "relationships": relationships,
        },
    })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the ExternalResource object does not hold a record: {0}")]
pub struct DocumentError(String);

/// The record and identity an ExternalResource object holds.
pub fn from_document(doc: &Value) -> Result<(ResourceRecord, ObjectIdentity), DocumentError> {
    let mut fields: Map<String, Value> = doc["spec"]
        .as_object()
        .cloned()
        .ok_or_else(|| DocumentError("no spec".into()))?;
    fields.remove("resourceType");
    fields.remove("namespace");
    fields.insert(
        "lastEventDigest".into(),
        doc["status"]["lastEventDigest"].clone(),
    );
    fields.insert(
        "relationships".into(),
        doc["status"]["relationships"].clone(),
    );
    let record: ResourceRecord =
        serde_json::from_value(Value::Object(fields)).map_err(|e| DocumentError(e.to_string()))?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let identity = ObjectIdentity {
        uid: text(&doc["metadata"]["uid"]),
        creation_timestamp: text(&doc["metadata"]["creationTimestamp"]),
    };
    Ok((record, identity))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::tests::{event, urn};
    use crate::ingest::{plan, Plan, PrefixedId};

    fn record() -> ResourceRecord {
        let mut e = event(crate::ingest::EventType::Create, 1);
        e.related = vec![("tenant".into(), urn("tenant", 1))];
        let rels = vec![crate::ingest::tests::rel(
            &e.subject,
            "tenant",
            &urn("tenant", 1),
        )];
        match plan(None, &e, &rels) {
            Plan::Apply { record, .. } => *record,
            Plan::Skip(reason) => panic!("skipped: {reason}"),
        }
    }

    #[test]
    fn a_uuid_urn_is_named_namespace_type_uuid() {
        let name = object_name(&urn("loadbalancer", 1));
        assert_eq!(
            name,
            "infratographer.loadbalancer.00000000-0000-4000-8000-000000000001"
        );
        assert!(dns1123_subdomain_errors(&name).is_empty());
    }

    #[test]
    fn a_prefixed_urn_gets_a_stable_digest_suffix() {
        let id = PrefixedId::parse("loadbal-UCN7pxJO57BV_5pNiV95B").unwrap();
        let a = Urn::new("infratographer", "loadbalancer", ResourceId::Prefixed(id)).unwrap();
        let other = PrefixedId::parse("loadbal-UCN7pxJO57BV_5pNiV95b").unwrap();
        let b = Urn::new(
            "infratographer",
            "loadbalancer",
            ResourceId::Prefixed(other),
        )
        .unwrap();
        let name = object_name(&a);
        assert!(
            name.starts_with("infratographer.loadbalancer.loadbal-"),
            "{name}"
        );
        assert!(dns1123_subdomain_errors(&name).is_empty(), "{name}");
        assert_eq!(name, object_name(&a), "deterministic");
        assert_ne!(name, object_name(&b), "ids differing in case differ");
    }

    #[test]
    fn names_that_would_be_invalid_fall_back_to_a_digest() {
        for value in [
            format!(
                "urn:ns:{}:00000000-0000-4000-8000-000000000001",
                "t".repeat(250)
            ),
            "urn:-ns:lb:00000000-0000-4000-8000-000000000001".to_string(),
            "urn:ns:lb-:00000000-0000-4000-8000-000000000001".to_string(),
        ] {
            let name = object_name(&Urn::parse(&value).unwrap());
            assert!(name.starts_with("urn-") && !name.contains('.'), "{name}");
            assert!(dns1123_subdomain_errors(&name).is_empty(), "{name}");
        }
    }

    #[test]
    fn label_values_are_sanitised() {
        assert_eq!(label_value("loadbalancer-api"), "loadbalancer-api");
        assert_eq!(label_value("load balancer/api!"), "load-balancer-api");
        assert_eq!(label_value("-x-"), "x");
        assert_eq!(label_value("!!!"), "");
        let long = label_value(&format!("{}-{}", "a".repeat(62), "b".repeat(10)));
        assert_eq!(long, "a".repeat(62), "cut to 63, then trimmed");
        assert!(is_label_value(&long));
    }

    #[test]
    fn the_record_round_trips_through_the_document() {
        let record = record();
        let identity = ObjectIdentity {
            uid: "u-1".into(),
            creation_timestamp: "2024-01-01T00:00:00Z".into(),
        };
        let doc = to_document(&record, &identity, 3);
        assert_eq!(doc["kind"], "ExternalResource");
        assert_eq!(doc["apiVersion"], "graph.miloapis.com/v1alpha1");
        assert_eq!(doc["metadata"]["resourceVersion"], "3");
        assert_eq!(doc["spec"]["resourceType"], "loadbalancer");
        assert_eq!(doc["spec"]["namespace"], "infratographer");
        assert_eq!(doc["spec"]["deleted"], false);
        assert_eq!(
            doc["metadata"]["labels"][RESOURCE_TYPE_LABEL],
            "loadbalancer"
        );
        assert_eq!(doc["metadata"]["labels"][SOURCE_LABEL], "loadbalancer-api");
        assert_eq!(doc["status"]["relationships"][0]["relation"], "tenant");
        assert!(doc["spec"].get("lastEventDigest").is_none());
        let (back, back_identity) = from_document(&doc).unwrap();
        assert_eq!(back, record);
        assert_eq!(back_identity, identity);
    }

    #[test]
    fn a_document_without_a_record_is_refused() {
        assert!(from_document(&json!({"spec": {"urn": "x"}})).is_err());
        assert!(from_document(&json!({})).is_err());
    }
}
