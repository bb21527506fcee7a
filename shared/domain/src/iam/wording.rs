//! How decisions and conditions name things, in one place so that a reason
//! names only what the sentence is about (never another tenant's objects).

use super::{Node, ObjectRef, Reach, Target};

/// "the platform", "Organization o", "Folder f", "Project p".
pub(super) fn node_phrase(node: &Node) -> String {
    match node {
        Node::Platform => "the platform".to_string(),
        Node::Organization(name) => format!("Organization {name}"),
        Node::Folder(name) => format!("Folder {name}"),
        Node::Project(name) => format!("Project {name}"),
    }
}

/// `namespace/name`, or `name` when cluster-scoped.
pub(super) fn reference_phrase(reference: &ObjectRef) -> String {
    qualified(&reference.namespace, &reference.name)
}

fn qualified(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}/{name}")
    }
}

/// A stored kind as people write it: `rbac/RoleBinding` is `RoleBinding`.
pub(super) fn kind_phrase(kind: &str) -> &str {
    kind.strip_prefix("rbac/").unwrap_or(kind)
}

/// "PolicyBinding default/x in Organization o".
pub(super) fn object_phrase(reference: &ObjectRef) -> String {
    format!(
        "{} {} in {}",
        kind_phrase(&reference.kind),
        reference_phrase(reference),
        node_phrase(&reference.context)
    )
}

/// What a request acts on, from the request alone: "Project p in
/// Organization o", "Workload collection in namespace n of Project p".
pub(super) fn target_phrase(target: &Target) -> String {
    let namespace = target.namespace.as_deref().unwrap_or("");
    let mut phrase = match &target.name {
        Some(name) => format!("{} {}", target.kind, qualified(namespace, name)),
        None if namespace.is_empty() => format!("{} collection", target.kind),
        None => format!("{} collection in namespace {namespace}", target.kind),
    };
    // "Project p in Project p" would say nothing more.
    let is_context = target
        .name
        .as_ref()
        .is_some_and(|name| node_phrase(&target.context) == format!("{} {name}", target.kind));
    if target.context != Node::Platform && !is_context {
        phrase.push_str(&format!(" in {}", node_phrase(&target.context)));
    }
    phrase
}

/// Where a binding grants: "on Organization o", "on every Workload in Project p".
pub(super) fn reach_phrase(reach: &Reach) -> String {
    match reach {
        Reach::Node(node) => format!("on {} and below", node_phrase(node)),
        Reach::Context(node) => format!("on everything in {} and below", node_phrase(node)),
        Reach::Kind { context, kind, .. } => {
            format!("on every {kind} in {} and below", node_phrase(context))
        }
        Reach::Object {
            context,
            kind,
            namespace,
            name,
            ..
        } => {
            format!(
                "on {kind} {} in {}",
                qualified(namespace, name),
                node_phrase(context)
            )
        }
        Reach::Namespace { context, namespace } => {
            format!("in namespace {namespace} of {}", node_phrase(context))
        }
    }
}
