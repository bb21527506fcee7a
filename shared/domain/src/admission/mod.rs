//! Admission policies (`admissionregistration.k8s.io/v1`): the Kubernetes
//! ValidatingAdmissionPolicy and MutatingAdmissionPolicy kinds and their
//! bindings, parsed and compiled (`parse`), matched against a request
//! (`matching`), and evaluated (`validating`, `mutating`) under a time
//! budget (`budget`). Pure: params, namespaces and stored objects are read
//! by the adapter and handed in.
//!
//! Where this differs from Kubernetes:
//! - no type checking of expressions against the kinds' schemas (the `cel`
//!   crate has no checker): expressions are parsed and their identifiers
//!   checked (object, oldObject, request, params, namespaceObject,
//!   `variables.<declared>`); `authorizer` is refused (no authorizer until
//!   IAM);
//! - no cost estimation: static limits (4 KB sources, 32 nested brackets, at
//!   most two nested loops, `lists.range` only with a literal ≤ 10 000) and a
//!   deadline per policy evaluation (`budget`);
//! - objects are converted to CEL without their schema: property names are
//!   not escaped and `metadata` is whole;
//! - `matchPolicy: Equivalent` ignores `apiVersions` (our versions of a type
//!   differ only by apiVersion).

mod audit;
mod budget;
mod eval;
mod expr;
mod matching;
mod mutating;
mod parse;
mod request;
mod review;
mod set;
#[cfg(test)]
mod tests;
mod types;
mod validating;

pub use audit::{audit_object, audit_request, audited_types, AuditedType, Violation};
pub use budget::{Budget, BudgetError, DEFAULT_DEADLINE, DEFAULT_MAX_STUCK};
pub use eval::Params;
pub use expr::{CompiledExpr, MAX_LOOP_DEPTH, MAX_RANGE};
// Shared with the quota policies, which compile their own roots.
pub(crate) use expr::{check_bounds, to_cel};
pub use matching::{rule_matches, MatchError};
pub use mutating::{mutate, Mutated, MutatingPair};
pub use parse::{
    parse_mutating_binding, parse_mutating_policy, parse_validating_binding,
    parse_validating_policy,
};
pub use request::{AdmissionRequest, UserInfo};
pub use review::{parse_review, review_response, Verdict, REVIEW_API_VERSION, REVIEW_KIND};
pub use set::{binding_status, MutatingBound, PolicySet, ValidatingBound, BINDING_READY};
pub use types::*;
pub use validating::{validate, Decision, Denial, ValidatingPair, VALIDATION_FAILURE_ANNOTATION};

pub const GROUP: &str = "admissionregistration.k8s.io";
pub const VERSION: &str = "v1";
