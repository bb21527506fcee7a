//! What the server knows about a kind it serves at one version: names for
//! discovery, scope, contexts, printer columns, selectable fields, schema.
//! A [`KindInfo`] is built from a registered type (see `crd` and `catalog`),
//! built-in or not; the built-in kinds' identities are the constants here,
//! so code that hangs behaviour on them can name them.

use std::sync::Arc;

use crate::crd::PrinterColumn;
use crate::schema::Schema;

pub const RESOURCEMANAGER_GROUP: &str = "resourcemanager.miloapis.com";
pub const V1ALPHA1: &str = "v1alpha1";
/// Label that ties folders and projects to their organization (Milo's).
pub const ORGANIZATION_LABEL: &str = "resourcemanager.miloapis.com/organization-name";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Cluster,
    Namespaced,
}

/// Which control planes serve a kind (Milo's `parent-contexts`). A user's
/// control plane answers discovery only until IAM (#20) serves its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ContextKind {
    Platform,
    Organization,
    Project,
    User,
}

impl ContextKind {
    pub const ALL: [ContextKind; 4] = [
        ContextKind::Platform,
        ContextKind::Organization,
        ContextKind::Project,
        ContextKind::User,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// As Milo's annotation and policies spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Platform => "Platform",
            Self::Organization => "Organization",
            Self::Project => "Project",
            Self::User => "User",
        }
    }
}

/// Whether a type whose contexts are `contexts` (its annotation's, or a
/// DiscoveryContextPolicy's) is served in `context`; see
/// [`KindInfo::served_in`].
pub fn serves(contexts: &[ContextKind], context: ContextKind) -> bool {
    context == ContextKind::Platform || contexts.contains(&context)
}

/// How a kind's object names are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameFormat {
    /// DNS-1123 label (≤ 63): namespaces and the hierarchy kinds.
    Label,
    /// DNS-1123 subdomain (≤ 253): every other kind, as Kubernetes.
    Subdomain,
}

/// The identity of a built-in kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindId {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
}

impl KindId {
    pub fn api_version(&self) -> String {
        api_version(self.group, self.version)
    }
}

