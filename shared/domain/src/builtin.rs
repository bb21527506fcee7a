//! The built-in kinds, declared by the CRDs in `shared/domain/crds/` and
//! parsed by the same code as registered ones. Their extra behaviour
//! (hierarchy rules, namespaces created with their owners) is code that
//! names them through the identities in `kinds`.

use std::sync::OnceLock;

use serde_json::Value;

use crate::crd::{self, ResourceType};

const SOURCES: &[(&str, &str)] = &[
    ("organizations", include_str!("../crds/organizations.yaml")),
    ("folders", include_str!("../crds/folders.yaml")),
    ("projects", include_str!("../crds/projects.yaml")),
    ("namespaces", include_str!("../crds/namespaces.yaml")),
    ("secrets", include_str!("../crds/secrets.yaml")),
    ("configmaps", include_str!("../crds/configmaps.yaml")),
    (
        "endpointslices",
        include_str!("../crds/endpointslices.yaml"),
    ),
    (
        "customresourcedefinitions",
        include_str!("../crds/customresourcedefinitions.yaml"),
    ),
    (
        "relationshiptypes",
        include_str!("../crds/relationshiptypes.yaml"),
    ),
    (
        "externalresources",
        include_str!("../crds/externalresources.yaml"),
    ),
    (
        "validatingadmissionpolicies",
        include_str!("../crds/validatingadmissionpolicies.yaml"),
    ),
    (
        "validatingadmissionpolicybindings",
        include_str!("../crds/validatingadmissionpolicybindings.yaml"),
    ),
    (
        "mutatingadmissionpolicies",
        include_str!("../crds/mutatingadmissionpolicies.yaml"),
    ),
    (
        "mutatingadmissionpolicybindings",
        include_str!("../crds/mutatingadmissionpolicybindings.yaml"),
    ),
    (
        "resourceregistrations",
        include_str!("../crds/resourceregistrations.yaml"),
    ),
    (
        "resourcegrants",
        include_str!("../crds/resourcegrants.yaml"),
    ),
    (
        "allowancebuckets",
        include_str!("../crds/allowancebuckets.yaml"),
    ),
    (
        "resourceclaims",
        include_str!("../crds/resourceclaims.yaml"),
    ),
    (
        "claimcreationpolicies",
        include_str!("../crds/claimcreationpolicies.yaml"),
    ),
    (
        "grantcreationpolicies",
        include_str!("../crds/grantcreationpolicies.yaml"),
    ),
    (
        "projectsuspensions",
        include_str!("../crds/projectsuspensions.yaml"),
    ),
    (
        "organizationmemberships",
        include_str!("../crds/organizationmemberships.yaml"),
    ),
    (
        "discoverycontextpolicies",
        include_str!("../crds/discoverycontextpolicies.yaml"),
    ),
    ("roles", include_str!("../crds/roles.yaml")),
    (
        "policybindings",
        include_str!("../crds/policybindings.yaml"),
    ),
    ("users", include_str!("../crds/users.yaml")),
    ("groups", include_str!("../crds/groups.yaml")),
    (
        "groupmemberships",
        include_str!("../crds/groupmemberships.yaml"),
    ),
    (
        "protectedresources",
        include_str!("../crds/protectedresources.yaml"),
    ),
    ("rbac-roles", include_str!("../crds/rbac-roles.yaml")),
    (
        "rbac-clusterroles",
        include_str!("../crds/rbac-clusterroles.yaml"),
    ),
    (
        "rbac-rolebindings",
        include_str!("../crds/rbac-rolebindings.yaml"),
    ),
    (
        "rbac-clusterrolebindings",
        include_str!("../crds/rbac-clusterrolebindings.yaml"),
    ),
    ("liens", include_str!("../crds/liens.yaml")),
    (
        "predeletionhooks",
        include_str!("../crds/predeletionhooks.yaml"),
    ),
    ("events", include_str!("../crds/events.yaml")),
    ("events.k8s.io", include_str!("../crds/events.k8s.io.yaml")),
];

/// Registered CRDs may not use the core (empty) group; the built-in
/// Namespace does, so it is parsed under this stand-in and given back its
/// empty group.
const CORE_STAND_IN: &str = "core.builtin.invalid";

struct Builtins {
    documents: Vec<Value>,
    types: Vec<ResourceType>,
}

