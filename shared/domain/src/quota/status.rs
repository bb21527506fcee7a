//! The status the system writes on the quota kinds, with the conditions
//! Milo's scenarios wait for: Active on registrations and grants, Ready on
//! policies, Granted on claims. Each is exact when its write returns: the
//! checks run before the write, so there is no pending phase to report.

use serde_json::{json, Value};

use super::bucket::BucketLevel;
use super::grant_delta::ContributingGrantRef;
use super::plan::{ClaimAllocation, ClaimRefusal};

/// One `metav1.Condition`.
pub fn condition(
    kind: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: i64,
    now: &str,
) -> Value {
    json!({
        "type": kind,
        "status": if status { "True" } else { "False" },
        "reason": reason,
        "message": message,
        "lastTransitionTime": now,
        "observedGeneration": generation,
    })
}

/// Milo's message on an Active registration (its suites match it).
pub const REGISTRATION_ACTIVE_MESSAGE: &str = "The registration is active and resource grants and claims can now be created for this resource type.";

/// A ResourceRegistration accepted at write: Active.
pub fn registration_status(generation: i64, now: &str) -> Value {
    json!({
        "observedGeneration": generation,
        "conditions": [condition("Active", true, "RegistrationActive", REGISTRATION_ACTIVE_MESSAGE, generation, now)],
    })
}

/// A ResourceGrant accepted at write: Active (its limits are in its
/// buckets, in the same transaction).
pub fn grant_status(generation: i64, now: &str) -> Value {
    json!({
        "observedGeneration": generation,
        "conditions": [condition("Active", true, "GrantActive", "ResourceGrant is active", generation, now)],
    })
}

/// A ClaimCreationPolicy or GrantCreationPolicy accepted at write: Ready,
/// or not Ready because disabled (reason PolicyDisabled, as Milo).
pub fn policy_status(disabled: bool, generation: i64, now: &str) -> Value {
    if disabled {
        policy_condition(
            false,
            "PolicyDisabled",
            "Policy is disabled",
            generation,
            now,
        )
    } else {
        policy_condition(true, "PolicyReady", "Policy is ready", generation, now)
    }
}

/// A creation policy's status: its one Ready condition.
pub(crate) fn policy_condition(
    ready: bool,
    reason: &str,
    message: &str,
    generation: i64,
    now: &str,
) -> Value {
    json!({
        "observedGeneration": generation,
        "conditions": [condition("Ready", ready, reason, message, generation, now)],
    })
}

/// A granted claim: one allocation per request and Granted=True
/// (QuotaAvailable, with Milo's message).
pub fn claim_granted_status(allocations: &[ClaimAllocation], generation: i64, now: &str) -> Value {
    let message = format!(
        "All {} resource requests have been granted",
        allocations.len()
    );
    let allocations: Vec<Value> = allocations
        .iter()
        .map(|a| {
            json!({
                "resourceType": a.resource_type,
                "status": "Granted",
                "allocatedAmount": a.amount,
                "allocatingBucket": a.allocating_bucket,
                "reason": "QuotaAvailable",
                "message": format!("Allocated {} from bucket {}", a.amount, a.allocating_bucket),
                "lastTransitionTime": now,
            })
        })
        .collect();
    json!({
        "observedGeneration": generation,
        "allocations": allocations,
        "conditions": [condition("Granted", true, "QuotaAvailable", &message, generation, now)],
    })
}

/// A refused claim: Granted=False with QuotaExceeded or ValidationFailed.
/// (A claim written directly is stored so; a policy's claim that is refused
/// refuses its trigger instead and is not stored.)
pub fn claim_refused_status(refusal: &ClaimRefusal, generation: i64, now: &str) -> Value {
    json!({
        "observedGeneration": generation,
        "conditions": [condition("Granted", false, refusal.reason(), &refusal.to_string(), generation, now)],
    })
}

/// An AllowanceBucket's status.
pub fn bucket_status(
    level: &BucketLevel,
    contributing: &[ContributingGrantRef],
    now: &str,
) -> Value {
    json!({
        "limit": level.limit,
        "allocated": level.allocated,
        "available": level.available(),
        "claimCount": level.claim_count,
        "grantCount": level.grant_count,
        "contributingGrantRefs": contributing.iter().map(ContributingGrantRef::to_json).collect::<Vec<_>>(),
        "lastReconciliation": now,
    })
}
