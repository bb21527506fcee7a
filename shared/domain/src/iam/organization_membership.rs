//! What Milo's OrganizationMembership means to IAM: the roles it grants
//! its user in its organization, the PolicyBinding that grants each (its
//! name, as Milo's controller names it), and which role makes an owner.

use crate::object::Object;

/// The role that makes a member an owner: Milo's name and namespace.
pub const OWNER_ROLE: (&str, &str) = (
    "resourcemanager.miloapis.com-organizationowner",
    "milo-system",
);

/// A membership's roles as `(name, namespace)`, the namespace defaulting
/// to the membership's own.
pub fn roles_of(obj: &Object) -> Vec<(String, String)> {
    obj.spec()["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|role| {
            let name = role["name"].as_str()?.to_string();
            let namespace = role["namespace"]
                .as_str()
                .unwrap_or(&obj.metadata.namespace)
                .to_string();
            Some((name, namespace))
        })
        .collect()
}

/// Whether the membership holds the owner role.
pub fn is_owner(obj: &Object) -> bool {
    roles_of(obj)
        .iter()
        .any(|(name, namespace)| (name.as_str(), namespace.as_str()) == OWNER_ROLE)
}

/// The PolicyBinding that grants a membership's role.
pub fn binding_name(membership: &str, role: &str) -> String {
    format!("{membership}-{role}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn membership(roles: serde_json::Value) -> Object {
        Object::from_value(json!({
            "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
            "kind": "OrganizationMembership",
            "metadata": {"name": "m", "namespace": "organization-acme"},
            "spec": {"roles": roles},
        }))
        .unwrap()
    }

    #[test]
    fn a_role_without_namespace_is_in_the_memberships() {
        let m =
            membership(json!([{"name": "viewer"}, {"name": "dev", "namespace": "milo-system"}]));
        assert_eq!(
            roles_of(&m),
            [
                ("viewer".to_string(), "organization-acme".to_string()),
                ("dev".to_string(), "milo-system".to_string())
            ]
        );
        assert!(!is_owner(&m));
    }

    #[test]
    fn the_owner_role_in_milo_system_makes_an_owner() {
        let owner = membership(json!([{"name": OWNER_ROLE.0, "namespace": OWNER_ROLE.1}]));
        assert!(is_owner(&owner));
        let elsewhere = membership(json!([{"name": OWNER_ROLE.0}]));
        assert!(!is_owner(&elsewhere));
    }
}
