//! The three binding kinds parsed (Milo's PolicyBinding, RBAC's RoleBinding
//! and ClusterRoleBinding) into whom they bind, to which role, where; and
//! Milo's GroupMembership.
//!
//! A subject is matched by key: a user by name; a group by its key, which
//! is its name for a token's groups and RBAC's Group subjects, and
//! `{context}:{namespace}/{name}` for Milo's namespaced Group (a PolicyBinding's
//! Group subject with a namespace, a GroupMembership's groupRef), so that
//! memberships and PolicyBindings meet. A ServiceAccount is the user
//! `system:serviceaccount:{namespace}:{name}`, as Kubernetes names it.

use serde_json::Value;

use super::fields::{self, kind_and_group, name_and_namespace};
use super::{
    BindingDef, Membership, Node, ObjectRef, Reach, AUTHENTICATED_GROUP, IAM_GROUP,
    POLICY_BINDING_KIND, RBAC_CLUSTER_ROLE_BINDING_KIND, RBAC_CLUSTER_ROLE_KIND, RBAC_GROUP,
    RBAC_ROLE_BINDING_KIND, RBAC_ROLE_KIND, RESOURCEMANAGER_GROUP, ROLE_KIND,
};

/// Milo's name for every authenticated user (the PolicyBinding CRD), which
/// is Kubernetes' `system:authenticated` here.
const MILO_AUTHENTICATED_GROUP: &str = "system:authenticated-users";

/// Whom a binding's subject matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum SubjectKey {
    User(String),
    Group(String),
}

/// One subject of a binding.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct BoundSubject {
    pub key: SubjectKey,
    /// The uid a PolicyBinding's User subject wrote.
    pub uid: Option<String>,
}

impl BindingDef {
    pub(super) fn subject_keys(&self) -> impl Iterator<Item = &SubjectKey> {
        self.subjects.iter().map(|subject| &subject.key)
    }
}

pub(super) fn user_uids(subjects: &[BoundSubject]) -> Vec<(String, String)> {
    subjects
        .iter()
        .filter_map(|subject| match (&subject.key, &subject.uid) {
            (SubjectKey::User(name), Some(uid)) => Some((name.clone(), uid.clone())),
            _ => None,
        })
        .collect()
}

pub(super) fn parse(context: &Node, object: &Value) -> Result<BindingDef, String> {
    let (kind, group) = kind_and_group(object);
    let (name, namespace) = name_and_namespace(object)?;
    let reference = |kind: &str, namespace: &str| ObjectRef {
        context: context.clone(),
        kind: kind.to_string(),
        namespace: namespace.to_string(),
        name: name.clone(),
    };
    match (group, kind) {
        (IAM_GROUP, "PolicyBinding") => {
            policy_binding(context, object, reference(POLICY_BINDING_KIND, &namespace))
        }
        (RBAC_GROUP, "RoleBinding") => {
            if namespace.is_empty() {
                return Err(
                    "metadata.namespace: a RoleBinding is namespaced; set its namespace, or make it a ClusterRoleBinding"
                        .to_string(),
                );
            }
            let reach = Reach::Namespace {
                context: context.clone(),
                namespace: namespace.clone(),
            };
            rbac_binding(object, reference(RBAC_ROLE_BINDING_KIND, &namespace), reach)
        }
        (RBAC_GROUP, "ClusterRoleBinding") => {
            let reach = Reach::Context(context.clone());
            rbac_binding(object, reference(RBAC_CLUSTER_ROLE_BINDING_KIND, ""), reach)
        }
        _ => Err(format!(
            "kind: {kind} ({group}) is not a binding; expected PolicyBinding ({IAM_GROUP}), or RoleBinding or ClusterRoleBinding ({RBAC_GROUP})"
        )),
    }
}

