//! Parsing and checking the four admission kinds, as the Kubernetes API
//! server does on create and update: every problem a cause with its path
//! (`spec.validations[0].expression`), all reported together; every CEL
//! expression compiled here, so a policy that does not compile is refused
//! when written.

use std::collections::HashSet;

use serde_json::Value;

use crate::crd::fields::{duplicate, forbidden, invalid, required, unsupported};
use crate::crd::fields::{supported_values, Field, Reader};
use crate::label_selector::{LabelSelector, Operator, Requirement};
use crate::metadata_rules::{dns1123_subdomain_errors, label_value_errors, qualified_name_errors};
use crate::Cause;

use super::expr::{compile, CompiledExpr, Site};
use super::types::*;
use super::{GROUP, VERSION};

mod matching;
use matching::*;

/// The most entries Kubernetes allows in `matchConditions`.
const MAX_MATCH_CONDITIONS: usize = 64;

pub fn parse_validating_policy(doc: &Value) -> Result<ValidatingAdmissionPolicy, Vec<Cause>> {
    let mut r = Reader::default();
    let (name, spec) = read_envelope(&mut r, doc, "ValidatingAdmissionPolicy");
    let common = read_common(&mut r, &spec, name);
    let declared: Vec<String> = common.variables.iter().map(|(n, _)| n.clone()).collect();

    let validations_field = spec.get("validations");
    let mut validations = Vec::new();
    for item in r.array(&validations_field) {
        if let Some(v) = read_validation(&mut r, &item, &declared) {
            validations.push(v);
        }
    }
    let audit_field = spec.get("auditAnnotations");
    let mut audit_annotations = Vec::new();
    let mut keys = HashSet::new();
    for item in r.array(&audit_field) {
        let key_field = item.get("key");
        let key = r.string(&key_field).unwrap_or_default().to_string();
        if key.is_empty() {
            r.push(Cause::required(&key_field.path));
        } else {
            // The annotation is `{policy}/{key}`: that must be a valid
            // annotation key.
            let errors = qualified_name_errors(&format!("{}/{key}", common.name));
            if !errors.is_empty() {
                r.push(invalid(&key_field.path, &key, &errors.join("; ")));
            } else if !keys.insert(key.clone()) {
                r.push(duplicate(&key_field.path, &key));
            }
        }
        let expr = read_expression(&mut r, &item.get("valueExpression"), &declared, Site::Plain);
        if let Some(value_expression) = expr {
            audit_annotations.push(AuditAnnotation {
                key,
                value_expression,
            });
        }
    }
    if validations_field.value.is_none() && audit_field.value.is_none() {
        r.push(required(
            &validations_field.path,
            "validations or auditAnnotations must contain at least one item",
        ));
    }
    finish(
        r,
        ValidatingAdmissionPolicy {
            common,
            validations,
            audit_annotations,
        },
    )
}

pub fn parse_validating_binding(
    doc: &Value,
) -> Result<ValidatingAdmissionPolicyBinding, Vec<Cause>> {
    let mut r = Reader::default();
    let (name, spec) = read_envelope(&mut r, doc, "ValidatingAdmissionPolicyBinding");
    let (policy_name, param_ref, match_resources) = read_binding_common(&mut r, &spec);

    let actions_field = spec.get("validationActions");
    let mut validation_actions = Vec::new();
    for item in r.array(&actions_field) {
        let action = read_enum(
            &mut r,
            &item,
            &[
                ("Deny", ValidationAction::Deny),
                ("Warn", ValidationAction::Warn),
                ("Audit", ValidationAction::Audit),
            ],
        );
        if let Some(action) = action {
            if validation_actions.contains(&action) {
                r.push(duplicate(&item.path, r_str(&item)));
            }
            validation_actions.push(action);
        }
    }
    if validation_actions.is_empty() {
        r.push(Cause::required(&actions_field.path));
    }
    if validation_actions.contains(&ValidationAction::Deny)
        && validation_actions.contains(&ValidationAction::Warn)
    {
        r.push(invalid(
            &actions_field.path,
            "Deny, Warn",
            "must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)",
        ));
    }
    finish(
        r,
        ValidatingAdmissionPolicyBinding {
            name,
            policy_name,
            param_ref,
            match_resources,
            validation_actions,
        },
    )
}

