//! The decision on a claim, and what its transaction writes: an increment
//! of every bucket on the claimed object's path, each with the condition
//! that makes the decision when the write lands. The plan needs no bucket
//! read ([`plan_unread`]); the buckets are read only when a condition
//! refused it, to word the 403 with the numbers ([`plan_claim`]).

use std::collections::BTreeMap;
use std::fmt;

use super::bucket::{BucketKey, BucketLevel};
use super::claim::ResourceClaim;
use super::refs::{Node, QuotaPath};
use super::registration::{MeasurementType, ResourceRegistration};
use crate::{ApiError, Cause};

/// The condition a bucket write carries. With `headroom` stored beside
/// `limit` and `allocated` (kept equal to their difference by every write),
/// these are single DynamoDB condition expressions:
/// `Required(n)`: `headroom >= :n` (false when the item is missing);
/// `IfLimited(n)`: `attribute_not_exists(pk) OR grantCount = :zero OR headroom >= :n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadroomCheck {
    /// None: releases and limit changes always apply.
    None,
    /// The bucket must exist with `limit - allocated >= n` (the claim's
    /// consumer: without a grant it has no quota).
    Required(i64),
    /// Holds when the bucket has no grant (`grantCount` 0 or no bucket yet);
    /// otherwise `limit - allocated >= n`. Checked even on buckets that had
    /// no grant when read, so a grant landing meanwhile is respected.
    IfLimited(i64),
}

impl HeadroomCheck {
    /// Whether `level` (as read; `None` if the bucket does not exist)
    /// satisfies the check.
    pub fn holds(self, level: Option<&BucketLevel>) -> bool {
        match self {
            HeadroomCheck::None => true,
            HeadroomCheck::Required(n) => level.is_some_and(|l| l.headroom() >= n),
            HeadroomCheck::IfLimited(n) => {
                level.is_none_or(|l| !l.is_limited() || l.headroom() >= n)
            }
        }
    }
}

/// One bucket write: add the deltas to `allocated` and `claimCount` and
/// subtract the allocated delta from `headroom` (creating the bucket from
/// [`BucketKey::document`], at zero, if it does not exist), under `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketChange {
    pub key: BucketKey,
    pub allocated_delta: i64,
    pub claim_count_delta: i64,
    pub check: HeadroomCheck,
    /// The consumer's parent on the path the plan was made for (`None`: an
    /// organization). Buckets record their consumer's parent; the write
    /// requires the stored one to be this (or none yet) and sets it. A move
    /// rewrites it (see `plan_move`), so a claim or release planned on the
    /// path an object had before a move fails instead of counting on
    /// ancestors it no longer has.
    pub parent: Option<Node>,
}

/// What a granted request took (`status.allocations[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimAllocation {
    pub resource_type: String,
    pub amount: i64,
    /// The most restrictive limiting bucket on the path (its name).
    pub allocating_bucket: String,
}

/// A granted claim: the bucket writes of its transaction and its
/// allocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPlan {
    /// Per request, one change per node of the path (innermost first).
    pub changes: Vec<BucketChange>,
    pub allocations: Vec<ClaimAllocation>,
}

/// One bucket that has no room for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub resource_type: String,
    pub requested: i64,
    pub consumer: Node,
    pub allocated: i64,
    pub limit: i64,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "insufficient quota for resource type {:?} in {}: requested {}, allocated {}, limit {}",
            self.resource_type, self.consumer, self.requested, self.allocated, self.limit
        )
    }
}

/// Quota exceeded: for each refused request, its most restrictive bucket.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct QuotaExceeded {
    pub denials: Vec<Denial>,
}

impl fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.denials.iter().map(Denial::to_string).collect();
        write!(f, "quota exceeded: {}", parts.join("; "))
    }
}

/// Why a claim is not granted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimRefusal {
    /// 403: no room (nothing is written).
    #[error("{0}")]
    Exceeded(QuotaExceeded),
    /// 422: the claim cannot be granted as written (unregistered type, a
    /// consumer off the path, ...), each problem at its field.
    #[error("{}", causes_text(.0))]
    Invalid(Vec<Cause>),
}

