//! The policy audit (issue 4, beyond Kubernetes): which stored objects a
//! validating policy would refuse if they were created now, so a policy can
//! be checked against what exists before it is turned on. Pure: the adapter
//! pages through the stored objects of [`audited_types`] and asks
//! [`audit_object`] about each.
//!
//! An object is audited as a CREATE of itself. Every failed validation is a
//! finding, whatever the binding's validationActions say (Warn and Audit
//! bindings are exactly the ones being tried out), and so is an evaluation
//! error the policy's failurePolicy would not ignore.

use std::sync::Arc;

use serde_json::Value;

use super::eval::Params;
use super::request::{AdmissionRequest, UserInfo};
use super::types::{
    Operation, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding, ValidationAction,
};
use super::validating::{validate, ValidatingPair};
use super::{rule_matches, Budget};

/// A type whose objects are stored: what a request for one would name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditedType {
    pub group: String,
    pub version: String,
    /// The plural resource name.
    pub resource: String,
    pub kind: String,
    pub namespaced: bool,
}

/// One object the policy would refuse, with every reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `(binding, message)`; the binding is empty when none was given.
    pub messages: Vec<(String, String)>,
}

/// The types among `types` that the policy's rules select for CREATE
/// (selectors and conditions are per object and decided later).
pub fn audited_types(
    policy: &ValidatingAdmissionPolicy,
    types: &[AuditedType],
) -> Vec<AuditedType> {
    let constraints = &policy.common.match_constraints;
    types
        .iter()
        .filter(|t| {
            let probe = probe_request(t);
            let included = constraints
                .resource_rules
                .iter()
                .any(|r| rule_matches(r, constraints.match_policy, &probe));
            let excluded = constraints
                .exclude_resource_rules
                .iter()
                .any(|r| rule_matches(r, constraints.match_policy, &probe));
            included && !excluded
        })
        .cloned()
        .collect()
}

/// A CREATE of a type with no object yet: enough for the resource rules.
fn probe_request(t: &AuditedType) -> AdmissionRequest {
    AdmissionRequest {
        uid: String::new(),
        operation: Operation::Create,
        group: t.group.clone(),
        version: t.version.clone(),
        resource: t.resource.clone(),
        subresource: String::new(),
        kind: t.kind.clone(),
        namespace: t.namespaced.then(String::new),
        name: String::new(),
        object: None,
        old_object: None,
        namespace_object: None,
        context_labels: None,
        user_info: UserInfo::default(),
        dry_run: true,
    }
}

/// The request an audit evaluates for a stored object: its CREATE, as the
/// auditing user, dry run.
pub fn audit_request(
    t: &AuditedType,
    object: Value,
    namespace_object: Option<Value>,
    user: &UserInfo,
) -> AdmissionRequest {
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    AdmissionRequest {
        uid: uuid_like(&name),
        name,
        namespace: if t.namespaced { namespace } else { None },
        object: Some(object),
        namespace_object,
        user_info: user.clone(),
        ..probe_request(t)
    }
}

/// Audit requests carry no real uid; a stable placeholder keeps CEL's
/// `request.uid` a string.
fn uuid_like(name: &str) -> String {
    format!("audit-{name}")
}

