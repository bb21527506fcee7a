//! The platform's own objects in the relationship graph, beside what other
//! services report: every object is the node `urn:milo:{kind}:{uid}` (its
//! kind lower-cased), and each owner reference is an edge from it to its
//! owner. The hierarchy's owner references (a folder's or project's parent,
//! which the server sets) are the relation `parent`; all others are `owner`.
//! So a walk can go from a project up to its organization, and, through an
//! ingested resource that names the project (a tenant's `project_urn`), on to
//! what other services report about that tenant.

use std::collections::BTreeSet;

use super::{Relationship, ResourceId, Urn};
use crate::object::{Object, OwnerReference};

/// The URN namespace of the platform's own objects.
pub const PLATFORM_URN_NAMESPACE: &str = "milo";
/// A folder's or project's place in the hierarchy.
pub const PARENT_RELATION: &str = "parent";
/// Any other owner reference.
pub const OWNER_RELATION: &str = "owner";

const HIERARCHY_GROUP: &str = "resourcemanager.miloapis.com";
const HIERARCHY_PARENT_KINDS: [&str; 2] = ["Organization", "Folder"];

/// The node of an object of `kind` with `uid`; None when the uid is not a
/// UUID (owner references are written by clients and may hold anything).
pub fn object_urn(kind: &str, uid: &str) -> Option<Urn> {
    Urn::new(
        PLATFORM_URN_NAMESPACE,
        kind,
        ResourceId::Uuid(uid.to_string()),
    )
    .ok()
}

/// The relation an owner reference stands for.
pub fn owner_relation(owner: &OwnerReference) -> &'static str {
    let group = owner.api_version.split('/').next().unwrap_or_default();
    if group == HIERARCHY_GROUP && HIERARCHY_PARENT_KINDS.contains(&owner.kind.as_str()) {
        PARENT_RELATION
    } else {
        OWNER_RELATION
    }
}

/// The edges an object of `kind` stores: one per owner reference that names
/// a node. Empty for an object without a UUID of its own (not yet created).
/// The kind is the served type's, not the document's, which a PUT may omit.
pub fn platform_relationships(kind: &str, obj: &Object) -> BTreeSet<Relationship> {
    let Some(resource) = object_urn(kind, &obj.metadata.uid) else {
        return BTreeSet::new();
    };
    obj.metadata
        .owner_references
        .iter()
        .filter_map(|owner| {
            Some(Relationship {
                resource: resource.clone(),
                relation: owner_relation(owner).to_string(),
                subject: object_urn(&owner.kind, &owner.uid)?,
            })
        })
        .collect()
}

/// What an update changes in the graph: (to add, to remove).
pub fn platform_relationship_changes(
    kind: &str,
    old: &Object,
    new: &Object,
) -> (Vec<Relationship>, Vec<Relationship>) {
    let (old, new) = (
        platform_relationships(kind, old),
        platform_relationships(kind, new),
    );
    (
        new.difference(&old).cloned().collect(),
        old.difference(&new).cloned().collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PROJECT_UID: &str = "6f1c2a9e-0000-4000-8000-000000000001";
    const FOLDER_UID: &str = "6f1c2a9e-0000-4000-8000-000000000002";
    const NOTE_UID: &str = "6f1c2a9e-0000-4000-8000-000000000003";

    fn object(doc: serde_json::Value) -> Object {
        Object::from_value(doc).unwrap()
    }

    fn project(owners: serde_json::Value) -> Object {
        object(json!({
            "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
            "kind": "Project",
            "metadata": {"name": "p", "uid": PROJECT_UID, "ownerReferences": owners},
        }))
    }

    fn folder_owner() -> serde_json::Value {
        json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Folder", "name": "f", "uid": FOLDER_UID})
    }

    #[test]
    fn a_hierarchy_parent_is_the_parent_relation() {
        let edges: Vec<_> = platform_relationships("Project", &project(json!([folder_owner()])))
            .into_iter()
            .map(|r| (r.resource.to_string(), r.relation, r.subject.to_string()))
            .collect();
        assert_eq!(
            edges,
            vec![(
                format!("urn:milo:project:{PROJECT_UID}"),
                "parent".to_string(),
                format!("urn:milo:folder:{FOLDER_UID}")
            )]
        );
    }

    #[test]
    fn other_owner_references_are_the_owner_relation() {
        let note = object(json!({
            "apiVersion": "notes.example.com/v1",
            "kind": "Note",
            "metadata": {"name": "n", "uid": NOTE_UID, "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": PROJECT_UID},
                // A Folder of another group is not the hierarchy.
                {"apiVersion": "files.example.com/v1", "kind": "Folder", "name": "f", "uid": FOLDER_UID}
            ]},
        }));
        let relations: Vec<_> = platform_relationships("Note", &note)
            .into_iter()
            .map(|r| (r.relation, r.subject.to_string()))
            .collect();
        assert_eq!(
            relations,
            vec![
                (
                    "owner".to_string(),
                    format!("urn:milo:configmap:{PROJECT_UID}")
                ),
                ("owner".to_string(), format!("urn:milo:folder:{FOLDER_UID}")),
            ]
        );
    }

    #[test]
    fn owner_references_without_a_uuid_are_not_edges() {
        let owners =
            json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "not-a-uuid"}]);
        assert!(platform_relationships("Project", &project(owners)).is_empty());
        let mut unsaved = project(json!([folder_owner()]));
        unsaved.metadata.uid.clear();
        assert!(platform_relationships("Project", &unsaved).is_empty());
    }

    #[test]
    fn a_move_replaces_the_parent_edge() {
        let old = project(json!([folder_owner()]));
        let new = project(json!([{
            "apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Organization",
            "name": "o", "uid": NOTE_UID
        }]));
        let (added, removed) = platform_relationship_changes("Project", &old, &new);
        assert_eq!(added.len(), 1);
        assert_eq!(added[0].subject.resource_type(), "organization");
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].subject.resource_type(), "folder");
        let (added, removed) = platform_relationship_changes("Project", &old, &old);
        assert!(added.is_empty() && removed.is_empty());
    }
}
