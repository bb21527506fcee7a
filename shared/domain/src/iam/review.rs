//! What the policy answers besides a decision: a subject's rules at a
//! target (SelfSubjectRulesReview), the permissions a binding's writer
//! does not hold (escalation), and a binding's Ready condition.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::decide::covers;
use super::permission::{rbac_group, Rule};
use super::wording::{kind_phrase, node_phrase, reference_phrase};
use super::{BindingDef, Permission, Policy, Resolved, Subject, Target};

pub(super) fn rules(policy: &Policy, subject: &Subject, target: &Target) -> Vec<Value> {
    if subject.is_admin() {
        return vec![json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]})];
    }
    let mut out: Vec<Value> = Vec::new();
    for (_, role) in reaching(policy, subject, target) {
        // Milo's permissions grouped as RBAC writes them: one rule per
        // group and resource, listing its verbs.
        let mut verbs: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
        for permission in &role.permissions {
            let key = (rbac_group(&permission.group), permission.resource.as_str());
            verbs.entry(key).or_default().push(&permission.verb);
        }
        let milo = verbs.into_iter().map(|((group, resource), verbs)| {
            json!({"apiGroups": [group], "resources": [resource], "verbs": verbs})
        });
        for rule in milo.chain(role.rules.iter().map(Rule::to_value)) {
            if !out.contains(&rule) {
                out.push(rule);
            }
        }
    }
    out
}

/// The subject's bindings that reach `target`, with their resolved roles.
fn reaching<'a>(
    policy: &'a Policy,
    subject: &Subject,
    target: &'a Target,
) -> impl Iterator<Item = (&'a BindingDef, &'a Resolved)> + 'a {
    policy
        .bindings_of(subject)
        .into_iter()
        .filter_map(|index| policy.binding_with_role(index))
        .filter(move |(binding, _)| covers(binding.reach(), target))
}

pub(super) fn escalation(
    policy: &Policy,
    writer: &Subject,
    role: &Resolved,
    at: &Target,
) -> Vec<String> {
    if writer.is_admin() {
        return Vec::new();
    }
    let refused = |permission: &Permission, name: Option<&str>| {
        let at = Target {
            name: name.map(str::to_string).or_else(|| at.name.clone()),
            ..at.clone()
        };
        !policy.decide(writer, permission, &at).allowed
    };
    let mut out: Vec<String> = role
        .permissions
        .iter()
        .filter(|permission| refused(permission, None))
        .map(Permission::name)
        .collect();
    for rule in &role.rules {
        if rule.is_finite() {
            out.extend(finite_rule_refusals(rule, &refused));
        } else if !writer_holds(policy, writer, at, rule) {
            out.extend(rule.spelt());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A wildcard-free rule's permissions the writer is refused, each name of
/// its resourceNames asked for separately.
fn finite_rule_refusals(
    rule: &Rule,
    refused: &dyn Fn(&Permission, Option<&str>) -> bool,
) -> Vec<String> {
    let mut out = Vec::new();
    for permission in rule.permissions() {
        let denied = match rule.resource_names.is_empty() {
            true => refused(&permission, None),
            false => rule
                .resource_names
                .iter()
                .any(|name| refused(&permission, Some(name))),
        };
        if denied {
            out.push(permission.name());
        }
    }
    out
}

/// Whether the writer holds, through a binding reaching `at`, a rule
/// covering all of `rule`.
fn writer_holds(policy: &Policy, writer: &Subject, at: &Target, rule: &Rule) -> bool {
    reaching(policy, writer, at).any(|(_, held)| held.rules.iter().any(|mine| mine.covers(rule)))
}

pub(super) fn binding_ready(policy: &Policy, binding: &BindingDef) -> (bool, &'static str, String) {
    let role = binding.role();
    let named = format!("{} {}", kind_phrase(&role.kind), reference_phrase(role));
    let Some(resolved) = policy.role(&binding.reference().context, role) else {
        return (
            false,
            "RoleNotFound",
            format!(
                "{named} was not found in {} or the platform; create it, or bind a role that exists",
                node_phrase(&binding.reference().context)
            ),
        );
    };
    let problems = match resolved.problems() {
        [] => String::new(),
        problems => format!(" ({})", problems.join("; ")),
    };
    if resolved.is_empty() {
        return (
            false,
            "RoleGrantsNothing",
            format!(
                "{named} grants no permission{problems}; give it permissions, or bind another role"
            ),
        );
    }
    let message = match problems.is_empty() {
        true => format!("{named} is bound; the binding is in force"),
        false => format!("{named} is bound and in force, but the role has problems{problems}"),
    };
    (true, "Ready", message)
}