fn policy_binding(
    context: &Node,
    object: &Value,
    reference: ObjectRef,
) -> Result<BindingDef, String> {
    let role_name = fields::required(object, "spec.roleRef.name", "spec.roleRef.name")?;
    let role_namespace = fields::text(object, "spec.roleRef.namespace", "spec.roleRef.namespace")?;
    let role = ObjectRef {
        context: context.clone(),
        kind: ROLE_KIND.to_string(),
        namespace: role_namespace.unwrap_or(&reference.namespace).to_string(),
        name: role_name.to_string(),
    };
    let entries = fields::list(object, "spec.subjects", "spec.subjects")?;
    if entries.is_empty() {
        return Err("spec.subjects: name at least one subject (a User or a Group)".to_string());
    }
    let mut subjects = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        subjects.push(milo_subject(
            context,
            entry,
            &format!("spec.subjects[{index}]"),
        )?);
    }
    let (reach, resource_uid) = resource_selector(context, object)?;
    Ok(BindingDef {
        reference,
        role,
        reach,
        subjects,
        resource_uid,
    })
}

fn milo_subject(context: &Node, entry: &Value, label: &str) -> Result<BoundSubject, String> {
    let kind = fields::required(entry, "kind", &format!("{label}.kind"))?;
    let name = fields::required(entry, "name", &format!("{label}.name"))?.to_string();
    let namespace = fields::text(entry, "namespace", &format!("{label}.namespace"))?;
    let uid = fields::text(entry, "uid", &format!("{label}.uid"))?.map(str::to_string);
    let key = match (kind, namespace) {
        ("User", _) => SubjectKey::User(name),
        ("Group", _) if name == MILO_AUTHENTICATED_GROUP => {
            SubjectKey::Group(AUTHENTICATED_GROUP.to_string())
        }
        ("Group", Some(namespace)) => SubjectKey::Group(milo_group_key(context, namespace, &name)),
        ("Group", None) => SubjectKey::Group(name),
        // The CRD allows ServiceAccount; without a namespace it is the
        // user of that name.
        ("ServiceAccount", Some(namespace)) => SubjectKey::User(service_account(namespace, &name)),
        ("ServiceAccount", None) => SubjectKey::User(name),
        _ => {
            return Err(format!(
                "{label}.kind: {kind:?} is not a subject kind; use User, Group or ServiceAccount"
            ))
        }
    };
    Ok(BoundSubject { key, uid })
}