fn causes_text(causes: &[Cause]) -> String {
    let parts: Vec<String> = causes
        .iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect();
    parts.join(", ")
}

impl ClaimRefusal {
    /// The Status reason of the claim's Granted condition.
    pub fn reason(&self) -> &'static str {
        match self {
            ClaimRefusal::Exceeded(_) => "QuotaExceeded",
            ClaimRefusal::Invalid(_) => "ValidationFailed",
        }
    }

    /// The API error for the write that needed the claim: 403 Forbidden
    /// with the numbers, `name` being what was refused; or 422 Invalid on
    /// the claim's fields, `name` being the claim's.
    pub fn to_api_error(&self, name: &str) -> ApiError {
        match self {
            ClaimRefusal::Exceeded(e) => ApiError::QuotaExceeded {
                exceeded: e.clone(),
                object: name.to_string(),
            },
            ClaimRefusal::Invalid(causes) => ApiError::invalid(
                super::names::RESOURCE_CLAIM.group,
                super::names::RESOURCE_CLAIM.plural,
                name,
                causes.clone(),
            ),
        }
    }
}

/// The most bucket writes one plan may hold. A DynamoDB transaction holds
/// at most 100 items; the object, its claim and their index items need the
/// rest. (20 requests on a 12-node path would be 240.)
pub const MAX_BUCKET_CHANGES: usize = 64;

/// Decides a claim: [`plan_unread`], then every request against every
/// bucket on `path` as `buckets` has them (missing ones read as empty).
/// All requests are granted or none. This is the decision with numbers:
/// the adapter calls it when a transaction's condition refused the
/// unread plan, to word the 403 (or to find room freed meanwhile).
pub fn plan_claim(
    claim: &ResourceClaim,
    path: &QuotaPath,
    buckets: &BTreeMap<BucketKey, BucketLevel>,
    registrations: &[ResourceRegistration],
) -> Result<ClaimPlan, ClaimRefusal> {
    let plan = plan_unread(claim, path, registrations)?;
    let denials = denials(claim, path, buckets);
    if !denials.is_empty() {
        return Err(ClaimRefusal::Exceeded(QuotaExceeded { denials }));
    }
    Ok(plan)
}

