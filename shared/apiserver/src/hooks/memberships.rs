//! An OrganizationMembership's PolicyBindings, one per role, written in the
//! membership's own transaction (Milo's controller writes them after it,
//! so its grants lag): created with it, added and removed as its roles
//! change, deleted with it. Each binding names the member by uid and the
//! organization by uid, carries Milo's labels and an owner reference to the
//! membership, and is copied into the policy partition (hooks/iam.rs).

use std::collections::BTreeSet;

use domain::iam::organization_membership::{binding_name, roles_of};
use domain::kinds;
use domain::object::Object;
use domain::ApiError;
use serde_json::{json, Value};
use store::{Context, Expect, ObjectRef, Write};

use super::HookContext;
use crate::authorization::iam_cache;
use crate::errors::from_store;
use crate::label_index;
use crate::placement::builtin_ref;
use crate::write_set::Role;

/// The bindings' role in the write set.
pub(super) const BINDING: Role = Role::Hook {
    hook: "memberships",
    part: "policy binding",
};

const MEMBERSHIP_LABEL: &str = "resourcemanager.miloapis.com/membership";
const MANAGED_BY_LABEL: &str = "resourcemanager.miloapis.com/managed-by";
const MANAGED_BY: &str = "organization-membership-controller";

fn is_membership(cx: &HookContext<'_>) -> bool {
    cx.kind.is(&kinds::ORGANIZATION_MEMBERSHIP)
}

/// A created membership's bindings.
pub(super) async fn created(cx: &HookContext<'_>, obj: &Object) -> Result<Vec<Write>, ApiError> {
    if !is_membership(cx) {
        return Ok(Vec::new());
    }
    let uids = Uids::read(cx, obj).await?;
    Ok(roles_of(obj)
        .iter()
        .flat_map(|role| put(cx, obj, &uids, role))
        .collect())
}

/// The bindings of roles added, and the deletes of those removed.
pub(super) async fn changed(
    cx: &HookContext<'_>,
    old: &Object,
    new: &Object,
) -> Result<Vec<Write>, ApiError> {
    if !is_membership(cx) {
        return Ok(Vec::new());
    }
    let before: BTreeSet<_> = roles_of(old).into_iter().collect();
    let after: BTreeSet<_> = roles_of(new).into_iter().collect();
    if before == after {
        return Ok(Vec::new());
    }
    let uids = Uids::read(cx, new).await?;
    let mut writes: Vec<Write> = after
        .difference(&before)
        .flat_map(|role| put(cx, new, &uids, role))
        .collect();
    writes.extend(
        before
            .difference(&after)
            .flat_map(|role| delete(cx, old, role)),
    );
    Ok(writes)
}

/// A deleted membership's bindings, deleted.
pub(super) fn deleted(cx: &HookContext<'_>, old: &Object) -> Vec<Write> {
    if !is_membership(cx) {
        return Vec::new();
    }
    roles_of(old)
        .iter()
        .flat_map(|role| delete(cx, old, role))
        .collect()
}

/// The uids a membership's bindings name: the member's and the
/// organization's (both read and checked by the membership's strategy).
struct Uids {
    user: String,
    organization: String,
}

impl Uids {
    async fn read(cx: &HookContext<'_>, obj: &Object) -> Result<Uids, ApiError> {
        let uid_of = |kind: &'static kinds::KindId, field: &'static str| {
            let name = obj.spec()[field]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            async move {
                let key = builtin_ref(&Context::Platform, kind, "", &name).key();
                let stored = cx.store.get(&key).await.map_err(from_store)?;
                Ok::<String, ApiError>(
                    stored
                        .and_then(|s| s.object["metadata"]["uid"].as_str().map(str::to_string))
                        .unwrap_or_default(),
                )
            }
        };
        Ok(Uids {
            user: uid_of(&kinds::USER, "userRef").await?,
            organization: uid_of(&kinds::ORGANIZATION, "organizationRef").await?,
        })
    }
}

