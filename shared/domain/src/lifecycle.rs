//! What the server sets and keeps on create and update: system metadata,
//! generation, status ownership, immutable fields. Pure.

use crate::kinds::{KindInfo, NameFormat};
use crate::metadata_rules::{
    validate_annotations, validate_finalizers, validate_generate_name, validate_labels,
    validate_name, validate_subdomain_name,
};
use crate::object::Object;
use crate::Cause;

/// Owner references per object: each is a relationship (two items) and an
/// owner-index item (#21) written in the object's own transaction, which
/// DynamoDB caps at 100 items.
pub const MAX_OWNER_REFERENCES: usize = 13;

/// Index entries per object: one per label (its label-index item), two per
/// owner reference (its graph edge and the edge's inverse) and one more per
/// owner reference in the owner index (all but a hierarchy parent's,
/// [`crate::deletion::indexed_owner_references`]). They are written,
/// changed and deleted with the object in one transaction, which DynamoDB
/// caps at 100 items: an update that replaces every one of them writes twice
/// this many, and a delete also takes along the object's namespaces, its
/// hierarchy items and quota's. 40 leaves room for all of it, so an object
/// that could be stored can always be updated and deleted.
pub const MAX_INDEX_ENTRIES: usize = 40;

/// Refuses an object whose labels and owner references need more index
/// entries than [`MAX_INDEX_ENTRIES`]. Checked on what would be stored,
/// after the server's own labels and owner references are added.
pub fn index_entry_causes(obj: &Object) -> Vec<Cause> {
    let meta = &obj.metadata;
    let indexed = crate::deletion::indexed_owner_references(&obj.kind, obj).count();
    let entries = meta.labels.len() + 2 * meta.owner_references.len() + indexed;
    if entries <= MAX_INDEX_ENTRIES {
        return Vec::new();
    }
    vec![Cause::invalid(
        "metadata.labels",
        format!(
            "an object may have at most {MAX_INDEX_ENTRIES} labels, three fewer for each owner reference (two for a folder's or project's parent) \
             (this one has {} labels and {} owner references); remove some",
            meta.labels.len(),
            meta.owner_references.len()
        ),
    )]
}

/// Checks the client-controlled metadata of a create or update.
pub fn validate_metadata(kind: &KindInfo, obj: &Object) -> Vec<Cause> {
    let meta = &obj.metadata;
    let mut causes = Vec::new();
    if meta.name.is_empty() && !meta.generate_name.is_empty() {
        causes.extend(validate_generate_name(
            "metadata.generateName",
            &meta.generate_name,
            kind.max_name_length,
        ));
    } else {
        causes.extend(match kind.name_format {
            NameFormat::Label => validate_name("metadata.name", &meta.name, kind.max_name_length),
            NameFormat::Subdomain => validate_subdomain_name("metadata.name", &meta.name),
        });
    }
    causes.extend(validate_labels("metadata.labels", &meta.labels));
    causes.extend(validate_annotations(
        "metadata.annotations",
        &meta.annotations,
    ));
    if meta.owner_references.len() > MAX_OWNER_REFERENCES {
        causes.push(Cause::invalid(
            "metadata.ownerReferences",
            format!(
                "at most {MAX_OWNER_REFERENCES} owner references (found {}): each is a graph edge written with the object in one transaction",
                meta.owner_references.len()
            ),
        ));
    }
    let mut controller: Option<String> = None;
    for (i, owner) in meta.owner_references.iter().enumerate() {
        if owner.name.is_empty() || owner.kind.is_empty() || owner.api_version.is_empty() {
            causes.push(Cause::invalid(
                format!("metadata.ownerReferences[{i}]"),
                "apiVersion, kind and name are required",
            ));
        }
        // What the reference is for: Kubernetes' garbage collector follows
        // it only to the owner with that uid, not a namesake.
        if owner.uid.is_empty() {
            causes.push(Cause::invalid(
                format!("metadata.ownerReferences[{i}].uid"),
                "Invalid value: \"\": uid must not be empty",
            ));
        }
        if owner.controller == Some(true) {
            let this = format!("{}/{}", owner.kind, owner.name);
            match &controller {
                None => controller = Some(this),
                Some(first) => causes.push(Cause::invalid(
                    "metadata.ownerReferences",
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {this}"
                    ),
                )),
            }
        }
    }
    causes.extend(validate_finalizers("metadata.finalizers", &meta.finalizers));
    causes
}

/// Annotations only the server writes: dropped from what a create sends,
/// kept from the stored object on every update.
pub const SERVER_ANNOTATIONS: [&str; 3] = [
    crate::quota::CLAIMS_ANNOTATION,
    crate::quota::GRANTS_ANNOTATION,
    crate::quota::RESOURCE_CONTEXT_ANNOTATION,
];

