//! Which relations an event creates: only those a `RelationshipType` defines
//! for the resource's type (README: undefined relations are not persisted),
//! with subjects of an allowed type and no more than the cardinality allows.

use serde::{Deserialize, Serialize};

use super::dead_letter::{DeadLetter, DeadLetterReason as R};
use super::message::{EventType, LifecycleEvent};
use super::shown;
use super::urn::{is_resource_type, Urn, UrnError};

const MAX_RELATION_LEN: usize = 63;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cardinality {
    /// At most one subject per resource (a load balancer's tenant).
    One,
    /// Any number of subjects.
    Many,
}

/// The spec of the declarative kind `RelationshipType`: resources of type
/// `resource_type` may have relation `relation` to subjects of the types
/// `subject_types`. Types compare without regard to case (URNs are
/// canonically lower-case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelationshipType {
    pub resource_type: String,
    /// The `foo` of a field `foo_urn` (snake form) or `foo_id` (camel form).
    pub relation: String,
    pub subject_types: Vec<String>,
    pub cardinality: Cardinality,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelationshipTypeError {
    #[error("resourceType {found} is not 1 to 255 letters, digits or `-`")]
    ResourceType { found: String },
    #[error("relation {found} is not a lower-case letter then up to 62 lower-case letters, digits or `_` (the `foo` of a field `foo_urn`)")]
    Relation { found: String },
    #[error("subjectTypes is empty; list the types this relation may point to")]
    NoSubjectTypes,
    #[error("subjectTypes entry {found} is not 1 to 255 letters, digits or `-`")]
    SubjectType { found: String },
    #[error("subjectTypes lists {found} twice")]
    DuplicateSubjectType { found: String },
}

impl RelationshipType {
    /// The checks for the kind's admission. Definitions that fail them are
    /// ignored by [`relationships`], which only sees stored (admitted) ones.
    pub fn validate(&self) -> Result<(), RelationshipTypeError> {
        if !is_resource_type(&self.resource_type) {
            return Err(RelationshipTypeError::ResourceType {
                found: shown(&self.resource_type),
            });
        }
        if !is_relation(&self.relation) {
            return Err(RelationshipTypeError::Relation {
                found: shown(&self.relation),
            });
        }
        if self.subject_types.is_empty() {
            return Err(RelationshipTypeError::NoSubjectTypes);
        }
        for (i, subject_type) in self.subject_types.iter().enumerate() {
            if !is_resource_type(subject_type) {
                return Err(RelationshipTypeError::SubjectType {
                    found: shown(subject_type),
                });
            }
            if self.subject_types[..i]
                .iter()
                .any(|t| t.eq_ignore_ascii_case(subject_type))
            {
                return Err(RelationshipTypeError::DuplicateSubjectType {
                    found: shown(subject_type),
                });
            }
        }
        Ok(())
    }

    /// The object name a definition must have: `{resourceType}.{relation}`,
    /// lower-case, with the relation's `_` written `-` (object names cannot
    /// hold `_`; relations cannot hold `-`, so two definitions never share a
    /// name).
    pub fn object_name(&self) -> String {
        format!(
            "{}.{}",
            self.resource_type.to_ascii_lowercase(),
            self.relation.replace('_', "-")
        )
    }

    /// The checks of a RelationshipType object beyond its schema: the spec
    /// reads as a definition, [`RelationshipType::validate`] passes, and the
    /// object is named by [`RelationshipType::object_name`].
    pub fn admit(name: &str, spec: &serde_json::Value) -> Vec<crate::Cause> {
        let definition: RelationshipType = match serde_json::from_value(spec.clone()) {
            Ok(definition) => definition,
            Err(e) => return vec![crate::Cause::invalid("spec", e.to_string())],
        };
        if let Err(e) = definition.validate() {
            let field = match e {
                RelationshipTypeError::ResourceType { .. } => "spec.resourceType",
                RelationshipTypeError::Relation { .. } => "spec.relation",
                _ => "spec.subjectTypes",
            };
            return vec![crate::Cause::invalid(field, e.to_string())];
        }
        let expected = definition.object_name();
        if name != expected {
            return vec![crate::Cause::invalid(
                "metadata.name",
                format!("a RelationshipType is named {{resourceType}}.{{relation}} (with `_` as `-`): {expected}"),
            )];
        }
        Vec::new()
    }

    fn defines(&self, resource_type: &str, relation: &str) -> bool {
        self.resource_type.eq_ignore_ascii_case(resource_type) && self.relation == relation
    }

    fn allows(&self, subject_type: &str) -> bool {
        self.subject_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case(subject_type))
    }
}

