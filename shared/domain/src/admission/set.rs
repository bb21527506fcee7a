//! The policies in force: every stored policy paired with its bindings, as
//! an instance caches them. A binding whose policy does not exist pairs
//! with nothing (it has no effect until the policy is created; its status
//! says so, see [`binding_status`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};

use super::request::AdmissionRequest;
use super::types::{
    MutatingAdmissionPolicy, MutatingAdmissionPolicyBinding, PolicyCommon,
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};

/// A validating policy with one of its bindings.
pub type ValidatingBound = (
    Arc<ValidatingAdmissionPolicy>,
    Arc<ValidatingAdmissionPolicyBinding>,
);
/// A mutating policy with one of its bindings.
pub type MutatingBound = (
    Arc<MutatingAdmissionPolicy>,
    Arc<MutatingAdmissionPolicyBinding>,
);

#[derive(Debug, Default)]
pub struct PolicySet {
    validating: Vec<ValidatingBound>,
    mutating: Vec<MutatingBound>,
    validating_policies: BTreeSet<String>,
    mutating_policies: BTreeSet<String>,
}

impl PolicySet {
    /// Pairs each binding with the policy it names, in (policy, binding)
    /// name order, the order evaluation uses.
    pub fn build(
        validating_policies: Vec<ValidatingAdmissionPolicy>,
        validating_bindings: Vec<ValidatingAdmissionPolicyBinding>,
        mutating_policies: Vec<MutatingAdmissionPolicy>,
        mutating_bindings: Vec<MutatingAdmissionPolicyBinding>,
    ) -> Self {
        let vaps: Vec<Arc<ValidatingAdmissionPolicy>> =
            validating_policies.into_iter().map(Arc::new).collect();
        let maps: Vec<Arc<MutatingAdmissionPolicy>> =
            mutating_policies.into_iter().map(Arc::new).collect();
        let mut validating: Vec<ValidatingBound> = validating_bindings
            .into_iter()
            .filter_map(|b| {
                let policy = vaps.iter().find(|p| p.common.name == b.policy_name)?;
                Some((Arc::clone(policy), Arc::new(b)))
            })
            .collect();
        validating
            .sort_by(|a, b| (&a.0.common.name, &a.1.name).cmp(&(&b.0.common.name, &b.1.name)));
        let mut mutating: Vec<MutatingBound> = mutating_bindings
            .into_iter()
            .filter_map(|b| {
                let policy = maps.iter().find(|p| p.common.name == b.policy_name)?;
                Some((Arc::clone(policy), Arc::new(b)))
            })
            .collect();
        mutating.sort_by(|a, b| (&a.0.common.name, &a.1.name).cmp(&(&b.0.common.name, &b.1.name)));
        PolicySet {
            validating,
            mutating,
            validating_policies: vaps.iter().map(|p| p.common.name.clone()).collect(),
            mutating_policies: maps.iter().map(|p| p.common.name.clone()).collect(),
        }
    }

    /// No binding is in force: admission has nothing to do.
    pub fn is_empty(&self) -> bool {
        self.validating.is_empty() && self.mutating.is_empty()
    }

    pub fn has_validating_policy(&self, name: &str) -> bool {
        self.validating_policies.contains(name)
    }

    pub fn has_mutating_policy(&self, name: &str) -> bool {
        self.mutating_policies.contains(name)
    }

    /// The validating pairs whose resource rules (policy's and binding's)
    /// match the request: the only ones that may apply. Selectors, params
    /// and match conditions are decided in the evaluation.
    pub fn validating_candidates(&self, request: &AdmissionRequest) -> Vec<&ValidatingBound> {
        self.validating
            .iter()
            .filter(|(p, b)| rules_match(&p.common, b.match_resources.as_ref(), request))
            .collect()
    }

    /// As [`Self::validating_candidates`], for mutating pairs; none on
    /// DELETE (there is no object to mutate).
    pub fn mutating_candidates(&self, request: &AdmissionRequest) -> Vec<&MutatingBound> {
        if request.object.is_none() {
            return Vec::new();
        }
        self.mutating
            .iter()
            .filter(|(p, b)| rules_match(&p.common, b.match_resources.as_ref(), request))
            .collect()
    }
}

fn rules_match(
    common: &PolicyCommon,
    binding: Option<&super::types::MatchResources>,
    request: &AdmissionRequest,
) -> bool {
    common.match_constraints.rules_match(request) && binding.is_none_or(|b| b.rules_match(request))
}

/// The condition type of a binding's status: `True` when the policy it
/// names exists (the binding is in force), `False` with reason
/// `PolicyNotFound` otherwise.
pub const BINDING_READY: &str = "Ready";

/// A binding's status: one `Ready` condition saying whether its policy
/// exists. `previous` is the status as stored; its transition time is kept
/// when the condition's status did not change.
pub fn binding_status(
    policy_kind: &str,
    policy_name: &str,
    found: bool,
    previous: &Value,
    now: &str,
) -> Value {
    let status = if found { "True" } else { "False" };
    let (reason, message) = if found {
        (
            "PolicyFound".to_string(),
            format!("{policy_kind} \"{policy_name}\" is bound"),
        )
    } else {
        (
            "PolicyNotFound".to_string(),
            format!("{policy_kind} \"{policy_name}\" does not exist; this binding has no effect until it is created"),
        )
    };
    let since = previous["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == BINDING_READY))
        .filter(|c| c["status"] == status)
        .and_then(|c| c["lastTransitionTime"].as_str())
        .unwrap_or(now);
    json!({"conditions": [{
        "type": BINDING_READY,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
    }]})
}
