//! Hierarchical IAM (#20), pure: permissions as Milo names them, roles
//! (Milo's Role, Kubernetes' Role and ClusterRole) resolved to what they
//! grant, bindings (Milo's PolicyBinding, Kubernetes' RoleBinding and
//! ClusterRoleBinding) resolved to whom and where they grant it, and the
//! decision: may this subject do this to this target, and why.
//!
//! The adapter (shared/apiserver) reads the stored objects, builds a
//! [`Policy`] from them, and asks [`Policy::decide`] once per request.

pub mod access_review;
mod bindings;
mod builtin;
mod decide;
mod fields;
pub mod organization_membership;
mod permission;
mod resolve;
mod review;
mod roles;
mod wording;

pub use builtin::{
    builtin, is_builtin_role, EVENTS_PRINCIPAL, GC_PRINCIPAL, QUOTA_PRINCIPAL,
    USER_SELF_MANAGE_ROLE,
};
pub use permission::permission_group;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use permission::Rule;

/// The group IAM's own kinds are in.
pub const IAM_GROUP: &str = "iam.miloapis.com";
/// The group of Kubernetes' RBAC kinds.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// Members of this group are the platform's administrators: allowed
/// everything, everywhere, without a binding (Kubernetes' `system:masters`).
pub const ADMIN_GROUP: &str = "system:masters";
/// What every authenticated principal is a member of (as Kubernetes).
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// [`ObjectRef::kind`] of each stored IAM kind. Milo's Role and RBAC's Role
/// share a kind name, so the RBAC kinds carry an `rbac/` prefix; Milo's keep
/// their plain names.
pub const ROLE_KIND: &str = "Role";
pub const RBAC_ROLE_KIND: &str = "rbac/Role";
pub const RBAC_CLUSTER_ROLE_KIND: &str = "rbac/ClusterRole";
pub const POLICY_BINDING_KIND: &str = "PolicyBinding";
pub const RBAC_ROLE_BINDING_KIND: &str = "rbac/RoleBinding";
pub const RBAC_CLUSTER_ROLE_BINDING_KIND: &str = "rbac/ClusterRoleBinding";
/// The group of the hierarchy's kinds (Organization, Folder, Project).
pub const RESOURCEMANAGER_GROUP: &str = "resourcemanager.miloapis.com";

/// An operation on a resource: `{group}/{plural}.{verb}`, Milo's
/// permission name (the core group is spelt `core`; a subresource is
/// `{plural}/{subresource}`, e.g. `resourcemanager.miloapis.com/projects/status.update`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission {
    pub group: String,
    /// The plural, with `/{subresource}` when the request names one.
    pub resource: String,
    pub verb: String,
}

impl Permission {
    pub fn new(group: &str, resource: &str, verb: &str) -> Self {
        Permission {
            group: group.to_string(),
            resource: resource.to_string(),
            verb: verb.to_string(),
        }
    }
    /// Parses Milo's spelling; `None` when it is not `{group}/{resource}.{verb}`.
    pub fn parse(name: &str) -> Option<Self> {
        permission::parse(name)
    }
    /// Milo's spelling.
    pub fn name(&self) -> String {
        format!("{}/{}.{}", self.group, self.resource, self.verb)
    }
}

/// A point of the resource hierarchy; a binding on one reaches everything
/// below it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    Platform,
    Organization(String),
    Folder(String),
    Project(String),
}

/// What a request acts on, placed in the hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// From the platform down to the context the object lives in (or,
    /// for a hierarchy object, down to the object itself): `[Platform,
    /// Organization(o), Folder(f1), …, Project(p)]`.
    pub chain: Vec<Node>,
    /// The context whose store holds the object: `Platform`,
    /// `Organization(o)` or `Project(p)` (always an element of `chain`).
    pub context: Node,
    pub group: String,
    pub kind: String,
    /// `None` for a cluster-scoped object or a request across namespaces.
    pub namespace: Option<String>,
    /// `None` for a collection (list, create).
    pub name: Option<String>,
}

/// Who asks: the user (the token's subject) and every group they are in
/// (the token's groups claim, then their GroupMemberships).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub user: String,
    pub groups: BTreeSet<String>,
}

impl Subject {
    pub fn is_admin(&self) -> bool {
        self.groups.contains(ADMIN_GROUP)
    }
}