/// A lower-case letter, then lower-case letters, digits and `_`: snake-case
/// field names, and never the key separator `#`.
fn is_relation(value: &str) -> bool {
    let mut bytes = value.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_lowercase())
        && value.len() <= MAX_RELATION_LEN
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A triple (resource, relation, subject): the resource has `relation` to
/// `subject`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Relationship {
    pub resource: Urn,
    pub relation: String,
    pub subject: Urn,
}

/// Where a relationship is stored: the adapter adds its own item-kind prefix
/// to `partition`. `#` occurs in neither URNs nor relations, so the sort key
/// splits back unambiguously.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelationshipKey {
    pub partition: String,
    pub sort: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("relationship sort key {found} is not {{relation}}#{{urn}}")]
    Sort { found: String },
    #[error("relationship key: {0}")]
    Urn(#[from] UrnError),
}

impl Relationship {
    /// The forward item: a resource's relationships, by relation. Reading
    /// the partition gives all of them; `begins_with(sort, "tenant#")` one
    /// relation.
    pub fn key(&self) -> RelationshipKey {
        RelationshipKey {
            partition: self.resource.to_string(),
            sort: format!("{}#{}", self.relation, self.subject),
        }
    }

    /// The inverse item: which resources have a relation to this subject
    /// ("which load balancers belong to tenant T").
    pub fn inverse_key(&self) -> RelationshipKey {
        RelationshipKey {
            partition: self.subject.to_string(),
            sort: format!("{}#{}", self.relation, self.resource),
        }
    }

    pub fn from_key(key: &RelationshipKey) -> Result<Relationship, KeyError> {
        let (relation, subject) = split_sort(&key.sort)?;
        Ok(Relationship {
            resource: Urn::parse_stored(&key.partition)?,
            relation,
            subject,
        })
    }

    pub fn from_inverse_key(key: &RelationshipKey) -> Result<Relationship, KeyError> {
        let (relation, resource) = split_sort(&key.sort)?;
        Ok(Relationship {
            resource,
            relation,
            subject: Urn::parse_stored(&key.partition)?,
        })
    }
}

fn split_sort(sort: &str) -> Result<(String, Urn), KeyError> {
    let (relation, urn) = sort
        .split_once('#')
        .filter(|(relation, _)| is_relation(relation))
        .ok_or_else(|| KeyError::Sort { found: shown(sort) })?;
    Ok((relation.to_string(), Urn::parse_stored(urn)?))
}

/// Whether events for resources of this type are ingested: some valid
/// RelationshipType names it, as its resource type or as a subject type (a
/// tenant has no relations of its own but is what load balancers point to,
/// and its record is wanted).
pub fn is_defined_type(resource_type: &str, defined: &[RelationshipType]) -> bool {
    defined
        .iter()
        .filter(|d| d.validate().is_ok())
        .any(|d| d.resource_type.eq_ignore_ascii_case(resource_type) || d.allows(resource_type))
}