fn service_account(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// A PolicyBinding's reach and the resourceRef's uid.
fn resource_selector(context: &Node, object: &Value) -> Result<(Reach, Option<String>), String> {
    let by_ref = fields::at(object, "spec.resourceSelector.resourceRef");
    let by_kind = fields::at(object, "spec.resourceSelector.resourceKind");
    match (by_ref, by_kind) {
        (Some(reference), None) => resource_ref(context, reference),
        (None, Some(selected)) => {
            const LABEL: &str = "spec.resourceSelector.resourceKind";
            let group = fields::text(selected, "apiGroup", &format!("{LABEL}.apiGroup"))?;
            let reach = Reach::Kind {
                context: context.clone(),
                group: group.unwrap_or("").to_string(),
                kind: fields::required(selected, "kind", &format!("{LABEL}.kind"))?.to_string(),
            };
            Ok((reach, None))
        }
        _ => Err(
            "spec.resourceSelector: exactly one of resourceRef or resourceKind must be set"
                .to_string(),
        ),
    }
}

/// A resourceRef to a hierarchy object reaches it and below; to any other
/// object, that object in the binding's context.
fn resource_ref(context: &Node, reference: &Value) -> Result<(Reach, Option<String>), String> {
    const LABEL: &str = "spec.resourceSelector.resourceRef";
    let label = |key: &str| format!("{LABEL}.{key}");
    let group = fields::text(reference, "apiGroup", &label("apiGroup"))?.unwrap_or("");
    let kind = fields::required(reference, "kind", &label("kind"))?;
    let name = fields::required(reference, "name", &label("name"))?.to_string();
    let namespace = fields::text(reference, "namespace", &label("namespace"))?.unwrap_or("");
    let uid = fields::text(reference, "uid", &label("uid"))?.map(str::to_string);
    let reach = match (group, kind) {
        (RESOURCEMANAGER_GROUP, "Organization") => Reach::Node(Node::Organization(name)),
        (RESOURCEMANAGER_GROUP, "Folder") => Reach::Node(Node::Folder(name)),
        (RESOURCEMANAGER_GROUP, "Project") => Reach::Node(Node::Project(name)),
        _ => Reach::Object {
            context: context.clone(),
            group: group.to_string(),
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name,
        },
    };
    Ok((reach, uid))
}

fn rbac_binding(object: &Value, reference: ObjectRef, reach: Reach) -> Result<BindingDef, String> {
    let api_group = fields::required(object, "roleRef.apiGroup", "roleRef.apiGroup")?;
    if api_group != RBAC_GROUP {
        return Err(format!(
            "roleRef.apiGroup: {api_group:?}; a binding of RBAC names a role of {RBAC_GROUP}"
        ));
    }
    let role_kind = fields::required(object, "roleRef.kind", "roleRef.kind")?;
    let name = fields::required(object, "roleRef.name", "roleRef.name")?;
    let cluster_wide = reference.kind == RBAC_CLUSTER_ROLE_BINDING_KIND;
    let (kind, namespace) = match role_kind {
        "ClusterRole" => (RBAC_CLUSTER_ROLE_KIND, ""),
        // A RoleBinding's Role is in the binding's own namespace.
        "Role" if !cluster_wide => (RBAC_ROLE_KIND, reference.namespace.as_str()),
        _ if cluster_wide => {
            return Err(format!(
                "roleRef.kind: {role_kind:?}; a ClusterRoleBinding binds a ClusterRole"
            ))
        }
        _ => {
            return Err(format!(
                "roleRef.kind: {role_kind:?}; bind a Role or a ClusterRole"
            ))
        }
    };
    let role = ObjectRef {
        context: reference.context.clone(),
        kind: kind.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
    };
    let entries = fields::list(object, "subjects", "subjects")?;
    let mut subjects = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        subjects.push(rbac_subject(entry, &format!("subjects[{index}]"))?);
    }
    Ok(BindingDef {
        reference,
        role,
        reach,
        subjects,
        resource_uid: None,
    })
}

fn rbac_subject(entry: &Value, label: &str) -> Result<BoundSubject, String> {
    let kind = fields::required(entry, "kind", &format!("{label}.kind"))?;
    let name = fields::required(entry, "name", &format!("{label}.name"))?.to_string();
    let key = match kind {
        "User" => SubjectKey::User(name),
        "Group" => SubjectKey::Group(name),
        "ServiceAccount" => {
            let namespace = fields::required(entry, "namespace", &format!("{label}.namespace"))?;
            SubjectKey::User(service_account(namespace, &name))
        }
        _ => {
            return Err(format!(
                "{label}.kind: {kind:?} is not a subject kind; use User, Group or ServiceAccount"
            ))
        }
    };
    Ok(BoundSubject { key, uid: None })
}

/// A Milo Group's key: its context, namespace and name, so that a group of
/// one organization never stands for another's of the same name.
pub(super) fn milo_group_key(context: &Node, namespace: &str, name: &str) -> String {
    let context = match context {
        Node::Platform => "_".to_string(),
        Node::Organization(o) => format!("org:{o}"),
        Node::Folder(f) => format!("folder:{f}"),
        Node::Project(p) => format!("project:{p}"),
    };
    format!("{context}:{namespace}/{name}")
}

pub(super) fn parse_membership(context: &Node, object: &Value) -> Result<Membership, String> {
    let (kind, group) = kind_and_group(object);
    if !kind.is_empty() && (group, kind) != (IAM_GROUP, "GroupMembership") {
        return Err(format!(
            "kind: {kind} ({group}) is not a GroupMembership ({IAM_GROUP})"
        ));
    }
    let user = fields::required(object, "spec.userRef.name", "spec.userRef.name")?;
    let name = fields::required(object, "spec.groupRef.name", "spec.groupRef.name")?;
    let namespace = fields::required(object, "spec.groupRef.namespace", "spec.groupRef.namespace")?;
    Ok(Membership {
        user: user.to_string(),
        group: milo_group_key(context, namespace, name),
    })
}
