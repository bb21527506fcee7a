//! Evaluating validating policies: the decision on one request.
//!
//! Order: pairs sorted by policy name, then binding name; the first denial
//! ends the evaluation (as Kubernetes returns the first). Per pair, on the
//! request's thread: match rules and selectors, params; then every pair
//! left, in one job on a budget worker (one hand-off for the phase), each
//! pair a unit with its own deadline: match conditions, validations
//! (variables computed on first use), audit annotations. The worker stops
//! where the request would: after the first pair that denies. Errors (an expression that fails, a budget exceeded, a
//! namespace unknown, a missing paramRef) are ignored under
//! `failurePolicy: Ignore`, and otherwise treated as a failed validation,
//! subject to the binding's validation actions like any other.

use std::collections::BTreeMap;
use std::sync::Arc;

use cel::Value as CelValue;
use serde_json::{json, Value};

use super::budget::{Budget, BudgetError, Progress};
use super::eval::{conditions_match, ignored, plan_params, ParamPlan, Params};
use super::expr::{evaluate, Activation, Inputs, VariableCache};
use super::request::AdmissionRequest;
use super::types::{
    PolicyCommon, Reason, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding, Validation,
    ValidationAction,
};

/// The annotation audit failures are recorded under, as Kubernetes.
pub const VALIDATION_FAILURE_ANNOTATION: &str =
    "validation.policy.admission.k8s.io/validation_failure";

/// A policy, one of its bindings, and the binding's params.
#[derive(Debug, Clone)]
pub struct ValidatingPair {
    pub policy: Arc<ValidatingAdmissionPolicy>,
    pub binding: Arc<ValidatingAdmissionPolicyBinding>,
    pub params: Params,
}

/// Why a request is refused: a Status with this message, reason and code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub message: String,
    pub reason: Reason,
}

impl Denial {
    pub fn code(&self) -> u16 {
        self.reason.code()
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    /// `None`: allowed.
    pub denial: Option<Denial>,
    /// `Warning: 299` headers (the Warn action).
    pub warnings: Vec<String>,
    /// Audit annotations: `{policy}/{key}` from auditAnnotations, and
    /// [`VALIDATION_FAILURE_ANNOTATION`] for the Audit action.
    pub audit_annotations: BTreeMap<String, String>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.denial.is_none()
    }
}

/// One failed validation (or error) of a pair.
#[derive(Debug)]
struct Failure {
    message: String,
    reason: Reason,
    /// The validation's index; `None` for errors outside validations.
    index: Option<usize>,
}

/// What one evaluation of a pair (for one param) found.
#[derive(Debug, Default)]
struct Outcome {
    failures: Vec<Failure>,
    annotations: Vec<(String, String)>,
}

/// What the request decides about a pair before any evaluation.
enum Plan {
    /// Decided without evaluating (no match, params skipped or missing,
    /// misconfiguration).
    Decided(Outcome),
    /// Evaluated on the worker, once per param.
    Evaluate(Vec<Option<Value>>),
}

/// The validating phase's one job: every pair to evaluate, in order.
struct Job {
    pairs: Vec<(
        Arc<ValidatingAdmissionPolicy>,
        Arc<ValidatingAdmissionPolicyBinding>,
    )>,
    /// Per pair: its params, or `None` when it is decided without them.
    params: Vec<Option<Vec<Option<Value>>>>,
    /// The request's CEL inputs, converted once for every pair.
    inputs: Result<Arc<Inputs>, String>,
}

/// One evaluated pair: its outcome, or an error (not yet subject to
/// failurePolicy).
type Evaluated = (usize, Result<Outcome, String>);

/// Evaluates every pair against the request.
pub fn validate(pairs: &[ValidatingPair], request: &AdmissionRequest, budget: &Budget) -> Decision {
    let mut sorted: Vec<&ValidatingPair> = pairs.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.policy.common.name, &a.binding.name).cmp(&(&b.policy.common.name, &b.binding.name))
    });
    let mut plans: Vec<Plan> = Vec::with_capacity(sorted.len());
    for pair in &sorted {
        let plan = plan(pair, request);
        // Nothing after a pair decided to deny is evaluated.
        let last = matches!(&plan, Plan::Decided(o) if denies(&pair.binding, o));
        plans.push(plan);
        if last {
            break;
        }
    }
    let results = evaluate_plans(&sorted, &plans, request, budget);
    let mut decision = Decision::default();
    let mut audit_failures = Vec::new();
    for ((pair, plan), result) in sorted.iter().zip(plans).zip(results) {
        let outcome = match (plan, result) {
            (Plan::Decided(outcome), _) => outcome,
            (Plan::Evaluate(_), Some(Ok(outcome))) => outcome,
            (Plan::Evaluate(_), Some(Err(e))) => error_outcome(&pair.policy.common, e),
            // Not evaluated: only after a denial, which ended the loop.
            (Plan::Evaluate(_), None) => {
                error_outcome(&pair.policy.common, BudgetError::WorkerFailed.to_string())
            }
        };
        apply(pair, outcome, &mut decision, &mut audit_failures);
        if decision.denial.is_some() {
            break;
        }
    }
    if !audit_failures.is_empty() {
        decision.audit_annotations.insert(
            VALIDATION_FAILURE_ANNOTATION.to_string(),
            Value::Array(audit_failures).to_string(),
        );
    }
    decision
}