/// The relationships `event` names for its resource, keeping only relations
/// `defined` for its type.
///
/// Dead letters: the resource's type is not defined at all; a defined
/// relation names a subject of a type it does not allow, or a prefixed id
/// whose prefix is not configured (its type cannot be checked); a `One`
/// relation names two different subjects. The same (relation, subject)
/// named twice counts once. If several definitions share a resource type
/// and relation, a subject type any of them allows is allowed, and the
/// relation is `One` if any says so.
///
/// A delete needs no relationships (it removes them all), so it gets none
/// and is not refused over what its fields name.
pub fn relationships(
    event: &LifecycleEvent,
    defined: &[RelationshipType],
) -> Result<Vec<Relationship>, DeadLetter> {
    let resource_type = event.subject.resource_type();
    if !is_defined_type(resource_type, defined) {
        return Err(DeadLetter::new(
            R::UndefinedResourceType,
            format!(
                "no RelationshipType names resource type `{resource_type}`; define one for it, or list it among a relation's subjectTypes, to ingest its events"
            ),
        ));
    }
    if event.event_type == EventType::Delete {
        return Ok(Vec::new());
    }
    let definitions = |relation: &str| -> Vec<&RelationshipType> {
        defined
            .iter()
            .filter(|d| d.validate().is_ok() && d.defines(resource_type, relation))
            .collect()
    };

    if let Some((relation, id)) = event
        .unresolved_related
        .iter()
        .find(|(relation, _)| !definitions(relation).is_empty())
    {
        return Err(DeadLetter::new(
            R::UnknownPrefix,
            format!(
                "relation `{relation}` names `{id}`, whose prefix `{}` is not configured; add `{}=namespace:resource_type` to the prefix map",
                id.prefix(),
                id.prefix()
            ),
        ));
    }

    let mut kept: Vec<Relationship> = Vec::new();
    for (relation, subject) in &event.related {
        let definitions = definitions(relation);
        if definitions.is_empty() {
            continue;
        }
        if !definitions
            .iter()
            .any(|d| d.allows(subject.resource_type()))
        {
            let mut allowed: Vec<&str> = definitions
                .iter()
                .flat_map(|d| d.subject_types.iter().map(String::as_str))
                .collect();
            allowed.sort_unstable();
            allowed.dedup();
            return Err(DeadLetter::new(
                R::SubjectTypeNotAllowed,
                format!(
                    "relation `{relation}` of a `{resource_type}` takes subjects of type {}; {subject} is a `{}`",
                    allowed.join(", "),
                    subject.resource_type()
                ),
            ));
        }
        let relationship = Relationship {
            resource: event.subject.clone(),
            relation: relation.clone(),
            subject: subject.clone(),
        };
        if kept.contains(&relationship) {
            continue;
        }
        let one = definitions
            .iter()
            .any(|d| d.cardinality == Cardinality::One);
        let earlier = kept.iter().find(|r| r.relation == *relation);
        if let (true, Some(other)) = (one, earlier) {
            return Err(DeadLetter::new(
                R::CardinalityExceeded,
                format!(
                    "relation `{relation}` of a `{resource_type}` takes one subject; the event names {} and {subject}",
                    other.subject
                ),
            ));
        }
        kept.push(relationship);
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::tests::{defined, event, lb, urn};

    #[test]
    fn keeps_only_relations_defined_for_the_type() {
        // location is named by the event but not defined for loadbalancers.
        let mut e = event(EventType::Update, 1);
        e.related = vec![
            ("location".into(), urn("location", 9)),
            ("tenant".into(), urn("tenant", 1)),
        ];
        let kept = relationships(&e, &defined()).unwrap();
        assert_eq!(
            kept,
            vec![Relationship {
                resource: lb(),
                relation: "tenant".into(),
                subject: urn("tenant", 1)
            }]
        );
    }

    #[test]
    fn a_subject_type_not_allowed_is_dead_lettered() {
        let mut e = event(EventType::Create, 1);
        e.related = vec![("tenant".into(), urn("location", 1))];
        let err = relationships(&e, &defined()).unwrap_err();
        assert_eq!(err.reason, R::SubjectTypeNotAllowed);
        assert!(
            err.message.contains("takes subjects of type tenant"),
            "{err}"
        );
    }

    #[test]
    fn a_one_relation_given_twice_is_dead_lettered() {
        let mut e = event(EventType::Create, 1);
        e.related = vec![
            ("tenant".into(), urn("tenant", 1)),
            ("tenant".into(), urn("tenant", 2)),
        ];
        assert_eq!(
            relationships(&e, &defined()).unwrap_err().reason,
            R::CardinalityExceeded
        );
    }

    #[test]
    fn a_many_relation_keeps_every_subject_and_duplicates_count_once() {
        let mut e = event(EventType::Create, 1);
        e.related = vec![
            ("port".into(), urn("loadbalancerport", 1)),
            ("port".into(), urn("loadbalancerport", 2)),
            ("port".into(), urn("loadbalancerport", 1)),
            ("tenant".into(), urn("tenant", 1)),
            ("tenant".into(), urn("tenant", 1)),
        ];
        let kept = relationships(&e, &defined()).unwrap();
        assert_eq!(kept.len(), 3, "{kept:?}");
    }

    #[test]
    fn an_undefined_resource_type_is_dead_lettered() {
        let mut e = event(EventType::Create, 1);
        e.subject = urn("widget", 1);
        let err = relationships(&e, &defined()).unwrap_err();
        assert_eq!(err.reason, R::UndefinedResourceType);
        assert!(err.message.contains("`widget`"));
    }

    #[test]
    fn a_type_known_only_as_a_subject_type_is_ingested() {
        let mut e = event(EventType::Create, 1);
        e.subject = urn("tenant", 1);
        e.related = vec![("parent".into(), urn("tenant", 2))];
        assert_eq!(relationships(&e, &defined()).unwrap(), vec![]);
        assert!(is_defined_type("Tenant", &defined()));
    }

    #[test]
    fn a_delete_gets_no_relationships_whatever_its_fields_name() {
        let mut e = event(EventType::Delete, 1);
        e.related = vec![("tenant".into(), urn("location", 1))];
        assert_eq!(relationships(&e, &defined()).unwrap(), vec![]);
    }

    #[test]
    fn an_unresolved_id_in_a_defined_relation_is_dead_lettered() {
        let id = crate::ingest::PrefixedId::parse("tnntxxx-2Tc8hXn3M3bo1dJcTn2bq").unwrap();
        let mut e = event(EventType::Create, 1);
        e.unresolved_related = vec![("comment".into(), id.clone())];
        assert!(
            relationships(&e, &defined()).is_ok(),
            "undefined relation: ignored"
        );
        e.unresolved_related = vec![("tenant".into(), id)];
        assert_eq!(
            relationships(&e, &defined()).unwrap_err().reason,
            R::UnknownPrefix
        );
    }

    #[test]
    fn invalid_definitions_are_ignored() {
        let mut e = event(EventType::Create, 1);
        e.related = vec![("tenant".into(), urn("tenant", 1))];
        let broken = vec![RelationshipType {
            resource_type: "loadbalancer".into(),
            relation: "tenant".into(),
            subject_types: vec![],
            cardinality: Cardinality::One,
        }];
        assert_eq!(
            relationships(&e, &broken).unwrap_err().reason,
            R::UndefinedResourceType
        );
    }

    #[test]
    fn objects_are_named_by_type_and_relation() {
        let definition = RelationshipType {
            resource_type: "LoadBalancer".into(),
            relation: "owner_tenant".into(),
            subject_types: vec!["tenant".into()],
            cardinality: Cardinality::One,
        };
        assert_eq!(definition.object_name(), "loadbalancer.owner-tenant");
        let spec = serde_json::to_value(&definition).unwrap();
        assert_eq!(spec["cardinality"], "One");
        assert!(RelationshipType::admit("loadbalancer.owner-tenant", &spec).is_empty());
        let wrong = RelationshipType::admit("lb.tenant", &spec);
        assert_eq!(wrong[0].field, "metadata.name");
        assert!(wrong[0].message.contains("loadbalancer.owner-tenant"));
        let mut dup = spec.clone();
        dup["subjectTypes"] = serde_json::json!(["tenant", "Tenant"]);
        assert_eq!(
            RelationshipType::admit("loadbalancer.owner-tenant", &dup)[0].field,
            "spec.subjectTypes"
        );
        let mut bad = spec;
        bad["cardinality"] = serde_json::json!("Few");
        assert_eq!(
            RelationshipType::admit("loadbalancer.owner-tenant", &bad)[0].field,
            "spec"
        );
    }

    #[test]
    fn keys_round_trip_forward_and_inverse() {
        let r = Relationship {
            resource: lb(),
            relation: "tenant".into(),
            subject: Urn::parse_stored("urn:infratographer:tenant:tnntten-2Tc8hXn3M3bo1dJcTn2bq")
                .unwrap(),
        };
        let key = r.key();
        assert_eq!(key.partition, lb().to_string());
        assert_eq!(
            key.sort,
            "tenant#urn:infratographer:tenant:tnntten-2Tc8hXn3M3bo1dJcTn2bq"
        );
        let inverse = r.inverse_key();
        assert_eq!(inverse.partition, r.subject.to_string());
        assert_eq!(inverse.sort, format!("tenant#{}", lb()));
        assert_eq!(Relationship::from_key(&key).unwrap(), r);
        assert_eq!(Relationship::from_inverse_key(&inverse).unwrap(), r);
        let bad = RelationshipKey {
            partition: lb().to_string(),
            sort: "no-separator".into(),
        };
        assert!(matches!(
            Relationship::from_key(&bad),
            Err(KeyError::Sort { .. })
        ));
    }

    #[test]
    fn validate_names_the_problem() {
        let good = &defined()[0];
        assert_eq!(good.validate(), Ok(()));
        let with = |f: fn(&mut RelationshipType)| {
            let mut t = good.clone();
            f(&mut t);
            t.validate().unwrap_err()
        };
        assert!(matches!(
            with(|t| t.resource_type = "load balancer".into()),
            RelationshipTypeError::ResourceType { .. }
        ));
        assert!(matches!(
            with(|t| t.relation = "Tenant".into()),
            RelationshipTypeError::Relation { .. }
        ));
        assert!(matches!(
            with(|t| t.relation = "a#b".into()),
            RelationshipTypeError::Relation { .. }
        ));
        assert!(matches!(
            with(|t| t.relation = "t".repeat(64)),
            RelationshipTypeError::Relation { .. }
        ));
        assert!(matches!(
            with(|t| t.subject_types.clear()),
            RelationshipTypeError::NoSubjectTypes
        ));
        assert!(matches!(
            with(|t| t.subject_types = vec!["a b".into()]),
            RelationshipTypeError::SubjectType { .. }
        ));
        assert!(matches!(
            with(|t| t.subject_types = vec!["tenant".into(), "Tenant".into()]),
            RelationshipTypeError::DuplicateSubjectType { .. }
        ));
    }

    #[test]
    fn the_spec_reads_as_the_kind_writes_it() {
        let spec: RelationshipType = serde_json::from_str(
            r#"{"resourceType":"loadbalancer","relation":"tenant","subjectTypes":["tenant"],"cardinality":"One"}"#,
        )
        .unwrap();
        assert_eq!(spec, defined()[0]);
    }
}
