//! Rules 3 and 4: bindings and memberships parsed.

use serde_json::json;

use super::*;

fn parse_error(object: Value) -> String {
    BindingDef::parse(&org("o"), &object).expect_err("refused")
}

#[test]
fn a_policy_binding_names_its_role_defaulting_to_its_own_namespace() {
    let mut object = policy_binding(
        "default",
        "b",
        "owner",
        "milo-system",
        user_subject("u"),
        hierarchy_ref("Organization", "o"),
    );
    let binding = binding_def(&org("o"), object.clone());
    assert_eq!(
        binding.reference(),
        &ObjectRef {
            context: org("o"),
            kind: POLICY_BINDING_KIND.into(),
            namespace: "default".into(),
            name: "b".into()
        }
    );
    assert_eq!(
        binding.role(),
        &ObjectRef {
            context: org("o"),
            kind: ROLE_KIND.into(),
            namespace: "milo-system".into(),
            name: "owner".into()
        }
    );
    assert_eq!(
        binding.user_uids(),
        vec![("u".to_string(), "uid-u".to_string())]
    );
    assert_eq!(binding.resource_uid(), Some("u"));
    object["spec"]["roleRef"]
        .as_object_mut()
        .expect("roleRef")
        .remove("namespace");
    assert_eq!(binding_def(&org("o"), object).role().namespace, "default");
}

#[test]
fn a_resource_ref_to_the_hierarchy_reaches_a_node_and_to_anything_else_one_object() {
    let reach = |selector: Value| {
        binding_def(
            &org("o"),
            policy_binding("d", "b", "r", "d", user_subject("u"), selector),
        )
        .reach()
        .clone()
    };
    assert_eq!(
        reach(hierarchy_ref("Organization", "x")),
        Reach::Node(org("x"))
    );
    assert_eq!(
        reach(hierarchy_ref("Folder", "f")),
        Reach::Node(folder("f"))
    );
    assert_eq!(
        reach(hierarchy_ref("Project", "p")),
        Reach::Node(project("p"))
    );
    let other = json!({"resourceRef": {"apiGroup": "compute.miloapis.com", "kind": "Workload", "name": "w", "namespace": "n", "uid": "x"}});
    assert_eq!(
        reach(other),
        Reach::Object {
            context: org("o"),
            group: "compute.miloapis.com".into(),
            kind: "Workload".into(),
            namespace: "n".into(),
            name: "w".into()
        }
    );
    let by_kind = json!({"resourceKind": {"kind": "ConfigMap"}});
    assert_eq!(
        reach(by_kind),
        Reach::Kind {
            context: org("o"),
            group: "".into(),
            kind: "ConfigMap".into()
        }
    );
}

#[test]
fn a_resource_selector_needs_exactly_one_of_ref_or_kind() {
    let both = json!({"resourceRef": {"kind": "Organization", "name": "o", "uid": "u"}, "resourceKind": {"kind": "Project"}});
    let message = "spec.resourceSelector: exactly one of resourceRef or resourceKind must be set";
    assert_eq!(
        parse_error(policy_binding("d", "b", "r", "d", user_subject("u"), both)),
        message
    );
    assert_eq!(
        parse_error(policy_binding(
            "d",
            "b",
            "r",
            "d",
            user_subject("u"),
            json!({})
        )),
        message
    );
    let nameless = json!({"resourceRef": {"kind": "Organization", "uid": "u"}});
    assert_eq!(
        parse_error(policy_binding(
            "d",
            "b",
            "r",
            "d",
            user_subject("u"),
            nameless
        )),
        "spec.resourceSelector.resourceRef.name: must be set"
    );
}

#[test]
fn a_policy_binding_needs_a_subject_of_a_known_kind_and_a_role() {
    let selector = hierarchy_ref("Organization", "o");
    let none = policy_binding("d", "b", "r", "d", json!([]), selector.clone());
    assert!(parse_error(none).starts_with("spec.subjects:"));
    let robot = policy_binding(
        "d",
        "b",
        "r",
        "d",
        json!([{"kind": "Robot", "name": "x"}]),
        selector.clone(),
    );
    assert!(parse_error(robot).starts_with("spec.subjects[0].kind: \"Robot\""));
    let mut roleless = policy_binding("d", "b", "r", "d", user_subject("u"), selector);
    roleless["spec"]["roleRef"] = json!({});
    assert_eq!(parse_error(roleless), "spec.roleRef.name: must be set");
}

