//! The instance's IAM policy: every role, binding and group membership of
//! every context, parsed once into a `domain::iam::Policy` and kept fresh
//! as the other caches are (stamped.rs), against `s#iam`.
//!
//! The objects live in their own contexts; a decision needs them all, and
//! the type index is eventually consistent, so every write of one also
//! writes its copy into one partition, `iam#policy` (hooks/iam.rs), in
//! the same transaction. A reload is a consistent Query of that partition.
//! A write answers once every instance re-checks the stamp, so a grant or
//! a revoke is in force on the writer's next request, wherever it lands.

use std::sync::Arc;
use std::time::Duration;

use domain::iam::{BindingDef, Membership, Node, Policy, RoleDef};
use domain::kinds::{self, KindId, KindInfo};
use domain::ApiError;
use serde_json::Value;
use store::{keys, Context, ItemKey, Store, Write};

use crate::errors::from_store;
use crate::stamped::Stamped;

const STAMP: &str = "iam";
/// The partition holding a copy of every object the decision reads.
const POLICY_PK: &str = "iam#policy";

pub fn stamp_key() -> ItemKey {
    keys::stamp_key(STAMP)
}

/// The write that tells every instance the policy changed.
pub fn stamp() -> Write {
    Write::stamp(stamp_key())
}

/// What a role, binding or membership is to the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PolicyKind {
    Role,
    Binding,
    Membership,
}

const POLICY_KINDS: [(&KindId, PolicyKind); 7] = [
    (&kinds::IAM_ROLE, PolicyKind::Role),
    (&kinds::RBAC_ROLE, PolicyKind::Role),
    (&kinds::RBAC_CLUSTER_ROLE, PolicyKind::Role),
    (&kinds::POLICY_BINDING, PolicyKind::Binding),
    (&kinds::RBAC_ROLE_BINDING, PolicyKind::Binding),
    (&kinds::RBAC_CLUSTER_ROLE_BINDING, PolicyKind::Binding),
    (&kinds::GROUP_MEMBERSHIP, PolicyKind::Membership),
];

/// Whether objects of this kind decide who may do what.
pub(crate) fn policy_kind(group: &str, kind: &str) -> Option<PolicyKind> {
    POLICY_KINDS
        .iter()
        .find(|(id, _)| id.group == group && id.kind == kind)
        .map(|(_, role)| *role)
}

pub(crate) fn is_policy_kind(kind: &KindInfo) -> bool {
    policy_kind(&kind.group, &kind.kind).is_some()
}

/// The Ready reason of a binding whose subjects or resource do not
/// resolve to the uids it names (strategy/iam_kinds/uids.rs).
pub(crate) const NOT_RESOLVED: &str = "ReferenceNotFound";

/// Whether a written object takes part in decisions: not a binding whose
/// uids name nothing stored (its Ready condition says why).
pub(crate) fn grants(obj: &domain::object::Object) -> bool {
    let not_resolved = obj.status()["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["reason"] == NOT_RESOLVED);
    !not_resolved
}

/// The hierarchy node a context is.
pub(crate) fn node_of(context: &Context) -> Node {
    match context {
        Context::Platform => Node::Platform,
        Context::Organization(org) => Node::Organization(org.clone()),
        Context::Project(project) => Node::Project(project.clone()),
    }
}

/// The key of an object's copy in the policy partition.
pub(crate) fn copy_key(
    context: &Context,
    group: &str,
    kind: &str,
    namespace: &str,
    name: &str,
) -> ItemKey {
    ItemKey {
        pk: POLICY_PK.into(),
        sk: format!("{}#{group}#{kind}#{namespace}#{name}", context.key_part()),
    }
}

/// The policy as stored, parsed. An object that no longer parses is
/// logged and left out (it grants nothing).
pub(crate) fn build(copies: Vec<(Context, Value)>) -> Policy {
    // The built-in roles first: a stored role of the same name replaces one.
    let (builtin_roles, builtin_bindings) = domain::iam::builtin();
    let (mut roles, mut bindings, mut memberships) =
        (builtin_roles.clone(), builtin_bindings.clone(), Vec::new());
    for (context, doc) in copies {
        let group = doc["apiVersion"]
            .as_str()
            .and_then(|v| v.split_once('/'))
            .map_or("", |(g, _)| g);
        let node = node_of(&context);
        let parsed = match policy_kind(group, doc["kind"].as_str().unwrap_or_default()) {
            Some(PolicyKind::Role) => RoleDef::parse(&node, &doc).map(|r| roles.push(r)),
            Some(PolicyKind::Binding) => BindingDef::parse(&node, &doc).map(|b| bindings.push(b)),
            Some(PolicyKind::Membership) => {
                Membership::parse(&node, &doc).map(|m| memberships.push(m))
            }
            None => Ok(()),
        };
        if let Err(problem) = parsed {
            tracing::error!(kind = %doc["kind"], name = %doc["metadata"]["name"], problem, "stored IAM object no longer parses; it grants nothing");
        }
    }
    Policy::new(roles, bindings, memberships)
}

pub struct IamCache {
    cache: Stamped<Policy>,
}

impl IamCache {
    pub fn new(refresh: Duration) -> Self {
        Self {
            cache: Stamped::new(stamp_key(), refresh, Policy::default()),
        }
    }

    /// The policy, re-checked against the stamp when the last check is
    /// older than the refresh interval.
    pub(crate) async fn current(&self, store: &Store) -> Result<Arc<Policy>, ApiError> {
        self.cache.current(store, || load(store)).await
    }

    pub(crate) async fn reload_if_changed(&self, store: &Store) -> Result<Arc<Policy>, ApiError> {
        self.cache.reload_if_changed(store, || load(store)).await
    }

    pub(crate) async fn until_every_instance_rechecks(&self) {
        self.cache.until_every_instance_rechecks().await;
    }
}

async fn load(store: &Store) -> Result<Policy, ApiError> {
    let mut copies = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .query_objects(POLICY_PK, "", None, start)
            .await
            .map_err(from_store)?;
        for item in page.items {
            let context = item
                .key
                .sk
                .split('#')
                .next()
                .and_then(Context::from_key_part);
            if let Some(context) = context {
                copies.push((context, item.object));
            }
        }
        start = page.next;
        if start.is_none() {
            return Ok(build(copies));
        }
    }
}
