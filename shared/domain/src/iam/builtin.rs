//! The platform's built-in roles and bindings (builtin.yaml): part of
//! every policy as if stored in the platform context.

/// The built-in role a user's self-manage binding names: `(name, namespace)`.
pub const USER_SELF_MANAGE_ROLE: (&str, &str) =
    ("iam.miloapis.com-user-self-manage", "milo-system");

/// The gc function's principal (#21), bound to the built-in role
/// `system:gc`: it deletes what a cascade reaches, nothing else.
pub const GC_PRINCIPAL: &str = "system:gc";

/// The events function's principal: it writes resource records.
pub const EVENTS_PRINCIPAL: &str = "system:events";

/// The quota function's principal: it repairs buckets' counts.
pub const QUOTA_PRINCIPAL: &str = "system:quota";

use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use super::{BindingDef, Node, RoleDef};

const SOURCE: &str = include_str!("builtin.yaml");

/// Whether a built-in role is named `name` in `namespace` (one a
/// membership may name although no object is stored for it).
pub fn is_builtin_role(name: &str, namespace: &str) -> bool {
    builtin()
        .0
        .iter()
        .any(|role| role.reference.name == name && role.reference.namespace == namespace)
}

/// The built-in roles and bindings, parsed once.
pub fn builtin() -> &'static (Vec<RoleDef>, Vec<BindingDef>) {
    static BUILTIN: OnceLock<(Vec<RoleDef>, Vec<BindingDef>)> = OnceLock::new();
    BUILTIN.get_or_init(|| {
        let (mut roles, mut bindings) = (Vec::new(), Vec::new());
        for document in serde_yaml::Deserializer::from_str(SOURCE) {
            // The file ships with the server and a test parses it whole.
            let Ok(doc) = Value::deserialize(document) else {
                continue;
            };
            if let Ok(role) = RoleDef::parse(&Node::Platform, &doc) {
                roles.push(role);
            } else if let Ok(binding) = BindingDef::parse(&Node::Platform, &doc) {
                bindings.push(binding);
            }
        }
        (roles, bindings)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::{Permission, Policy, Target};

    #[test]
    fn every_built_in_document_parses() {
        let (roles, bindings) = builtin();
        assert_eq!(roles.len(), 7);
        assert_eq!(bindings.len(), 4);
    }

    #[test]
    fn every_user_may_ask_what_it_may_do_and_create_an_organization_and_nothing_else() {
        let (roles, bindings) = builtin().clone();
        let policy = Policy::new(roles, bindings, Vec::new());
        let anyone = policy.subject("anyone", &[]);
        let at = |group: &str, kind: &str| Target {
            chain: vec![Node::Platform, Node::Organization("o".into())],
            context: Node::Organization("o".into()),
            group: group.into(),
            kind: kind.into(),
            namespace: None,
            name: None,
        };
        let ssar = Permission::new("authorization.k8s.io", "selfsubjectaccessreviews", "create");
        assert!(
            policy
                .decide(
                    &anyone,
                    &ssar,
                    &at("authorization.k8s.io", "selfsubjectaccessreviews")
                )
                .allowed
        );
        let create_org = Permission::new("resourcemanager.miloapis.com", "organizations", "create");
        assert!(
            policy
                .decide(
                    &anyone,
                    &create_org,
                    &at("resourcemanager.miloapis.com", "Organization")
                )
                .allowed
        );
        let get_org = Permission::new("resourcemanager.miloapis.com", "organizations", "get");
        assert!(
            !policy
                .decide(
                    &anyone,
                    &get_org,
                    &at("resourcemanager.miloapis.com", "Organization")
                )
                .allowed
        );
    }

    #[test]
    fn the_organization_owner_role_grants_everything_in_its_organization_but_quotas_limits() {
        assert!(is_builtin_role(
            "resourcemanager.miloapis.com-organizationowner",
            "milo-system"
        ));
        assert!(!is_builtin_role(
            "resourcemanager.miloapis.com-organizationowner",
            "default"
        ));
        let (roles, _) = builtin().clone();
        let policy = Policy::new(roles, Vec::new(), Vec::new());
        let owner = crate::iam::ObjectRef {
            context: Node::Platform,
            kind: crate::iam::ROLE_KIND.into(),
            namespace: "milo-system".into(),
            name: "resourcemanager.miloapis.com-organizationowner".into(),
        };
        let role = policy.role(&Node::Platform, &owner).expect("built in");
        let grants = |group: &str, plural: &str, verb: &str| {
            role.grants(&Permission::new(group, plural, verb), Some("x"))
        };
        assert!(grants("resourcemanager.miloapis.com", "projects", "create"));
        assert!(grants("iam.miloapis.com", "policybindings", "create"));
        assert!(grants("example.com", "widgets", "delete"));
        assert!(!grants("quota.miloapis.com", "resourcegrants", "create"));
    }

    #[test]
    fn the_gc_principal_deletes_everything_a_cascade_reaches_but_creates_nothing() {
        let (roles, bindings) = builtin().clone();
        let policy = Policy::new(roles, bindings, Vec::new());
        let gc = policy.subject(GC_PRINCIPAL, &[]);
        let in_project = |group: &str, kind: &str| Target {
            chain: vec![
                Node::Platform,
                Node::Organization("o".into()),
                Node::Project("p".into()),
            ],
            context: Node::Project("p".into()),
            group: group.into(),
            kind: kind.into(),
            namespace: Some("default".into()),
            name: Some("x".into()),
        };
        let allowed = |group: &str, plural: &str, kind: &str, verb: &str| {
            policy
                .decide(
                    &gc,
                    &Permission::new(group, plural, verb),
                    &in_project(group, kind),
                )
                .allowed
        };
        assert!(allowed("core", "configmaps", "ConfigMap", "delete"));
        assert!(allowed(
            "core",
            "configmaps",
            "ConfigMap",
            "deletecollection"
        ));
        assert!(allowed("core", "namespaces/status", "Namespace", "update"));
        // A cascade deletes quota's grants too, which no wildcard grants.
        assert!(allowed(
            "quota.miloapis.com",
            "resourcegrants",
            "ResourceGrant",
            "delete"
        ));
        assert!(allowed(
            "quota.miloapis.com",
            "resourceclaims",
            "ResourceClaim",
            "delete"
        ));
        assert!(!allowed("core", "configmaps", "ConfigMap", "create"));
        assert!(!allowed(
            "quota.miloapis.com",
            "resourcegrants",
            "ResourceGrant",
            "create"
        ));
    }
}
