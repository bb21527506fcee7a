//! Whether a creation policy is in force, as its Ready condition says.
//! Milo accepts a policy whose resource types are not registered and
//! reports it as not Ready (ValidationFailed) instead of refusing the
//! write; such a policy makes no claims or grants until its types are
//! registered. A claim policy whose trigger kind is not among a type's
//! claimingResources is Ready, as in Milo: the claims it would make are
//! refused when a trigger is written, and its Ready message says so.

use serde_json::Value;

use super::policy::{ClaimCreationPolicy, GrantCreationPolicy};
use super::registration::ResourceRegistration;
use super::status::{policy_condition, policy_status};

/// The types among `types` that no registration registers (templated ones
/// are decided when rendered).
fn unregistered<'a>(
    types: impl Iterator<Item = &'a str>,
    registrations: &[ResourceRegistration],
) -> Vec<&'a str> {
    types
        .filter(|t| !t.contains("{{"))
        .filter(|t| !registrations.iter().any(|r| r.resource_type == *t))
        .collect()
}

/// Whether the policy's resource types are all registered.
pub fn claim_policy_in_force(
    policy: &ClaimCreationPolicy,
    registrations: &[ResourceRegistration],
) -> bool {
    unregistered(
        policy.requests.iter().map(|(t, _)| t.as_str()),
        registrations,
    )
    .is_empty()
}

/// Whether the policy's resource types are all registered.
pub fn grant_policy_in_force(
    policy: &GrantCreationPolicy,
    registrations: &[ResourceRegistration],
) -> bool {
    unregistered(
        policy.allowances.iter().map(|(t, _)| t.as_str()),
        registrations,
    )
    .is_empty()
}

/// A ClaimCreationPolicy's status against the registrations now.
pub fn claim_policy_status(
    policy: &ClaimCreationPolicy,
    registrations: &[ResourceRegistration],
    now: &str,
) -> Value {
    let types = policy.requests.iter().map(|(t, _)| t.as_str());
    let missing = unregistered(types.clone(), registrations);
    if policy.disabled || !missing.is_empty() {
        return not_ready(policy.disabled, &missing, policy.generation, now);
    }
    let trigger = &policy.trigger;
    let refused: Vec<&str> = registrations
        .iter()
        .filter(|r| types.clone().any(|t| t == r.resource_type))
        .filter(|r| !r.may_be_claimed_by(&trigger.api_group, &trigger.kind))
        .map(|r| r.name.as_str())
        .collect();
    let message = if refused.is_empty() {
        "Policy is ready".to_string()
    } else {
        format!(
            "Policy is ready; {}/{} is not among the claimingResources of ResourceRegistration {}, so the claims it makes for such objects are refused",
            trigger.api_group,
            trigger.kind,
            refused.join(", ")
        )
    };
    ready(&message, policy.generation, now)
}

/// A GrantCreationPolicy's status against the registrations now.
pub fn grant_policy_status(
    policy: &GrantCreationPolicy,
    registrations: &[ResourceRegistration],
    now: &str,
) -> Value {
    let types = policy.allowances.iter().map(|(t, _)| t.as_str());
    let missing = unregistered(types, registrations);
    if policy.disabled || !missing.is_empty() {
        return not_ready(policy.disabled, &missing, policy.generation, now);
    }
    ready("Policy is ready", policy.generation, now)
}

fn ready(message: &str, generation: i64, now: &str) -> Value {
    policy_condition(true, "PolicyReady", message, generation, now)
}

fn not_ready(disabled: bool, missing: &[&str], generation: i64, now: &str) -> Value {
    if disabled {
        return policy_status(true, generation, now);
    }
    let message = format!(
        "no ResourceRegistration registers the resource type{} {}; the policy makes nothing until {} registered",
        if missing.len() == 1 { "" } else { "s" },
        missing
            .iter()
            .map(|t| format!("{t:?}"))
            .collect::<Vec<_>>()
            .join(", "),
        if missing.len() == 1 { "it is" } else { "they are" },
    );
    policy_condition(false, "ValidationFailed", &message, generation, now)
}
