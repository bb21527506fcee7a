//! A committed change of a stored object, as the lifecycle event other
//! services already consume (../shared/events, snake form): what the
//! platform publishes for each change the table's stream reports (#22).
//! Pure: the publisher reads the stream and resolves the object's
//! context (its project and organization, its ancestors) around it.

use serde_json::{json, Map, Value};

use crate::ingest::{object_urn, owner_relation, EventType, Urn};
use crate::kinds::{ORGANIZATION, PROJECT};
use crate::object::Object;

/// Who wrote the platform's events (`source`).
pub const SOURCE: &str = "milo-platform";

/// One committed change of one object.
#[derive(Debug, Clone, PartialEq)]
pub struct Change<'a> {
    /// The served kind (a document may omit its own).
    pub kind: &'a str,
    /// The object before the change; None for a create.
    pub before: Option<&'a Object>,
    /// The object after it; None for a delete.
    pub after: Option<&'a Object>,
    /// Where the object lives, resolved by the publisher.
    pub place: &'a Place,
    /// Who made the change, when the writer is a node of the graph.
    pub actor: Option<&'a Urn>,
    /// When it was committed (RFC 3339), as the stream reports it.
    pub timestamp: &'a str,
}

/// The object's context as nodes: the project and organization it lives
/// in (None for what lives on the platform itself), and every ancestor,
/// nearest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Place {
    pub project: Option<Urn>,
    pub organization: Option<Urn>,
    pub ancestors: Vec<Urn>,
}

impl Place {
    /// The place of an object whose context's chain of hierarchy nodes,
    /// nearest first, is `chain` (each with its kind): its project when the
    /// nearest is one, its organization when the farthest is one, and every
    /// node as an ancestor.
    pub fn from_chain(chain: Vec<(&str, Urn)>) -> Place {
        let nearest = |kind: &str, node: Option<&(&str, Urn)>| {
            node.filter(|(k, _)| *k == kind).map(|(_, urn)| urn.clone())
        };
        Place {
            project: nearest(PROJECT.kind, chain.first()),
            organization: nearest(ORGANIZATION.kind, chain.last()),
            ancestors: chain.into_iter().map(|(_, urn)| urn).collect(),
        }
    }
}

/// A change ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// `{prefix}.{resource_type}.{create|update|delete}`.
    pub subject: String,
    /// The same for every delivery of the same change, so that JetStream's
    /// duplicate window drops a republish: the object's uid and the
    /// version the change made (`delete` for its removal).
    pub message_id: String,
    pub payload: Value,
}

/// The event of `change`; None when it names no object with a uid (a
/// change that is not an object's).
pub fn outbound(prefix: &str, change: &Change) -> Option<Outbound> {
    let (event_type, object) = match (change.before, change.after) {
        (None, Some(after)) => (EventType::Create, after),
        (Some(_), Some(after)) => (EventType::Update, after),
        (Some(before), None) => (EventType::Delete, before),
        (None, None) => return None,
    };
    let subject = object_urn(change.kind, &object.metadata.uid)?;
    let version = match event_type {
        EventType::Delete => "delete".to_string(),
        _ => object.metadata.resource_version.clone(),
    };
    let payload = json!({
        "subject_urn": subject.to_string(),
        "event_type": event_type.as_str(),
        "additional_subjects": change.place.ancestors.iter().map(Urn::to_string).collect::<Vec<_>>(),
        "actor_urn": change.actor.map(Urn::to_string).unwrap_or_default(),
        "source": SOURCE,
        "timestamp": change.timestamp,
        "fields": fields(object, change.place),
        "additional_data": {"object": object},
    });
    Some(Outbound {
        subject: format!(
            "{prefix}.{}.{}",
            subject.resource_type(),
            event_type.as_str()
        ),
        message_id: format!("{}:{version}", object.metadata.uid),
        payload,
    })
}

