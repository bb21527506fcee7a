//! Authorization (#20): every request on a resource path is decided here,
//! before a verb reads or writes anything, from the policy the instance
//! holds (iam_cache.rs, fresh on the next request after any change).
//! The rules are `domain::iam`'s; this module places the request in the
//! hierarchy: the permission it needs and the chain of nodes above what
//! it acts on.
//!
//! The chain is placed cheaply first (the context, the object itself when
//! it is an organization, folder or project) and completed with reads
//! (a project's or folder's folders) only when that first decision
//! refuses: a binding on a node reaches everything below it, so a longer
//! chain can only allow more.

pub(crate) mod iam_cache;
pub(crate) mod reviews;
mod services;

use std::sync::Arc;

use domain::hierarchy::{parent_of, ParentKind, ParentRef};
use domain::iam::{Node, Permission, Policy, Subject, Target};
use domain::kinds::{self, ORGANIZATION_LABEL};
use domain::ApiError;
use serde_json::Value;
use store::Context;

use crate::errors::from_store;
use crate::hierarchy_reads;
use crate::namespaces;
use crate::placement::builtin_ref;
use crate::request::RequestInfo;
use crate::route::ResourcePath;
use crate::ApiServer;

use domain::iam::permission_group;
pub(crate) use iam_cache::node_of;
pub use services::{events_graph, ServicePrincipal};

/// What a request needs: the permission and the target as placed so far.
pub(crate) struct Question {
    pub permission: Permission,
    pub target: Target,
}

impl Question {
    /// The question a request on `path` in `context` asks; `kind` is the
    /// kind the path's resource is (the plural for a virtual resource),
    /// `context_object` the organization or project the context is.
    pub fn of(
        request: &RequestInfo,
        context: &Context,
        path: &ResourcePath,
        kind: &str,
        context_object: Option<&Value>,
    ) -> Question {
        let resource = match &path.subresource {
            Some(sub) => format!("{}/{sub}", path.plural),
            None => path.plural.clone(),
        };
        let permission = Permission::new(
            permission_group(&path.group),
            &resource,
            request.verb.as_str(),
        );
        let mut chain = context_chain(context, context_object);
        if let Some(org) = organization_namespace(context, path, kind) {
            chain.push(Node::Organization(org.to_string()));
        }
        if let (Some(node), Some(name)) = (hierarchy_node(&path.group, kind), &path.name) {
            let node = node(name.clone());
            if !chain.contains(&node) {
                chain.push(node);
            }
        }
        Question {
            permission,
            target: Target {
                chain,
                context: node_of(context),
                group: path.group.clone(),
                kind: kind.to_string(),
                namespace: path.namespace.clone(),
                name: path.name.clone(),
            },
        }
    }
}

impl Question {
    /// A question about something only the platform holds (the admission
    /// function's endpoints).
    pub fn at_platform(group: &str, resource: &str, verb: &str) -> Question {
        Question {
            permission: Permission::new(group, resource, verb),
            target: Target {
                group: group.to_string(),
                kind: resource.to_string(),
                ..platform_target()
            },
        }
    }
}

/// The node constructor of a hierarchy kind.
fn hierarchy_node(group: &str, kind: &str) -> Option<fn(String) -> Node> {
    if group != kinds::RESOURCEMANAGER_GROUP {
        return None;
    }
    match kind {
        k if k == kinds::ORGANIZATION.kind => Some(Node::Organization),
        k if k == kinds::FOLDER.kind => Some(Node::Folder),
        k if k == kinds::PROJECT.kind => Some(Node::Project),
        _ => None,
    }
}

/// The organization whose own namespace in the platform (Milo's
/// `organization-{org}`, where its memberships are) the request is in or
/// names: what is there sits under the organization, so its owners manage
/// its members.
fn organization_namespace<'a>(
    context: &Context,
    path: &'a ResourcePath,
    kind: &str,
) -> Option<&'a str> {
    let namespace = match (&path.namespace, &path.name) {
        (Some(namespace), _) => namespace,
        (None, Some(name)) if path.group.is_empty() && kind == kinds::NAMESPACE.kind => name,
        _ => return None,
    };
    namespaces::organization_of(context, namespace)
}

/// The chain of a context as far as the request already knows it: a
/// project's organization from its label, its folders not yet.
fn context_chain(context: &Context, context_object: Option<&Value>) -> Vec<Node> {
    match context {
        Context::Platform => vec![Node::Platform],
        Context::Organization(org) => vec![Node::Platform, Node::Organization(org.clone())],
        Context::Project(project) => {
            let org = context_object
                .and_then(|p| p["metadata"]["labels"][ORGANIZATION_LABEL].as_str())
                .map(|o| Node::Organization(o.to_string()));
            [
                Some(Node::Platform),
                org,
                Some(Node::Project(project.clone())),
            ]
            .into_iter()
            .flatten()
            .collect()
        }
    }
}

/// What an allowed request may see.
#[derive(Clone)]
pub(crate) enum Access {
    /// Everything it asks for.
    Whole,
    /// A list of organizations in the platform by someone who may not list
    /// them all: the ones they may get (Kubernetes would refuse; a tenant
    /// expects to see their own).
    Only(Visible),
}

/// Which items of a list its requester may see.
#[derive(Clone)]
pub(crate) struct Visible {
    policy: Arc<Policy>,
    subject: Subject,
}

impl Visible {
    pub fn shows(&self, doc: &Value) -> bool {
        let Some(name) = doc["metadata"]["name"].as_str() else {
            return false;
        };
        let organization = &kinds::ORGANIZATION;
        let target = Target {
            chain: vec![Node::Platform, Node::Organization(name.to_string())],
            context: Node::Platform,
            group: organization.group.to_string(),
            kind: organization.kind.to_string(),
            namespace: None,
            name: Some(name.to_string()),
        };
        let get = Permission::new(organization.group, organization.plural, "get");
        self.policy.decide(&self.subject, &get, &target).allowed
    }
}

