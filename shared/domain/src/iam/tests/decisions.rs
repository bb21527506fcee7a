//! Rules 5 to 7 and 11: subjects, role lookup, and decisions with their reasons.

use serde_json::json;

use super::*;

fn chain() -> Vec<Node> {
    vec![Node::Platform, org("o"), project("p")]
}

fn secret(name: &str) -> Target {
    target(chain(), "", "Secret", Some("n"), Some(name))
}

#[test]
fn a_subject_has_its_token_groups_authenticated_and_its_memberships() {
    let policy = Policy::new(
        vec![],
        vec![],
        vec![
            membership("alice", "team", "admins"),
            membership("bob", "team", "ops"),
        ],
    );
    let alice = policy.subject("alice", &["oidc".to_string()]);
    let groups: Vec<&str> = alice.groups.iter().map(String::as_str).collect();
    assert_eq!(
        groups,
        vec!["oidc", "org:o:team/admins", AUTHENTICATED_GROUP]
    );
    assert!(!alice.is_admin());
    assert!(policy
        .subject("root", &[ADMIN_GROUP.to_string()])
        .is_admin());
}

#[test]
fn an_administrator_is_allowed_everything_without_a_binding() {
    let policy = Policy::default();
    let root = policy.subject("root", &[ADMIN_GROUP.to_string()]);
    let decision = policy.decide(&root, &permission("core/secrets.delete"), &secret("s"));
    assert_eq!(
        decision,
        Decision {
            allowed: true,
            binding: None,
            reason: "allowed: member of system:masters".to_string()
        }
    );
    let alice = policy.subject("alice", &[]);
    assert!(
        !policy
            .decide(&alice, &permission("core/secrets.delete"), &secret("s"))
            .allowed
    );
}

#[test]
fn a_cluster_admin_style_cluster_role_binding_allows_everything_in_its_context() {
    let admin = role_def(
        &Node::Platform,
        cluster_role(
            "cluster-admin",
            json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
        ),
    );
    let subjects = json!([{"kind": "Group", "name": "ops"}]);
    let binding = binding_def(
        &org("o"),
        rbac_binding(
            "ClusterRoleBinding",
            None,
            "ops-admin",
            "ClusterRole",
            "cluster-admin",
            subjects,
        ),
    );
    let policy = Policy::new(vec![admin], vec![binding], vec![]);
    let ops = policy.subject("carol", &["ops".to_string()]);
    let decision = policy.decide(&ops, &permission("core/secrets.delete"), &secret("s"));
    assert!(decision.allowed);
    assert_eq!(
        decision.reason,
        "allowed by ClusterRoleBinding ops-admin in Organization o (ClusterRole cluster-admin of the platform) on everything in Organization o and below"
    );
    assert!(
        policy
            .decide(
                &ops,
                &permission("resourcemanager.miloapis.com/projects/status.update"),
                &secret("s")
            )
            .allowed
    );
    let elsewhere = target(
        vec![Node::Platform, org("x")],
        "",
        "Secret",
        Some("n"),
        Some("s"),
    );
    assert!(
        !policy
            .decide(&ops, &permission("core/secrets.delete"), &elsewhere)
            .allowed
    );
    assert!(
        !policy
            .decide(
                &policy.subject("carol", &[]),
                &permission("core/secrets.delete"),
                &secret("s")
            )
            .allowed
    );
}

#[test]
fn a_group_reached_through_a_membership_is_bound() {
    let subjects = json!([{"kind": "Group", "name": "admins", "namespace": "team", "uid": "g"}]);
    let binding = binding_def(
        &org("o"),
        policy_binding(
            "default",
            "team",
            "owner",
            "milo-system",
            subjects,
            hierarchy_ref("Organization", "o"),
        ),
    );
    let policy = Policy::new(
        vec![owner_role()],
        vec![binding],
        vec![membership("alice", "team", "admins")],
    );
    let get = permission("resourcemanager.miloapis.com/projects.get");
    let a_project = project_object(chain());
    assert!(
        policy
            .decide(&policy.subject("alice", &[]), &get, &a_project)
            .allowed
    );
    assert!(
        !policy
            .decide(&policy.subject("bob", &[]), &get, &a_project)
            .allowed
    );
    // A token group named like the group is not the namespaced group.
    assert!(
        !policy
            .decide(
                &policy.subject("bob", &["admins".to_string()]),
                &get,
                &a_project
            )
            .allowed
    );
}

