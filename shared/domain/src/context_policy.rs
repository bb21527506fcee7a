//! Milo's DiscoveryContextPolicy (issue #18), pure: which contexts serve a
//! type, overriding its CRD's `discovery.miloapis.com/parent-contexts`
//! annotation while a policy names it. Deleting the policy gives the type
//! its annotation's contexts back.
//!
//! Several rules may name one type (in one policy or in several). The most
//! specific wins: an exact group and resource over an exact group with
//! `"*"`, over `"*"` with an exact resource, over `"*"` with `"*"`. Rules
//! equally specific add their contexts together, so the result does not
//! depend on the order policies were written or are read in.
//!
//! The platform serves every type whatever a policy says (Milo's root is
//! unfiltered, see `kinds::KindInfo::served_in`); a policy decides the
//! organization, project and user contexts.

use serde_json::Value;

use crate::kinds::ContextKind;
use crate::metadata_rules::{dns1123_label_errors, dns1123_subdomain_errors};
use crate::Cause;

pub const GROUP: &str = "discovery.miloapis.com";
/// What a rule's group or resources list to match them all.
pub const ANY: &str = "*";

/// One rule of a policy: the types it names and where they are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextRule {
    /// `""` is the core group, `"*"` every group.
    pub group: String,
    /// Plural names, or `["*"]` alone for every type of the group.
    pub resources: Vec<String>,
    /// Canonical order (Platform, Organization, Project, User), no repeats.
    pub contexts: Vec<ContextKind>,
}

/// How closely a rule names a type; the higher wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Specificity {
    AnyGroupAnyResource,
    AnyGroup,
    AnyResource,
    Exact,
}

impl ContextRule {
    fn matches(&self, group: &str, plural: &str) -> Option<Specificity> {
        let any_group = self.group == ANY;
        if !any_group && self.group != group {
            return None;
        }
        let any_resource = self.resources.iter().any(|r| r == ANY);
        if !any_resource && !self.resources.iter().any(|r| r == plural) {
            return None;
        }
        Some(match (any_group, any_resource) {
            (false, false) => Specificity::Exact,
            (false, true) => Specificity::AnyResource,
            (true, false) => Specificity::AnyGroup,
            (true, true) => Specificity::AnyGroupAnyResource,
        })
    }
}

/// Every rule of every policy in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextPolicies {
    rules: Vec<ContextRule>,
}