/// Decides a request: its answer, or the 403 that names the verb, the
/// resource and the scope (and nothing of what exists there).
pub(crate) async fn authorize(
    server: &ApiServer,
    request: &RequestInfo,
    question: Question,
) -> Result<Access, ApiError> {
    if !server.authorizes {
        return Ok(Access::Whole);
    }
    let policy = server.iam.current(&server.store).await?;
    let subject = subject_of(&policy, request);
    let first = policy.decide(&subject, &question.permission, &question.target);
    if first.allowed {
        return Ok(Access::Whole);
    }
    if lists_organizations(&question) {
        return Ok(Access::Only(Visible { policy, subject }));
    }
    let target = complete(server, question.target).await?;
    let decision = policy.decide(&subject, &question.permission, &target);
    if decision.allowed {
        return Ok(Access::Whole);
    }
    tracing::info!(reason = %decision.reason, "refused by IAM");
    Err(forbidden(&subject, &question.permission, &target))
}

fn lists_organizations(question: &Question) -> bool {
    let target = &question.target;
    matches!(question.permission.verb.as_str(), "list" | "watch")
        && target.context == Node::Platform
        && target.group == kinds::ORGANIZATION.group
        && target.kind == kinds::ORGANIZATION.kind
}

/// Who asks, with the groups their memberships add.
pub(crate) fn subject_of(policy: &Policy, request: &RequestInfo) -> Subject {
    policy.subject(&request.principal.subject, &request.principal.groups)
}

/// The target with its chain read whole: the organization and folders
/// above the project or folder it is or is in (the chain's last node).
pub(crate) async fn complete(server: &ApiServer, mut target: Target) -> Result<Target, ApiError> {
    let (kind, name) = match target.chain.last() {
        Some(Node::Project(p)) => (&kinds::PROJECT, p.clone()),
        Some(Node::Folder(f)) => (&kinds::FOLDER, f.clone()),
        _ => return Ok(target),
    };
    let key = builtin_ref(&Context::Platform, kind, "", &name).key();
    let Some(stored) = server.store.get(&key).await.map_err(from_store)? else {
        return Ok(target);
    };
    let Some(parent) = parent_of(kind.kind, &stored.object["spec"]) else {
        return Ok(target);
    };
    let lowest = target.chain.pop();
    target.chain = std::iter::once(Node::Platform)
        .chain(ancestors(server, &parent).await?)
        .chain(lowest)
        .collect();
    Ok(target)
}

/// A hierarchy node as a target: the object itself, its chain read whole.
pub(crate) async fn node_target(server: &ApiServer, node: &Node) -> Result<Target, ApiError> {
    let (kind, name) = match node {
        Node::Platform => return Ok(platform_target()),
        Node::Organization(o) => (&kinds::ORGANIZATION, o),
        Node::Folder(f) => (&kinds::FOLDER, f),
        Node::Project(p) => (&kinds::PROJECT, p),
    };
    let target = Target {
        chain: vec![Node::Platform, node.clone()],
        context: Node::Platform,
        group: kind.group.to_string(),
        kind: kind.kind.to_string(),
        namespace: None,
        name: Some(name.clone()),
    };
    complete(server, target).await
}

/// A context as a target: everything in it (a ClusterRoleBinding's reach).
pub(crate) async fn context_target(
    server: &ApiServer,
    context: &Context,
) -> Result<Target, ApiError> {
    let node = node_of(context);
    let chain = node_target(server, &node).await?.chain;
    Ok(Target {
        chain,
        context: node,
        ..platform_target()
    })
}

fn platform_target() -> Target {
    Target {
        chain: vec![Node::Platform],
        context: Node::Platform,
        group: String::new(),
        kind: String::new(),
        namespace: None,
        name: None,
    }
}

/// A parent and its ancestors, the organization first.
async fn ancestors(server: &ApiServer, parent: &ParentRef) -> Result<Vec<Node>, ApiError> {
    let links = match hierarchy_reads::chain(&server.store, parent, "spec").await {
        Ok(links) => links,
        // A parent gone mid-delete places nothing more.
        Err(_) => return Ok(Vec::new()),
    };
    Ok(links
        .iter()
        .rev()
        .map(|l| match l.ancestor.kind {
            ParentKind::Organization => Node::Organization(l.ancestor.name.clone()),
            ParentKind::Folder => Node::Folder(l.ancestor.name.clone()),
        })
        .collect())
}

/// Kubernetes' words for a refusal: who, which verb, which resource, where.
pub(crate) fn forbidden(subject: &Subject, permission: &Permission, target: &Target) -> ApiError {
    let resource = match &target.name {
        Some(name) => format!("{} \"{name}\"", permission.resource),
        None => permission.resource.clone(),
    };
    let scope = match (&target.namespace, target.chain.last()) {
        (Some(ns), _) => format!("in the namespace \"{ns}\" of {}", describe(&target.context)),
        (None, _) => format!("in {}", describe(&target.context)),
    };
    ApiError::Forbidden {
        message: format!(
            "{resource} is forbidden: User \"{}\" cannot {} resource \"{}\" in API group \"{}\" {scope} (no binding grants {})",
            subject.user,
            permission.verb,
            permission.resource,
            target.group,
            permission.name(),
        ),
    }
}

fn describe(node: &Node) -> String {
    match node {
        Node::Platform => "the platform".into(),
        Node::Organization(o) => format!("organization \"{o}\""),
        Node::Folder(f) => format!("folder \"{f}\""),
        Node::Project(p) => format!("project \"{p}\""),
    }
}
