//! Namespaces: created with their owners (a project's `default`, an
//! organization's `organization-{org}` in the platform context, as Milo
//! does) and deleted with them when empty.

use domain::kinds::{self, KindInfo, NAMESPACE};
use serde_json::{json, Value};
use store::{Context, Expect, ObjectRef, Write};

use crate::placement::builtin_ref;

/// The label Kubernetes puts on every namespace, naming it.
pub const NAME_LABEL: &str = "kubernetes.io/metadata.name";

pub fn active_status() -> Value {
    json!({"phase": "Active"})
}

/// A namespace whose delete waits for its contents to go.
pub fn terminating_status() -> Value {
    json!({"phase": "Terminating"})
}

fn namespace_document(name: &str, now: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "uid": uuid::Uuid::new_v4().to_string(),
            "resourceVersion": "1",
            "generation": 1,
            "creationTimestamp": now,
            "labels": {NAME_LABEL: name},
        },
        "spec": {},
        "status": active_status(),
    })
}

/// The writes that create a namespace (its object, its label index item)
/// owned by `owner`.
pub fn create_namespace(
    context: Context,
    name: &str,
    owner: Option<&ObjectRef>,
    now: &str,
) -> Vec<Write> {
    let ns = builtin_ref(&context, &NAMESPACE, "", name);
    let mut writes = vec![
        Write::PutObject {
            key: ns.key(),
            object: namespace_document(name, now),
            version: 1,
            expect: Expect::Absent,
        },
        Write::PutIndex {
            key: ns.label_index_key(NAME_LABEL, name),
            target: ns.key(),
        },
    ];
    if let Some(owner) = owner {
        writes.push(Write::PutIndex {
            key: owner.child_index_key(&ns),
            target: ns.key(),
        });
    }
    writes
}

/// The platform context's own namespaces, made at bootstrap and never
/// deleted: `default`, and `milo-system`, where Milo's manifests put the
/// platform's ResourceGrants and ResourceClaims.
pub const PLATFORM_NAMESPACES: [&str; 2] = ["default", "milo-system"];

/// The organization whose own namespace `name` is in `context` (the
/// platform's `organization-{org}`), if it is one.
pub fn organization_of<'a>(context: &Context, name: &'a str) -> Option<&'a str> {
    match context {
        Context::Platform => name.strip_prefix("organization-"),
        _ => None,
    }
}

/// The namespaces created in the same transaction as an object: a project's
/// `default`, an organization's `organization-{org}`.
pub fn created_with(kind: &KindInfo, object_ref: &ObjectRef, now: &str) -> Vec<Write> {
    let name = &object_ref.name;
    if kind.is(&kinds::PROJECT) {
        create_namespace(
            Context::Project(name.clone()),
            "default",
            Some(object_ref),
            now,
        )
    } else if kind.is(&kinds::ORGANIZATION) {
        create_namespace(
            Context::Platform,
            &format!("organization-{name}"),
            Some(object_ref),
            now,
        )
    } else {
        Vec::new()
    }
}