/// Runs the pairs to evaluate as one job on the budget's worker: one
/// hand-off for the phase. A pair that runs over gets the budget's error and
/// the rest resume on another worker. Per pair: `None` when not evaluated.
fn evaluate_plans(
    sorted: &[&ValidatingPair],
    plans: &[Plan],
    request: &AdmissionRequest,
    budget: &Budget,
) -> Vec<Option<Result<Outcome, String>>> {
    let mut results: Vec<Option<Result<Outcome, String>>> = plans.iter().map(|_| None).collect();
    let Some(first) = plans.iter().position(|p| matches!(p, Plan::Evaluate(_))) else {
        // Nothing to evaluate: no hand-off, no conversion.
        return results;
    };
    let job = Job {
        pairs: sorted
            .iter()
            .take(plans.len())
            .map(|p| (Arc::clone(&p.policy), Arc::clone(&p.binding)))
            .collect(),
        params: plans
            .iter()
            .map(|p| match p {
                Plan::Evaluate(params) => Some(params.clone()),
                Plan::Decided(_) => None,
            })
            .collect(),
        inputs: Inputs::new(request).map(Arc::new),
    };
    let job = Arc::new(move |from, progress: &Progress<Evaluated>| run_job(&job, from, progress));
    let mut from = first;
    while from < plans.len() {
        let run = budget.run_units(&job, from, from);
        for (index, result) in run.values {
            if let Some(slot) = results.get_mut(index) {
                *slot = Some(result);
            }
        }
        let Some((index, e)) = run.cut else { break };
        let (Some(pair), Some(slot)) = (sorted.get(index), results.get_mut(index)) else {
            break;
        };
        let outcome = error_outcome(&pair.policy.common, e.to_string());
        *slot = Some(Err(e.to_string()));
        if denies(&pair.binding, &outcome) {
            break;
        }
        from = index + 1;
    }
    results
}

/// On the worker: the pairs from `from` on, until one denies.
fn run_job(job: &Job, from: usize, progress: &Progress<Evaluated>) {
    for (index, ((policy, binding), params)) in
        job.pairs.iter().zip(&job.params).enumerate().skip(from)
    {
        let Some(params) = params else { continue };
        if !progress.unit(index) {
            return;
        }
        let result = run_pair(job, index, policy, params, progress);
        let Some(result) = result else { return };
        let outcome = match &result {
            Ok(outcome) => outcome,
            Err(e) => &error_outcome(&policy.common, e.clone()),
        };
        let stop = denies(binding, outcome);
        if !progress.push((index, result)) || stop {
            return;
        }
    }
}

/// One pair, each param a bounded unit. `None`: the request gave up.
fn run_pair(
    job: &Job,
    index: usize,
    policy: &ValidatingAdmissionPolicy,
    params: &[Option<Value>],
    progress: &Progress<Evaluated>,
) -> Option<Result<Outcome, String>> {
    let inputs = match &job.inputs {
        Ok(inputs) => inputs,
        Err(e) => return Some(Err(e.clone())),
    };
    let mut total = Outcome::default();
    for param in params {
        if !progress.unit(index) {
            return None;
        }
        let activation = match Activation::new(Arc::clone(inputs), param.as_ref()) {
            Ok(a) => a,
            Err(e) => return Some(Err(e)),
        };
        let outcome = run_policy(policy, &activation);
        total.failures.extend(outcome.failures);
        total.annotations.extend(outcome.annotations);
    }
    Some(Ok(total))
}

/// Whether applying `outcome` denies the request: a failure under a binding
/// that denies. (The request and the worker both stop there.)
fn denies(binding: &ValidatingAdmissionPolicyBinding, outcome: &Outcome) -> bool {
    !outcome.failures.is_empty() && binding.validation_actions.contains(&ValidationAction::Deny)
}

/// An error as a pair's outcome: a failure, unless failurePolicy ignores it.
fn error_outcome(common: &PolicyCommon, message: String) -> Outcome {
    let mut o = Outcome::default();
    if !ignored(common) {
        o.failures.push(Failure {
            message,
            reason: Reason::Invalid,
            index: None,
        });
    }
    o
}

