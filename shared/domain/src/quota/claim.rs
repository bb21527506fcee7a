//! ResourceClaim (namespaced): a consumer's requests of amounts of resource
//! types, for one object (`resourceRef`).

use serde_json::Value;

use super::read::{bounded_array, duplicate, name_and_generation, positive_amount, spec};
use super::refs::{Node, ObjectRef};
use super::registration::read_resource_type;
use crate::crd::fields::{Field, Reader};
use crate::Cause;

pub const MAX_REQUESTS: usize = 20;

/// The value of [`super::CLAIMS_ANNOTATION`] for these claims.
pub fn held_claims_value(claims: &[ResourceClaim]) -> String {
    let keys: Vec<String> = claims
        .iter()
        .map(|c| format!("{}/{}", c.namespace, c.name))
        .collect();
    keys.join(",")
}

/// The (namespace, name) of each claim [`super::CLAIMS_ANNOTATION`]
/// records; malformed entries are skipped (the owner check on the claims
/// read decides anyway).
pub fn held_claims(value: &str) -> Vec<(String, String)> {
    value
        .split(',')
        .filter_map(|entry| entry.trim().split_once('/'))
        .filter(|(namespace, name)| !namespace.is_empty() && !name.is_empty())
        .map(|(namespace, name)| (namespace.to_string(), name.to_string()))
        .collect()
}

/// One `spec.requests[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    pub resource_type: String,
    /// Always > 0.
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceClaim {
    pub name: String,
    pub namespace: String,
    pub generation: i64,
    /// The node the claim is made against (an organization, folder or
    /// project; see `refs::Node`).
    pub consumer: Node,
    /// Distinct resource types, in the order written.
    pub requests: Vec<ClaimRequest>,
    /// The object the claim is for; set on every claim a policy creates.
    pub resource_ref: Option<ObjectRef>,
}

impl ResourceClaim {
    pub fn amount_of(&self, resource_type: &str) -> Option<i64> {
        self.requests
            .iter()
            .find(|r| r.resource_type == resource_type)
            .map(|r| r.amount)
    }
}