pub const ORGANIZATION: KindId = KindId {
    group: RESOURCEMANAGER_GROUP,
    version: V1ALPHA1,
    kind: "Organization",
    plural: "organizations",
};
pub const FOLDER: KindId = KindId {
    group: RESOURCEMANAGER_GROUP,
    version: V1ALPHA1,
    kind: "Folder",
    plural: "folders",
};
pub const PROJECT: KindId = KindId {
    group: RESOURCEMANAGER_GROUP,
    version: V1ALPHA1,
    kind: "Project",
    plural: "projects",
};
/// A project's suspension (issue #18): while one names a project, the
/// project's control plane refuses writes.
pub const PROJECT_SUSPENSION: KindId = KindId {
    group: RESOURCEMANAGER_GROUP,
    version: V1ALPHA1,
    kind: "ProjectSuspension",
    plural: "projectsuspensions",
};
/// A lien (#21): holds an object, and what contains it, from deletion.
pub const LIEN: KindId = KindId {
    group: RESOURCEMANAGER_GROUP,
    version: V1ALPHA1,
    kind: "Lien",
    plural: "liens",
};
/// A pre-deletion hook (#21): work that runs before what it matches goes.
pub const PRE_DELETION_HOOK: KindId = KindId {
    group: RESOURCEMANAGER_GROUP,
    version: V1ALPHA1,
    kind: "PreDeletionHook",
    plural: "predeletionhooks",
};
/// A user's membership of an organization, served with its schema alone
/// until IAM (#20) gives it behaviour.
pub const ORGANIZATION_MEMBERSHIP: KindId = KindId {
    group: RESOURCEMANAGER_GROUP,
    version: V1ALPHA1,
    kind: "OrganizationMembership",
    plural: "organizationmemberships",
};
/// Milo's override of the contexts a type is served in (context_policy.rs).
pub const DISCOVERY_CONTEXT_POLICY: KindId = KindId {
    group: crate::context_policy::GROUP,
    version: V1ALPHA1,
    kind: "DiscoveryContextPolicy",
    plural: "discoverycontextpolicies",
};
pub const IAM_GROUP: &str = "iam.miloapis.com";
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const fn iam(kind: &'static str, plural: &'static str) -> KindId {
    KindId {
        group: IAM_GROUP,
        version: V1ALPHA1,
        kind,
        plural,
    }
}
const fn rbac(kind: &'static str, plural: &'static str) -> KindId {
    KindId {
        group: RBAC_GROUP,
        version: "v1",
        kind,
        plural,
    }
}
/// Milo's IAM kinds (#20).
pub const IAM_ROLE: KindId = iam("Role", "roles");
pub const POLICY_BINDING: KindId = iam("PolicyBinding", "policybindings");
pub const USER: KindId = iam("User", "users");
pub const GROUP: KindId = iam("Group", "groups");
pub const GROUP_MEMBERSHIP: KindId = iam("GroupMembership", "groupmemberships");
pub const PROTECTED_RESOURCE: KindId = iam("ProtectedResource", "protectedresources");
/// Kubernetes' RBAC kinds (#20), decided by the same engine.
pub const RBAC_ROLE: KindId = rbac("Role", "roles");
pub const RBAC_CLUSTER_ROLE: KindId = rbac("ClusterRole", "clusterroles");
pub const RBAC_ROLE_BINDING: KindId = rbac("RoleBinding", "rolebindings");
pub const RBAC_CLUSTER_ROLE_BINDING: KindId = rbac("ClusterRoleBinding", "clusterrolebindings");

pub const NAMESPACE: KindId = KindId {
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
};
/// The core kinds a Kubernetes control plane serves that Milo's suites use
/// (#18): kept as any registered kind is, but for Secret's `stringData`
/// (`core_kinds`).
pub const SECRET: KindId = KindId {
    group: "",
    version: "v1",
    kind: "Secret",
    plural: "secrets",
};
/// The Events the platform records (event_record.rs): core/v1, which
/// `kubectl describe` and `kubectl get events` read, and events.k8s.io/v1,
/// each object stored under both.
pub const EVENT: KindId = KindId {
    group: "",
    version: "v1",
    kind: "Event",
    plural: "events",
};
pub const EVENTS_API_EVENT: KindId = KindId {
    group: "events.k8s.io",
    version: "v1",
    kind: "Event",
    plural: "events",
};
pub const EVENT_KINDS: [KindId; 2] = [EVENT, EVENTS_API_EVENT];
pub const CONFIG_MAP: KindId = KindId {
    group: "",
    version: "v1",
    kind: "ConfigMap",
    plural: "configmaps",
};
pub const ENDPOINT_SLICE: KindId = KindId {
    group: "discovery.k8s.io",
    version: "v1",
    kind: "EndpointSlice",
    plural: "endpointslices",
};
pub const CUSTOM_RESOURCE_DEFINITION: KindId = KindId {
    group: crate::crd::GROUP,
    version: crate::crd::VERSION,
    kind: crate::crd::KIND,
    plural: "customresourcedefinitions",
};

/// The group of the relationship graph's kinds (issue 6).
pub const GRAPH_GROUP: &str = "graph.miloapis.com";
pub const RELATIONSHIP_TYPE: KindId = KindId {
    group: GRAPH_GROUP,
    version: V1ALPHA1,
    kind: "RelationshipType",
    plural: "relationshiptypes",
};
/// Read-only through the API: written by the events function only.
pub const EXTERNAL_RESOURCE: KindId = KindId {
    group: GRAPH_GROUP,
    version: V1ALPHA1,
    kind: "ExternalResource",
    plural: "externalresources",
};

