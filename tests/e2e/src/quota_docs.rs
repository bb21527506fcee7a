//! The quota documents the quota benchmark and the crash burst set up: a
//! project ResourceRegistration, a ClaimCreationPolicy limited to one
//! organization, and an organization's ResourceGrant.

use serde_json::{json, Value};

/// The trigger's organization, as the policies read it.
const ORG_LABEL: &str = "trigger.metadata.labels['resourcemanager.miloapis.com/organization-name']";

/// Projects, counted against their organization, as `resource_type`.
pub fn project_registration(name: &str, resource_type: &str) -> Value {
    json!({
        "apiVersion": "quota.miloapis.com/v1alpha1", "kind": "ResourceRegistration",
        "metadata": {"name": name},
        "spec": {
            "consumerType": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization"},
            "type": "Entity", "resourceType": resource_type, "baseUnit": "project", "displayUnit": "projects",
            "unitConversionFactor": 1,
            "claimingResources": [{"apiGroup": "resourcemanager.miloapis.com", "kind": "Project"}]
        }
    })
}

/// A claim of 1 `resource_type` for every project of organization `org`
/// only: the policy outlives a run on a shared stack, and other projects
/// must not need its quota.
pub fn project_claim_policy(name: &str, resource_type: &str, org: &str) -> Value {
    json!({
        "apiVersion": "quota.miloapis.com/v1alpha1", "kind": "ClaimCreationPolicy",
        "metadata": {"name": name},
        "spec": {
            "trigger": {
                "resource": {"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project"},
                "constraints": [{"expression": format!("{ORG_LABEL} == '{org}'")}]
            },
            "target": {"resourceClaimTemplate": {
                "metadata": {"namespace": format!("organization-{{{{{ORG_LABEL}}}}}")},
                "spec": {
                    "consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "name": format!("{{{{{ORG_LABEL}}}}}")},
                    "requests": [{"resourceType": resource_type, "amount": 1}]
                }
            }}
        }
    })
}

/// A grant of `amount` `resource_type` to organization `org`, in its namespace.
pub fn organization_grant(name: &str, org: &str, resource_type: &str, amount: usize) -> Value {
    json!({
        "apiVersion": "quota.miloapis.com/v1alpha1", "kind": "ResourceGrant",
        "metadata": {"name": name, "namespace": format!("organization-{org}")},
        "spec": {
            "consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "name": org},
            "allowances": [{"resourceType": resource_type, "buckets": [{"amount": amount}]}]
        }
    })
}