/// Where a stored IAM object is: its context, namespace, name. A role is
/// looked up first in its binding's context, then in the platform's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    pub context: Node,
    pub kind: String,
    /// "" for cluster-scoped.
    pub namespace: String,
    pub name: String,
}

/// Where a binding grants its role.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reach {
    /// A hierarchy object and everything below it (a PolicyBinding's
    /// resourceRef to an Organization, Folder or Project).
    Node(Node),
    /// One other object (a resourceRef to any other kind), in the
    /// binding's context.
    Object {
        context: Node,
        group: String,
        kind: String,
        namespace: String,
        name: String,
    },
    /// Every object of a kind (a resourceKind) in the binding's context and below.
    Kind {
        context: Node,
        group: String,
        kind: String,
    },
    /// Everything in a context and below (a ClusterRoleBinding).
    Context(Node),
    /// One namespace of a context (a RoleBinding).
    Namespace { context: Node, namespace: String },
}

/// A role as stored (any of the three role kinds), parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleDef {
    reference: ObjectRef,
    grants: roles::Grants,
}

impl RoleDef {
    /// From a stored Role (iam), Role or ClusterRole (rbac) object in `context`.
    /// Errors name the field and what is wrong (a Status message).
    pub fn parse(context: &Node, object: &Value) -> Result<RoleDef, String> {
        roles::parse(context, object)
    }
    pub fn reference(&self) -> &ObjectRef {
        &self.reference
    }
}

/// A binding as stored (any of the three binding kinds), parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct BindingDef {
    reference: ObjectRef,
    role: ObjectRef,
    reach: Reach,
    subjects: Vec<bindings::BoundSubject>,
    resource_uid: Option<String>,
}

impl BindingDef {
    pub fn parse(context: &Node, object: &Value) -> Result<BindingDef, String> {
        bindings::parse(context, object)
    }
    pub fn reference(&self) -> &ObjectRef {
        &self.reference
    }
    /// The role it names (the reference as written: resolve with `Policy::role`).
    pub fn role(&self) -> &ObjectRef {
        &self.role
    }
    pub fn reach(&self) -> &Reach {
        &self.reach
    }
    /// Its subjects' User uids as written (`(name, uid)`), for the adapter to check against stored Users.
    pub fn user_uids(&self) -> Vec<(String, String)> {
        bindings::user_uids(&self.subjects)
    }
    /// The uid a PolicyBinding's resourceRef names, for the adapter to
    /// check against the stored object (`None`: not written, or not a
    /// resourceRef).
    pub fn resource_uid(&self) -> Option<&str> {
        self.resource_uid.as_deref()
    }
}

/// A GroupMembership: user → group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub user: String,
    pub group: String,
}

impl Membership {
    /// From a stored GroupMembership in `context` (its group is that
    /// context's).
    pub fn parse(context: &Node, object: &Value) -> Result<Membership, String> {
        bindings::parse_membership(context, object)
    }
}

/// What a role grants, with its inherited roles folded in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resolved {
    /// Milo's includedPermissions, the inherited roles' folded in.
    permissions: BTreeSet<Permission>,
    /// An RBAC role's rules, kept as patterns.
    rules: Vec<Rule>,
    problems: Vec<String>,
}

impl Resolved {
    /// Milo's `status.effectivePermissions` (sorted; RBAC rules spelt as permissions where finite).
    ///
    /// An RBAC rule is spelt as the product of its apiGroups, resources and
    /// verbs, `{group}/{resource}.{verb}` (the core group `core`), a
    /// wildcard left as written: `*/*.*` for cluster-admin, `apps/*.get`.
    /// A rule narrowed by resourceNames is suffixed
    /// ` (resourceNames: a, b)`, so the list never claims more than the
    /// rule grants. Non-resource URL rules are not permissions and are left
    /// out (they appear in [`Policy::rules`]).
    pub fn effective_permissions(&self) -> Vec<String> {
        resolve::effective_permissions(self)
    }
    /// Whether it grants nothing at all.
    pub fn is_empty(&self) -> bool {
        self.permissions.is_empty() && self.rules.is_empty()
    }
    /// Problems to show on the role (an inherited role missing, a cycle,
    /// a permission not spelt `{group}/{resource}.{verb}`).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
    /// The granted Milo permissions `known` does not recognise (e.g. none
    /// of a ProtectedResource's), for the adapter to show on the role.
    pub fn unknown_permissions(&self, known: &dyn Fn(&Permission) -> bool) -> Vec<String> {
        self.permissions
            .iter()
            .filter(|permission| !known(permission))
            .map(Permission::name)
            .collect()
    }
    /// Whether it grants `permission` on the object named `name` (`None`:
    /// a collection, which a rule narrowed by resourceNames never grants).
    pub fn grants(&self, permission: &Permission, name: Option<&str>) -> bool {
        self.permissions.contains(permission)
            || self.rules.iter().any(|rule| rule.grants(permission, name))
    }
}