/// What the request decides before evaluating: rules and selectors, then
/// params.
fn plan(pair: &ValidatingPair, request: &AdmissionRequest) -> Plan {
    let common = &pair.policy.common;
    match common.matches(pair.binding.match_resources.as_ref(), request) {
        Ok(true) => {}
        Ok(false) => return Plan::Decided(Outcome::default()),
        Err(e) => return Plan::Decided(error_outcome(common, e.to_string())),
    }
    match plan_params(common, pair.binding.param_ref.as_ref(), &pair.params) {
        ParamPlan::Each(params) => Plan::Evaluate(params),
        ParamPlan::Skip => Plan::Decided(Outcome::default()),
        ParamPlan::Deny(message) => {
            // Not subject to failurePolicy: the binding asked for it.
            let mut o = Outcome::default();
            o.failures.push(Failure {
                message,
                reason: Reason::Invalid,
                index: None,
            });
            Plan::Decided(o)
        }
        ParamPlan::Error(e) => Plan::Decided(error_outcome(common, e)),
    }
}

/// On the worker: conditions, validations, audit annotations.
fn run_policy(policy: &ValidatingAdmissionPolicy, activation: &Activation) -> Outcome {
    let common = &policy.common;
    let mut cache = VariableCache::default();
    let mut outcome = Outcome::default();
    let error = |outcome: &mut Outcome, message: String, index: Option<usize>| {
        if !ignored(common) {
            outcome.failures.push(Failure {
                message,
                reason: Reason::Invalid,
                index,
            });
        }
    };
    match conditions_match(common, activation, &mut cache) {
        Ok(true) => {}
        Ok(false) => return outcome,
        Err(e) => {
            error(&mut outcome, e, None);
            return outcome;
        }
    }
    for (index, validation) in policy.validations.iter().enumerate() {
        let source = validation.expression.source.trim();
        match evaluate(
            &validation.expression,
            activation,
            &common.variables,
            &mut cache,
        ) {
            Ok(CelValue::Bool(true)) => {}
            Ok(CelValue::Bool(false)) => outcome.failures.push(Failure {
                message: failure_message(validation, activation, common, &mut cache),
                reason: validation.reason,
                index: Some(index),
            }),
            Ok(other) => error(
                &mut outcome,
                format!(
                    "expression '{source}' resulted in error: returned {}, not a bool",
                    other.type_of()
                ),
                Some(index),
            ),
            Err(e) => error(
                &mut outcome,
                format!("expression '{source}' resulted in error: {e}"),
                Some(index),
            ),
        }
    }
    for annotation in &policy.audit_annotations {
        let key = format!("{}/{}", common.name, annotation.key);
        match evaluate(
            &annotation.value_expression,
            activation,
            &common.variables,
            &mut cache,
        ) {
            Ok(CelValue::String(s)) => outcome.annotations.push((key, s.to_string())),
            Ok(CelValue::Null) => {}
            Ok(other) => error(
                &mut outcome,
                format!(
                    "valueExpression of audit annotation '{key}' returned {}, not a string",
                    other.type_of()
                ),
                None,
            ),
            Err(e) => error(
                &mut outcome,
                format!("valueExpression of audit annotation '{key}' resulted in error: {e}"),
                None,
            ),
        }
    }
    outcome
}

/// `messageExpression` if it gives a non-blank single-line string, else
/// `message`, else `failed expression: <expression>`, as Kubernetes.
fn failure_message(
    validation: &Validation,
    activation: &Activation,
    common: &super::types::PolicyCommon,
    cache: &mut VariableCache,
) -> String {
    if let Some(expr) = &validation.message_expression {
        if let Ok(CelValue::String(s)) = evaluate(expr, activation, &common.variables, cache) {
            if !s.trim().is_empty() && !s.contains('\n') {
                return s.to_string();
            }
        }
    }
    match &validation.message {
        Some(m) => m.clone(),
        None => format!("failed expression: {}", validation.expression.source.trim()),
    }
}

/// Applies the binding's validation actions to a pair's outcome.
fn apply(
    pair: &ValidatingPair,
    outcome: Outcome,
    decision: &mut Decision,
    audit_failures: &mut Vec<Value>,
) {
    let policy = &pair.policy.common.name;
    let binding = &pair.binding.name;
    decision.audit_annotations.extend(outcome.annotations);
    let actions = &pair.binding.validation_actions;
    for failure in outcome.failures {
        if actions.contains(&ValidationAction::Audit) {
            let names: Vec<&str> = actions
                .iter()
                .map(|a| match a {
                    ValidationAction::Deny => "Deny",
                    ValidationAction::Warn => "Warn",
                    ValidationAction::Audit => "Audit",
                })
                .collect();
            audit_failures.push(json!({
                "message": failure.message,
                "policy": policy,
                "binding": binding,
                "expressionIndex": failure.index,
                "validationActions": names,
            }));
        }
        if actions.contains(&ValidationAction::Warn) {
            decision.warnings.push(format!(
                "Validation failed for ValidatingAdmissionPolicy '{policy}' with binding '{binding}': {}",
                failure.message
            ));
        }
        if actions.contains(&ValidationAction::Deny) && decision.denial.is_none() {
            decision.denial = Some(Denial {
                message: format!(
                    "ValidatingAdmissionPolicy '{policy}' with binding '{binding}' denied request: {}",
                    failure.message
                ),
                reason: failure.reason,
            });
        }
    }
}