pub fn parse_mutating_policy(doc: &Value) -> Result<MutatingAdmissionPolicy, Vec<Cause>> {
    let mut r = Reader::default();
    let (name, spec) = read_envelope(&mut r, doc, "MutatingAdmissionPolicy");
    let common = read_common(&mut r, &spec, name);
    let declared: Vec<String> = common.variables.iter().map(|(n, _)| n.clone()).collect();

    let mutations_field = spec.get("mutations");
    let mut mutations = Vec::new();
    for item in r.array(&mutations_field) {
        let patch_type = read_enum(
            &mut r,
            &item.get("patchType"),
            &[
                ("ApplyConfiguration", PatchType::ApplyConfiguration),
                ("JSONPatch", PatchType::JsonPatch),
            ],
        );
        let (this, other) = match patch_type {
            Some(PatchType::ApplyConfiguration) => ("applyConfiguration", "jsonPatch"),
            Some(PatchType::JsonPatch) => ("jsonPatch", "applyConfiguration"),
            None => {
                if item.get("patchType").value.is_none() {
                    r.push(Cause::required(item.get("patchType").path));
                }
                continue;
            }
        };
        let other_field = item.get(other);
        if other_field.is_present() {
            r.push(forbidden(
                &other_field.path,
                &format!(
                    "must not be set when patchType is {}",
                    r_str(&item.get("patchType"))
                ),
            ));
        }
        let body = item.get(this);
        if !body.is_present() {
            r.push(Cause::required(&body.path));
            continue;
        }
        r.object(&body);
        let expr = read_expression(&mut r, &body.get("expression"), &declared, Site::Mutation);
        if let (Some(patch_type), Some(expression)) = (patch_type, expr) {
            mutations.push(Mutation {
                patch_type,
                expression,
            });
        }
    }
    if mutations_field
        .value
        .is_none_or(|v| v.as_array().is_some_and(Vec::is_empty))
    {
        r.push(Cause::required(&mutations_field.path));
    }
    let reinvocation_policy = read_enum(
        &mut r,
        &spec.get("reinvocationPolicy"),
        &[
            ("Never", ReinvocationPolicy::Never),
            ("IfNeeded", ReinvocationPolicy::IfNeeded),
        ],
    )
    .unwrap_or_default();
    finish(
        r,
        MutatingAdmissionPolicy {
            common,
            mutations,
            reinvocation_policy,
        },
    )
}

pub fn parse_mutating_binding(doc: &Value) -> Result<MutatingAdmissionPolicyBinding, Vec<Cause>> {
    let mut r = Reader::default();
    let (name, spec) = read_envelope(&mut r, doc, "MutatingAdmissionPolicyBinding");
    let (policy_name, param_ref, match_resources) = read_binding_common(&mut r, &spec);
    finish(
        r,
        MutatingAdmissionPolicyBinding {
            name,
            policy_name,
            param_ref,
            match_resources,
        },
    )
}

fn finish<T>(r: Reader, value: T) -> Result<T, Vec<Cause>> {
    if r.causes.is_empty() {
        Ok(value)
    } else {
        Err(r.causes)
    }
}

/// `apiVersion`/`kind` (when given), `metadata.name`, and `spec`.
fn read_envelope<'a>(r: &mut Reader, doc: &'a Value, kind: &str) -> (String, Field<'a>) {
    let root = Field::root(doc);
    if !doc.is_object() {
        r.push(Cause::invalid("", format!("must be a {kind} object")));
    }
    r.type_meta(&root, &format!("{GROUP}/{VERSION}"), kind);
    let name_field = root.get("metadata").get("name");
    let name = r.string(&name_field).unwrap_or_default().to_string();
    if name.is_empty() {
        r.push(required(
            &name_field.path,
            "name or generateName is required",
        ));
    } else {
        let errors = dns1123_subdomain_errors(&name);
        if !errors.is_empty() {
            r.push(invalid(&name_field.path, &name, &errors.join("; ")));
        }
    }
    let spec = root.get("spec");
    if !r.object(&spec) && spec.value.is_none() {
        r.push(Cause::required(&spec.path));
    }
    (name, spec)
}

