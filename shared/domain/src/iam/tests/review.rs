//! Rules 8 to 10: a subject's rules, escalation, and a binding's Ready condition.

use serde_json::json;

use super::*;

fn chain() -> Vec<Node> {
    vec![Node::Platform, org("o"), project("p")]
}

fn in_project() -> Target {
    target(chain(), "", "ConfigMap", Some("n"), Some("c"))
}

/// alice holds the owner role on Organization o.
fn owner_policy(extra_roles: Vec<RoleDef>, extra_bindings: Vec<BindingDef>) -> Policy {
    let mut bindings = vec![binding_def(
        &org("o"),
        policy_binding(
            "default",
            "b",
            "owner",
            "milo-system",
            user_subject("alice"),
            hierarchy_ref("Organization", "o"),
        ),
    )];
    bindings.extend(extra_bindings);
    let mut roles = vec![owner_role()];
    roles.extend(extra_roles);
    Policy::new(roles, bindings, vec![])
}

#[test]
fn the_rules_of_a_subject_are_its_reaching_bindings_roles_as_rbac_writes_them() {
    let reader = role_def(
        &Node::Platform,
        cluster_role(
            "reader",
            json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]),
        ),
    );
    let subjects = json!([{"kind": "User", "name": "alice"}]);
    let elsewhere = binding_def(
        &org("x"),
        rbac_binding(
            "ClusterRoleBinding",
            None,
            "crb",
            "ClusterRole",
            "reader",
            subjects,
        ),
    );
    let policy = owner_policy(vec![reader.clone()], vec![elsewhere]);
    let alice = policy.subject("alice", &[]);
    assert_eq!(
        policy.rules(&alice, &in_project()),
        vec![
            json!({"apiGroups": ["compute.miloapis.com"], "resources": ["workloads"], "verbs": ["get"]}),
            json!({"apiGroups": ["resourcemanager.miloapis.com"], "resources": ["projects"], "verbs": ["delete", "get"]}),
        ]
    );
    let in_x = target(
        vec![Node::Platform, org("x")],
        "",
        "ConfigMap",
        Some("n"),
        None,
    );
    assert_eq!(
        policy.rules(&alice, &in_x),
        vec![json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]})]
    );
    let root = policy.subject("root", &[ADMIN_GROUP.to_string()]);
    assert_eq!(
        policy.rules(&root, &in_x),
        vec![json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]})]
    );
    assert!(policy
        .rules(&policy.subject("bob", &[]), &in_project())
        .is_empty());
}

/// A role resolved in the platform.
fn resolved(policy: &Policy, role: &RoleDef) -> Resolved {
    policy
        .role(&Node::Platform, role.reference())
        .expect("resolved")
        .clone()
}

#[test]
fn a_writer_may_grant_only_what_they_hold_there() {
    let grantable = role_def(
        &Node::Platform,
        milo_role(
            "milo-system",
            "viewer",
            &["resourcemanager.miloapis.com/projects.get"],
            &[],
        ),
    );
    let beyond = role_def(
        &Node::Platform,
        milo_role(
            "milo-system",
            "deleter",
            &[
                "resourcemanager.miloapis.com/projects.get",
                "iam.miloapis.com/roles.delete",
            ],
            &[],
        ),
    );
    let policy = owner_policy(vec![grantable.clone(), beyond.clone()], vec![]);
    let alice = policy.subject("alice", &[]);
    let at = project_object(chain());
    assert!(policy
        .escalation(&alice, &resolved(&policy, &grantable), &at)
        .is_empty());
    assert_eq!(
        policy.escalation(&alice, &resolved(&policy, &beyond), &at),
        vec!["iam.miloapis.com/roles.delete"]
    );
    let elsewhere = project_object(vec![Node::Platform, org("x"), project("q")]);
    assert_eq!(
        policy.escalation(&alice, &resolved(&policy, &grantable), &elsewhere),
        vec!["resourcemanager.miloapis.com/projects.get"]
    );
    let root = policy.subject("root", &[ADMIN_GROUP.to_string()]);
    assert!(policy
        .escalation(&root, &resolved(&policy, &beyond), &elsewhere)
        .is_empty());
}

#[test]
fn a_wildcard_rule_needs_a_covering_rule_not_a_list_of_permissions() {
    let star = role_def(
        &Node::Platform,
        cluster_role(
            "star",
            json!([{"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get"]}]),
        ),
    );
    let apps_all = role_def(
        &Node::Platform,
        cluster_role(
            "apps-all",
            json!([{"apiGroups": ["apps"], "resources": ["*"], "verbs": ["*"]}]),
        ),
    );
    let subjects = json!([{"kind": "User", "name": "carol"}]);
    let holds = binding_def(
        &org("o"),
        rbac_binding(
            "ClusterRoleBinding",
            None,
            "carol",
            "ClusterRole",
            "apps-all",
            subjects,
        ),
    );
    let policy = owner_policy(vec![star.clone(), apps_all.clone()], vec![holds]);
    let wildcard = resolved(&policy, &star);
    let at = target(chain(), "apps", "Deployment", Some("n"), None);
    assert!(policy
        .escalation(&policy.subject("carol", &[]), &wildcard, &at)
        .is_empty());
    assert_eq!(
        policy.escalation(&policy.subject("alice", &[]), &wildcard, &at),
        vec!["apps/*.get"]
    );
    // Holding apps/* with one verb does not cover apps/* with every verb.
    let star_binding = binding_def(
        &org("o"),
        rbac_binding(
            "ClusterRoleBinding",
            None,
            "dave",
            "ClusterRole",
            "star",
            json!([{"kind": "User", "name": "dave"}]),
        ),
    );
    let policy = owner_policy(vec![star, apps_all.clone()], vec![star_binding]);
    assert_eq!(
        policy.escalation(
            &policy.subject("dave", &[]),
            &resolved(&policy, &apps_all),
            &at
        ),
        vec!["apps/*.*"]
    );
}

#[test]
fn a_finite_rule_is_checked_permission_by_permission() {
    let rule = role_def(
        &Node::Platform,
        cluster_role(
            "r",
            json!([{"apiGroups": ["resourcemanager.miloapis.com"], "resources": ["projects"], "verbs": ["get", "update"]}]),
        ),
    );
    let policy = owner_policy(vec![rule.clone()], vec![]);
    let at = project_object(chain());
    assert_eq!(
        policy.escalation(
            &policy.subject("alice", &[]),
            &resolved(&policy, &rule),
            &at
        ),
        vec!["resourcemanager.miloapis.com/projects.update"]
    );
}

#[test]
fn a_binding_is_ready_when_its_role_resolves_to_something() {
    let empty = role_def(&Node::Platform, milo_role("milo-system", "empty", &[], &[]));
    let bind = |role: &str| {
        binding_def(
            &org("o"),
            policy_binding(
                "default",
                role,
                role,
                "milo-system",
                user_subject("alice"),
                hierarchy_ref("Organization", "o"),
            ),
        )
    };
    let policy = Policy::new(vec![owner_role(), empty], vec![], vec![]);
    let (ready, reason, message) = policy.binding_ready(&bind("owner"));
    assert!(ready, "{message}");
    assert_eq!(reason, "Ready");
    let (ready, reason, message) = policy.binding_ready(&bind("empty"));
    assert!(!ready);
    assert_eq!(reason, "RoleGrantsNothing");
    assert!(
        message.starts_with("Role milo-system/empty grants no permission"),
        "{message}"
    );
    let (ready, reason, _) = policy.binding_ready(&bind("missing"));
    assert!(!ready);
    assert_eq!(reason, "RoleNotFound");
}
