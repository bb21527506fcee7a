//! What Milo's OrganizationMembership means to IAM: the roles it grants
//! its user in its organization, the PolicyBinding that grants each (its
//! name, as Milo's controller names it), and which role makes an owner.

use serde_json::{json, Value};

use crate::metadata_rules::validate_subdomain_name;
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

/// A role of a membership as its status lists it: applied, with the
/// binding that grants it.
pub fn applied_role(membership: &Object, (name, namespace): &(String, String), now: &str) -> Value {
    json!({
        "name": name,
        "namespace": namespace,
        "status": "Applied",
        "appliedAt": now,
        "policyBindingRef": {
            "name": binding_name(&membership.metadata.name, name),
            "namespace": membership.metadata.namespace,
        },
    })
}

/// A membership's status: Ready, its roles applied (each found, else its
/// write was refused), and the user's and organization's names copied
/// from their objects (`user` is null when the user is not stored yet).
pub fn status(membership: &Object, user: &Value, org: &Value, now: &str) -> Value {
    let generation = membership.metadata.generation;
    let applied: Vec<Value> = roles_of(membership)
        .iter()
        .map(|role| applied_role(membership, role, now))
        .collect();
    let condition = |kind: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": "True", "reason": reason, "message": message,
               "lastTransitionTime": now, "observedGeneration": generation})
    };
    let roles_applied = match applied.is_empty() {
        true => condition(
            "RolesApplied",
            "NoRolesSpecified",
            "The membership names no roles",
        ),
        false => condition(
            "RolesApplied",
            "AllRolesApplied",
            "Every role is granted by its PolicyBinding",
        ),
    };
    json!({
        "observedGeneration": generation,
        "conditions": [
            condition("Ready", "Ready", "The user is a member of the organization"),
            roles_applied,
        ],
        "user": {
            "email": user["spec"]["email"],
            "givenName": user["spec"]["givenName"],
            "familyName": user["spec"]["familyName"],
        },
        "organization": {
            "displayName": org["metadata"]["annotations"]["kubernetes.io/display-name"],
            "type": org["spec"]["type"],
        },
        "appliedRoles": applied,
    })
}

/// The membership that makes an organization's creator its owner:
/// `member-{user}` in the organization's namespace (`member-{uid}` when
/// the user's name is no object name), with the owner role. Its
/// metadata's uid, version and timestamps are the caller's to set.
pub fn creator_membership(org: &str, user: &str, uid: &str) -> Value {
    let readable = format!("member-{user}");
    let name = match validate_subdomain_name("metadata.name", &readable).is_empty() {
        true => readable,
        false => format!("member-{uid}"),
    };
    json!({
        "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
        "kind": "OrganizationMembership",
        "metadata": {"name": name, "namespace": format!("organization-{org}")},
        "spec": {
            "organizationRef": {"name": org},
            "userRef": {"name": user},
            "roles": [{"name": OWNER_ROLE.0, "namespace": OWNER_ROLE.1}],
        },
    })
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
    fn an_organizations_creator_is_its_owner_under_a_name_that_is_always_valid() {
        let doc = creator_membership("acme", "alice", "1234");
        let alice = Object::from_value(doc).unwrap();
        assert_eq!(alice.metadata.name, "member-alice");
        assert_eq!(alice.metadata.namespace, "organization-acme");
        assert!(is_owner(&alice));
        let odd = Object::from_value(creator_membership("acme", "Alice@Example", "1234")).unwrap();
        assert_eq!(odd.metadata.name, "member-1234");
        assert_eq!(odd.spec()["userRef"]["name"], "Alice@Example");
    }

    #[test]
    fn a_memberships_status_lists_each_role_with_its_binding() {
        let m = membership(json!([{"name": "viewer"}]));
        let user = json!({"spec": {"email": "a@example.com"}});
        let org = json!({"spec": {"type": "Standard"}});
        let status = status(&m, &user, &org, "t");
        assert_eq!(status["user"]["email"], "a@example.com");
        assert_eq!(status["organization"]["type"], "Standard");
        assert_eq!(
            status["appliedRoles"][0]["policyBindingRef"]["name"],
            "m-viewer"
        );
        assert_eq!(status["conditions"][1]["reason"], "AllRolesApplied");
        let none = status_of_no_roles();
        assert_eq!(none["conditions"][1]["reason"], "NoRolesSpecified");
    }

    fn status_of_no_roles() -> Value {
        status(&membership(json!([])), &Value::Null, &Value::Null, "t")
    }

    #[test]
    fn the_owner_role_in_milo_system_makes_an_owner() {
        let owner = membership(json!([{"name": OWNER_ROLE.0, "namespace": OWNER_ROLE.1}]));
        assert!(is_owner(&owner));
        let elsewhere = membership(json!([{"name": OWNER_ROLE.0}]));
        assert!(!is_owner(&elsewhere));
    }
}