fn read_common(r: &mut Reader, spec: &Field, name: String) -> PolicyCommon {
    let param_kind_field = spec.get("paramKind");
    let param_kind = if r.object(&param_kind_field) {
        let api_version = read_required_string(r, &param_kind_field.get("apiVersion"));
        let kind = read_required_string(r, &param_kind_field.get("kind"));
        Some(ParamKind { api_version, kind })
    } else {
        None
    };
    let constraints = spec.get("matchConstraints");
    let match_constraints = if constraints.is_present() {
        read_match_resources(r, &constraints, true)
    } else {
        r.push(Cause::required(&constraints.path));
        MatchResources::default()
    };

    // Variables first: the other expressions may use them.
    let mut variables: Vec<(String, CompiledExpr)> = Vec::new();
    for item in r.array(&spec.get("variables")) {
        let name_field = item.get("name");
        let var_name = r.string(&name_field).unwrap_or_default().to_string();
        if var_name.is_empty() {
            r.push(Cause::required(&name_field.path));
            continue;
        }
        if !is_cel_identifier(&var_name) {
            r.push(invalid(
                &name_field.path,
                &var_name,
                "name is not a valid CEL identifier",
            ));
            continue;
        }
        if variables.iter().any(|(n, _)| *n == var_name) {
            r.push(duplicate(&name_field.path, &var_name));
            continue;
        }
        let declared: Vec<String> = variables.iter().map(|(n, _)| n.clone()).collect();
        if let Some(expr) = read_expression(r, &item.get("expression"), &declared, Site::Plain) {
            variables.push((var_name, expr));
        }
    }
    let declared: Vec<String> = variables.iter().map(|(n, _)| n.clone()).collect();

    let conditions_field = spec.get("matchConditions");
    let conditions = r.array(&conditions_field);
    if conditions.len() > MAX_MATCH_CONDITIONS {
        r.push(crate::crd::fields::too_many(
            &conditions_field.path,
            conditions.len(),
            MAX_MATCH_CONDITIONS,
        ));
    }
    let mut match_conditions = Vec::new();
    let mut names = HashSet::new();
    for item in conditions {
        let name_field = item.get("name");
        let cond_name = r.string(&name_field).unwrap_or_default().to_string();
        if cond_name.is_empty() {
            r.push(Cause::required(&name_field.path));
        } else {
            let errors = qualified_name_errors(&cond_name);
            if !errors.is_empty() {
                r.push(invalid(&name_field.path, &cond_name, &errors.join("; ")));
            } else if !names.insert(cond_name.clone()) {
                r.push(duplicate(&name_field.path, &cond_name));
            }
        }
        // Match conditions run before variables are worth computing, but
        // Kubernetes lets them use variables too.
        if let Some(expression) =
            read_expression(r, &item.get("expression"), &declared, Site::Plain)
        {
            match_conditions.push(MatchCondition {
                name: cond_name,
                expression,
            });
        }
    }
    let failure_policy = read_enum(
        r,
        &spec.get("failurePolicy"),
        &[
            ("Fail", FailurePolicy::Fail),
            ("Ignore", FailurePolicy::Ignore),
        ],
    )
    .unwrap_or_default();
    PolicyCommon {
        name,
        param_kind,
        match_constraints,
        match_conditions,
        variables,
        failure_policy,
    }
}

