//! Rule 6's reaches through the hierarchy: a 10-deep folder chain, a
//! sibling subtree, a kind, one object, a namespace, and the benchmark's shape.

use serde_json::json;

use super::*;

/// Platform → Organization o → f1 … f10 → Project p.
fn deep_chain() -> Vec<Node> {
    let mut chain = vec![Node::Platform, org("o")];
    chain.extend((1..=10).map(|depth| folder(&format!("f{depth}"))));
    chain.push(project("p"));
    chain
}

/// Platform → o → f1 … f4 → f5b → Project q: beside f5's subtree.
fn sibling_chain() -> Vec<Node> {
    let mut chain = vec![Node::Platform, org("o")];
    chain.extend((1..=4).map(|depth| folder(&format!("f{depth}"))));
    chain.extend([folder("f5b"), project("q")]);
    chain
}

fn owner_on(kind: &str, name: &str) -> Policy {
    let binding = binding_def(
        &org("o"),
        policy_binding(
            "default",
            "b",
            "owner",
            "milo-system",
            user_subject("alice"),
            hierarchy_ref(kind, name),
        ),
    );
    Policy::new(vec![owner_role()], vec![binding], vec![])
}

fn workload_in(chain: Vec<Node>) -> Target {
    target(
        chain,
        "compute.miloapis.com",
        "Workload",
        Some("default"),
        Some("w"),
    )
}

#[test]
fn a_binding_on_the_organization_reaches_a_project_under_ten_folders() {
    let policy = owner_on("Organization", "o");
    let alice = policy.subject("alice", &[]);
    let decision = policy.decide(
        &alice,
        &permission("compute.miloapis.com/workloads.get"),
        &workload_in(deep_chain()),
    );
    assert!(decision.allowed, "{}", decision.reason);
    assert_eq!(decision.binding.expect("a binding").name, "b");
    assert_eq!(
        decision.reason,
        "allowed by PolicyBinding default/b in Organization o (Role milo-system/owner of the platform) on Organization o and below"
    );
    let other_org = vec![Node::Platform, org("x"), project("p")];
    assert!(
        !policy
            .decide(
                &alice,
                &permission("compute.miloapis.com/workloads.get"),
                &workload_in(other_org)
            )
            .allowed
    );
}

#[test]
fn a_binding_on_folder_five_reaches_below_it_and_not_a_sibling_subtree() {
    let policy = owner_on("Folder", "f5");
    let alice = policy.subject("alice", &[]);
    let get = permission("compute.miloapis.com/workloads.get");
    assert!(
        policy
            .decide(&alice, &get, &workload_in(deep_chain()))
            .allowed
    );
    assert!(
        !policy
            .decide(&alice, &get, &workload_in(sibling_chain()))
            .allowed
    );
    // Above the folder: the organization's own objects.
    let in_org = target(
        vec![Node::Platform, org("o")],
        "compute.miloapis.com",
        "Workload",
        Some("default"),
        Some("w"),
    );
    assert!(!policy.decide(&alice, &get, &in_org).allowed);
}

#[test]
fn a_resource_kind_binding_reaches_that_kind_only_in_its_context_and_below() {
    let selector =
        json!({"resourceKind": {"apiGroup": "compute.miloapis.com", "kind": "Workload"}});
    let binding = binding_def(
        &org("o"),
        policy_binding(
            "default",
            "b",
            "owner",
            "milo-system",
            user_subject("alice"),
            selector,
        ),
    );
    let grants = [
        "compute.miloapis.com/workloads.get",
        "compute.miloapis.com/instances.get",
        "resourcemanager.miloapis.com/projects.get",
    ];
    let compute = role_def(
        &Node::Platform,
        milo_role("milo-system", "owner", &grants, &[]),
    );
    let policy = Policy::new(vec![compute], vec![binding], vec![]);
    let alice = policy.subject("alice", &[]);
    let get = permission("compute.miloapis.com/workloads.get");
    assert!(
        policy
            .decide(&alice, &get, &workload_in(deep_chain()))
            .allowed
    );
    // Another kind of the same group, which the role grants too.
    let instance = target(
        deep_chain(),
        "compute.miloapis.com",
        "Instance",
        None,
        Some("i"),
    );
    let get_instance = permission("compute.miloapis.com/instances.get");
    assert!(!policy.decide(&alice, &get_instance, &instance).allowed);
    let a_project = project_object(deep_chain());
    assert!(
        !policy
            .decide(
                &alice,
                &permission("resourcemanager.miloapis.com/projects.get"),
                &a_project
            )
            .allowed
    );
    let elsewhere = vec![Node::Platform, org("x"), project("p")];
    assert!(
        !policy
            .decide(
                &alice,
                &permission("compute.miloapis.com/workloads.get"),
                &workload_in(elsewhere)
            )
            .allowed
    );
}

