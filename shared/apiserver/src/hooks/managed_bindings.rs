//! The PolicyBindings the platform writes itself, in the transaction of
//! the object they belong to (a membership's roles, a user's self-manage
//! grant): the binding, its label index items and its policy copy put
//! together, and deleted together. Milo's controllers and webhooks write
//! them after the fact; here the grant is in force when the write answers.

use domain::kinds;
use serde_json::{json, Value};
use store::{Expect, ObjectRef, Write};

use super::HookContext;
use crate::authorization::iam_cache;
use crate::label_index;
use crate::placement::builtin_ref;

/// What a managed binding says: where it is, which role it grants to
/// which user on which object, and the object it belongs to.
pub(super) struct Managed<'a> {
    pub namespace: &'a str,
    pub name: String,
    pub role: (&'a str, &'a str),
    /// `(name, uid)`; the uid empty when the user is not (yet) stored.
    pub user: (&'a str, &'a str),
    /// `(group, kind, name, uid)` of what the role is granted on.
    pub resource: (&'a str, &'a str, &'a str, &'a str),
    pub labels: Value,
    /// `(apiVersion, kind, name, uid)` of the object it belongs to.
    pub owner: (String, &'a str, &'a str, &'a str),
}

impl Managed<'_> {
    fn object_ref(&self, cx: &HookContext<'_>) -> ObjectRef {
        builtin_ref(
            cx.context,
            &kinds::POLICY_BINDING,
            self.namespace,
            &self.name,
        )
    }

    fn document(&self, now: &str) -> Value {
        let (role, role_namespace) = self.role;
        let (user, user_uid) = self.user;
        let (group, kind, name, uid) = self.resource;
        let (owner_version, owner_kind, owner_name, owner_uid) = &self.owner;
        json!({
            "apiVersion": kinds::POLICY_BINDING.api_version(),
            "kind": kinds::POLICY_BINDING.kind,
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "uid": uuid::Uuid::new_v4().to_string(),
                "resourceVersion": "1",
                "generation": 1,
                "creationTimestamp": now,
                "labels": self.labels,
                "ownerReferences": [{
                    "apiVersion": owner_version, "kind": owner_kind, "name": owner_name,
                    "uid": owner_uid, "controller": true, "blockOwnerDeletion": true,
                }],
            },
            "spec": {
                "roleRef": {"name": role, "namespace": role_namespace},
                "subjects": [{"kind": "User", "name": user, "uid": user_uid}],
                "resourceSelector": {"resourceRef": {
                    "apiGroup": group, "kind": kind, "name": name, "uid": uid,
                }},
            },
            "status": {"conditions": [{
                "type": "Ready", "status": "True", "reason": "Ready",
                "message": "Granted with the object it belongs to",
                "lastTransitionTime": now, "observedGeneration": 1,
            }]},
        })
    }

    /// The binding written: its object, label index items and policy copy.
    pub fn put(&self, cx: &HookContext<'_>) -> Vec<Write> {
        let object_ref = self.object_ref(cx);
        let document = self.document(&cx.request.timestamp());
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

    /// The binding deleted with all it was written with.
    pub fn delete(&self, cx: &HookContext<'_>) -> Vec<Write> {
        let object_ref = self.object_ref(cx);
        let labels = label_index::of_document(&json!({"metadata": {"labels": self.labels}}));
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
