//! Namespaces: created with their owners (a project's `default`, an
//! organization's `organization-{org}` in the platform context, as Milo
//! does) and deleted with them when empty.

use domain::kinds::{self, KindInfo, NAMESPACE};
use domain::ApiError;
use serde_json::{json, Value};
use store::{Context, Expect, ObjectRef, Store, Write};

use crate::errors::from_store;
use crate::label_index;
use crate::placement::builtin_ref;

/// The label Kubernetes puts on every namespace, naming it.
pub const NAME_LABEL: &str = "kubernetes.io/metadata.name";

pub fn active_status() -> Value {
    json!({"phase": "Active"})
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

/// The writes that delete `owned` (its empty namespaces; a project's
/// suspensions too) with `owner`: each object, its label index items and
/// its child index item.
pub async fn deleted_with(
    store: &Store,
    owner: &ObjectRef,
    owned: &[ObjectRef],
) -> Result<Vec<Write>, ApiError> {
    let keys: Vec<_> = owned.iter().map(ObjectRef::key).collect();
    let stored = store.batch_get(&keys).await.map_err(from_store)?;
    let mut writes = Vec::new();
    for item in stored {
        let Some(owned_ref) = ObjectRef::from_key(&item.key) else {
            continue;
        };
        let owned_ref = &owned_ref;
        writes.push(Write::Delete {
            key: owned_ref.key(),
            expect: Expect::Version(item.version),
        });
        writes.extend(label_index::deletes(
            owned_ref,
            &label_index::of_document(&item.object),
        ));
        writes.push(Write::Delete {
            key: owner.child_index_key(owned_ref),
            expect: Expect::Anything,
        });
    }
    Ok(writes)
}
