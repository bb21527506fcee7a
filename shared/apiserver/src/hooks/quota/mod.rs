//! Quota's hook (#5): what a write adds to its transaction so that quota
//! is decided atomically with it. The rules are `domain::quota`'s; this
//! module reads what they need (registrations, policies, the object's
//! ancestors, the buckets on its path), calls them, and turns their plans
//! into store writes appended to the request's ONE transaction.
//!
//! - The quota kinds themselves are parsed and checked at write (422 with
//!   causes, nothing written) and get their status (Active, Ready, Granted)
//!   in the same write: one function per kind ([`QuotaKind`]).
//!   AllowanceBuckets are the system's: 405 to users.
//! - A create that a ClaimCreationPolicy matches writes its ResourceClaim
//!   (Granted) and increments every bucket on the object's path, each under
//!   its headroom condition; no room is a 403 with the numbers (claims.rs).
//! - Deleting the object deletes its claims and gives the usage back.
//! - A ResourceGrant's writes change its buckets' limits (grants.rs); the
//!   GrantCreationPolicies' grants follow their trigger (policy_grants.rs).
//! - Deleting an organization, folder or project deletes its buckets that
//!   nothing counts in any more (retire.rs).
//!
//! Claims are planned without reading a bucket: the transaction's
//! conditions decide. [`Pending::commit`] runs it (pending.rs).

use std::sync::Arc;

use domain::kinds::{self, ContextKind, KindInfo};
use domain::object::Object;
use domain::quota as q;
use domain::{ApiError, Cause};

use super::HookContext;
use crate::hierarchy_reads::Link;
use crate::placement::is_hierarchy;
use crate::quota_cache::{is_stamped_kind, Inputs};
use crate::write_set::Role;

pub(crate) mod bucket_items;
mod buckets;
mod claims;
mod grants;
mod paths;
mod pending;
mod policy_grants;
mod registrations;
mod rendered;
mod retire;

pub(crate) use buckets::{add_levels, bucket_document, bucket_ref};
pub(crate) use paths::{consumer_organization, consumer_path, node_ref};
pub(crate) use pending::{emit, Pending};

/// The role of quota's items in a request's write set: those that stand
/// as planned, and the claims' bucket increments, planned again when one
/// of their conditions fails.
pub(crate) const ITEM: Role = Role::Hook {
    hook: "quota",
    part: "item",
};
pub(crate) const CLAIM_BUCKET: Role = Role::Hook {
    hook: "quota",
    part: "claim bucket",
};

/// Quota's own kinds that quota checks as they are written (an
/// AllowanceBucket is never written by a user).
#[derive(Clone, Copy, PartialEq, Eq)]
enum QuotaKind {
    Registration,
    ClaimPolicy,
    GrantPolicy,
    Grant,
    Claim,
}

/// The one place that maps quota's kinds to what quota does for them.
const QUOTA_KINDS: [(kinds::KindId, QuotaKind); 5] = [
    (q::RESOURCE_REGISTRATION, QuotaKind::Registration),
    (q::CLAIM_CREATION_POLICY, QuotaKind::ClaimPolicy),
    (q::GRANT_CREATION_POLICY, QuotaKind::GrantPolicy),
    (q::RESOURCE_GRANT, QuotaKind::Grant),
    (q::RESOURCE_CLAIM, QuotaKind::Claim),
];

impl QuotaKind {
    fn of(kind: &KindInfo) -> Option<QuotaKind> {
        QUOTA_KINDS
            .iter()
            .find(|(id, _)| kind.group == id.group && kind.kind == id.kind)
            .map(|(_, quota_kind)| *quota_kind)
    }

