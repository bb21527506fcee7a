//! Rules 2 and 5: roles parsed and resolved.

use serde_json::json;

use super::*;

fn parse_error(object: Value) -> String {
    RoleDef::parse(&Node::Platform, &object).expect_err("refused")
}

#[test]
fn a_milo_role_needs_a_known_launch_stage() {
    let mut role = milo_role("ns", "r", &[], &[]);
    role["spec"]["launchStage"] = json!("Gamma");
    let error = parse_error(role.clone());
    assert!(error.starts_with("spec.launchStage: \"Gamma\""), "{error}");
    assert!(error.contains("Early Access"), "{error}");
    role["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("launchStage");
    assert!(parse_error(role.clone()).starts_with("spec.launchStage: must be set"));
    for stage in ["Early Access", "Alpha", "Beta", "Stable", "Deprecated"] {
        role["spec"]["launchStage"] = json!(stage);
        assert!(RoleDef::parse(&Node::Platform, &role).is_ok(), "{stage}");
    }
}

#[test]
fn kinds_are_told_apart_by_group() {
    let context = org("o");
    let milo = role_def(&context, milo_role("ns", "r", &[], &[]));
    assert_eq!(
        milo.reference(),
        &ObjectRef {
            context: context.clone(),
            kind: ROLE_KIND.into(),
            namespace: "ns".into(),
            name: "r".into()
        }
    );
    let rules = json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]);
    let rbac = role_def(&context, rbac_role("ns", "r", rules.clone()));
    assert_eq!(rbac.reference().kind, RBAC_ROLE_KIND);
    let cluster = role_def(&context, cluster_role("r", rules));
    assert_eq!(cluster.reference().kind, RBAC_CLUSTER_ROLE_KIND);
    assert_eq!(cluster.reference().namespace, "");
    let error = parse_error(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}));
    assert!(error.starts_with("kind: Pod"), "{error}");
}

#[test]
fn rbac_rules_are_validated_as_kubernetes_does() {
    let no_verbs = cluster_role("r", json!([{"apiGroups": [""], "resources": ["pods"]}]));
    assert!(parse_error(no_verbs).starts_with("rules[0].verbs:"));
    let no_groups = cluster_role("r", json!([{"resources": ["pods"], "verbs": ["get"]}]));
    assert!(parse_error(no_groups).starts_with("rules[0].apiGroups:"));
    let urls = json!([{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]);
    assert!(RoleDef::parse(&Node::Platform, &cluster_role("r", urls.clone())).is_ok());
    assert!(parse_error(rbac_role("ns", "r", urls)).starts_with("rules[0].nonResourceURLs:"));
    let mut no_namespace = rbac_role("ns", "r", json!([]));
    no_namespace["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("namespace");
    assert!(parse_error(no_namespace).starts_with("metadata.namespace:"));
}

/// The resolved role `name` (in namespace `ns` of the platform).
fn resolved<'a>(policy: &'a Policy, name: &str) -> &'a Resolved {
    let reference = ObjectRef {
        context: Node::Platform,
        kind: ROLE_KIND.into(),
        namespace: "ns".into(),
        name: name.into(),
    };
    policy
        .role(&Node::Platform, &reference)
        .expect("role resolves")
}

fn policy_of(roles: Vec<Value>) -> Policy {
    Policy::new(
        roles
            .into_iter()
            .map(|role| role_def(&Node::Platform, role))
            .collect(),
        vec![],
        vec![],
    )
}

#[test]
fn inherited_roles_fold_in_transitively_defaulting_to_the_roles_namespace() {
    let policy = policy_of(vec![
        milo_role("ns", "top", &["g/a.get"], &[("middle", None)]),
        milo_role("ns", "middle", &["g/b.get"], &[("bottom", Some("other"))]),
        milo_role("other", "bottom", &["g/c.get"], &[]),
    ]);
    let top = resolved(&policy, "top");
    assert_eq!(
        top.effective_permissions(),
        vec!["g/a.get", "g/b.get", "g/c.get"]
    );
    assert!(top.problems().is_empty(), "{:?}", top.problems());
    assert_eq!(
        resolved(&policy, "middle").effective_permissions(),
        vec!["g/b.get", "g/c.get"]
    );
}

