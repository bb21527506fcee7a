//! An OrganizationMembership's PolicyBindings, one per role, written in the
//! membership's own transaction (Milo's controller writes them after it,
//! so its grants lag): created with it, added and removed as its roles
//! change, deleted with it. Each binding names the member by uid and the
//! organization by uid, carries Milo's labels and an owner reference to the
//! membership (managed_bindings.rs).

use std::collections::BTreeSet;

use domain::iam::organization_membership::{binding_name, roles_of};
use domain::kinds;
use domain::object::Object;
use domain::ApiError;
use serde_json::json;
use store::{Context, Write};

use super::managed_bindings::Managed;
use super::HookContext;
use crate::errors::from_store;
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
        .flat_map(|role| managed(obj, &uids, role).put(cx))
        .collect())
}

/// The bindings of a membership written in another object's transaction
/// (an organization's creator's, creator.rs), with the uids it knows.
pub(super) fn created_with(
    cx: &HookContext<'_>,
    obj: &Object,
    user_uid: &str,
    organization_uid: &str,
) -> Vec<Write> {
    let uids = Uids {
        user: user_uid.to_string(),
        organization: organization_uid.to_string(),
    };
    roles_of(obj)
        .iter()
        .flat_map(|role| managed(obj, &uids, role).put(cx))
        .collect()
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
        .flat_map(|role| managed(new, &uids, role).put(cx))
        .collect();
    let gone = Uids::default();
    writes.extend(
        before
            .difference(&after)
            .flat_map(|role| managed(old, &gone, role).delete(cx)),
    );
    Ok(writes)
}

/// A deleted membership's bindings, deleted.
pub(super) fn deleted(cx: &HookContext<'_>, old: &Object) -> Vec<Write> {
    if !is_membership(cx) {
        return Vec::new();
    }
    let gone = Uids::default();
    roles_of(old)
        .iter()
        .flat_map(|role| managed(old, &gone, role).delete(cx))
        .collect()
}

/// The uids a membership's bindings name: the member's and the
/// organization's (read when the bindings are written).
#[derive(Default)]
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

/// The binding that grants one of a membership's roles.
fn managed<'a>(membership: &'a Object, uids: &'a Uids, role: &'a (String, String)) -> Managed<'a> {
    let spec = membership.spec();
    Managed {
        namespace: &membership.metadata.namespace,
        name: binding_name(&membership.metadata.name, &role.0),
        role: (&role.0, &role.1),
        user: (
            spec["userRef"]["name"].as_str().unwrap_or_default(),
            &uids.user,
        ),
        resource: (
            kinds::RESOURCEMANAGER_GROUP,
            kinds::ORGANIZATION.kind,
            spec["organizationRef"]["name"].as_str().unwrap_or_default(),
            &uids.organization,
        ),
        labels: json!({
            MEMBERSHIP_LABEL: membership.metadata.name,
            MANAGED_BY_LABEL: MANAGED_BY,
        }),
        owner: (
            kinds::ORGANIZATION_MEMBERSHIP.api_version(),
            kinds::ORGANIZATION_MEMBERSHIP.kind,
            &membership.metadata.name,
            &membership.metadata.uid,
        ),
    }
}