/// Fills the system fields of a new object.
pub fn initialize(obj: &mut Object, kind: &KindInfo, uid: String, now: &str) {
    obj.api_version = kind.api_version();
    obj.kind = kind.kind.clone();
    let meta = &mut obj.metadata;
    for key in SERVER_ANNOTATIONS {
        meta.annotations.remove(key);
    }
    meta.uid = uid;
    meta.resource_version = "1".into();
    meta.generation = Some(1);
    meta.creation_timestamp = Some(now.to_string());
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
}

/// Carries the system fields of `old` over to `new` (an update) and bumps the
/// generation when the spec changed. Returns the causes of changes to fields
/// that cannot change.
pub fn carry_over(old: &Object, new: &mut Object, next_version: u64) -> Vec<Cause> {
    let mut causes = Vec::new();
    if !new.metadata.uid.is_empty() && new.metadata.uid != old.metadata.uid {
        causes.push(Cause::invalid("metadata.uid", "field is immutable"));
    }
    let spec_changed = new.spec() != old.spec();
    let meta = &mut new.metadata;
    meta.name = old.metadata.name.clone();
    meta.generate_name = old.metadata.generate_name.clone();
    meta.namespace = old.metadata.namespace.clone();
    meta.uid = old.metadata.uid.clone();
    meta.creation_timestamp = old.metadata.creation_timestamp.clone();
    meta.deletion_timestamp = old.metadata.deletion_timestamp.clone();
    meta.deletion_grace_period_seconds = old.metadata.deletion_grace_period_seconds;
    meta.resource_version = next_version.to_string();
    for key in SERVER_ANNOTATIONS {
        match old.metadata.annotations.get(key) {
            Some(value) => meta.annotations.insert(key.to_string(), value.clone()),
            None => meta.annotations.remove(key),
        };
    }
    let generation = old.metadata.generation.unwrap_or(1);
    meta.generation = Some(if spec_changed {
        generation + 1
    } else {
        generation
    });
    new.api_version = old.api_version.clone();
    new.kind = old.kind.clone();
    causes
}

/// The main resource ignores `status`; the `/status` subresource changes
/// nothing but `status`.
pub fn keep_status_of(old: &Object, new: &mut Object) {
    new.set_status(old.status().clone());
}