#[test]
fn a_role_is_looked_up_in_the_bindings_context_first_then_the_platforms() {
    let platform = role_def(
        &Node::Platform,
        milo_role("milo-system", "viewer", &["g/things.get"], &[]),
    );
    let local = role_def(
        &org("o"),
        milo_role("milo-system", "viewer", &["g/things.list"], &[]),
    );
    let policy = Policy::new(vec![platform.clone(), local], vec![], vec![]);
    let in_o = policy.role(&org("o"), platform.reference()).expect("o's");
    assert_eq!(in_o.effective_permissions(), vec!["g/things.list"]);
    let in_x = policy
        .role(&org("x"), platform.reference())
        .expect("the platform's");
    assert_eq!(in_x.effective_permissions(), vec!["g/things.get"]);
}

#[test]
fn a_binding_whose_role_is_missing_allows_nothing() {
    let binding = binding_def(
        &org("o"),
        policy_binding(
            "default",
            "b",
            "gone",
            "milo-system",
            user_subject("alice"),
            hierarchy_ref("Organization", "o"),
        ),
    );
    let policy = Policy::new(vec![owner_role()], vec![binding.clone()], vec![]);
    let a_project = project_object(chain());
    let decision = policy.decide(
        &policy.subject("alice", &[]),
        &permission("resourcemanager.miloapis.com/projects.get"),
        &a_project,
    );
    assert!(!decision.allowed);
    let (ready, reason, message) = policy.binding_ready(&binding);
    assert!(!ready);
    assert_eq!(reason, "RoleNotFound");
    assert!(
        message
            .starts_with("Role milo-system/gone was not found in Organization o or the platform"),
        "{message}"
    );
}

#[test]
fn a_role_that_does_not_grant_the_permission_allows_nothing() {
    let binding = binding_def(
        &org("o"),
        policy_binding(
            "default",
            "b",
            "owner",
            "milo-system",
            user_subject("alice"),
            hierarchy_ref("Organization", "o"),
        ),
    );
    let policy = Policy::new(vec![owner_role()], vec![binding], vec![]);
    let a_project = project_object(chain());
    let alice = policy.subject("alice", &[]);
    assert!(
        policy
            .decide(
                &alice,
                &permission("resourcemanager.miloapis.com/projects.get"),
                &a_project
            )
            .allowed
    );
    assert!(
        !policy
            .decide(
                &alice,
                &permission("resourcemanager.miloapis.com/projects.update"),
                &a_project
            )
            .allowed
    );
}

#[test]
fn a_refusal_names_the_permission_the_target_and_the_user_and_nothing_else() {
    let other = binding_def(
        &org("rival"),
        policy_binding(
            "secret-ns",
            "rival-binding",
            "owner",
            "milo-system",
            user_subject("alice"),
            hierarchy_ref("Organization", "rival"),
        ),
    );
    let also = binding_def(
        &org("o"),
        policy_binding(
            "default",
            "bobs",
            "owner",
            "milo-system",
            user_subject("bob"),
            hierarchy_ref("Organization", "o"),
        ),
    );
    let policy = Policy::new(vec![owner_role()], vec![other, also], vec![]);
    let a_project = project_object(chain());
    let decision = policy.decide(
        &policy.subject("alice", &[]),
        &permission("resourcemanager.miloapis.com/projects.delete"),
        &a_project,
    );
    assert!(!decision.allowed);
    assert_eq!(decision.binding, None);
    assert_eq!(
        decision.reason,
        "no binding grants resourcemanager.miloapis.com/projects.delete on Project p in Organization o to user alice"
    );
    for hidden in ["rival", "secret-ns", "bobs", "owner", "milo-system"] {
        assert!(
            !decision.reason.contains(hidden),
            "{hidden}: {}",
            decision.reason
        );
    }
}
