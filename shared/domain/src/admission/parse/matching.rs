//! What a policy or binding matches: its resource rules (operations,
//! groups, versions, resources, scope) and label selectors, read as
//! Kubernetes reads `matchConstraints` and `matchResources`.

use super::*;

/// `policy`: a policy's `matchConstraints`, which must have resource rules;
/// a binding's `matchResources` need not.
pub(super) fn read_match_resources(r: &mut Reader, field: &Field, policy: bool) -> MatchResources {
    r.object(field);
    let rules_field = field.get("resourceRules");
    let resource_rules = read_rules(r, &rules_field);
    if policy && resource_rules.is_empty() {
        r.push(Cause::required(&rules_field.path));
    }
    let exclude_resource_rules = read_rules(r, &field.get("excludeResourceRules"));
    let namespace_selector = read_selector(r, &field.get("namespaceSelector"));
    let object_selector = read_selector(r, &field.get("objectSelector"));
    let match_policy = read_enum(
        r,
        &field.get("matchPolicy"),
        &[
            ("Exact", MatchPolicy::Exact),
            ("Equivalent", MatchPolicy::Equivalent),
        ],
    )
    .unwrap_or_default();
    MatchResources {
        namespace_selector,
        object_selector,
        resource_rules,
        exclude_resource_rules,
        match_policy,
    }
}

pub(super) fn read_rules(r: &mut Reader, field: &Field) -> Vec<ResourceRule> {
    let mut rules = Vec::new();
    for item in r.array(field) {
        if !r.object(&item) {
            continue;
        }
        let api_groups = read_string_list(r, &item.get("apiGroups"), true);
        let api_versions = read_string_list(r, &item.get("apiVersions"), true);
        let resources_field = item.get("resources");
        let resources = read_string_list(r, &resources_field, true);
        for (i, res) in resources.iter().enumerate() {
            let parts: Vec<&str> = res.split('/').collect();
            if parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
                r.push(invalid(
                    &format!("{}[{i}]", resources_field.path),
                    res,
                    "must be a resource, resource/subresource, or use '*'",
                ));
            }
        }
        if resources.len() > 1 && resources.iter().any(|x| x == "*/*") {
            r.push(invalid(
                &resources_field.path,
                "*/*",
                "if '*/*' is present, must not specify other resources",
            ));
        }
        let resource_names = read_string_list(r, &item.get("resourceNames"), false);
        let ops_field = item.get("operations");
        let mut operations = Vec::new();
        let mut any = false;
        let op_items = r.array(&ops_field);
        if op_items.is_empty() {
            r.push(Cause::required(&ops_field.path));
        }
        let n_ops = op_items.len();
        for op in op_items {
            let value = read_enum(
                r,
                &op,
                &[
                    ("CREATE", Some(Operation::Create)),
                    ("UPDATE", Some(Operation::Update)),
                    ("DELETE", Some(Operation::Delete)),
                    ("CONNECT", Some(Operation::Connect)),
                    ("*", None),
                ],
            );
            match value {
                Some(Some(o)) => operations.push(o),
                Some(None) => any = true,
                None => {}
            }
        }
        if any {
            if n_ops > 1 {
                r.push(invalid(
                    &ops_field.path,
                    "*",
                    "if '*' is present, must not specify other operations",
                ));
            }
            operations.clear();
        }
        let scope = read_enum(
            r,
            &item.get("scope"),
            &[
                ("Cluster", ScopeRule::Cluster),
                ("Namespaced", ScopeRule::Namespaced),
                ("*", ScopeRule::Any),
            ],
        )
        .unwrap_or_default();
        rules.push(ResourceRule {
            api_groups,
            api_versions,
            resources,
            resource_names,
            operations,
            scope,
        });
    }
    rules
}

/// A `metav1.LabelSelector` (`matchLabels`, `matchExpressions`); absent is
/// the empty selector, which selects everything.
pub(super) fn read_selector(r: &mut Reader, field: &Field) -> LabelSelector {
    if !r.object(field) {
        return LabelSelector::default();
    }
    let mut requirements = Vec::new();
    let labels = field.get("matchLabels");
    if r.object(&labels) {
        if let Some(Value::Object(map)) = labels.value {
            for key in map.keys() {
                let entry = labels.entry(key);
                let Some(value) = r.string(&entry) else {
                    continue;
                };
                if check_label(r, &entry.path, key, &[value]) {
                    requirements.push(Requirement {
                        key: key.clone(),
                        operator: Operator::Equals,
                        values: vec![value.to_string()],
                    });
                }
            }
        }
    }
    for item in r.array(&field.get("matchExpressions")) {
        let key = read_required_string(r, &item.get("key"));
        let op_field = item.get("operator");
        let operator = read_enum(
            r,
            &op_field,
            &[
                ("In", Operator::In),
                ("NotIn", Operator::NotIn),
                ("Exists", Operator::Exists),
                ("DoesNotExist", Operator::DoesNotExist),
            ],
        );
        if op_field.value.is_none() {
            r.push(Cause::required(&op_field.path));
        }
        let values_field = item.get("values");
        let values = read_string_list(r, &values_field, false);
        let Some(operator) = operator else { continue };
        let needs_values = matches!(operator, Operator::In | Operator::NotIn);
        if needs_values && values.is_empty() {
            r.push(required(
                &values_field.path,
                "must be specified when `operator` is 'In' or 'NotIn'",
            ));
        } else if !needs_values && !values.is_empty() {
            r.push(forbidden(
                &values_field.path,
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            ));
        }
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        if !key.is_empty() && check_label(r, &item.get("key").path, &key, &refs) {
            requirements.push(Requirement {
                key,
                operator,
                values,
            });
        }
    }
    LabelSelector::from_requirements(requirements)
}

pub(super) fn check_label(r: &mut Reader, path: &str, key: &str, values: &[&str]) -> bool {
    let errors = qualified_name_errors(key);
    if !errors.is_empty() {
        r.push(invalid(path, key, &errors.join("; ")));
        return false;
    }
    for value in values {
        let errors = label_value_errors(value);
        if !errors.is_empty() {
            r.push(invalid(path, value, &errors.join("; ")));
            return false;
        }
    }
    true
}
