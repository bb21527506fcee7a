//! The CEL expressions of the quota policies (trigger constraints, `{{ }}`
//! template parts, a grant's parent-context name): compiled when the policy
//! is written, with the same environment and static limits as admission
//! policies, over the variables Milo gives them.

use std::sync::Arc;

use cel::common::ast::IdedExpr;
use cel::common::value::Val;
use cel::{Context, Value as CelValue};
use serde_json::Value;

use crate::admission::{check_bounds, to_cel};
use crate::cel_common::{env, FieldExpr, Scan};
use crate::{ApiError, Cause};

/// A ClaimCreationPolicy's expressions see the trigger object, the
/// requesting user and the request (Milo's `trigger`, `user`,
/// `requestInfo`).
pub(crate) const CLAIM_POLICY_ROOTS: &[&str] = &["trigger", "user", "requestInfo"];
/// A GrantCreationPolicy's see only the trigger (Milo evaluates them when
/// watching, outside any request).
pub(crate) const GRANT_POLICY_ROOTS: &[&str] = &["trigger"];
/// `parentContext.nameExpression` sees the trigger both as `object` (the
/// name Milo's CRD documents) and as `trigger` (what Milo evaluates it with,
/// and its own policies write).
pub(crate) const PARENT_CONTEXT_ROOTS: &[&str] = &["object", "trigger"];

/// One compiled expression.
#[derive(Debug, Clone)]
pub(crate) struct PolicyExpr {
    pub source: String,
    ast: Arc<IdedExpr>,
}

impl PartialEq for PolicyExpr {
    /// The compiled form is a function of the source.
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// Compiles `source`, which may use `roots`; on failure a cause at `path`.
pub(crate) fn compile(
    source: &str,
    path: &str,
    roots: &[&str],
    causes: &mut Vec<Cause>,
) -> Option<PolicyExpr> {
    let mut expr = FieldExpr::new(source, path, causes);
    let ast = expr.parse_required()?.expression().clone();
    let scan = expr.check(Scan::run(&ast, roots).map_err(|name| {
        format!(
            "undeclared reference to '{name}' (available: {})",
            roots.join(", ")
        )
    }))?;
    expr.check(check_bounds(&ast, &scan))?;
    Some(PolicyExpr {
        source: source.to_string(),
        ast: Arc::new(ast),
    })
}

/// The variables of one evaluation, converted to CEL and bound once, so
/// that every constraint and template part of a policy (and every policy of
/// a request) evaluates against the same context without copying them.
pub(crate) struct Activation {
    context: Context<'static, 'static>,
}

impl std::fmt::Debug for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Activation")
    }
}

impl Activation {
    pub fn new(pairs: &[(&'static str, &Value)]) -> Result<Activation, String> {
        let mut context = Context::with_env(Arc::clone(env()));
        for (name, value) in pairs {
            let bound = Box::<dyn Val>::try_from(to_cel(value)?).map_err(|e| e.to_string())?;
            context.add_variable_as_val(*name, bound);
        }
        Ok(Activation { context })
    }
}

impl PolicyExpr {
    pub fn evaluate(&self, activation: &Activation) -> Result<CelValue, String> {
        activation
            .context
            .resolve(&self.ast)
            .map_err(|e| e.to_string())
    }

    /// Evaluates to a boolean, or says what it got instead.
    pub fn evaluate_bool(&self, activation: &Activation) -> Result<bool, String> {
        match self.evaluate(activation)? {
            CelValue::Bool(b) => Ok(b),
            other => Err(format!(
                "must evaluate to a boolean, not {}",
                type_name(&other)
            )),
        }
    }

    /// Evaluates to text: strings as they are, numbers and booleans
    /// printed; anything else is an error (a map spliced into a name is
    /// never what was meant).
    pub fn evaluate_text(&self, activation: &Activation) -> Result<String, String> {
        match self.evaluate(activation)? {
            CelValue::String(s) => Ok(s.to_string()),
            CelValue::Int(i) => Ok(i.to_string()),
            CelValue::UInt(u) => Ok(u.to_string()),
            CelValue::Float(f) => Ok(f.to_string()),
            CelValue::Bool(b) => Ok(b.to_string()),
            other => Err(format!(
                "must evaluate to a string, number or boolean, not {}",
                type_name(&other)
            )),
        }
    }
}

fn type_name(value: &CelValue) -> &'static str {
    match value {
        CelValue::List(_) => "a list",
        CelValue::Map(_) => "a map",
        CelValue::Null => "null",
        CelValue::Bytes(_) => "bytes",
        _ => "a value of another type",
    }
}

/// Why a policy could not be applied to a trigger object.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// An expression failed on this trigger (a missing field without
    /// `has()`, a wrong type).
    #[error("{policy_kind} {policy:?}: {field}: {message}")]
    Evaluation {
        policy_kind: &'static str,
        policy: String,
        field: String,
        message: String,
    },
    /// The template rendered a claim or grant that is not valid.
    #[error("{policy_kind} {policy:?} rendered an invalid {kind}: {}", causes_text(.causes))]
    InvalidDocument {
        policy_kind: &'static str,
        policy: String,
        kind: &'static str,
        causes: Vec<Cause>,
    },
}

fn causes_text(causes: &[Cause]) -> String {
    let parts: Vec<String> = causes
        .iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect();
    parts.join(", ")
}

impl PolicyError {
    /// The error of the write that triggered the policy: 400, since the
    /// trigger object cannot be admitted through this policy; the message
    /// names the policy and the field.
    pub fn to_api_error(&self) -> ApiError {
        ApiError::bad_request(self.to_string())
    }
}