impl ContextPolicies {
    pub fn new(policies: impl IntoIterator<Item = Vec<ContextRule>>) -> Self {
        Self {
            rules: policies.into_iter().flatten().collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The contexts a type is served in: the most specific rules naming it,
    /// or its annotation's contexts when none does.
    pub fn contexts_for(
        &self,
        group: &str,
        plural: &str,
        annotated: &[ContextKind],
    ) -> Vec<ContextKind> {
        let matching: Vec<(Specificity, &ContextRule)> = self
            .rules
            .iter()
            .filter_map(|r| r.matches(group, plural).map(|s| (s, r)))
            .collect();
        let Some(best) = matching.iter().map(|(s, _)| *s).max() else {
            return annotated.to_vec();
        };
        let mut contexts: Vec<ContextKind> = matching
            .iter()
            .filter(|(s, _)| *s == best)
            .flat_map(|(_, r)| r.contexts.iter().copied())
            .collect();
        contexts.sort();
        contexts.dedup();
        contexts
    }
}

/// A policy's rules, or why it is refused (one cause per field, paths as
/// `spec.rules[0].resources[1]`). The schema already checks the shape
/// (required fields, at least one rule, resource and context); this adds
/// what it cannot say: names that could be a group or a plural, `"*"`
/// alone, no repeats.
pub fn parse(doc: &Value) -> Result<Vec<ContextRule>, Vec<Cause>> {
    let mut causes = Vec::new();
    let mut rules = Vec::new();
    let Some(listed) = doc["spec"]["rules"].as_array().filter(|r| !r.is_empty()) else {
        return Err(vec![Cause::required("spec.rules")]);
    };
    for (i, rule) in listed.iter().enumerate() {
        let at = format!("spec.rules[{i}]");
        let group = match rule["group"].as_str() {
            Some(group) => {
                causes.extend(group_causes(&format!("{at}.group"), group));
                group.to_string()
            }
            None => {
                causes.push(Cause::required(format!("{at}.group")));
                String::new()
            }
        };
        let resources = strings(&rule["resources"], &format!("{at}.resources"), &mut causes);
        let any = resources.iter().any(|r| r == ANY);
        for (j, resource) in resources.iter().enumerate() {
            let field = format!("{at}.resources[{j}]");
            if resources[..j].contains(resource) {
                causes.push(Cause {
                    reason: "FieldValueDuplicate".into(),
                    message: format!("Duplicate value: \"{resource}\""),
                    field,
                });
            } else if resource == ANY {
                if resources.len() > 1 {
                    causes.push(Cause::invalid(
                        field,
                        "\"*\" matches every resource of the group and must be the only entry",
                    ));
                }
            } else if !any {
                causes.extend(dns1123_label_errors(resource).into_iter().map(|m| {
                    Cause::invalid(field.clone(), format!("a resource's plural name: {m}"))
                }));
            }
        }
        let names = strings(&rule["contexts"], &format!("{at}.contexts"), &mut causes);
        let mut contexts = Vec::new();
        for (j, name) in names.iter().enumerate() {
            let field = format!("{at}.contexts[{j}]");
            match ContextKind::parse(name) {
                Some(context) if contexts.contains(&context) => causes.push(Cause {
                    reason: "FieldValueDuplicate".into(),
                    message: format!("Duplicate value: \"{name}\""),
                    field,
                }),
                Some(context) => contexts.push(context),
                None => causes.push(Cause::not_supported(
                    field,
                    format!(
                        "Unsupported value: \"{name}\": supported values: \"Platform\", \"Organization\", \"Project\", \"User\""
                    ),
                )),
            }
        }
        contexts.sort();
        rules.push(ContextRule {
            group,
            resources,
            contexts,
        });
    }
    if causes.is_empty() {
        Ok(rules)
    } else {
        Err(causes)
    }
}

fn group_causes(field: &str, group: &str) -> Vec<Cause> {
    if group.is_empty() || group == ANY {
        return Vec::new();
    }
    dns1123_subdomain_errors(group)
        .into_iter()
        .map(|m| Cause::invalid(field, format!("an API group: {m}")))
        .collect()
}

/// A non-empty list of strings at `field`; causes for anything else.
fn strings(value: &Value, field: &str, causes: &mut Vec<Cause>) -> Vec<String> {
    let Some(items) = value.as_array().filter(|items| !items.is_empty()) else {
        causes.push(Cause::required(field));
        return Vec::new();
    };
    let mut listed = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(s) => listed.push(s.to_string()),
            None => causes.push(Cause::invalid(format!("{field}[{i}]"), "must be a string")),
        }
    }
    listed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use ContextKind::{Organization, Platform, Project, User};

    fn policy(rules: Value) -> Value {
        json!({
            "apiVersion": "discovery.miloapis.com/v1alpha1",
            "kind": "DiscoveryContextPolicy",
            "metadata": {"name": "p"},
            "spec": {"rules": rules},
        })
    }

    fn rules(rules: Value) -> Vec<ContextRule> {
        parse(&policy(rules)).unwrap()
    }

    fn fields(doc: &Value) -> Vec<String> {
        parse(doc)
            .unwrap_err()
            .into_iter()
            .map(|c| format!("{} {}", c.field, c.reason))
            .collect()
    }

    #[test]
    fn a_rule_is_read_with_its_contexts_in_canonical_order() {
        let parsed = rules(json!([{
            "group": "example.com",
            "resources": ["widgets", "gadgets"],
            "contexts": ["User", "Platform", "Organization"]
        }]));
        assert_eq!(
            parsed,
            [ContextRule {
                group: "example.com".into(),
                resources: vec!["widgets".into(), "gadgets".into()],
                contexts: vec![Platform, Organization, User],
            }]
        );
        let core = rules(json!([{"group": "", "resources": ["*"], "contexts": ["Project"]}]));
        assert_eq!(core[0].group, "");
        let any = rules(json!([{"group": "*", "resources": ["*"], "contexts": ["Project"]}]));
        assert_eq!(any[0].resources, ["*"]);
    }