#[test]
fn a_resource_ref_to_an_object_reaches_that_object_only() {
    let selector = json!({"resourceRef": {"apiGroup": "compute.miloapis.com", "kind": "Workload", "name": "w", "namespace": "default", "uid": "x"}});
    let binding = binding_def(
        &project("p"),
        policy_binding(
            "default",
            "b",
            "owner",
            "milo-system",
            user_subject("alice"),
            selector,
        ),
    );
    let policy = Policy::new(vec![owner_role()], vec![binding], vec![]);
    let alice = policy.subject("alice", &[]);
    let get = permission("compute.miloapis.com/workloads.get");
    assert!(
        policy
            .decide(&alice, &get, &workload_in(deep_chain()))
            .allowed
    );
    let other = target(
        deep_chain(),
        "compute.miloapis.com",
        "Workload",
        Some("default"),
        Some("w2"),
    );
    assert!(!policy.decide(&alice, &get, &other).allowed);
    let collection = target(
        deep_chain(),
        "compute.miloapis.com",
        "Workload",
        Some("default"),
        None,
    );
    assert!(!policy.decide(&alice, &get, &collection).allowed);
    let other_namespace = target(
        deep_chain(),
        "compute.miloapis.com",
        "Workload",
        Some("prod"),
        Some("w"),
    );
    assert!(!policy.decide(&alice, &get, &other_namespace).allowed);
}

#[test]
fn a_role_binding_reaches_its_namespace_only() {
    let role = role_def(
        &project("p"),
        rbac_role(
            "n",
            "reader",
            json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]),
        ),
    );
    let subjects = json!([{"kind": "User", "name": "alice"}]);
    let binding = binding_def(
        &project("p"),
        rbac_binding("RoleBinding", Some("n"), "rb", "Role", "reader", subjects),
    );
    let policy = Policy::new(vec![role], vec![binding], vec![]);
    let alice = policy.subject("alice", &[]);
    let get = permission("core/configmaps.get");
    let chain = vec![Node::Platform, org("o"), project("p")];
    assert!(
        policy
            .decide(
                &alice,
                &get,
                &target(chain.clone(), "", "ConfigMap", Some("n"), Some("c"))
            )
            .allowed
    );
    assert!(
        !policy
            .decide(
                &alice,
                &get,
                &target(chain.clone(), "", "ConfigMap", Some("m"), Some("c"))
            )
            .allowed
    );
    assert!(
        !policy
            .decide(&alice, &get, &target(chain, "", "ConfigMap", None, None))
            .allowed
    );
    let other_project = vec![Node::Platform, org("o"), project("q")];
    assert!(
        !policy
            .decide(
                &alice,
                &get,
                &target(other_project, "", "ConfigMap", Some("n"), Some("c"))
            )
            .allowed
    );
}

/// The benchmark's shape: 100 bindings over a 10-deep path, most of them
/// other users', one of alice's on the organization at the top.
#[test]
fn a_decision_among_a_hundred_bindings_over_a_ten_deep_path() {
    let mut bindings = Vec::new();
    for index in 0..99 {
        let at = match index % 3 {
            0 => hierarchy_ref("Folder", &format!("f{}", index % 10 + 1)),
            1 => hierarchy_ref("Project", "p"),
            _ => hierarchy_ref("Organization", "o"),
        };
        let object = policy_binding(
            "default",
            &format!("b{index}"),
            "owner",
            "milo-system",
            user_subject(&format!("user{index}")),
            at,
        );
        bindings.push(binding_def(&org("o"), object));
    }
    bindings.push(binding_def(
        &org("o"),
        policy_binding(
            "default",
            "alices",
            "owner",
            "milo-system",
            user_subject("alice"),
            hierarchy_ref("Organization", "o"),
        ),
    ));
    let policy = Policy::new(vec![owner_role()], bindings, vec![]);
    let alice = policy.subject("alice", &[]);
    assert_eq!(policy.bindings_of(&alice), vec![99]);
    let get = permission("compute.miloapis.com/workloads.get");
    for _ in 0..100 {
        let decision = policy.decide(&alice, &get, &workload_in(deep_chain()));
        assert_eq!(
            decision.binding.map(|binding| binding.name),
            Some("alices".to_string())
        );
    }
    let bob = policy.subject("bob", &[]);
    assert!(
        !policy
            .decide(&bob, &get, &workload_in(deep_chain()))
            .allowed
    );
}
