//! What applies to every kind, whatever its strategy: field ownership
//! (managed_fields.rs), the finalizers of the pre-deletion hooks that
//! match the object written, quota's claims, releases and grants, then the platform's relationship items, the
//! owner index (owners.rs) and liens' holds (liens.rs), then IAM's policy
//! copies and the grants written with an object (a membership's bindings,
//! a user's own, an organization creator's membership). The hooks run in
//! that order, each planning its writes as data; a verb commits the one
//! [`Plan`] they make together with its own write set.
//!
//! A hook reads only its [`HookContext`]: the store, the catalog, the kind,
//! the context, the request's description and the quota cache. It holds no
//! HTTP request, so a background worker (the deletion lifecycle's garbage
//! collector) builds one and runs the same delete-time work.

use std::sync::Arc;

use domain::catalog::Catalog;
use domain::kinds::KindInfo;
use domain::object::Object;
use domain::ApiError;
use store::{Context, Store, Write};

use crate::hierarchy_reads::Link;
use crate::predeletion_cache::PreDeletionCache;
use crate::quota_cache::QuotaCache;
use crate::request::RequestInfo;
use crate::write_set::{CommitError, Role, Stamp, WriteSet};
use crate::ApiServer;

mod creator;
mod iam;
mod liens;
mod managed_bindings;
mod managed_fields;
mod memberships;
mod owners;
mod predeletion;
pub(crate) mod quota;
mod relationships;
mod users;

/// What a hook reads of the write it plans for.
pub(crate) struct HookContext<'a> {
    pub store: &'a Store,
    pub catalog: &'a Catalog,
    /// The kind of the object written.
    pub kind: &'a KindInfo,
    /// The context the object is written in.
    pub context: &'a Context,
    /// Who asks, and when (a claim template's `user`, every timestamp).
    pub request: &'a RequestInfo,
    /// The instance's quota policies and registrations.
    pub quota: &'a Arc<QuotaCache>,
    /// The instance's pre-deletion hooks.
    pub pre_deletion: &'a PreDeletionCache,
}

/// The hooks' writes for one request, committed with the verb's own.
#[derive(Default)]
pub(crate) struct Plan {
    /// Quota's part, which plans its claims again when a bucket refuses.
    quota: quota::Pending,
    /// The other hooks' items, each with its role.
    items: Vec<(Role, Write)>,
    /// Whether those items change what IAM decides with (a policy copy):
    /// the write then moves `s#iam` and answers once every instance knows.
    changes_policy: bool,
}

impl Plan {
    fn with(quota: quota::Pending, role: Role, writes: Vec<Write>) -> Plan {
        Plan {
            quota,
            items: writes.into_iter().map(|w| (role, w)).collect(),
            changes_policy: false,
        }
    }

    /// [`Plan::and`] for items that change IAM's policy.
    fn and_policy(mut self, role: Role, writes: Vec<Write>) -> Plan {
        self.changes_policy |= !writes.is_empty();
        self.and(role, writes)
    }

    /// The plan with another hook's items after those already in it.
    fn and(mut self, role: Role, writes: Vec<Write>) -> Plan {
        self.items.extend(writes.into_iter().map(|w| (role, w)));
        self
    }

    /// Commits the verb's write set with the hooks' items in it (see
    /// `quota::Pending::commit` for what a refused bucket does).
    pub async fn commit(self, server: &ApiServer, mut set: WriteSet) -> Result<(), CommitError> {
        for (role, write) in self.items {
            set.put(role, write);
        }
        if self.changes_policy {
            set.stamp(Stamp::Iam, true);
        }
        match self.quota.commit(server, set).await {
            Err(CommitError::Refused(refused)) => match liens::refusal(server, &refused).await {
                Some(held) => Err(CommitError::Status(held)),
                None => Err(CommitError::Refused(refused)),
            },
            other => other,
        }
    }
}