/// A claim's plan without reading a bucket: checks the claim against the
/// registrations (each type registered, claimable, by this consumer's kind
/// and, when the claim names its object, by that object's kind), requires
/// its consumer on `path`, and writes an increment of every bucket on
/// `path` under the condition that decides it inside the transaction
/// (`Required` on the consumer's, `IfLimited` on the others). Nothing here
/// depends on what the buckets hold, so the write needs no read before it.
/// Each allocation names the consumer's bucket, as in Milo: the bucket the
/// claim is charged to (the other buckets on the path only bound it).
pub fn plan_unread(
    claim: &ResourceClaim,
    path: &QuotaPath,
    registrations: &[ResourceRegistration],
) -> Result<ClaimPlan, ClaimRefusal> {
    let mut causes = Vec::new();
    for (i, request) in claim.requests.iter().enumerate() {
        let field = format!("spec.requests[{i}].resourceType");
        let Some(registration) = registrations
            .iter()
            .find(|r| r.resource_type == request.resource_type)
        else {
            causes.push(Cause::invalid(
                field,
                format!(
                    "Invalid value: {:?}: no ResourceRegistration registers this resource type",
                    request.resource_type
                ),
            ));
            continue;
        };
        if registration.measurement == MeasurementType::Feature {
            causes.push(Cause::invalid(
                field,
                format!(
                    "Invalid value: {:?}: a Feature is granted, not claimed",
                    request.resource_type
                ),
            ));
        }
        if registration.consumer_type != claim.consumer.kind {
            causes.push(Cause::invalid(
                "spec.consumerRef.kind",
                format!(
                    "Invalid value: {:?}: ResourceRegistration {:?} is consumed by {}",
                    claim.consumer.kind.kind(),
                    registration.name,
                    registration.consumer_type.kind()
                ),
            ));
        }
        if let Some(resource) = &claim.resource_ref {
            if !registration.may_be_claimed_by(&resource.api_group, &resource.kind) {
                causes.push(Cause::invalid(
                    "spec.resourceRef",
                    format!(
                        "Invalid value: {}/{}: not among the claimingResources of ResourceRegistration {:?}",
                        resource.api_group, resource.kind, registration.name
                    ),
                ));
            }
        }
    }
    let touched = claim.requests.len() * path.nodes().len();
    if touched > MAX_BUCKET_CHANGES {
        causes.push(Cause::invalid(
            "spec.requests",
            format!(
                "Too many: {} requests on a path of {} nodes would change {touched} buckets in one transaction; at most {MAX_BUCKET_CHANGES}",
                claim.requests.len(),
                path.nodes().len()
            ),
        ));
    }
    if !path.contains(&claim.consumer) {
        causes.push(Cause::invalid(
            "spec.consumerRef",
            format!(
                "Invalid value: {}: the consumer must be on the claimed object's path ({path})",
                claim.consumer
            ),
        ));
    }
    if !causes.is_empty() {
        // Several requests can fail the same way (the consumer's kind).
        let mut unique: Vec<Cause> = Vec::with_capacity(causes.len());
        for cause in causes {
            if !unique.contains(&cause) {
                unique.push(cause);
            }
        }
        return Err(ClaimRefusal::Invalid(unique));
    }

    let mut changes = Vec::new();
    let mut allocations = Vec::new();
    for request in &claim.requests {
        for node in path.nodes() {
            changes.push(BucketChange {
                key: BucketKey::new(node.clone(), &request.resource_type),
                allocated_delta: request.amount,
                claim_count_delta: 1,
                check: check_on(node, claim, request.amount),
                parent: path.parent_of(node).cloned(),
            });
        }
        allocations.push(ClaimAllocation {
            resource_type: request.resource_type.clone(),
            amount: request.amount,
            allocating_bucket: BucketKey::new(claim.consumer.clone(), &request.resource_type)
                .name(),
        });
    }
    Ok(ClaimPlan {
        changes,
        allocations,
    })
}

/// The consumer's bucket must exist with room; the others bound the claim
/// only once a grant limits them.
fn check_on(node: &Node, claim: &ResourceClaim, amount: i64) -> HeadroomCheck {
    if *node == claim.consumer {
        HeadroomCheck::Required(amount)
    } else {
        HeadroomCheck::IfLimited(amount)
    }
}

/// For each request that some bucket on `path` has no room for, the most
/// restrictive such bucket (the least headroom; the innermost on a tie).
fn denials(
    claim: &ResourceClaim,
    path: &QuotaPath,
    buckets: &BTreeMap<BucketKey, BucketLevel>,
) -> Vec<Denial> {
    let mut denials = Vec::new();
    for request in &claim.requests {
        let mut refused: Option<(&Node, BucketLevel)> = None;
        for node in path.nodes() {
            let level = buckets.get(&BucketKey::new(node.clone(), &request.resource_type));
            let current = level.copied().unwrap_or_default();
            if !check_on(node, claim, request.amount).holds(level)
                && refused.is_none_or(|(_, r)| current.headroom() < r.headroom())
            {
                refused = Some((node, current));
            }
        }
        if let Some((node, level)) = refused {
            denials.push(Denial {
                resource_type: request.resource_type.clone(),
                requested: request.amount,
                consumer: node.clone(),
                allocated: level.allocated,
                limit: level.limit,
            });
        }
    }
    denials
}

/// Several claims for one object (several policies matched its create),
/// decided together: each sees the others' usage, and their bucket writes
/// are merged, one per bucket (a transaction may touch an item once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsPlan {
    /// Per claim, in order: its own plan (allocations for its status).
    pub plans: Vec<ClaimPlan>,
    /// The merged bucket writes of the transaction.
    pub changes: Vec<BucketChange>,
}