/// The object's name and namespace, and its relations as `{relation}_urn`:
/// its hierarchy parent or first owner (a controller before others), its
/// project and organization.
fn fields(object: &Object, place: &Place) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("name".into(), object.metadata.name.clone().into());
    if !object.metadata.namespace.is_empty() {
        fields.insert("namespace".into(), object.metadata.namespace.clone().into());
    }
    let mut owners: Vec<_> = object.metadata.owner_references.iter().collect();
    owners.sort_by_key(|owner| owner.controller != Some(true));
    for owner in owners {
        let Some(urn) = object_urn(&owner.kind, &owner.uid) else {
            continue;
        };
        let key = format!("{}_urn", owner_relation(owner));
        fields.entry(key).or_insert_with(|| urn.to_string().into());
    }
    for (relation, urn) in [
        ("project", &place.project),
        ("organization", &place.organization),
    ] {
        if let Some(urn) = urn {
            fields.insert(format!("{relation}_urn"), urn.to_string().into());
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{decode, IngestConfig, PrefixMap, ResourceId};

    const ORG: &str = "6a1f6f3e-8a4c-4f43-9d2e-2f6f7c1c3b10";
    const FOLDER: &str = "0d6e2b9a-5c1b-4f7e-8f3a-9b2c4d5e6f70";
    const PROJECT: &str = "9b1c2d3e-4f50-4a6b-8c7d-1e2f3a4b5c6d";
    const OBJECT: &str = "3c4d5e6f-7081-4a2b-9c3d-4e5f60718293";
    const OWNER: &str = "7e8f9011-2233-4455-8677-8899aabbccdd";

    fn urn(kind: &str, uid: &str) -> Urn {
        Urn::new("milo", kind, ResourceId::Uuid(uid.into())).unwrap()
    }

    #[test]
    fn a_chain_gives_the_nearest_project_and_the_farthest_organization() {
        let place = Place::from_chain(vec![
            ("Project", urn("Project", PROJECT)),
            ("Folder", urn("Folder", FOLDER)),
            ("Organization", urn("Organization", ORG)),
        ]);
        assert_eq!(place, place_fixture());
        let folder = Place::from_chain(vec![
            ("Folder", urn("Folder", FOLDER)),
            ("Organization", urn("Organization", ORG)),
        ]);
        assert_eq!(folder.project, None);
        assert_eq!(folder.organization, Some(urn("Organization", ORG)));
        assert_eq!(folder.ancestors.len(), 2);
        // An organization's own chain is cut (it was deleted): no organization.
        let cut = Place::from_chain(vec![("Project", urn("Project", PROJECT))]);
        assert_eq!(cut.organization, None);
        assert_eq!(Place::from_chain(vec![]), Place::default());
    }

    fn place_fixture() -> Place {
        Place {
            project: Some(urn("Project", PROJECT)),
            organization: Some(urn("Organization", ORG)),
            ancestors: vec![
                urn("Project", PROJECT),
                urn("Folder", FOLDER),
                urn("Organization", ORG),
            ],
        }
    }

    fn config_map(version: &str) -> Object {
        Object::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": "settings", "namespace": "team", "uid": OBJECT,
                "resourceVersion": version,
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Secret", "name": "other", "uid": "not-a-uuid"},
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": OWNER, "controller": true},
                ],
            },
            "data": {"k": "v"},
        }))
        .unwrap()
    }

    fn change<'a>(
        before: Option<&'a Object>,
        after: Option<&'a Object>,
        place: &'a Place,
    ) -> Change<'a> {
        Change {
            kind: "ConfigMap",
            before,
            after,
            place,
            actor: None,
            timestamp: "2026-12-07T13:00:00Z",
        }
    }

    #[test]
    fn each_change_has_its_event_type_subject_and_one_message_id() {
        let place = place_fixture();
        let (v1, v2) = (config_map("1"), config_map("2"));
        let created = outbound("milo.events", &change(None, Some(&v1), &place)).unwrap();
        assert_eq!(created.subject, "milo.events.configmap.create");
        assert_eq!(created.message_id, format!("{OBJECT}:1"));
        let updated = outbound("milo.events", &change(Some(&v1), Some(&v2), &place)).unwrap();
        assert_eq!(updated.subject, "milo.events.configmap.update");
        assert_eq!(updated.message_id, format!("{OBJECT}:2"));
        let deleted = outbound("milo.events", &change(Some(&v2), None, &place)).unwrap();
        assert_eq!(deleted.subject, "milo.events.configmap.delete");
        assert_eq!(deleted.message_id, format!("{OBJECT}:delete"));
        assert_eq!(
            deleted.payload["additional_data"]["object"]["data"]["k"],
            "v"
        );
        assert_eq!(outbound("milo.events", &change(None, None, &place)), None);
    }

    #[test]
    fn relations_and_ancestors_are_named_by_urn() {
        let place = place_fixture();
        let object = config_map("1");
        let event = outbound("milo.events", &change(None, Some(&object), &place)).unwrap();
        let fields = &event.payload["fields"];
        assert_eq!(
            fields["owner_urn"],
            format!("urn:milo:configmap:{OWNER}"),
            "the controller, the other names no node"
        );
        assert_eq!(fields["project_urn"], format!("urn:milo:project:{PROJECT}"));
        assert_eq!(
            fields["organization_urn"],
            format!("urn:milo:organization:{ORG}")
        );
        assert_eq!(fields["namespace"], "team");
        assert_eq!(
            event.payload["subject_urn"],
            format!("urn:milo:configmap:{OBJECT}")
        );
        assert_eq!(
            event.payload["additional_subjects"]
                .as_array()
                .map(Vec::len),
            Some(3)
        );
    }

    /// What the platform publishes, its own consumer reads: the format is
    /// the one other services consume.
    #[test]
    fn the_platforms_events_decode_as_lifecycle_events() {
        let place = place_fixture();
        let object = config_map("4");
        let actor = urn("User", "11111111-2222-4333-8444-555555555555");
        let mut update = change(Some(&object), Some(&object), &place);
        update.actor = Some(&actor);
        let event = outbound("milo.events", &update).unwrap();
        let bytes = serde_json::to_vec(&event.payload).unwrap();
        let config = IngestConfig::new("milo.events", PrefixMap::default()).unwrap();
        let decoded = decode(&event.subject, &bytes, &config).expect("a lifecycle event");
        assert_eq!(decoded.event_type, EventType::Update);
        assert_eq!(decoded.subject, urn("ConfigMap", OBJECT));
        assert_eq!(decoded.additional_subjects, place.ancestors);
        assert!(decoded
            .related
            .contains(&("project".to_string(), urn("Project", PROJECT))));
        assert_eq!(decoded.source, SOURCE);
    }
}