    /// Its checks and status as it is created (`old`: `None`) or updated,
    /// and what its write moves (a grant's limits, a claim's usage).
    async fn written(
        self,
        cx: &HookContext<'_>,
        obj: &mut Object,
        old: Option<&Object>,
        now: &str,
    ) -> Result<Pending, ApiError> {
        match self {
            QuotaKind::Registration => registrations::registration_written(cx, obj, old, now).await,
            QuotaKind::ClaimPolicy => registrations::claim_policy_written(cx, obj, now).await,
            QuotaKind::GrantPolicy => registrations::grant_policy_written(cx, obj, now).await,
            QuotaKind::Grant => grants::grant_written(cx, obj, old, now).await,
            QuotaKind::Claim => claims::claim_written(cx, obj, old, now).await,
        }
    }

    /// What its delete does, and whether the object is also a trigger
    /// whose claims and grants go with it (a grant or a claim is only
    /// accounted for, never itself claimed for).
    async fn deleted(
        self,
        cx: &HookContext<'_>,
        old: &Object,
        now: &str,
    ) -> Result<(Pending, bool), ApiError> {
        match self {
            QuotaKind::Registration => {
                Ok((registrations::retire_registration(cx, old).await?, true))
            }
            QuotaKind::ClaimPolicy | QuotaKind::GrantPolicy => Ok((Pending::default(), true)),
            QuotaKind::Grant => Ok((grants::grant_deleted(cx, old, now).await?, false)),
            QuotaKind::Claim => Ok((claims::claim_deleted(cx, old, now).await?, false)),
        }
    }
}

/// The policies and registrations this write is decided with: the
/// instance's, re-checked against the stamp at most every refresh; for a
/// write of a quota kind (rare, and checked against registrations),
/// re-checked now, so what another instance just wrote is seen.
async fn inputs(cx: &HookContext<'_>) -> Result<Arc<Inputs>, ApiError> {
    if cx.kind.group == q::QUOTA_GROUP {
        cx.quota.reload_if_changed(cx.store).await
    } else {
        cx.quota.current(cx.store).await
    }
}

/// A write of a registration or a creation policy also moves the quota
/// stamp, and this instance reloads once it is in.
fn stamped(cx: &HookContext<'_>, mut pending: Pending) -> Pending {
    pending.moves_stamp |= is_stamped_kind(cx.kind);
    pending
}

fn invalid(cx: &HookContext<'_>, name: &str, causes: Vec<Cause>) -> ApiError {
    ApiError::invalid(&cx.kind.group, &cx.kind.plural, name, causes)
}

fn conflict(cx: &HookContext<'_>, name: &str, message: String) -> ApiError {
    ApiError::conflict(&cx.kind.group, &cx.kind.plural, name, message)
}

/// A quota kind as the catalog serves it (to render its objects).
fn catalog_kind(cx: &HookContext<'_>, id: &kinds::KindId) -> Result<Arc<KindInfo>, ApiError> {
    cx.catalog
        .resolve(ContextKind::Platform, q::QUOTA_GROUP, id.version, id.plural)
        .map_err(|_| ApiError::internal(format!("the {} type is not in the catalog", id.kind)))
}

/// What a create adds: the quota kinds' checks and status, the claims the
/// ClaimCreationPolicies make for the object, the grants the
/// GrantCreationPolicies make. `placement` is the hierarchy chain read for
/// a folder or project.
pub(super) async fn on_create(
    cx: &HookContext<'_>,
    obj: &mut Object,
    placement: &[Link],
) -> Result<Pending, ApiError> {
    let now = cx.request.timestamp();
    let own = QuotaKind::of(cx.kind);
    let mut pending = match own {
        Some(kind) => Box::pin(kind.written(cx, obj, None, &now)).await?,
        None => Pending::default(),
    };
    if matches!(own, Some(QuotaKind::Grant | QuotaKind::Claim)) {
        return Ok(pending);
    }
    let inputs = Box::pin(inputs(cx)).await?;
    let claims = Box::pin(claims::claims_for(cx, obj, placement, &now, &inputs)).await?;
    let annotations = &mut obj.metadata.annotations;
    annotations.remove(q::CLAIMS_ANNOTATION);
    if let Some(replan) = &claims.replan {
        annotations.insert(
            q::CLAIMS_ANNOTATION.into(),
            q::held_claims_value(&replan.claims),
        );
    }
    pending.writes.extend(claims.writes);
    pending.claim_buckets = claims.claim_buckets;
    pending.replan = claims.replan;
    let grants = policy_grants::grants_for(cx, None, Some(obj), &now, &inputs);
    let (grants, held) = Box::pin(grants).await?;
    policy_grants::record_grants(obj, &held);
    pending.add(grants);
    Ok(stamped(cx, pending))
}

