//! Evaluating validating policies: the decision on one request.
//!
//! Order: pairs sorted by policy name, then binding name; the first denial
//! ends the evaluation (as Kubernetes returns the first). Per pair: match
//! rules and selectors, params, then on a worker under the budget: match
//! conditions, validations (variables computed on first use), audit
//! annotations. Errors (an expression that fails, a budget exceeded, a
//! namespace unknown, a missing paramRef) are ignored under
//! `failurePolicy: Ignore`, and otherwise treated as a failed validation,
//! subject to the binding's validation actions like any other.

use std::collections::BTreeMap;
use std::sync::Arc;

use cel::Value as CelValue;
use serde_json::{json, Value};

use super::budget::Budget;
use super::eval::{conditions_match, ignored, plan_params, Inputs, ParamPlan, Params};
use super::expr::{evaluate, Activation, VariableCache};
use super::request::AdmissionRequest;
use super::types::{
    Reason, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding, Validation,
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

/// Evaluates every pair against the request.
pub fn validate(pairs: &[ValidatingPair], request: &AdmissionRequest, budget: &Budget) -> Decision {
    let mut sorted: Vec<&ValidatingPair> = pairs.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.policy.common.name, &a.binding.name).cmp(&(&b.policy.common.name, &b.binding.name))
    });
    let inputs = Inputs::new(request);
    let mut decision = Decision::default();
    let mut audit_failures = Vec::new();
    for pair in sorted {
        let outcome = evaluate_pair(pair, request, &inputs, budget);
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

fn evaluate_pair(
    pair: &ValidatingPair,
    request: &AdmissionRequest,
    inputs: &Inputs,
    budget: &Budget,
) -> Outcome {
    let common = &pair.policy.common;
    let error = |message: String| {
        let mut o = Outcome::default();
        if !ignored(common) {
            o.failures.push(Failure {
                message,
                reason: Reason::Invalid,
                index: None,
            });
        }
        o
    };
    match common.matches(pair.binding.match_resources.as_ref(), request) {
        Ok(true) => {}
        Ok(false) => return Outcome::default(),
        Err(e) => return error(e.to_string()),
    }
    let params = match plan_params(common, pair.binding.param_ref.as_ref(), &pair.params) {
        ParamPlan::Each(params) => params,
        ParamPlan::Skip => return Outcome::default(),
        ParamPlan::Deny(message) => {
            // Not subject to failurePolicy: the binding asked for it.
            let mut o = Outcome::default();
            o.failures.push(Failure {
                message,
                reason: Reason::Invalid,
                index: None,
            });
            return o;
        }
        ParamPlan::Error(e) => return error(e),
    };
    let mut total = Outcome::default();
    for param in params {
        let activation = match inputs.with_params(param.as_ref()) {
            Ok(a) => a,
            Err(e) => return error(e),
        };
        let policy = Arc::clone(&pair.policy);
        match budget.run(move || run_policy(&policy, &activation)) {
            Ok(outcome) => {
                total.failures.extend(outcome.failures);
                total.annotations.extend(outcome.annotations);
            }
            Err(e) => return error(e.to_string()),
        }
    }
    total
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