fn read_binding_common(
    r: &mut Reader,
    spec: &Field,
) -> (String, Option<ParamRef>, Option<MatchResources>) {
    let policy_name = read_required_string(r, &spec.get("policyName"));
    let param_field = spec.get("paramRef");
    let param_ref = if r.object(&param_field) {
        let name_field = param_field.get("name");
        let name = r.string(&name_field).map(str::to_string);
        let selector_field = param_field.get("selector");
        let selector = if r.object(&selector_field) {
            Some(read_selector(r, &selector_field))
        } else {
            None
        };
        match (&name, &selector) {
            (Some(_), Some(_)) => r.push(forbidden(
                &selector_field.path,
                "name and selector are mutually exclusive",
            )),
            (None, None) => r.push(required(
                &name_field.path,
                "one of name or selector must be specified",
            )),
            _ => {}
        }
        let namespace = r.string(&param_field.get("namespace")).map(str::to_string);
        let parameter_not_found_action = read_enum(
            r,
            &param_field.get("parameterNotFoundAction"),
            &[
                ("Allow", ParameterNotFoundAction::Allow),
                ("Deny", ParameterNotFoundAction::Deny),
            ],
        )
        .unwrap_or_default();
        Some(ParamRef {
            name,
            selector,
            namespace,
            parameter_not_found_action,
        })
    } else {
        None
    };
    let match_field = spec.get("matchResources");
    let match_resources = if match_field.is_present() {
        Some(read_match_resources(r, &match_field, false))
    } else {
        None
    };
    (policy_name, param_ref, match_resources)
}

fn read_validation(r: &mut Reader, item: &Field, declared: &[String]) -> Option<Validation> {
    if !r.object(item) {
        return None;
    }
    let expression = read_expression(r, &item.get("expression"), declared, Site::Plain);
    let message_field = item.get("message");
    let message = r.string(&message_field).map(str::to_string);
    if let Some(m) = &message {
        if m.trim().is_empty() {
            r.push(required(
                &message_field.path,
                "message must be non-empty if specified",
            ));
        } else if m.contains('\n') {
            r.push(invalid(
                &message_field.path,
                m,
                "message must not contain line breaks",
            ));
        }
    }
    let message_expression = if item.get("messageExpression").is_present() {
        read_expression(r, &item.get("messageExpression"), declared, Site::Plain)
    } else {
        None
    };
    let reason = read_enum(
        r,
        &item.get("reason"),
        &[
            ("Unauthorized", Reason::Unauthorized),
            ("Forbidden", Reason::Forbidden),
            ("Invalid", Reason::Invalid),
            ("RequestEntityTooLarge", Reason::RequestEntityTooLarge),
        ],
    )
    .unwrap_or_default();
    Some(Validation {
        expression: expression?,
        message,
        message_expression,
        reason,
    })
}

fn read_expression(
    r: &mut Reader,
    field: &Field,
    declared: &[String],
    site: Site,
) -> Option<CompiledExpr> {
    let source = r.string(field);
    match source {
        None if field.value.is_none() => {
            r.push(Cause::required(&field.path));
            None
        }
        None => None,
        Some(source) => compile(source, &field.path, declared, site, &mut r.causes),
    }
}

fn read_required_string(r: &mut Reader, field: &Field) -> String {
    let value = r.string(field).unwrap_or_default().to_string();
    if value.is_empty() && field.value.is_none_or(Value::is_string) {
        r.push(Cause::required(&field.path));
    }
    value
}

fn read_string_list(r: &mut Reader, field: &Field, required_field: bool) -> Vec<String> {
    let items = r.array(field);
    if required_field && items.is_empty() && field.value.is_none_or(Value::is_array) {
        r.push(Cause::required(&field.path));
    }
    items
        .iter()
        .filter_map(|item| r.string(item).map(str::to_string))
        .collect()
}

/// One of `values`; an absent field is `None` and no problem.
fn read_enum<T: Copy>(r: &mut Reader, field: &Field, values: &[(&str, T)]) -> Option<T> {
    let given = r.string(field)?;
    match values.iter().find(|(name, _)| *name == given) {
        Some((_, v)) => Some(*v),
        None => {
            let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
            r.push(unsupported(&field.path, given, &supported_values(&names)));
            None
        }
    }
}

fn r_str<'a>(field: &Field<'a>) -> &'a str {
    field.value.and_then(Value::as_str).unwrap_or_default()
}

/// `[A-Za-z_][A-Za-z0-9_]*`, and not a reserved word.
fn is_cel_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !crate::cel_common::RESERVED_WORDS.contains(&name)
}