/// What an update adds: the quota kinds' checks, status and limits; for a
/// folder or project that moved (`placement`: its new parent's chain,
/// empty when it did not move), its usage moving with it.
pub(super) async fn on_update(
    cx: &HookContext<'_>,
    old: &Object,
    new: &mut Object,
    placement: &[Link],
) -> Result<Pending, ApiError> {
    let now = cx.request.timestamp();
    let own = QuotaKind::of(cx.kind);
    let mut pending = match own {
        _ if is_hierarchy(cx.kind) && !placement.is_empty() => {
            Box::pin(paths::admit_move(cx, old, placement, &now)).await?
        }
        Some(kind) => Box::pin(kind.written(cx, new, Some(old), &now)).await?,
        None => Pending::default(),
    };
    if own != Some(QuotaKind::Grant) {
        let inputs = Box::pin(inputs(cx)).await?;
        let grants = policy_grants::grants_for(cx, Some(old), Some(new), &now, &inputs);
        let (grants, held) = Box::pin(grants).await?;
        policy_grants::record_grants(new, &held);
        pending.add(grants);
    }
    Ok(stamped(cx, pending))
}

/// Whether quota has nothing to do for `old`'s delete: not a quota kind
/// nor a node of the quota tree, no claim or grant made for it, and no
/// grant policy that renders one for it.
pub(super) async fn leaves_alone(cx: &HookContext<'_>, old: &Object) -> Result<bool, ApiError> {
    let annotations = &old.metadata.annotations;
    if QuotaKind::of(cx.kind).is_some()
        || q::NodeKind::of(&cx.kind.group, &cx.kind.kind).is_some()
        || annotations.contains_key(q::CLAIMS_ANNOTATION)
        || annotations.contains_key(q::GRANTS_ANNOTATION)
    {
        return Ok(false);
    }
    let inputs = Box::pin(inputs(cx)).await?;
    Ok(!policy_grants::any_renders(&inputs, old)?)
}

/// What a delete adds: the quota kind's own part (a grant's limits taken
/// back, a claim's usage released, a registration's buckets retired), and
/// for a trigger the claims made for it deleted with their usage, its
/// grants deleted, its own empty buckets retired.
pub(super) async fn on_delete(cx: &HookContext<'_>, old: &Object) -> Result<Pending, ApiError> {
    let now = cx.request.timestamp();
    let (own, trigger) = match QuotaKind::of(cx.kind) {
        Some(kind) => Box::pin(kind.deleted(cx, old, &now)).await?,
        None => (Pending::default(), true),
    };
    if !trigger {
        return Ok(own);
    }
    let mut pending = Box::pin(claims::release_claims_of(cx, old, &now)).await?;
    pending.add(own);
    let inputs = Box::pin(inputs(cx)).await?;
    let grants = policy_grants::grants_for(cx, Some(old), None, &now, &inputs);
    pending.add(Box::pin(grants).await?.0);
    Box::pin(retire::retire_buckets(cx, old, &inputs, &mut pending)).await?;
    Ok(stamped(cx, pending))
}

/// What a `/status` write of a quota kind may change: not whether a claim
/// is granted (`q::check_claim_status_update`).
pub(super) fn on_status_update(
    cx: &HookContext<'_>,
    old: &Object,
    new: &Object,
) -> Result<(), ApiError> {
    if QuotaKind::of(cx.kind) != Some(QuotaKind::Claim) {
        return Ok(());
    }
    let causes = q::check_claim_status_update(&old.to_value(), &new.to_value());
    if causes.is_empty() {
        Ok(())
    } else {
        Err(invalid(cx, &new.metadata.name, causes))
    }
}
