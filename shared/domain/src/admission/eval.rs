//! What validating and mutating evaluation share: the activation of a
//! request, params, and the match conditions.

use cel::Value as CelValue;
use serde_json::Value;

use super::expr::{evaluate, Activation, VariableCache};
use super::types::{FailurePolicy, ParamRef, ParameterNotFoundAction, PolicyCommon};

/// A binding's params, as the adapter found them.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Params {
    /// The policy has no `paramKind` (or the binding no `paramRef`).
    #[default]
    Unused,
    /// The param objects: one by name, or every match of a selector. The
    /// policy is evaluated once per param; an empty list is not found.
    Found(Vec<Value>),
    /// The named param does not exist.
    NotFound,
}

/// What to evaluate a policy with: each param in turn (`[None]` without
/// params), or why not.
pub(crate) enum ParamPlan {
    Each(Vec<Option<Value>>),
    /// Not found and the binding says Allow: skip the policy.
    Skip,
    /// Not found and the binding says Deny (the default).
    Deny(String),
    /// Misconfiguration, handled by failurePolicy.
    Error(String),
}

pub(crate) fn plan_params(
    common: &PolicyCommon,
    param_ref: Option<&ParamRef>,
    params: &Params,
) -> ParamPlan {
    let Some(kind) = &common.param_kind else {
        return ParamPlan::Each(vec![None]);
    };
    let Some(param_ref) = param_ref else {
        return ParamPlan::Error(format!(
            "policy has paramKind {} {} but the binding has no paramRef",
            kind.api_version, kind.kind
        ));
    };
    let not_found = || {
        match param_ref.parameter_not_found_action {
        ParameterNotFoundAction::Allow => ParamPlan::Skip,
        ParameterNotFoundAction::Deny => ParamPlan::Deny(
            "failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction"
                .to_string(),
        ),
    }
    };
    match params {
        Params::Found(list) if !list.is_empty() => {
            ParamPlan::Each(list.iter().cloned().map(Some).collect())
        }
        Params::Found(_) | Params::NotFound => not_found(),
        Params::Unused => ParamPlan::Error(format!(
            "params of kind {} were not provided to the evaluation",
            kind.kind
        )),
    }
}

/// `matchConditions`: all true to match. A false one wins over errors, as
/// in Kubernetes; otherwise the first error is returned.
pub(crate) fn conditions_match(
    common: &PolicyCommon,
    activation: &Activation,
    cache: &mut VariableCache,
) -> Result<bool, String> {
    let mut error = None;
    for condition in &common.match_conditions {
        match evaluate(&condition.expression, activation, &common.variables, cache) {
            Ok(CelValue::Bool(true)) => {}
            Ok(CelValue::Bool(false)) => return Ok(false),
            Ok(other) => {
                error.get_or_insert(format!(
                    "matchCondition '{}' returned {}, not a bool",
                    condition.name,
                    other.type_of()
                ));
            }
            Err(e) => {
                error.get_or_insert(format!(
                    "matchCondition '{}' resulted in error: {e}",
                    condition.name
                ));
            }
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(true),
    }
}

/// Whether an error should be ignored.
pub(crate) fn ignored(policy: &PolicyCommon) -> bool {
    policy.failure_policy == FailurePolicy::Ignore
}
