//! What quota does for a write of a ResourceGrant: its checks and status,
//! and its limits added to (or taken back from) its consumer's buckets.

use domain::object::Object;
use domain::quota::{self as q, BucketKey};
use domain::{ApiError, Cause};

use super::buckets::limit_writes;
use super::paths::{consumer_not_found, consumer_organization};
use super::retire::{organization_of_buckets, retire_empty};
use super::{inputs, invalid, HookContext, Pending};

/// A grant written: its types registered and its consumer existing (422),
/// its status, and its limits moved from what it granted before.
pub(super) async fn grant_written(
    cx: &HookContext<'_>,
    obj: &mut Object,
    old: Option<&Object>,
    now: &str,
) -> Result<Pending, ApiError> {
    let name = obj.metadata.name.clone();
    let invalid = |causes: Vec<Cause>| invalid(cx, &name, causes);
    let grant = q::parse_grant(&obj.to_value()).map_err(invalid)?;
    let causes = grant.check_registrations(&inputs(cx).await?.registrations);
    if !causes.is_empty() {
        return Err(invalid(causes));
    }
    let before = match old {
        Some(old) => Some(q::parse_grant(&old.to_value()).map_err(invalid)?),
        None => None,
    };
    let Some(org) = consumer_organization(cx.store, &grant.consumer).await? else {
        return Err(invalid(vec![consumer_not_found(
            "spec.consumerRef",
            &grant.consumer,
        )]));
    };
    let pending = match &before {
        Some(before) if before.consumer != grant.consumer => {
            Box::pin(consumer_changed(cx, before, &grant, &org, now)).await?
        }
        before => {
            let changes = q::grant_limit_changes(before.as_ref(), Some(&grant));
            Pending::of(limit_writes(&changes, &grant, Some(&org), now))
        }
    };
    let generation = obj.metadata.generation.unwrap_or(1);
    obj.set_status(q::grant_status(generation, now));
    Ok(pending)
}

/// A grant moved to another consumer: the old consumer's buckets lose
/// what it gave (a consumer gone meanwhile kept them for it, and they go
/// once empty), the new one's gain it.
async fn consumer_changed(
    cx: &HookContext<'_>,
    before: &q::ResourceGrant,
    grant: &q::ResourceGrant,
    org: &str,
    now: &str,
) -> Result<Pending, ApiError> {
    let old_keys: Vec<BucketKey> = before.contributions().into_keys().collect();
    let mut retired = None;
    let old_org = match consumer_organization(cx.store, &before.consumer).await? {
        Some(org) => Some(org),
        None => {
            let org = organization_of_buckets(cx, &old_keys).await?;
            retired = org.clone().map(|org| (old_keys, org));
            org
        }
    };
    let gone = q::grant_limit_changes(Some(before), None);
    let mut writes = limit_writes(&gone, before, old_org.as_deref(), now);
    let added = q::grant_limit_changes(None, Some(grant));
    writes.extend(limit_writes(&added, grant, Some(org), now));
    let mut pending = Pending::of(writes);
    if let Some((keys, org)) = retired {
        retire_empty(cx, &keys, &org, &mut pending).await?;
    }
    Ok(pending)
}

/// A grant deleted: its limits taken back. A consumer gone before it kept
/// its buckets for this grant: they go with it once nothing counts in them.
pub(super) async fn grant_deleted(
    cx: &HookContext<'_>,
    old: &Object,
    now: &str,
) -> Result<Pending, ApiError> {
    let grant = q::parse_grant(&old.to_value()).map_err(|c| invalid(cx, &old.metadata.name, c))?;
    let changes = q::grant_limit_changes(Some(&grant), None);
    if let Some(org) = consumer_organization(cx.store, &grant.consumer).await? {
        return Ok(Pending::of(limit_writes(&changes, &grant, Some(&org), now)));
    }
    let keys: Vec<BucketKey> = grant.contributions().into_keys().collect();
    let Some(org) = organization_of_buckets(cx, &keys).await? else {
        return Ok(Pending::default());
    };
    let mut pending = Pending::of(limit_writes(&changes, &grant, Some(&org), now));
    // What it keeps holds no claim: none outlives its consumer
    // (retire_buckets).
    retire_empty(cx, &keys, &org, &mut pending).await?;
    Ok(pending)
}
