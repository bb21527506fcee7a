//! Evaluating mutating policies: the object after every matching mutation.
//!
//! Order: pairs sorted by policy name, then binding name; each pair's
//! mutations in order, each seeing the object as the previous ones left it.
//! A pair's mutations apply together or not at all. Then reinvocation:
//! each pair with `reinvocationPolicy: IfNeeded` whose result was changed
//! by a later pair runs once more, in the same order.
//!
//! Patch types:
//! - `JSONPatch`: the expression returns a list of `JSONPatch{op, path,
//!   value, from}`, applied as RFC 6902 (`patch::json_patch`);
//! - `ApplyConfiguration`: the expression returns `Object{...}`, merged into
//!   the object like a JSON merge patch: maps merge recursively, a `null`
//!   removes a field, lists (and scalars) replace what was there. This is
//!   simpler than server-side apply, which merges lists with
//!   `x-kubernetes-list-type: map` by key; none of our built-in kinds
//!   needs that yet.

use std::sync::Arc;

use serde_json::Value;

use super::budget::Budget;
use super::eval::{conditions_match, ignored, plan_params, Inputs, ParamPlan, Params};
use super::expr::{evaluate, to_cel, to_json, Activation, VariableCache};
use super::request::AdmissionRequest;
use super::types::{
    MutatingAdmissionPolicy, MutatingAdmissionPolicyBinding, PatchType, Reason, ReinvocationPolicy,
};
use super::validating::Denial;
use crate::patch::{json_patch, merge_patch};

#[derive(Debug, Clone)]
pub struct MutatingPair {
    pub policy: Arc<MutatingAdmissionPolicy>,
    pub binding: Arc<MutatingAdmissionPolicyBinding>,
    pub params: Params,
}

/// The mutated object (equal to the request's when nothing applied).
#[derive(Debug, Clone, PartialEq)]
pub struct Mutated {
    pub object: Option<Value>,
    /// `(policy, binding)` of the pairs that changed the object, in order.
    pub applied: Vec<(String, String)>,
}

/// Runs the mutations of every pair; a denial when one fails under
/// `failurePolicy: Fail`.
pub fn mutate(
    pairs: &[MutatingPair],
    request: &AdmissionRequest,
    budget: &Budget,
) -> Result<Mutated, Denial> {
    let mut sorted: Vec<&MutatingPair> = pairs.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.policy.common.name, &a.binding.name).cmp(&(&b.policy.common.name, &b.binding.name))
    });
    let mut request = request.clone();
    let mut applied = Vec::new();
    // The step (index in `applied`) after which each pair last ran.
    let mut last_run = vec![0usize; sorted.len()];
    for (i, pair) in sorted.iter().enumerate() {
        if run_pair(pair, &mut request, budget)? {
            applied.push((pair.policy.common.name.clone(), pair.binding.name.clone()));
        }
        last_run[i] = applied.len();
    }
    for (i, pair) in sorted.iter().enumerate() {
        let changed_later = applied.len() > last_run[i];
        if pair.policy.reinvocation_policy == ReinvocationPolicy::IfNeeded
            && changed_later
            && run_pair(pair, &mut request, budget)?
        {
            applied.push((pair.policy.common.name.clone(), pair.binding.name.clone()));
        }
    }
    Ok(Mutated {
        object: request.object,
        applied,
    })
}

/// Runs one pair; `Ok(true)` when it changed the object.
fn run_pair(
    pair: &MutatingPair,
    request: &mut AdmissionRequest,
    budget: &Budget,
) -> Result<bool, Denial> {
    let common = &pair.policy.common;
    let deny = |message: String| Denial {
        message: format!(
            "MutatingAdmissionPolicy '{}' with binding '{}' denied request: {message}",
            common.name, pair.binding.name
        ),
        reason: Reason::Invalid,
    };
    let fail = |message: String| {
        if ignored(common) {
            Ok(false)
        } else {
            Err(deny(message))
        }
    };
    // Nothing to mutate on DELETE.
    let Some(object) = request.object.clone() else {
        return Ok(false);
    };
    match common.matches(pair.binding.match_resources.as_ref(), request) {
        Ok(true) => {}
        Ok(false) => return Ok(false),
        Err(e) => return fail(e.to_string()),
    }
    let params = match plan_params(common, pair.binding.param_ref.as_ref(), &pair.params) {
        ParamPlan::Each(params) => params,
        ParamPlan::Skip => return Ok(false),
        ParamPlan::Deny(message) => return Err(deny(message)),
        ParamPlan::Error(e) => return fail(e),
    };
    let inputs = Inputs::new(request);
    let mut current = object.clone();
    for param in params {
        let activation = match inputs.with_params(param.as_ref()) {
            Ok(a) => a,
            Err(e) => return fail(e),
        };
        let policy = Arc::clone(&pair.policy);
        let start = current.clone();
        match budget.run(move || run_policy(&policy, activation, start)) {
            Ok(Ok(Some(next))) => current = next,
            Ok(Ok(None)) => {}
            Ok(Err(e)) => return fail(e),
            Err(e) => return fail(e.to_string()),
        }
    }
    let changed = current != object;
    request.object = Some(current);
    Ok(changed)
}

/// On the worker: conditions, then each mutation on the object so far.
/// `Ok(None)` when the conditions do not match.
fn run_policy(
    policy: &MutatingAdmissionPolicy,
    mut activation: Activation,
    mut object: Value,
) -> Result<Option<Value>, String> {
    let common = &policy.common;
    let mut cache = VariableCache::default();
    if !conditions_match(common, &activation, &mut cache)? {
        return Ok(None);
    }
    for (i, mutation) in policy.mutations.iter().enumerate() {
        let source = mutation.expression.source.trim();
        activation.object = to_cel(&object)?;
        let result = evaluate(
            &mutation.expression,
            &activation,
            &common.variables,
            &mut cache,
        )
        .and_then(|v| to_json(&v))
        .map_err(|e| format!("mutation {i} '{source}' resulted in error: {e}"))?;
        object = match mutation.patch_type {
            PatchType::ApplyConfiguration => {
                if !result.is_object() {
                    return Err(format!("mutation {i} must return an Object{{...}}"));
                }
                merge_patch(&object, &result)
            }
            PatchType::JsonPatch => json_patch(&object, &result)
                .map_err(|e| format!("mutation {i}: JSON patch failed: {e}"))?,
        };
    }
    Ok(Some(object))
}