#[test]
fn rbac_bindings_reach_their_namespace_or_their_context() {
    let subjects = json!([{"kind": "User", "name": "u"}]);
    let role_binding = binding_def(
        &project("p"),
        rbac_binding(
            "RoleBinding",
            Some("n"),
            "rb",
            "Role",
            "reader",
            subjects.clone(),
        ),
    );
    assert_eq!(
        role_binding.reach(),
        &Reach::Namespace {
            context: project("p"),
            namespace: "n".into()
        }
    );
    assert_eq!(
        role_binding.role(),
        &ObjectRef {
            context: project("p"),
            kind: RBAC_ROLE_KIND.into(),
            namespace: "n".into(),
            name: "reader".into()
        }
    );
    let to_cluster_role = binding_def(
        &project("p"),
        rbac_binding(
            "RoleBinding",
            Some("n"),
            "rb",
            "ClusterRole",
            "view",
            subjects.clone(),
        ),
    );
    assert_eq!(to_cluster_role.role().kind, RBAC_CLUSTER_ROLE_KIND);
    assert_eq!(to_cluster_role.role().namespace, "");
    let cluster = binding_def(
        &project("p"),
        rbac_binding(
            "ClusterRoleBinding",
            None,
            "crb",
            "ClusterRole",
            "view",
            subjects.clone(),
        ),
    );
    assert_eq!(cluster.reach(), &Reach::Context(project("p")));
    assert_eq!(cluster.reference().kind, RBAC_CLUSTER_ROLE_BINDING_KIND);
    let wrong = rbac_binding(
        "ClusterRoleBinding",
        None,
        "crb",
        "Role",
        "reader",
        subjects,
    );
    assert!(parse_error(wrong).starts_with("roleRef.kind:"));
}

#[test]
fn a_service_account_subject_is_kubernetes_user_name() {
    let subjects = json!([{"kind": "ServiceAccount", "name": "builder", "namespace": "ci"}]);
    let binding = binding_def(
        &org("o"),
        rbac_binding(
            "ClusterRoleBinding",
            None,
            "crb",
            "ClusterRole",
            "view",
            subjects,
        ),
    );
    let keys: Vec<_> = binding.subject_keys().cloned().collect();
    assert_eq!(
        keys,
        vec![crate::iam::bindings::SubjectKey::User(
            "system:serviceaccount:ci:builder".into()
        )]
    );
    let nameless = json!([{"kind": "ServiceAccount", "name": "builder"}]);
    let error = parse_error(rbac_binding(
        "ClusterRoleBinding",
        None,
        "crb",
        "ClusterRole",
        "view",
        nameless,
    ));
    assert_eq!(error, "subjects[0].namespace: must be set");
}

#[test]
fn group_subjects_are_keyed_so_that_memberships_meet_them() {
    let subjects = json!([
        {"kind": "Group", "name": "admins", "namespace": "team", "uid": "g"},
        {"kind": "Group", "name": "oidc-group"},
        {"kind": "Group", "name": "system:authenticated-users"},
    ]);
    let binding = binding_def(
        &org("o"),
        policy_binding(
            "d",
            "b",
            "r",
            "d",
            subjects,
            hierarchy_ref("Organization", "o"),
        ),
    );
    let keys: Vec<_> = binding.subject_keys().cloned().collect();
    use crate::iam::bindings::SubjectKey::Group;
    assert_eq!(
        keys,
        vec![
            Group("org:o:team/admins".into()),
            Group("oidc-group".into()),
            Group(AUTHENTICATED_GROUP.into())
        ]
    );
    assert_eq!(
        membership("alice", "team", "admins"),
        Membership {
            user: "alice".into(),
            group: "org:o:team/admins".into()
        }
    );
}

#[test]
fn a_membership_needs_its_user_and_its_group_with_namespace() {
    let object = json!({
        "apiVersion": "iam.miloapis.com/v1alpha1",
        "kind": "GroupMembership",
        "metadata": {"name": "m"},
        "spec": {"userRef": {"name": "alice"}, "groupRef": {"name": "admins"}},
    });
    assert_eq!(
        Membership::parse(&Node::Platform, &object).expect_err("refused"),
        "spec.groupRef.namespace: must be set"
    );
}