/// Decides `claims` together, all or none: a refusal of any refuses the
/// write (its error names the claim's requests as one claim's would).
pub fn plan_claims(
    claims: &[ResourceClaim],
    path: &QuotaPath,
    buckets: &BTreeMap<BucketKey, BucketLevel>,
    registrations: &[ResourceRegistration],
) -> Result<ClaimsPlan, ClaimRefusal> {
    let mut working = buckets.clone();
    let mut plans = Vec::with_capacity(claims.len());
    for claim in claims {
        let plan = plan_claim(claim, path, &working, registrations)?;
        apply_changes(&mut working, &plan.changes);
        plans.push(plan);
    }
    merged(plans)
}

/// [`plan_unread`] of several claims for one object: their bucket writes
/// merged, the transaction's conditions deciding all of them at once.
pub fn plan_claims_unread(
    claims: &[ResourceClaim],
    path: &QuotaPath,
    registrations: &[ResourceRegistration],
) -> Result<ClaimsPlan, ClaimRefusal> {
    let plans = claims
        .iter()
        .map(|claim| plan_unread(claim, path, registrations))
        .collect::<Result<Vec<_>, _>>()?;
    merged(plans)
}

fn merged(plans: Vec<ClaimPlan>) -> Result<ClaimsPlan, ClaimRefusal> {
    let all: Vec<BucketChange> = plans.iter().flat_map(|p| p.changes.clone()).collect();
    let changes = merge_changes(&all);
    if changes.len() > MAX_BUCKET_CHANGES {
        return Err(ClaimRefusal::Invalid(vec![Cause::invalid(
            "spec.requests",
            format!(
                "Too many: the claims would change {} buckets in one transaction; at most {MAX_BUCKET_CHANGES}",
                changes.len()
            ),
        )]));
    }
    Ok(ClaimsPlan { plans, changes })
}

/// One change per bucket: deltas summed, checks combined into the check of
/// the sum against the state before any of them (`Required` wins over
/// `IfLimited`: the bucket must then exist with room for all).
pub fn merge_changes(changes: &[BucketChange]) -> Vec<BucketChange> {
    let mut merged: Vec<BucketChange> = Vec::new();
    for change in changes {
        let Some(into) = merged.iter_mut().find(|m| m.key == change.key) else {
            merged.push(change.clone());
            continue;
        };
        into.allocated_delta += change.allocated_delta;
        into.claim_count_delta += change.claim_count_delta;
        let amount = into.allocated_delta;
        into.check = match (into.check, change.check) {
            (HeadroomCheck::None, HeadroomCheck::None) => HeadroomCheck::None,
            (HeadroomCheck::Required(_), _) | (_, HeadroomCheck::Required(_)) => {
                HeadroomCheck::Required(amount)
            }
            _ => HeadroomCheck::IfLimited(amount),
        };
    }
    merged
}

/// Releasing a claim (its object deleted): every bucket on `path` gives
/// back what the claim took. `path` is the object's path now; moves carry
/// usage along, so it is where the claim is counted.
pub fn plan_release(claim: &ResourceClaim, path: &QuotaPath) -> Vec<BucketChange> {
    let mut changes = Vec::new();
    if !claim.granted {
        return changes;
    }
    for request in &claim.requests {
        for node in path.nodes() {
            changes.push(BucketChange {
                key: BucketKey::new(node.clone(), &request.resource_type),
                allocated_delta: -request.amount,
                claim_count_delta: -1,
                check: HeadroomCheck::None,
                parent: path.parent_of(node).cloned(),
            });
        }
    }
    changes
}

/// Applies changes to bucket levels: the simulation of a committed
/// transaction (tests, and the quota function's dry runs). Checks are not
/// evaluated here; see [`HeadroomCheck::holds`].
pub fn apply_changes(buckets: &mut BTreeMap<BucketKey, BucketLevel>, changes: &[BucketChange]) {
    for change in changes {
        let level = buckets.entry(change.key.clone()).or_default();
        level.allocated += change.allocated_delta;
        level.claim_count += change.claim_count_delta;
    }
}