    #[test]
    fn a_bad_policy_names_each_field() {
        assert_eq!(
            fields(&policy(json!([{
                "group": "Example_com",
                "resources": ["widgets", "Widgets", "widgets"],
                "contexts": ["Platform", "Cluster", "Platform"]
            }]))),
            [
                "spec.rules[0].group FieldValueInvalid",
                "spec.rules[0].resources[1] FieldValueInvalid",
                "spec.rules[0].resources[2] FieldValueDuplicate",
                "spec.rules[0].contexts[1] FieldValueNotSupported",
                "spec.rules[0].contexts[2] FieldValueDuplicate",
            ]
        );
        assert_eq!(
            fields(&policy(json!([
                {"group": "a.com", "resources": ["*", "widgets"], "contexts": ["Project"]},
                {"resources": [], "contexts": []}
            ]))),
            [
                "spec.rules[0].resources[0] FieldValueInvalid",
                "spec.rules[1].group FieldValueRequired",
                "spec.rules[1].resources FieldValueRequired",
                "spec.rules[1].contexts FieldValueRequired",
            ]
        );
        assert_eq!(
            fields(&policy(json!([]))),
            ["spec.rules FieldValueRequired"]
        );
        assert_eq!(
            fields(&json!({"spec": {}})),
            ["spec.rules FieldValueRequired"]
        );
    }

    #[test]
    fn without_a_policy_the_annotation_decides() {
        let none = ContextPolicies::default();
        assert_eq!(
            none.contexts_for("example.com", "widgets", &[Organization]),
            [Organization]
        );
        let other = ContextPolicies::new([rules(json!([
            {"group": "example.com", "resources": ["gadgets"], "contexts": ["Platform"]},
            {"group": "other.com", "resources": ["*"], "contexts": ["Platform"]}
        ]))]);
        assert_eq!(
            other.contexts_for("example.com", "widgets", &[Organization]),
            [Organization]
        );
    }

    #[test]
    fn a_rule_overrides_the_annotation() {
        let policies = ContextPolicies::new([rules(json!([
            {"group": "example.com", "resources": ["widgets"], "contexts": ["Platform"]}
        ]))]);
        assert_eq!(
            policies.contexts_for("example.com", "widgets", &[Organization]),
            [Platform]
        );
    }

    #[test]
    fn the_most_specific_rule_wins_and_equals_add_up() {
        let broad = rules(json!([
            {"group": "*", "resources": ["*"], "contexts": ["Platform"]},
            {"group": "*", "resources": ["widgets"], "contexts": ["User"]},
            {"group": "example.com", "resources": ["*"], "contexts": ["Project"]}
        ]));
        let exact_a = rules(json!([
            {"group": "example.com", "resources": ["widgets"], "contexts": ["Organization"]}
        ]));
        let exact_b = rules(json!([
            {"group": "example.com", "resources": ["widgets"], "contexts": ["User", "Organization"]}
        ]));
        let all = ContextPolicies::new([broad.clone(), exact_a.clone(), exact_b.clone()]);
        assert_eq!(
            all.contexts_for("example.com", "widgets", &[Project]),
            [Organization, User]
        );
        // The order policies come in does not matter.
        let reversed = ContextPolicies::new([exact_b, exact_a, broad.clone()]);
        assert_eq!(
            reversed.contexts_for("example.com", "widgets", &[Project]),
            [Organization, User]
        );
        let broad = ContextPolicies::new([broad]);
        assert_eq!(
            broad.contexts_for("example.com", "gadgets", &[Platform]),
            [Project],
            "the group's \"*\" over every group's"
        );
        assert_eq!(
            broad.contexts_for("other.com", "widgets", &[Platform]),
            [User],
            "a named resource in every group over \"*\" in every group"
        );
        assert_eq!(
            broad.contexts_for("", "namespaces", &[Project]),
            [Platform],
            "\"*\" in every group names the core group too"
        );
    }
}