/// The admission policy kinds (issue 4), platform context only.
pub const VALIDATING_ADMISSION_POLICY: KindId = KindId {
    group: crate::admission::GROUP,
    version: crate::admission::VERSION,
    kind: "ValidatingAdmissionPolicy",
    plural: "validatingadmissionpolicies",
};
pub const VALIDATING_ADMISSION_POLICY_BINDING: KindId = KindId {
    group: crate::admission::GROUP,
    version: crate::admission::VERSION,
    kind: "ValidatingAdmissionPolicyBinding",
    plural: "validatingadmissionpolicybindings",
};
pub const MUTATING_ADMISSION_POLICY: KindId = KindId {
    group: crate::admission::GROUP,
    version: crate::admission::VERSION,
    kind: "MutatingAdmissionPolicy",
    plural: "mutatingadmissionpolicies",
};
pub const MUTATING_ADMISSION_POLICY_BINDING: KindId = KindId {
    group: crate::admission::GROUP,
    version: crate::admission::VERSION,
    kind: "MutatingAdmissionPolicyBinding",
    plural: "mutatingadmissionpolicybindings",
};
/// The four, in the order the policy set loads them.
pub const ADMISSION_KINDS: [KindId; 4] = [
    VALIDATING_ADMISSION_POLICY,
    VALIDATING_ADMISSION_POLICY_BINDING,
    MUTATING_ADMISSION_POLICY,
    MUTATING_ADMISSION_POLICY_BINDING,
];

/// The label naming the project a request's context belongs to (with
/// [`ORGANIZATION_LABEL`], what admission's `namespaceSelector` sees).
pub const PROJECT_LABEL: &str = "resourcemanager.miloapis.com/project-name";

/// `group/version` → (group, version); a bare `version` is the core group.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// A kind as served at one version.
#[derive(Debug, Clone, PartialEq)]
pub struct KindInfo {
    pub group: String,
    /// The version of the request (what clients see).
    pub version: String,
    /// The version objects are stored under.
    pub storage_version: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub scope: Scope,
    pub contexts: Vec<ContextKind>,
    pub name_format: NameFormat,
    /// Longest name allowed (Milo: organizations 50, projects 55).
    pub max_name_length: usize,
    pub columns: Vec<PrinterColumn>,
    /// Fields a field selector may name besides `metadata.name` and
    /// `metadata.namespace`.
    pub selectable_fields: Vec<String>,
    pub schema: Arc<Schema>,
    pub status_subresource: bool,
    /// Sent as a `Warning` header on every request to this version.
    pub deprecation_warning: Option<String>,
}

impl KindInfo {
    pub fn api_version(&self) -> String {
        api_version(&self.group, &self.version)
    }

    pub fn is(&self, id: &KindId) -> bool {
        self.group == id.group && self.kind == id.kind
    }

    /// The platform serves every kind (Milo's root is unfiltered: its
    /// controllers and operators see every type); the other contexts serve
    /// those their contexts name.
    pub fn served_in(&self, context: ContextKind) -> bool {
        serves(&self.contexts, context)
    }

    pub fn is_selectable(&self, field: &str) -> bool {
        matches!(field, "metadata.name" | "metadata.namespace")
            || self.selectable_fields.iter().any(|f| f == field)
    }
}

/// The name rules of a kind: the hierarchy kinds keep Milo's shorter limits
/// because their names are embedded in other names.
pub fn name_rules(group: &str, kind: &str) -> (NameFormat, usize) {
    match (group, kind) {
        (RESOURCEMANAGER_GROUP, "Organization") => (NameFormat::Label, 50),
        (RESOURCEMANAGER_GROUP, "Project") => (NameFormat::Label, 55),
        (RESOURCEMANAGER_GROUP, "Folder") | ("", "Namespace") => (NameFormat::Label, 63),
        _ => (NameFormat::Subdomain, 253),
    }
}
