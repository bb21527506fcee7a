//! Tests of the IAM core, by rule; the objects as Milo and Kubernetes write them.

mod bindings;
mod decisions;
mod hierarchy;
mod permissions;
mod review;
mod roles;

use serde_json::{json, Value};

use super::*;

fn org(name: &str) -> Node {
    Node::Organization(name.to_string())
}

fn folder(name: &str) -> Node {
    Node::Folder(name.to_string())
}

fn project(name: &str) -> Node {
    Node::Project(name.to_string())
}

/// A Milo Role: `inherited` as (name, namespace).
fn milo_role(
    namespace: &str,
    name: &str,
    permissions: &[&str],
    inherited: &[(&str, Option<&str>)],
) -> Value {
    let inherited: Vec<Value> = inherited
        .iter()
        .map(|(name, namespace)| match namespace {
            Some(namespace) => json!({"name": name, "namespace": namespace}),
            None => json!({"name": name}),
        })
        .collect();
    json!({
        "apiVersion": "iam.miloapis.com/v1alpha1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"launchStage": "Beta", "includedPermissions": permissions, "inheritedRoles": inherited},
    })
}

fn cluster_role(name: &str, rules: Value) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": rules,
    })
}

fn rbac_role(namespace: &str, name: &str, rules: Value) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace},
        "rules": rules,
    })
}

/// A PolicyBinding of Milo's role `role` (in `role_namespace`) to one user.
fn policy_binding(
    namespace: &str,
    name: &str,
    role: &str,
    role_namespace: &str,
    subjects: Value,
    selector: Value,
) -> Value {
    json!({
        "apiVersion": "iam.miloapis.com/v1alpha1",
        "kind": "PolicyBinding",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "roleRef": {"name": role, "namespace": role_namespace},
            "subjects": subjects,
            "resourceSelector": selector,
        },
    })
}

fn user_subject(name: &str) -> Value {
    json!([{"kind": "User", "name": name, "uid": format!("uid-{name}")}])
}

/// A resourceSelector naming a hierarchy object.
fn hierarchy_ref(kind: &str, name: &str) -> Value {
    json!({"resourceRef": {"apiGroup": RESOURCEMANAGER_GROUP, "kind": kind, "name": name, "uid": "u"}})
}

fn rbac_binding(
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    role_kind: &str,
    role: &str,
    subjects: Value,
) -> Value {
    let mut metadata = json!({"name": name});
    if let Some(namespace) = namespace {
        metadata["namespace"] = json!(namespace);
    }
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": metadata,
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": role},
        "subjects": subjects,
    })
}

fn role_def(context: &Node, object: Value) -> RoleDef {
    RoleDef::parse(context, &object).expect("role parses")
}

fn binding_def(context: &Node, object: Value) -> BindingDef {
    BindingDef::parse(context, &object).expect("binding parses")
}

/// A GroupMembership stored in organization `o`'s context, as the
/// bindings of these tests are.
fn membership(user: &str, group_namespace: &str, group: &str) -> Membership {
    Membership::parse(&org("o"), &json!({
        "apiVersion": "iam.miloapis.com/v1alpha1",
        "kind": "GroupMembership",
        "metadata": {"name": format!("{user}-{group}"), "namespace": group_namespace},
        "spec": {"userRef": {"name": user}, "groupRef": {"name": group, "namespace": group_namespace}},
    }))
    .expect("membership parses")
}

/// An object of `kind` in `context`, below `chain`.
fn target(
    chain: Vec<Node>,
    group: &str,
    kind: &str,
    namespace: Option<&str>,
    name: Option<&str>,
) -> Target {
    Target {
        context: chain.last().cloned().expect("a chain"),
        chain,
        group: group.to_string(),
        kind: kind.to_string(),
        namespace: namespace.map(str::to_string),
        name: name.map(str::to_string),
    }
}

/// The Project object at the end of `chain`, stored in the organization's context (where
/// the hierarchy's objects are stored).
fn project_object(chain: Vec<Node>) -> Target {
    let name = match chain.last() {
        Some(Node::Project(name)) => name.clone(),
        _ => panic!("a chain ending in a project"),
    };
    let context = chain.get(1).cloned().expect("an organization");
    Target {
        context,
        ..target(chain, RESOURCEMANAGER_GROUP, "Project", None, Some(&name))
    }
}

fn permission(name: &str) -> Permission {
    Permission::parse(name).expect("a permission")
}

/// The platform's organization-owner role, as in Milo's samples.
fn owner_role() -> RoleDef {
    role_def(
        &Node::Platform,
        milo_role(
            "milo-system",
            "owner",
            &[
                "resourcemanager.miloapis.com/projects.delete",
                "resourcemanager.miloapis.com/projects.get",
                "compute.miloapis.com/workloads.get",
            ],
            &[],
        ),
    )
}
