//! The parsed, compiled forms of the four admission kinds.

use crate::label_selector::LabelSelector;

use super::expr::CompiledExpr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// What an evaluation error does: deny the request, or skip the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    #[default]
    Fail,
    Ignore,
}

/// `Exact`: a rule matches only the group/version/resource it names.
/// `Equivalent` (Kubernetes' default): also the same resource requested at
/// another version of its group. This server's versions of a type differ by
/// `apiVersion` alone, so `Equivalent` simply ignores `apiVersions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchPolicy {
    Exact,
    #[default]
    Equivalent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScopeRule {
    Cluster,
    Namespaced,
    /// `*`, the default.
    #[default]
    Any,
}

/// One `resourceRules` (or `excludeResourceRules`) entry. `*` in a list
/// matches anything; `operations` `None` is `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRule {
    pub api_groups: Vec<String>,
    pub api_versions: Vec<String>,
    /// `projects`, `projects/status`, `*` (resources, not subresources),
    /// `*/*`, `*/status`, `projects/*`.
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    /// Empty for `*`.
    pub operations: Vec<Operation>,
    pub scope: ScopeRule,
}

/// `matchConstraints` of a policy, `matchResources` of a binding.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MatchResources {
    pub namespace_selector: LabelSelector,
    pub object_selector: LabelSelector,
    /// Empty in a binding: the binding does not narrow by resource.
    pub resource_rules: Vec<ResourceRule>,
    pub exclude_resource_rules: Vec<ResourceRule>,
    pub match_policy: MatchPolicy,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MatchCondition {
    pub name: String,
    pub expression: CompiledExpr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamKind {
    pub api_version: String,
    pub kind: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParameterNotFoundAction {
    Allow,
    /// The default: a binding whose params are missing denies.
    #[default]
    Deny,
}

/// Where a binding's params come from. The adapter reads them (I/O) and
/// hands them to the evaluation as [`super::Params`].
#[derive(Debug, Clone, PartialEq)]
pub struct ParamRef {
    pub name: Option<String>,
    pub selector: Option<LabelSelector>,
    /// `None`: the request's namespace for a namespaced param kind.
    pub namespace: Option<String>,
    pub parameter_not_found_action: ParameterNotFoundAction,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    pub expression: CompiledExpr,
    pub message: Option<String>,
    pub message_expression: Option<CompiledExpr>,
    /// A Status reason: `Unauthorized`, `Forbidden`, `Invalid` (default),
    /// `RequestEntityTooLarge`.
    pub reason: Reason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reason {
    Unauthorized,
    Forbidden,
    #[default]
    Invalid,
    RequestEntityTooLarge,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unauthorized => "Unauthorized",
            Reason::Forbidden => "Forbidden",
            Reason::Invalid => "Invalid",
            Reason::RequestEntityTooLarge => "RequestEntityTooLarge",
        }
    }

    pub fn code(self) -> u16 {
        match self {
            Reason::Unauthorized => 401,
            Reason::Forbidden => 403,
            Reason::Invalid => 422,
            Reason::RequestEntityTooLarge => 413,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditAnnotation {
    pub key: String,
    pub value_expression: CompiledExpr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationAction {
    Deny,
    /// A `Warning: 299` header.
    Warn,
    /// An audit annotation.
    Audit,
}

/// What every policy kind has in common.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyCommon {
    pub name: String,
    pub param_kind: Option<ParamKind>,
    pub match_constraints: MatchResources,
    pub match_conditions: Vec<MatchCondition>,
    /// In order; each may use the ones before it.
    pub variables: Vec<(String, CompiledExpr)>,
    pub failure_policy: FailurePolicy,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValidatingAdmissionPolicy {
    pub common: PolicyCommon,
    pub validations: Vec<Validation>,
    pub audit_annotations: Vec<AuditAnnotation>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValidatingAdmissionPolicyBinding {
    pub name: String,
    pub policy_name: String,
    pub param_ref: Option<ParamRef>,
    pub match_resources: Option<MatchResources>,
    pub validation_actions: Vec<ValidationAction>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// The expression returns `Object{...}`, merged into the object.
    ApplyConfiguration,
    /// The expression returns a list of `JSONPatch{op, path, value}`.
    JsonPatch,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    pub patch_type: PatchType,
    pub expression: CompiledExpr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReinvocationPolicy {
    #[default]
    Never,
    IfNeeded,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MutatingAdmissionPolicy {
    pub common: PolicyCommon,
    pub mutations: Vec<Mutation>,
    pub reinvocation_policy: ReinvocationPolicy,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MutatingAdmissionPolicyBinding {
    pub name: String,
    pub policy_name: String,
    pub param_ref: Option<ParamRef>,
    pub match_resources: Option<MatchResources>,
}