#[test]
fn a_star_in_a_milo_permission_grants_as_rbac_reads_it() {
    let policy = policy_of(vec![milo_role(
        "ns",
        "r",
        &["*/*.get", "core/*.list", "g/a.get"],
        &[],
    )]);
    let role = resolved(&policy, "r");
    assert!(role.grants(&Permission::new("anything", "things", "get"), None));
    assert!(role.grants(&Permission::new("core", "configmaps", "list"), None));
    assert!(!role.grants(&Permission::new("apps", "deployments", "list"), None));
    assert!(!role.grants(&Permission::new("anything", "things", "delete"), None));
    // Quota's limits are granted only by naming them, as with RBAC's `*`.
    let raise = Permission::new("quota.miloapis.com", "resourcegrants", "create");
    let everything = policy_of(vec![milo_role("ns", "all", &["*/*.*"], &[])]);
    assert!(!resolved(&everything, "all").grants(&raise, None));
    assert_eq!(
        role.effective_permissions(),
        vec!["*/*.get", "core/*.list", "g/a.get"]
    );
}

#[test]
fn a_missing_inherited_role_is_a_problem_and_the_rest_resolves() {
    let policy = policy_of(vec![milo_role("ns", "r", &["g/a.get"], &[("gone", None)])]);
    let role = resolved(&policy, "r");
    assert_eq!(role.effective_permissions(), vec!["g/a.get"]);
    assert_eq!(role.problems().len(), 1);
    assert!(
        role.problems()[0].starts_with("spec.inheritedRoles[0]: role ns/gone not found"),
        "{:?}",
        role.problems()
    );
}

#[test]
fn cyclic_inherited_roles_terminate_and_report_the_cycle() {
    let policy = policy_of(vec![
        milo_role("ns", "a", &["g/a.get"], &[("b", None)]),
        milo_role("ns", "b", &["g/b.get"], &[("c", None)]),
        milo_role("ns", "c", &["g/c.get"], &[("a", None)]),
        milo_role("ns", "self", &["g/s.get"], &[("self", None)]),
    ]);
    for name in ["a", "b", "c"] {
        let role = resolved(&policy, name);
        assert_eq!(
            role.effective_permissions(),
            vec!["g/a.get", "g/b.get", "g/c.get"],
            "{name}"
        );
        assert!(
            role.problems()
                .iter()
                .any(|problem| problem.contains("cycle")),
            "{name}: {:?}",
            role.problems()
        );
    }
    let own = resolved(&policy, "self");
    assert_eq!(own.effective_permissions(), vec!["g/s.get"]);
    assert!(
        own.problems()[0].contains("cycle (ns/self -> ns/self)"),
        "{:?}",
        own.problems()
    );
}

#[test]
fn a_malformed_permission_is_a_problem_and_grants_nothing() {
    let policy = policy_of(vec![milo_role(
        "ns",
        "r",
        &["projects.get", "g/a.get"],
        &[],
    )]);
    let role = resolved(&policy, "r");
    assert_eq!(role.effective_permissions(), vec!["g/a.get"]);
    assert!(
        role.problems()[0].starts_with("spec.includedPermissions[0]: \"projects.get\""),
        "{:?}",
        role.problems()
    );
    assert!(!role.grants(&Permission::new("projects", "get", ""), None));
    let only_bad = policy_of(vec![milo_role("ns", "bad", &["nonsense"], &[])]);
    assert!(resolved(&only_bad, "bad").is_empty());
}

#[test]
fn an_unknown_permission_grants_only_itself_and_is_reported_against_what_is_known() {
    let policy = policy_of(vec![milo_role(
        "ns",
        "r",
        &["made.up/things.frob", "g/a.get"],
        &[],
    )]);
    let role = resolved(&policy, "r");
    assert!(role.grants(&permission("made.up/things.frob"), None));
    assert!(!role.grants(&permission("made.up/things.get"), None));
    let known = |permission: &Permission| permission.group == "g";
    assert_eq!(
        role.unknown_permissions(&known),
        vec!["made.up/things.frob"]
    );
}

#[test]
fn rbac_rules_are_spelt_as_permissions_wildcards_as_written() {
    let rules = json!([
        {"apiGroups": ["", "apps"], "resources": ["pods"], "verbs": ["get"]},
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["a", "b"]},
        {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
    ]);
    let role = role_def(&Node::Platform, cluster_role("r", rules));
    let policy = Policy::new(vec![role.clone()], vec![], vec![]);
    let resolved = policy
        .role(&Node::Platform, role.reference())
        .expect("resolved");
    assert_eq!(
        resolved.effective_permissions(),
        vec![
            "*/*.*",
            "apps/pods.get",
            "core/configmaps.get (resourceNames: a, b)",
            "core/pods.get"
        ]
    );
}
