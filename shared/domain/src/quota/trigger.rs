//! A policy's trigger: the kind whose writes it watches and the CEL
//! constraints an object must meet, and the variables they see.

use serde_json::Value;

use super::policy_expr::{compile, Activation, PolicyError, PolicyExpr};
use super::read::{check_api_group, check_length, required_string, too_many};
use crate::crd::fields::{Field, Reader};
use crate::Cause;

pub const MAX_CONSTRAINTS: usize = 10;
pub const MAX_CONSTRAINT_SOURCE: usize = 1024;
pub const MAX_CONSTRAINT_MESSAGE: usize = 256;

#[derive(Debug, Clone, PartialEq)]
struct Constraint {
    expr: PolicyExpr,
    message: String,
}

/// `spec.trigger`: the kind that triggers the policy and the constraints
/// an object of that kind must meet.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub api_group: String,
    pub version: String,
    pub kind: String,
    constraints: Vec<Constraint>,
}

impl Trigger {
    /// Whether `object` is of the trigger's kind. Versions are not
    /// compared: versions of a type here differ only by apiVersion, so a
    /// policy written for one applies to all (as admission's
    /// `matchPolicy: Equivalent`).
    pub fn matches_kind(&self, object: &Value) -> bool {
        let (group, _) = split_api_version(object["apiVersion"].as_str().unwrap_or_default());
        group == self.api_group && object["kind"].as_str() == Some(self.kind.as_str())
    }

    pub(crate) fn read(r: &mut Reader, field: &Field, roots: &[&str]) -> Option<Trigger> {
        if !field.is_present() {
            r.push(Cause::required(&field.path));
            return None;
        }
        if !r.object(field) {
            return None;
        }
        let resource = field.get("resource");
        if !resource.is_present() {
            r.push(Cause::required(&resource.path));
        }
        let api_version_field = resource.get("apiVersion");
        let api_version = required_string(r, &api_version_field);
        let kind_field = resource.get("kind");
        let kind = required_string(r, &kind_field);
        if let Some(kind) = &kind {
            let well_formed = kind.starts_with(|c: char| c.is_ascii_uppercase())
                && kind.chars().all(|c| c.is_ascii_alphanumeric());
            if !well_formed || kind.len() > 63 {
                r.push(Cause::invalid(
                    &kind_field.path,
                    format!("Invalid value: {kind:?}: must be a Kind: a capital letter, then letters and digits, at most 63"),
                ));
            }
        }
        let (api_group, version) = match &api_version {
            Some(v) => {
                let (group, version) = split_api_version(v);
                check_api_group(r, &api_version_field, group);
                let version_ok = version.starts_with('v')
                    && version[1..].starts_with(|c: char| c.is_ascii_digit())
                    && version
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
                if !version_ok {
                    r.push(Cause::invalid(
                        &api_version_field.path,
                        format!("Invalid value: {v:?}: must be group/version or version (v1, v1alpha1, ...)"),
                    ));
                }
                (group.to_string(), version.to_string())
            }
            None => (String::new(), String::new()),
        };
        let mut constraints = Vec::new();
        let constraints_field = field.get("constraints");
        let items = r.array(&constraints_field);
        if items.len() > MAX_CONSTRAINTS {
            r.push(too_many(
                &constraints_field.path,
                items.len(),
                MAX_CONSTRAINTS,
            ));
        }
        for item in items {
            if !r.object_item(&item) {
                continue;
            }
            let expression_field = item.get("expression");
            let Some(source) = required_string(r, &expression_field) else {
                continue;
            };
            check_length(r, &expression_field, &source, 1, MAX_CONSTRAINT_SOURCE);
            let message_field = item.get("message");
            let message = r.string(&message_field).unwrap_or_default().to_string();
            check_length(r, &message_field, &message, 0, MAX_CONSTRAINT_MESSAGE);
            if let Some(expr) = compile(&source, &expression_field.path, roots, &mut r.causes) {
                constraints.push(Constraint { expr, message });
            }
        }
        // Without an apiVersion there is no trigger (its cause is pushed).
        api_version?;
        Some(Trigger {
            api_group,
            version,
            kind: kind?,
            constraints,
        })
    }

    /// Whether every constraint holds for the activation's trigger.
    pub(crate) fn constraints_hold(
        &self,
        activation: &Activation,
        fail: &dyn Fn(String, String) -> PolicyError,
    ) -> Result<bool, PolicyError> {
        for (i, c) in self.constraints.iter().enumerate() {
            let field = format!("spec.trigger.constraints[{i}].expression");
            match c.expr.evaluate_bool(activation) {
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(e) => {
                    let message = if c.message.is_empty() {
                        e
                    } else {
                        format!("{e} ({})", c.message)
                    };
                    return Err(fail(field, message));
                }
            }
        }
        Ok(true)
    }
}

pub(crate) use crate::kinds::split_api_version;

/// What a policy is evaluated with. `user` and `request_info` are for claim
/// policies (Milo's `user`: name, uid, groups, extra; `requestInfo`: verb,
/// resource, name, namespace, ...); grant policies see only the trigger.
#[derive(Debug, Clone, Copy)]
pub struct PolicyInputs<'a> {
    pub trigger: &'a Value,
    pub user: &'a Value,
    pub request_info: &'a Value,
}

impl<'a> PolicyInputs<'a> {
    pub fn trigger_only(trigger: &'a Value) -> PolicyInputs<'a> {
        PolicyInputs {
            trigger,
            user: &Value::Null,
            request_info: &Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_split_into_group_and_version() {
        assert_eq!(
            split_api_version("resourcemanager.miloapis.com/v1alpha1"),
            ("resourcemanager.miloapis.com", "v1alpha1")
        );
        assert_eq!(split_api_version("v1"), ("", "v1"));
    }
}