fn binding_ref(cx: &HookContext<'_>, membership: &Object, role: &str) -> ObjectRef {
    builtin_ref(
        cx.context,
        &kinds::POLICY_BINDING,
        &membership.metadata.namespace,
        &binding_name(&membership.metadata.name, role),
    )
}

/// A role's binding: the object, its label index items, its policy copy.
fn put(
    cx: &HookContext<'_>,
    membership: &Object,
    uids: &Uids,
    role: &(String, String),
) -> Vec<Write> {
    let (role_name, role_namespace) = role;
    let object_ref = binding_ref(cx, membership, role_name);
    let document = binding(cx, membership, uids, role_name, role_namespace);
    let labels = label_index::of_document(&document);
    let mut writes = vec![Write::PutObject {
        key: object_ref.key(),
        object: document.clone(),
        version: 1,
        expect: Expect::Anything,
    }];
    writes.extend(label_index::puts(&object_ref, &labels));
    writes.push(Write::PutObject {
        key: copy_key(cx, &object_ref),
        object: document,
        version: 0,
        expect: Expect::Anything,
    });
    writes
}

fn delete(cx: &HookContext<'_>, membership: &Object, role: &(String, String)) -> Vec<Write> {
    let object_ref = binding_ref(cx, membership, &role.0);
    let labels = [
        (
            MEMBERSHIP_LABEL.to_string(),
            membership.metadata.name.clone(),
        ),
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string()),
    ];
    let mut writes = vec![Write::Delete {
        key: object_ref.key(),
        expect: Expect::Anything,
    }];
    writes.extend(label_index::deletes(&object_ref, &labels));
    writes.push(Write::Delete {
        key: copy_key(cx, &object_ref),
        expect: Expect::Anything,
    });
    writes
}

fn copy_key(cx: &HookContext<'_>, object_ref: &ObjectRef) -> store::ItemKey {
    iam_cache::copy_key(
        cx.context,
        &object_ref.group,
        &object_ref.kind,
        &object_ref.namespace,
        &object_ref.name,
    )
}

fn binding(
    cx: &HookContext<'_>,
    membership: &Object,
    uids: &Uids,
    role_name: &str,
    role_namespace: &str,
) -> Value {
    let now = cx.request.timestamp();
    let user = membership.spec()["userRef"]["name"].clone();
    let organization = membership.spec()["organizationRef"]["name"].clone();
    json!({
        "apiVersion": kinds::POLICY_BINDING.api_version(),
        "kind": kinds::POLICY_BINDING.kind,
        "metadata": {
            "name": binding_name(&membership.metadata.name, role_name),
            "namespace": membership.metadata.namespace,
            "uid": uuid::Uuid::new_v4().to_string(),
            "resourceVersion": "1",
            "generation": 1,
            "creationTimestamp": now,
            "labels": {
                MEMBERSHIP_LABEL: membership.metadata.name,
                MANAGED_BY_LABEL: MANAGED_BY,
            },
            "ownerReferences": [{
                "apiVersion": kinds::ORGANIZATION_MEMBERSHIP.api_version(),
                "kind": kinds::ORGANIZATION_MEMBERSHIP.kind,
                "name": membership.metadata.name,
                "uid": membership.metadata.uid,
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "roleRef": {"name": role_name, "namespace": role_namespace},
            "subjects": [{"kind": "User", "name": user, "uid": uids.user}],
            "resourceSelector": {"resourceRef": {
                "apiGroup": kinds::RESOURCEMANAGER_GROUP,
                "kind": kinds::ORGANIZATION.kind,
                "name": organization,
                "uid": uids.organization,
            }},
        },
        "status": {"conditions": [{
            "type": "Ready", "status": "True", "reason": "Ready",
            "message": "Granted with its membership", "lastTransitionTime": now,
            "observedGeneration": 1,
        }]},
    })
}
