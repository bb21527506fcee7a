//! Rule 1 (permission names) and RBAC rule matching (rule 5).

use serde_json::json;

use super::*;

#[test]
fn a_permission_splits_at_the_first_slash_and_the_last_dot() {
    let parsed = permission("resourcemanager.miloapis.com/projects/status.update");
    assert_eq!(
        parsed,
        Permission::new("resourcemanager.miloapis.com", "projects/status", "update")
    );
    assert_eq!(
        parsed.name(),
        "resourcemanager.miloapis.com/projects/status.update"
    );
    assert_eq!(
        permission("core/pods.get"),
        Permission::new("core", "pods", "get")
    );
    assert_eq!(permission("a/b.c.d"), Permission::new("a", "b.c", "d"));
}

#[test]
fn a_permission_without_group_resource_or_verb_is_none() {
    for name in [
        "projects.get",
        "/projects.get",
        "core/.get",
        "core/pods.",
        "core/pods",
        "",
        "core/po ds.get",
    ] {
        assert_eq!(Permission::parse(name), None, "{name}");
    }
}

/// What a ClusterRole with `rules` grants on an object named `name`.
fn rule_grants(rules: serde_json::Value, wanted: &str, name: Option<&str>) -> bool {
    let role = role_def(&Node::Platform, cluster_role("r", rules));
    let policy = Policy::new(vec![role.clone()], vec![], vec![]);
    let resolved = policy
        .role(&Node::Platform, role.reference())
        .expect("resolved");
    resolved.grants(&permission(wanted), name)
}

#[test]
fn an_rbac_rule_matches_group_resource_and_verb_with_wildcards() {
    let rule =
        json!([{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]}]);
    assert!(rule_grants(rule.clone(), "apps/deployments.get", None));
    assert!(!rule_grants(rule.clone(), "apps/deployments.delete", None));
    assert!(!rule_grants(rule.clone(), "batch/deployments.get", None));
    assert!(!rule_grants(rule, "apps/statefulsets.get", None));
    let all = json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]);
    assert!(rule_grants(
        all.clone(),
        "resourcemanager.miloapis.com/projects/status.update",
        None
    ));
    assert!(rule_grants(all, "core/secrets.delete", Some("s")));
}

#[test]
fn the_core_group_is_empty_in_a_rule_and_core_in_a_permission() {
    let rule = json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]);
    assert!(rule_grants(rule.clone(), "core/pods.get", None));
    assert!(!rule_grants(rule, "apps/pods.get", None));
}

#[test]
fn a_subresource_is_matched_by_its_name_or_plural_slash_star() {
    let status =
        json!([{"apiGroups": ["g"], "resources": ["projects/status"], "verbs": ["update"]}]);
    assert!(rule_grants(
        status.clone(),
        "g/projects/status.update",
        None
    ));
    assert!(!rule_grants(status, "g/projects.update", None));
    let any_sub = json!([{"apiGroups": ["g"], "resources": ["projects/*"], "verbs": ["update"]}]);
    assert!(rule_grants(
        any_sub.clone(),
        "g/projects/status.update",
        None
    ));
    assert!(!rule_grants(any_sub.clone(), "g/projects.update", None));
    assert!(!rule_grants(any_sub, "g/folders/status.update", None));
    let plain = json!([{"apiGroups": ["g"], "resources": ["projects"], "verbs": ["update"]}]);
    assert!(!rule_grants(plain, "g/projects/status.update", None));
}

#[test]
fn resource_names_narrow_a_rule_to_named_objects() {
    let rule = json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["a"]}]);
    assert!(rule_grants(rule.clone(), "core/configmaps.get", Some("a")));
    assert!(!rule_grants(rule.clone(), "core/configmaps.get", Some("b")));
    assert!(!rule_grants(rule, "core/configmaps.get", None));
}

#[test]
fn a_non_resource_url_rule_grants_no_permission() {
    let rule = json!([{"nonResourceURLs": ["*"], "verbs": ["*"]}]);
    assert!(!rule_grants(rule, "core/pods.get", None));
}

#[test]
fn a_wildcard_never_grants_a_write_of_quotas_limits_and_naming_it_does() {
    let everything = json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]);
    assert!(!rule_grants(
        everything.clone(),
        "quota.miloapis.com/resourcegrants.create",
        None
    ));
    assert!(!rule_grants(
        everything.clone(),
        "quota.miloapis.com/resourceregistrations.update",
        None
    ));
    assert!(rule_grants(
        everything.clone(),
        "quota.miloapis.com/resourcegrants.get",
        None
    ));
    assert!(rule_grants(
        everything.clone(),
        "quota.miloapis.com/resourceclaims.create",
        None
    ));
    // Releasing a claim gives its quota back: reserved too.
    for verb in ["delete", "deletecollection", "update", "patch"] {
        let release = format!("quota.miloapis.com/resourceclaims.{verb}");
        assert!(!rule_grants(everything.clone(), &release, None), "{verb}");
    }
    let claims = json!([{"apiGroups": ["quota.miloapis.com"], "resources": ["resourceclaims"], "verbs": ["delete"]}]);
    assert!(rule_grants(
        claims,
        "quota.miloapis.com/resourceclaims.delete",
        None
    ));
    let all_verbs = json!([{"apiGroups": ["quota.miloapis.com"], "resources": ["resourcegrants"], "verbs": ["*"]}]);
    assert!(!rule_grants(
        all_verbs,
        "quota.miloapis.com/resourcegrants.create",
        None
    ));
    let named = json!([{"apiGroups": ["quota.miloapis.com"], "resources": ["resourcegrants"], "verbs": ["create"]}]);
    assert!(rule_grants(
        named,
        "quota.miloapis.com/resourcegrants.create",
        None
    ));
}