/// Parses and checks a ResourceClaim document: a consumer that is a
/// hierarchy node, 1..=20 requests of distinct resource types, amounts > 0.
pub fn parse_claim(doc: &Value) -> Result<ResourceClaim, Vec<Cause>> {
    let mut r = Reader::default();
    let root = Field::root(doc);
    let spec = spec(&mut r, &root);
    let (name, generation) = name_and_generation(doc);
    let namespace = doc["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let consumer_field = spec.get("consumerRef");
    let consumer = ObjectRef::read(&mut r, &consumer_field).and_then(|reference| {
        Node::require(&reference, &consumer_field.path)
            .map_err(|cause| r.push(cause))
            .ok()
    });

    let mut requests: Vec<ClaimRequest> = Vec::new();
    for item in bounded_array(&mut r, &spec.get("requests"), 1, MAX_REQUESTS) {
        if !r.object(&item) {
            if !item.is_present() {
                r.push(Cause::required(&item.path));
            }
            continue;
        }
        let type_field = item.get("resourceType");
        let resource_type = read_resource_type(&mut r, &type_field);
        let amount = positive_amount(&mut r, &item.get("amount"));
        let (Some(resource_type), Some(amount)) = (resource_type, amount) else {
            continue;
        };
        // One request per resource type: a claim's amount for a type is
        // one number (Milo refuses duplicates too).
        if requests.iter().any(|q| q.resource_type == resource_type) {
            r.push(duplicate(&type_field.path, &resource_type));
            continue;
        }
        requests.push(ClaimRequest {
            resource_type,
            amount,
        });
    }

    let resource_field = spec.get("resourceRef");
    let resource_ref = if resource_field.is_present() {
        ObjectRef::read(&mut r, &resource_field)
    } else {
        None
    };

    if !r.causes.is_empty() {
        return Err(r.causes);
    }
    let Some(consumer) = consumer else {
        return Err(vec![Cause::required("spec.consumerRef")]);
    };
    Ok(ResourceClaim {
        name,
        namespace,
        generation,
        consumer,
        requests,
        resource_ref,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn scenario_claim() -> Value {
        json!({
            "apiVersion": "quota.miloapis.com/v1alpha1",
            "kind": "ResourceClaim",
            "metadata": {"name": "c", "namespace": "organization-o"},
            "spec": {
                "consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "name": "o"},
                "requests": [{"resourceType": "test.corefunction.miloapis.com/projects", "amount": 1}],
                "resourceRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Project", "name": "p"}
            }
        })
    }

    fn with(pointer: &str, value: Value) -> Vec<Cause> {
        let mut doc = scenario_claim();
        match doc.pointer_mut(pointer) {
            Some(slot) => *slot = value,
            None => panic!("no {pointer}"),
        }
        parse_claim(&doc).unwrap_err()
    }

    #[test]
    fn scenario_claim_parses() {
        let claim = parse_claim(&scenario_claim()).unwrap();
        assert_eq!(claim.consumer, Node::organization("o"));
        assert_eq!(
            claim.amount_of("test.corefunction.miloapis.com/projects"),
            Some(1)
        );
        assert_eq!(claim.resource_ref.unwrap().kind, "Project");
        assert_eq!(claim.namespace, "organization-o");
    }

    #[test]
    fn zero_and_negative_amounts_are_refused() {
        let causes = with("/spec/requests/0/amount", json!(0));
        assert_eq!(causes[0].field, "spec.requests[0].amount");
        assert!(causes[0].message.contains("greater than 0"));
        let causes = with("/spec/requests/0/amount", json!(-3));
        assert_eq!(causes[0].field, "spec.requests[0].amount");
        let causes = with("/spec/requests/0/amount", json!(1.5));
        assert!(causes[0].message.contains("integer"));
        let causes = with("/spec/requests/0", json!({"resourceType": "x"}));
        assert_eq!(causes[0].field, "spec.requests[0].amount");
        assert_eq!(causes[0].reason, "FieldValueRequired");
    }

    #[test]
    fn missing_consumer_ref_is_required() {
        let mut doc = scenario_claim();
        doc["spec"].as_object_mut().unwrap().remove("consumerRef");
        let causes = parse_claim(&doc).unwrap_err();
        assert_eq!(causes[0].field, "spec.consumerRef");
        assert_eq!(causes[0].reason, "FieldValueRequired");
        let causes = with("/spec/consumerRef/name", json!(""));
        assert_eq!(causes[0].field, "spec.consumerRef.name");
        let causes = with("/spec/consumerRef/kind", json!("Namespace"));
        assert_eq!(causes[0].field, "spec.consumerRef");
        assert_eq!(causes[0].reason, "FieldValueNotSupported");
    }

    #[test]
    fn requests_are_one_to_twenty_distinct_types() {
        assert_eq!(with("/spec/requests", json!([]))[0].field, "spec.requests");
        let dup = json!([
            {"resourceType": "a/x", "amount": 2},
            {"resourceType": "b/y", "amount": 5},
            {"resourceType": "a/x", "amount": 3}
        ]);
        let causes = with("/spec/requests", dup);
        assert_eq!(causes[0].field, "spec.requests[2].resourceType");
        assert_eq!(causes[0].reason, "FieldValueDuplicate");
        let many: Vec<Value> = (0..21)
            .map(|i| json!({"resourceType": format!("t{i}"), "amount": 1}))
            .collect();
        assert_eq!(
            with("/spec/requests", json!(many))[0].reason,
            "FieldValueTooMany"
        );
        assert_eq!(
            with("/spec/requests/0/resourceType", json!(""))[0].field,
            "spec.requests[0].resourceType"
        );
    }

    #[test]
    fn resource_ref_when_present_needs_kind_and_name() {
        let causes = with("/spec/resourceRef", json!({"apiGroup": "x"}));
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["spec.resourceRef.kind", "spec.resourceRef.name"]);
    }
}