fn load() -> Result<Builtins, String> {
    let mut documents = Vec::new();
    let mut types = Vec::new();
    for (file, source) in SOURCES {
        let doc: Value = serde_yaml::from_str(source)
            .map_err(|e| format!("built-in CRD {file}.yaml is not valid YAML: {e}"))?;
        let core = doc["spec"]["group"] == "";
        let mut parsed_doc = doc.clone();
        if core {
            parsed_doc["spec"]["group"] = Value::String(CORE_STAND_IN.into());
            parsed_doc["metadata"]["name"] = Value::String(format!("{file}.{CORE_STAND_IN}"));
        }
        let mut rt = crd::parse(&parsed_doc).map_err(|causes| {
            let listed: Vec<String> = causes
                .iter()
                .map(|c| format!("{}: {}", c.field, c.message))
                .collect();
            format!("built-in CRD {file}.yaml is invalid: {}", listed.join("; "))
        })?;
        if core {
            rt.group = String::new();
            rt.name = (*file).to_string();
        }
        documents.push(doc);
        types.push(rt);
    }
    Ok(Builtins { documents, types })
}

fn builtins() -> Result<&'static Builtins, &'static str> {
    static BUILTINS: OnceLock<Result<Builtins, String>> = OnceLock::new();
    BUILTINS.get_or_init(load).as_ref().map_err(String::as_str)
}

/// The built-in types. An error only if a shipped CRD is broken, which the
/// tests below catch before anything ships.
pub fn types() -> Result<Vec<ResourceType>, String> {
    builtins().map(|b| b.types.clone()).map_err(str::to_string)
}

/// The built-in CRD documents, as `kubectl get crd` shows them.
pub fn documents() -> &'static [Value] {
    builtins().map(|b| b.documents.as_slice()).unwrap_or(&[])
}

/// Whether a CRD name belongs to a built-in type (those cannot be changed).
pub fn is_builtin(crd_name: &str) -> bool {
    documents()
        .iter()
        .any(|d| d["metadata"]["name"] == crd_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{ContextKind, Scope};

    #[test]
    fn every_builtin_crd_parses() {
        let types = types().unwrap();
        let names: Vec<&str> = types.iter().map(|t| t.kind.as_str()).collect();
        assert_eq!(
            names,
            [
                "Organization",
                "Folder",
                "Project",
                "Namespace",
                "Secret",
                "ConfigMap",
                "EndpointSlice",
                "CustomResourceDefinition",
                "RelationshipType",
                "ExternalResource",
                "ValidatingAdmissionPolicy",
                "ValidatingAdmissionPolicyBinding",
                "MutatingAdmissionPolicy",
                "MutatingAdmissionPolicyBinding",
                "ResourceRegistration",
                "ResourceGrant",
                "AllowanceBucket",
                "ResourceClaim",
                "ClaimCreationPolicy",
                "GrantCreationPolicy",
                "ProjectSuspension",
                "OrganizationMembership",
                "DiscoveryContextPolicy",
                "Role",
                "PolicyBinding",
                "User",
                "Group",
                "GroupMembership",
                "ProtectedResource",
                "Role",
                "ClusterRole",
                "RoleBinding",
                "ClusterRoleBinding",
                "Lien",
                "PreDeletionHook",
                "Event",
                "Event",
            ]
        );
        let namespace = &types[3];
        assert_eq!(namespace.group, "");
        assert_eq!(namespace.scope, Scope::Cluster);
        assert_eq!(
            namespace.contexts,
            [
                ContextKind::Platform,
                ContextKind::Organization,
                ContextKind::Project
            ]
        );
        assert!(is_builtin("projects.resourcemanager.miloapis.com"));
        assert!(is_builtin("relationshiptypes.graph.miloapis.com"));
        assert!(is_builtin("externalresources.graph.miloapis.com"));
        assert!(is_builtin("resourcegrants.quota.miloapis.com"));
        assert!(is_builtin(
            "projectsuspensions.resourcemanager.miloapis.com"
        ));
        let suspension = &types[20];
        assert_eq!(suspension.scope, Scope::Cluster);
        assert_eq!(suspension.contexts, [ContextKind::Platform]);
        for graph in &types[8..10] {
            assert_eq!(graph.group, crate::kinds::GRAPH_GROUP);
            assert_eq!(graph.scope, Scope::Cluster);
            assert_eq!(graph.contexts, [ContextKind::Platform]);
        }
        for admission in &types[10..14] {
            assert_eq!(admission.group, crate::admission::GROUP);
            assert_eq!(admission.scope, Scope::Cluster);
            assert_eq!(admission.contexts, [ContextKind::Platform]);
        }
        assert!(is_builtin(
            "validatingadmissionpolicies.admissionregistration.k8s.io"
        ));
        let membership = &types[21];
        assert_eq!(membership.scope, Scope::Namespaced);
        assert_eq!(
            membership.contexts,
            [ContextKind::Organization, ContextKind::User]
        );
        let policy = &types[22];
        assert_eq!(policy.group, crate::context_policy::GROUP);
        assert_eq!(policy.scope, Scope::Cluster);
        assert_eq!(policy.contexts, [ContextKind::Platform]);
        assert!(!is_builtin("widgets.example.com"));
    }
}
