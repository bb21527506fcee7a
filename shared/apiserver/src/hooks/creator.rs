//! An organization's creator becomes its owner (#20): with the
//! organization, in its transaction, an OrganizationMembership
//! `member-{user}` in `organization-{org}` naming Milo's owner role, and
//! the PolicyBinding that grants it (memberships.rs). The grant is in
//! force when the create answers, and an organization never exists without
//! an owner. The platform's administrators and its own principals
//! (`system:…`) act everywhere already and are given none.

use domain::iam::organization_membership::{self, creator_membership};
use domain::iam::ADMIN_GROUP;
use domain::kinds;
use domain::lifecycle;
use domain::object::Object;
use domain::ApiError;
use serde_json::Value;
use store::{Context, Expect, Write};

use super::{memberships, HookContext};
use crate::errors::from_store;
use crate::placement::{self, builtin_ref};
use crate::write_set::Role;

/// The membership's items in the write set.
pub(super) const OWNER: Role = Role::Hook {
    hook: "creator",
    part: "owner membership",
};

/// The creator's membership and its binding, for a created organization.
pub(super) async fn created(cx: &HookContext<'_>, org: &Object) -> Result<Vec<Write>, ApiError> {
    let principal = &cx.request.principal;
    let administers = principal.groups.iter().any(|g| g == ADMIN_GROUP);
    if !cx.kind.is(&kinds::ORGANIZATION) || administers || principal.subject.starts_with("system:")
    {
        return Ok(Vec::new());
    }
    let user_key = builtin_ref(&Context::Platform, &kinds::USER, "", &principal.subject).key();
    let user = cx
        .store
        .get(&user_key)
        .await
        .map_err(from_store)?
        .map_or(Value::Null, |stored| stored.object);
    let id = &kinds::ORGANIZATION_MEMBERSHIP;
    let kind = cx
        .catalog
        .preferred(id.group, id.kind)
        .ok_or_else(|| ApiError::internal("OrganizationMembership is not served"))?;
    let uid = uuid::Uuid::new_v4().to_string();
    let now = cx.request.timestamp();
    let doc = creator_membership(&org.metadata.name, &principal.subject, &uid);
    let mut membership = Object::from_value(doc).map_err(|e| ApiError::Internal {
        message: format!("the owner membership does not parse: {e}"),
    })?;
    lifecycle::initialize(&mut membership, kind, uid, &now);
    let status = organization_membership::status(&membership, &user, &org.to_value(), &now);
    membership.set_status(status);
    let membership_ref = builtin_ref(
        cx.context,
        &kinds::ORGANIZATION_MEMBERSHIP,
        &membership.metadata.namespace,
        &membership.metadata.name,
    );
    let namespace = placement::namespace(cx.context, &membership.metadata.namespace);
    let user_uid = user["metadata"]["uid"].as_str().unwrap_or_default();
    let mut writes = vec![
        Write::PutObject {
            key: membership_ref.key(),
            object: membership.to_value(),
            version: 1,
            expect: Expect::Absent,
        },
        Write::PutIndex {
            key: namespace.object_ref.child_index_key(&membership_ref),
            target: membership_ref.key(),
        },
    ];
    writes.extend(memberships::created_with(
        cx,
        &membership,
        user_uid,
        &org.metadata.uid,
    ));
    Ok(writes)
}