/// The hooks of a create. `placement` is the parent chain read for a
/// folder or project (empty for other kinds).
pub(crate) async fn on_create(
    cx: &HookContext<'_>,
    obj: &mut Object,
    placement: &[Link],
) -> Result<Plan, ApiError> {
    managed_fields::written(cx, None, obj, "")?;
    predeletion::written(cx, obj).await?;
    let quota = Box::pin(quota::on_create(cx, obj, placement)).await?;
    let relationships = relationships::created(cx.kind, obj);
    let bindings = memberships::created(cx, obj).await?;
    let (holds, held_live) = liens::created(cx, obj).await?;
    let owner = creator::created(cx, obj).await?;
    Ok(Plan::with(quota, Role::Index, relationships)
        .and(Role::Index, owners::created(cx, obj))
        .and(liens::HOLD, holds)
        .and(liens::HELD_LIVE, held_live)
        .and_policy(iam::COPY, iam::written(cx, obj))
        .and_policy(memberships::BINDING, bindings)
        .and_policy(users::SELF_MANAGE, users::created(cx, obj))
        .and_policy(creator::OWNER, owner))
}

/// The hooks of an update. `placement` is the new parent's chain of a
/// folder or project that moved (empty otherwise).
pub(crate) async fn on_update(
    cx: &HookContext<'_>,
    old: &Object,
    new: &mut Object,
    placement: &[Link],
) -> Result<Plan, ApiError> {
    managed_fields::written(cx, Some(old), new, "")?;
    predeletion::written(cx, new).await?;
    let quota = Box::pin(quota::on_update(cx, old, new, placement)).await?;
    let relationships = relationships::changed(cx.kind, old, new);
    let bindings = memberships::changed(cx, old, new).await?;
    Ok(Plan::with(quota, Role::Index, relationships)
        .and(Role::Index, owners::changed(cx, old, new))
        .and(liens::UNHELD, liens::changed(cx, old, new, placement))
        .and_policy(iam::COPY, iam::written(cx, new))
        .and_policy(memberships::BINDING, bindings))
}

/// The hooks of a `/status` write. It leaves IAM's policy copy alone: what
/// a binding grants is decided from its spec when the spec is written, and
/// a status a client writes (Milo's suites mark bindings Ready) must not
/// make a binding whose uids name nothing grant.
pub(crate) fn on_status_update(
    cx: &HookContext<'_>,
    old: &Object,
    new: &mut Object,
) -> Result<Plan, ApiError> {
    managed_fields::written(cx, Some(old), new, "status")?;
    quota::on_status_update(cx, old, new)?;
    let relationships = relationships::changed(cx.kind, old, new);
    Ok(Plan::with(
        quota::Pending::none(),
        Role::Index,
        relationships,
    ))
}

/// The hooks of a delete: what a background worker runs too once it
/// deletes an object, with a context it builds itself.
pub(crate) async fn on_delete(cx: &HookContext<'_>, old: &Object) -> Result<Plan, ApiError> {
    let quota = Box::pin(quota::on_delete(cx, old)).await?;
    let relationships = relationships::deleted(cx.kind, old);
    let owners = owners::deleted(cx, old).await?;
    let (lien_role, lien_writes) = liens::deleted(cx, old).await?;
    Ok(Plan::with(quota, Role::Index, relationships)
        .and(Role::Index, owners)
        .and(lien_role, lien_writes)
        .and_policy(iam::COPY, iam::deleted(cx, old))
        .and_policy(memberships::BINDING, memberships::deleted(cx, old))
        .and_policy(users::SELF_MANAGE, users::deleted(cx, old)))
}

/// The hooks of a delete the gc makes while it empties a container flagged
/// as deleting (objects/bulk_delete.rs): their writes when every hook has
/// nothing to do for `old` but remove items it names, else None (the
/// object goes by a delete of its own). What a cascade leaves out: the
/// orphaned mark (its dependents are in the container: owners.rs) and the
/// liens' check (a flagged container's contents cannot be held: a new
/// lien checks every container above its target live, and the delete that
/// flagged the container, or one above it, checked it unheld).
pub(crate) async fn on_cascade_delete(
    cx: &HookContext<'_>,
    old: &Object,
) -> Result<Option<Vec<Write>>, ApiError> {
    if liens::is_lien(cx.kind) || !Box::pin(quota::leaves_alone(cx, old)).await? {
        return Ok(None);
    }
    // Each of these moves IAM's policy when it writes anything.
    let policy = [
        iam::deleted(cx, old),
        memberships::deleted(cx, old),
        users::deleted(cx, old),
    ];
    if policy.iter().any(|writes| !writes.is_empty()) {
        return Ok(None);
    }
    let mut writes = relationships::deleted(cx.kind, old);
    writes.extend(owners::deleted_with_container(cx, old));
    Ok(Some(writes))
}