/// For a `/status` write: the stored object with only the new status.
pub fn status_only(old: &Object, new: &Object) -> Object {
    let mut result = old.clone();
    result.set_status(new.status().clone());
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::KindInfo;

    #[test]
    fn labels_and_owner_references_share_the_index_budget() {
        let with = |labels: usize, owners: usize| {
            let mut obj =
                Object::from_value(serde_json::json!({"metadata": {"name": "x"}})).unwrap();
            for i in 0..labels {
                obj.metadata.labels.insert(format!("l{i}"), "v".into());
            }
            for i in 0..owners {
                obj.metadata
                    .owner_references
                    .push(crate::object::OwnerReference {
                        api_version: "v1".into(),
                        kind: "Thing".into(),
                        name: format!("o{i}"),
                        uid: format!("u{i}"),
                        ..Default::default()
                    });
            }
            index_entry_causes(&obj)
        };
        assert!(with(MAX_INDEX_ENTRIES, 0).is_empty());
        assert!(with(0, MAX_OWNER_REFERENCES).is_empty());
        assert!(with(MAX_INDEX_ENTRIES - 3, 1).is_empty());
        let refused = with(MAX_INDEX_ENTRIES - 2, 1);
        assert_eq!(refused.len(), 1);
        assert!(
            refused[0].message.contains("at most 40 labels"),
            "{refused:?}"
        );
        assert!(!with(MAX_INDEX_ENTRIES + 1, 0).is_empty());
    }

    fn project_kind() -> std::sync::Arc<KindInfo> {
        crate::catalog::Catalog::builtin()
            .unwrap()
            .kind(&crate::kinds::PROJECT)
            .unwrap()
    }
    use serde_json::json;

    fn project(spec: serde_json::Value) -> Object {
        Object::from_value(json!({"metadata": {"name": "p"}, "spec": spec, "status": {"x": 1}}))
            .unwrap()
    }

    #[test]
    fn generation_moves_with_spec_only() {
        let mut old = project(json!({"a": 1}));
        initialize(
            &mut old,
            &project_kind(),
            "u1".into(),
            "2026-01-01T00:00:00Z",
        );
        let mut same = project(json!({"a": 1}));
        same.metadata.labels.insert("x".into(), "y".into());
        carry_over(&old, &mut same, 2);
        assert_eq!(same.metadata.generation, Some(1));
        assert_eq!(same.metadata.resource_version, "2");
        let mut changed = project(json!({"a": 2}));
        carry_over(&old, &mut changed, 2);
        assert_eq!(changed.metadata.generation, Some(2));
        assert_eq!(changed.metadata.uid, "u1");
    }

    #[test]
    fn server_annotations_are_the_servers() {
        for key in SERVER_ANNOTATIONS {
            server_annotation_is_the_servers(key);
        }
    }

    fn server_annotation_is_the_servers(annotation: &str) {
        let mut sent = project(json!({}));
        sent.metadata
            .annotations
            .insert(annotation.into(), "ns/forged".into());
        sent.metadata
            .annotations
            .insert("note".into(), "mine".into());
        initialize(
            &mut sent,
            &project_kind(),
            "u1".into(),
            "2026-01-01T00:00:00Z",
        );
        assert!(!sent.metadata.annotations.contains_key(annotation));
        assert_eq!(sent.metadata.annotations["note"], "mine");

        let mut stored = sent.clone();
        stored
            .metadata
            .annotations
            .insert(annotation.into(), "ns/real".into());
        // An update that drops it or rewrites it keeps the stored value.
        let mut dropped = project(json!({}));
        carry_over(&stored, &mut dropped, 2);
        assert_eq!(dropped.metadata.annotations[annotation], "ns/real");
        let mut rewritten = project(json!({}));
        rewritten
            .metadata
            .annotations
            .insert(annotation.into(), "ns/other".into());
        carry_over(&stored, &mut rewritten, 2);
        assert_eq!(rewritten.metadata.annotations[annotation], "ns/real");
        // And one cannot add it to an object that has none.
        let mut added = project(json!({}));
        added
            .metadata
            .annotations
            .insert(annotation.into(), "ns/forged".into());
        carry_over(&sent, &mut added, 2);
        assert!(!added.metadata.annotations.contains_key(annotation));
    }

    #[test]
    fn uid_cannot_change() {
        let mut old = project(json!({}));
        initialize(&mut old, &project_kind(), "u1".into(), "t");
        let mut new = project(json!({}));
        new.metadata.uid = "u2".into();
        assert_eq!(carry_over(&old, &mut new, 2)[0].field, "metadata.uid");
    }

    #[test]
    fn status_subresource_and_main_resource_split() {
        let old = project(json!({"a": 1}));
        let mut new = project(json!({"a": 2}));
        new.set_status(json!({"x": 2}));
        let s = status_only(&old, &new);
        assert_eq!(
            (s.spec().clone(), s.status().clone()),
            (json!({"a": 1}), json!({"x": 2}))
        );
        keep_status_of(&old, &mut new);
        assert_eq!(new.status(), &json!({"x": 1}));
    }

    #[test]
    fn bad_metadata_is_reported_with_paths() {
        let obj =
            Object::from_value(json!({"metadata": {"name": "Bad_Name", "labels": {"-x": "y"}}}))
                .unwrap();
        let fields: Vec<_> = validate_metadata(&project_kind(), &obj)
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert!(fields.contains(&"metadata.name".to_string()), "{fields:?}");
        assert!(
            fields.contains(&"metadata.labels".to_string()),
            "{fields:?}"
        );
    }

    #[test]
    fn owner_references_need_a_uid_and_at_most_one_controller() {
        let kind = project_kind();
        let causes = |owners: serde_json::Value| {
            let obj =
                Object::from_value(json!({"metadata": {"name": "p", "ownerReferences": owners}}))
                    .unwrap();
            validate_metadata(&kind, &obj)
        };
        let owner = |name: &str, uid: &str, controller: bool| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": name, "uid": uid, "controller": controller});
        let found = causes(json!([owner("a", "u1", false), owner("b", "", false)]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].field, "metadata.ownerReferences[1].uid");
        let found = causes(json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "a"}]));
        assert_eq!(found[0].field, "metadata.ownerReferences[0].uid");
        let found = causes(json!([
            owner("a", "u1", true),
            owner("b", "u2", false),
            owner("c", "u3", true)
        ]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].field, "metadata.ownerReferences");
        assert!(
            found[0].message.contains("ConfigMap/a and ConfigMap/c"),
            "{found:?}"
        );
        assert!(causes(json!([owner("a", "u1", true), owner("b", "u2", false)])).is_empty());
    }

    #[test]
    fn finalizers_are_checked_with_the_metadata() {
        let obj =
            Object::from_value(json!({"metadata": {"name": "p", "finalizers": ["no spaces"]}}))
                .unwrap();
        let causes = validate_metadata(&project_kind(), &obj);
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert_eq!(causes[0].field, "metadata.finalizers");
    }

    #[test]
    fn owner_references_are_bounded_by_one_transaction() {
        let owners = |n: usize| {
            (0..n)
                .map(|i| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": format!("c{i}"), "uid": format!("u{i}")}))
                .collect::<Vec<_>>()
        };
        let kind = project_kind();
        let at_limit = Object::from_value(
            json!({"metadata": {"name": "p", "ownerReferences": owners(MAX_OWNER_REFERENCES)}}),
        )
        .unwrap();
        assert!(validate_metadata(&kind, &at_limit).is_empty());
        let over = Object::from_value(
            json!({"metadata": {"name": "p", "ownerReferences": owners(MAX_OWNER_REFERENCES + 1)}}),
        )
        .unwrap();
        let causes = validate_metadata(&kind, &over);
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert_eq!(causes[0].field, "metadata.ownerReferences");
    }
}
