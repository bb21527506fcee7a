//! What quota does for a write of its registrations and creation
//! policies: their checks and status; a new registration puts the policies
//! waiting for its type in force; a registration's delete retires its
//! type's empty buckets (409 while the type is in use).

use domain::object::Object;
use domain::quota::{self as q, BucketKey, BucketLevel};
use domain::{ApiError, Cause};
use serde_json::{json, Value};
use store::{Context, Expect, Stored, Write};

use super::buckets::{bucket_delete, every_bucket, BUCKETS_RETIRED_AT_ONCE};
use super::{conflict, inputs, invalid, HookContext, Pending};
use crate::stamped::context_items;

/// A registration written: its type unique and its immutable fields kept
/// (422), its status; a new one puts the policies that waited for its
/// type in force.
pub(super) async fn registration_written(
    cx: &HookContext<'_>,
    obj: &mut Object,
    old: Option<&Object>,
    now: &str,
) -> Result<Pending, ApiError> {
    let name = obj.metadata.name.clone();
    let invalid = |causes: Vec<Cause>| invalid(cx, &name, causes);
    let registration = q::parse_registration(&obj.to_value()).map_err(invalid)?;
    if let Some(old) = old {
        let before = q::parse_registration(&old.to_value()).map_err(invalid)?;
        let causes = q::check_registration_update(&before, &registration);
        if !causes.is_empty() {
            return Err(invalid(causes));
        }
    }
    // Checked against the registrations as just reloaded: two creates of
    // one type at the same instant can both pass, as in Milo, whose
    // admission checks its informer's cache.
    let inputs = inputs(cx).await?;
    let causes = q::check_registration_unique(&registration, &inputs.registrations);
    if !causes.is_empty() {
        return Err(invalid(causes));
    }
    let generation = obj.metadata.generation.unwrap_or(1);
    obj.set_status(q::registration_status(generation, now));
    if old.is_some() {
        return Ok(Pending::default());
    }
    let writes = policies_put_in_force(cx, &registration, &inputs.registrations, now).await?;
    Ok(Pending::of(writes))
}

/// A ClaimCreationPolicy written: its status. Types not registered (yet)
/// are reported on Ready, not refused, as Milo does.
pub(super) async fn claim_policy_written(
    cx: &HookContext<'_>,
    obj: &mut Object,
    now: &str,
) -> Result<Pending, ApiError> {
    let policy = q::parse_claim_creation_policy(&obj.to_value())
        .map_err(|causes| invalid(cx, &obj.metadata.name, causes))?;
    let registrations = &inputs(cx).await?.registrations;
    obj.set_status(q::claim_policy_status(&policy, registrations, now));
    Ok(Pending::default())
}

/// A GrantCreationPolicy written: its status, as a claim policy's.
pub(super) async fn grant_policy_written(
    cx: &HookContext<'_>,
    obj: &mut Object,
    now: &str,
) -> Result<Pending, ApiError> {
    let policy = q::parse_grant_creation_policy(&obj.to_value())
        .map_err(|causes| invalid(cx, &obj.metadata.name, causes))?;
    let registrations = &inputs(cx).await?.registrations;
    obj.set_status(q::grant_policy_status(&policy, registrations, now));
    Ok(Pending::default())
}

/// A registration is not deleted while its type is in use: while a
/// policy names it (every create the policy matches would be refused
/// from then on), or while grants or claims count in a bucket of it
/// (`q::type_still_counted`). The type's empty buckets go with it, so
/// that none is left that no registration explains. Best effort against
/// a write racing the delete: an instance may plan a claim on a cached
/// registration for up to the cache's 500 ms; the audit reports it.
pub(super) async fn retire_registration(
    cx: &HookContext<'_>,
    registration: &Object,
) -> Result<Pending, ApiError> {
    let name = &registration.metadata.name;
    let parsed =
        q::parse_registration(&registration.to_value()).map_err(|c| invalid(cx, name, c))?;
    let resource_type = &parsed.resource_type;
    let inputs = inputs(cx).await?;
    let users = q::policies_naming(
        resource_type,
        &inputs.claim_policies,
        &inputs.grant_policies,
    );
    if !users.is_empty() {
        return Err(conflict(cx,
            name,
            format!(
                "resourceregistrations \"{name}\" registers {resource_type}, which {} still name{}; delete or change {} first",
                users.join(", "),
                if users.len() == 1 { "s" } else { "" },
                if users.len() == 1 { "it" } else { "them" },
            ),
        ));
    }
    let (items, buckets): (Vec<Stored>, Vec<(BucketKey, BucketLevel)>) = every_bucket(cx.store)
        .await?
        .into_iter()
        .filter_map(|stored| {
            let bucket = q::parse_bucket(&stored.object).ok()?;
            (bucket.0.resource_type == *resource_type).then_some((stored, bucket))
        })
        .unzip();
    if let Some(reason) = q::type_still_counted(resource_type, &buckets) {
        return Err(conflict(
            cx,
            name,
            format!("resourceregistrations \"{name}\": {reason}"),
        ));
    }
    let mut retired: Vec<Vec<Write>> = items
        .iter()
        .zip(&buckets)
        .map(|(stored, (key, _))| bucket_delete(stored, key))
        .collect();
    // The last buckets ride in the registration's own transaction; any
    // more go before it, each under the version read (still empty).
    let rest = retired.split_off(retired.len().saturating_sub(BUCKETS_RETIRED_AT_ONCE));
    Ok(Pending {
        writes: rest.concat().into_iter().map(Into::into).collect(),
        earlier: retired
            .chunks(BUCKETS_RETIRED_AT_ONCE)
            .map(<[Vec<Write>]>::concat)
            .collect(),
        ..Pending::default()
    })
}

/// The status writes of the creation policies a new registration puts
/// in force: those that were not Ready only for want of its type, so
/// that their Ready condition says what is so (under the version read:
/// a policy written meanwhile is a 409 to retry). Registrations are
/// rare; this reads the policies (two Queries), as the cache keeps only
/// those in force.
pub(super) async fn policies_put_in_force(
    cx: &HookContext<'_>,
    registration: &q::ResourceRegistration,
    before: &[q::ResourceRegistration],
    now: &str,
) -> Result<Vec<Write>, ApiError> {
    let mut after = before.to_vec();
    after.push(registration.clone());
    let (claim_policies, grant_policies) = tokio::try_join!(
        context_items(cx.store, &Context::Platform, &q::CLAIM_CREATION_POLICY),
        context_items(cx.store, &Context::Platform, &q::GRANT_CREATION_POLICY),
    )?;
    let mut writes = Vec::new();
    let mut put = |stored: Stored, status: Value| {
        let version = stored.version + 1;
        let mut object = stored.object;
        object["status"] = status;
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        writes.push(Write::PutObject {
            key: stored.key,
            object,
            version,
            expect: Expect::Version(stored.version),
        });
    };
    for stored in claim_policies {
        let Ok(policy) = q::parse_claim_creation_policy(&stored.object) else {
            continue;
        };
        if !policy.disabled
            && !q::claim_policy_in_force(&policy, before)
            && q::claim_policy_in_force(&policy, &after)
        {
            put(stored, q::claim_policy_status(&policy, &after, now));
        }
    }
    for stored in grant_policies {
        let Ok(policy) = q::parse_grant_creation_policy(&stored.object) else {
            continue;
        };
        if !policy.disabled
            && !q::grant_policy_in_force(&policy, before)
            && q::grant_policy_in_force(&policy, &after)
        {
            put(stored, q::grant_policy_status(&policy, &after, now));
        }
    }
    Ok(writes)
}