/// Everything stored that decides: roles, bindings, memberships, and the
/// hierarchy's known protected kinds (from ProtectedResources).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Every role as stored, to resolve a role being written against.
    defs: HashMap<ObjectRef, RoleDef>,
    /// Every role, resolved once.
    roles: HashMap<ObjectRef, Resolved>,
    bindings: Vec<BindingDef>,
    /// Per binding, the key in `roles` its roleRef resolved to.
    binding_roles: Vec<Option<ObjectRef>>,
    /// Binding indexes by the user a subject names.
    by_user: HashMap<String, Vec<usize>>,
    /// Binding indexes by a group's key.
    by_group: HashMap<String, Vec<usize>>,
    /// Group keys by user, from GroupMemberships.
    memberships: HashMap<String, Vec<String>>,
}

/// Why a request was allowed or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The binding that allowed it (`None` for an administrator or a refusal).
    pub binding: Option<ObjectRef>,
    /// One sentence: "allowed by PolicyBinding default/x (role y) on Organization o",
    /// "allowed: member of system:masters", "no binding grants
    /// resourcemanager.miloapis.com/projects.delete on Project p to user u".
    pub reason: String,
}

impl Policy {
    pub fn new(
        roles: Vec<RoleDef>,
        bindings: Vec<BindingDef>,
        memberships: Vec<Membership>,
    ) -> Policy {
        decide::new(roles, bindings, memberships)
    }
    /// The subject with the groups their memberships add.
    pub fn subject(&self, user: &str, token_groups: &[String]) -> Subject {
        decide::subject(self, user, token_groups)
    }
    /// A role by the reference a binding wrote (its context first, then the platform's).
    pub fn role(&self, from: &Node, reference: &ObjectRef) -> Option<&Resolved> {
        let key = resolve::lookup(&self.roles, from, reference)?;
        self.roles.get(&key)
    }
    /// A role as it would resolve if written now (a create or update of
    /// it), its inherited roles as stored.
    pub fn resolve(&self, role: &RoleDef) -> Resolved {
        let mut defs = self.defs.clone();
        defs.insert(role.reference().clone(), role.clone());
        resolve::resolve_all(&defs)
            .remove(role.reference())
            .unwrap_or_default()
    }
    /// The decision: administrators always; else any binding of the subject
    /// (user or one of its groups) whose role grants the permission and whose
    /// reach covers the target.
    pub fn decide(&self, subject: &Subject, permission: &Permission, target: &Target) -> Decision {
        decide::decide(self, subject, permission, target)
    }
    /// What the subject may do at a target (a SelfSubjectRulesReview):
    /// (permission patterns as RBAC rules) — for `kubectl auth can-i --list`.
    pub fn rules(&self, subject: &Subject, target: &Target) -> Vec<Value> {
        review::rules(self, subject, target)
    }
    /// The permissions of `role` the writer does not hold at `at` (the
    /// binding's reach as a target; empty: no escalation).
    ///
    /// Each Milo permission, and each permission a wildcard-free RBAC rule
    /// expands to, must be one [`Policy::decide`] allows the writer at `at`.
    /// An RBAC rule with a wildcard or non-resource URLs cannot be expanded,
    /// so the writer must hold a rule that covers it (every group, resource,
    /// verb, name and URL of it) through a binding that reaches `at`; a
    /// Milo permission never covers a wildcard.
    pub fn escalation(&self, writer: &Subject, role: &Resolved, at: &Target) -> Vec<String> {
        review::escalation(self, writer, role, at)
    }
    /// A binding's Ready condition: (status, reason, message), Milo's reasons.
    ///
    /// Milo's CRD names no reasons but its default `Unknown`, so these are
    /// ours: `RoleNotFound`, `RoleGrantsNothing`, `Ready`.
    pub fn binding_ready(&self, binding: &BindingDef) -> (bool, &'static str, String) {
        review::binding_ready(self, binding)
    }
}
