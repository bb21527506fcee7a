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

use super::budget::{Budget, Progress};
use super::eval::{conditions_match, ignored, plan_params, ParamPlan, Params};
use super::expr::{evaluate, to_json, Activation, Inputs, VariableCache};
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

/// Where the mutations stand: the request as mutated so far, which pairs
/// changed it, and when each last ran. The worker advances it step by step
/// and the request mirrors it from the worker's results (to resume after an
/// overrun). Steps `0..n` are the pairs in order, `n..2n` their
/// reinvocations.
#[derive(Debug, Clone)]
struct Progression {
    request: AdmissionRequest,
    /// Indices of the pairs that changed the object, in order.
    applied: Vec<usize>,
    /// Per pair: `applied.len()` after its first run.
    last_run: Vec<usize>,
}

impl Progression {
    /// Whether `step` runs: every first run; a reinvocation when the pair
    /// asks for it and a later pair changed the object.
    fn should_run(&self, pairs: &[MutatingPair], step: usize) -> bool {
        let n = pairs.len();
        if step < n {
            return true;
        }
        let i = step - n;
        pairs[i].policy.reinvocation_policy == ReinvocationPolicy::IfNeeded
            && self.applied.len() > self.last_run[i]
    }

    /// `step` ran, and changed the object to `changed` (`None`: unchanged).
    fn record(&mut self, n: usize, step: usize, changed: Option<Value>) {
        if let Some(object) = changed {
            self.request.object = Some(object);
            self.applied.push(step % n);
        }
        if step < n {
            self.last_run[step] = self.applied.len();
        }
    }
}

/// A step's result: the object it changed to (`None`: unchanged), or a
/// denial.
type Stepped = (usize, Result<Option<Value>, Denial>);

/// Runs the mutations of every pair; a denial when one fails under
/// `failurePolicy: Fail`. Every step runs in one job on the budget's worker
/// (one hand-off for the phase); a step that runs over is handled by its
/// failurePolicy and the rest resume on another worker.
pub fn mutate(
    pairs: &[MutatingPair],
    request: &AdmissionRequest,
    budget: &Budget,
) -> Result<Mutated, Denial> {
    let mut sorted: Vec<MutatingPair> = pairs.to_vec();
    sorted.sort_by(|a, b| {
        (&a.policy.common.name, &a.binding.name).cmp(&(&b.policy.common.name, &b.binding.name))
    });
    let n = sorted.len();
    let mut state = Progression {
        request: request.clone(),
        applied: Vec::new(),
        last_run: vec![0; n],
    };
    // Nothing to mutate on DELETE (and nothing to do without pairs).
    if n == 0 || request.object.is_none() {
        return Ok(Mutated {
            object: state.request.object,
            applied: Vec::new(),
        });
    }
    let pairs = Arc::new(sorted);
    let job = {
        let pairs = Arc::clone(&pairs);
        Arc::new(
            move |(from, state): (usize, Progression), progress: &Progress<Stepped>| {
                run_steps(&pairs, from, state, progress)
            },
        )
    };
    let mut from = 0;
    while from < 2 * n {
        let run = budget.run_units(&job, from, (from, state.clone()));
        for (step, result) in run.values {
            state.record(n, step, result?);
        }
        let Some((step, e)) = run.cut else { break };
        let pair = &pairs[step % n];
        if !ignored(&pair.policy.common) {
            return Err(deny(pair, e.to_string()));
        }
        state.record(n, step, None);
        from = step + 1;
    }
    Ok(Mutated {
        object: state.request.object,
        applied: state
            .applied
            .iter()
            .map(|&i| {
                let pair = &pairs[i];
                (pair.policy.common.name.clone(), pair.binding.name.clone())
            })
            .collect(),
    })
}

/// On the worker: the steps from `from` on, until one denies.
fn run_steps(
    pairs: &[MutatingPair],
    from: usize,
    mut state: Progression,
    progress: &Progress<Stepped>,
) {
    let n = pairs.len();
    // The request's CEL inputs, converted again only when a step changed
    // the object.
    let mut inputs: Option<Arc<Inputs>> = None;
    for step in from..2 * n {
        if !progress.unit(step) {
            return;
        }
        let changed = if state.should_run(pairs, step) {
            match run_pair(
                &pairs[step % n],
                &state.request,
                &mut inputs,
                step,
                progress,
            ) {
                None => return,
                Some(Ok(changed)) => changed,
                Some(Err(denial)) => {
                    progress.push((step, Err(denial)));
                    return;
                }
            }
        } else {
            None
        };
        if changed.is_some() {
            inputs = None;
        }
        if !progress.push((step, Ok(changed.clone()))) {
            return;
        }
        state.record(n, step, changed);
    }
}

/// The denial of a pair's failure.
fn deny(pair: &MutatingPair, message: String) -> Denial {
    Denial {
        message: format!(
            "MutatingAdmissionPolicy '{}' with binding '{}' denied request: {message}",
            pair.policy.common.name, pair.binding.name
        ),
        reason: Reason::Invalid,
    }
}

/// Runs one pair, each param a bounded unit: the object it changed to
/// (`None` when unchanged), or a denial. `None`: the request gave up.
fn run_pair(
    pair: &MutatingPair,
    request: &AdmissionRequest,
    inputs: &mut Option<Arc<Inputs>>,
    step: usize,
    progress: &Progress<Stepped>,
) -> Option<Result<Option<Value>, Denial>> {
    let common = &pair.policy.common;
    let fail = |message: String| {
        if ignored(common) {
            Ok(None)
        } else {
            Err(deny(pair, message))
        }
    };
    let Some(object) = request.object.as_ref() else {
        return Some(Ok(None));
    };
    match common.matches(pair.binding.match_resources.as_ref(), request) {
        Ok(true) => {}
        Ok(false) => return Some(Ok(None)),
        Err(e) => return Some(fail(e.to_string())),
    }
    let params = match plan_params(common, pair.binding.param_ref.as_ref(), &pair.params) {
        ParamPlan::Each(params) => params,
        ParamPlan::Skip => return Some(Ok(None)),
        ParamPlan::Deny(message) => return Some(Err(deny(pair, message))),
        ParamPlan::Error(e) => return Some(fail(e)),
    };
    let shared = match inputs {
        Some(shared) => Arc::clone(shared),
        None => match Inputs::new(request) {
            Ok(converted) => Arc::clone(inputs.insert(Arc::new(converted))),
            Err(e) => return Some(fail(e)),
        },
    };
    let mut current = object.clone();
    for param in params {
        if !progress.unit(step) {
            return None;
        }
        let activation = match Activation::new(Arc::clone(&shared), param.as_ref()) {
            Ok(a) => a,
            Err(e) => return Some(fail(e)),
        };
        match run_policy(&pair.policy, activation, current.clone()) {
            Ok(Some(next)) => current = next,
            Ok(None) => {}
            Err(e) => return Some(fail(e)),
        }
    }
    Some(Ok((current != *object).then_some(current)))
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
        activation.set_object(&object)?;
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