/// What the policy says about one stored object, evaluated with each
/// binding (with its params) as if its only action were Deny; a policy
/// given without bindings is evaluated as bound to everything without params.
pub fn audit_object(
    policy: &Arc<ValidatingAdmissionPolicy>,
    bindings: &[(Arc<ValidatingAdmissionPolicyBinding>, Params)],
    request: &AdmissionRequest,
    budget: &Budget,
) -> Option<Violation> {
    let unbound;
    let bindings = if bindings.is_empty() {
        unbound = [(
            Arc::new(ValidatingAdmissionPolicyBinding {
                name: String::new(),
                policy_name: policy.common.name.clone(),
                param_ref: None,
                match_resources: None,
                validation_actions: vec![ValidationAction::Deny],
            }),
            Params::Unused,
        )];
        &unbound[..]
    } else {
        bindings
    };
    let mut messages = Vec::new();
    for (binding, params) in bindings {
        let mut as_deny = (**binding).clone();
        as_deny.validation_actions = vec![ValidationAction::Deny];
        let pair = ValidatingPair {
            policy: Arc::clone(policy),
            binding: Arc::new(as_deny),
            params: params.clone(),
        };
        if let Some(denial) = validate(&[pair], request, budget).denial {
            messages.push((binding.name.clone(), denial.message));
        }
    }
    if messages.is_empty() {
        return None;
    }
    Some(Violation {
        kind: request.kind.clone(),
        namespace: request.namespace.clone().unwrap_or_default(),
        name: request.name.clone(),
        messages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::{parse_validating_binding, parse_validating_policy};
    use serde_json::json;

    fn types() -> Vec<AuditedType> {
        let t = |group: &str, resource: &str, kind: &str, namespaced: bool| AuditedType {
            group: group.into(),
            version: "v1alpha1".into(),
            resource: resource.into(),
            kind: kind.into(),
            namespaced,
        };
        vec![
            t("resourcemanager.miloapis.com", "projects", "Project", false),
            t("resourcemanager.miloapis.com", "folders", "Folder", false),
            t("notes.example.com", "notes", "Note", true),
        ]
    }

    fn policy(rules: Value, expression: &str) -> Arc<ValidatingAdmissionPolicy> {
        Arc::new(
            parse_validating_policy(&json!({
                "metadata": {"name": "names"},
                "spec": {
                    "matchConstraints": {"resourceRules": rules},
                    "validations": [{"expression": expression, "message": "bad name"}]
                }
            }))
            .unwrap(),
        )
    }

    #[test]
    fn the_audited_types_are_those_the_rules_select_for_create() {
        let only_projects = policy(
            json!([{"apiGroups": ["resourcemanager.miloapis.com"], "apiVersions": ["*"], "operations": ["CREATE"], "resources": ["projects"]}]),
            "true",
        );
        let kinds: Vec<String> = audited_types(&only_projects, &types())
            .into_iter()
            .map(|t| t.kind)
            .collect();
        assert_eq!(kinds, ["Project"]);
        let deletes_only = policy(
            json!([{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["DELETE"], "resources": ["*"]}]),
            "true",
        );
        assert!(audited_types(&deletes_only, &types()).is_empty());
        let namespaced = policy(
            json!([{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*"], "scope": "Namespaced"}]),
            "true",
        );
        let kinds: Vec<String> = audited_types(&namespaced, &types())
            .into_iter()
            .map(|t| t.kind)
            .collect();
        assert_eq!(kinds, ["Note"]);
    }

    #[test]
    fn a_violation_is_reported_whatever_the_bindings_actions() {
        let p = policy(
            json!([{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE"], "resources": ["*"]}]),
            "object.metadata.name.startsWith('ok-')",
        );
        let t = &types()[0];
        let audit = |name: &str, bindings: &[(Arc<ValidatingAdmissionPolicyBinding>, Params)]| {
            let object = json!({"kind": "Project", "metadata": {"name": name}});
            let request = audit_request(t, object, None, &UserInfo::default());
            audit_object(&p, bindings, &request, &Budget::default())
        };
        assert_eq!(audit("ok-shop", &[]), None);
        let found = audit("shop", &[]).unwrap();
        assert_eq!(
            (found.kind.as_str(), found.name.as_str()),
            ("Project", "shop")
        );
        assert!(found.messages[0].1.ends_with("bad name"), "{found:?}");
        // A Warn-only binding is what an audit tries out: still reported.
        let warn = Arc::new(
            parse_validating_binding(&json!({
                "metadata": {"name": "trial"},
                "spec": {"policyName": "names", "validationActions": ["Warn"]}
            }))
            .unwrap(),
        );
        let found = audit("shop", &[(warn, Params::Unused)]).unwrap();
        assert_eq!(found.messages[0].0, "trial");
    }
}
