//! ResourceGrant (namespaced): allowances of resource types given to one
//! consumer. Each allowance's buckets sum to its amount; several allowances
//! (and several grants) for the same consumer and type add up.

use std::collections::BTreeMap;

use serde_json::Value;

use super::bucket::BucketKey;
use super::read::{annotation_pairs, bounded_array, non_negative_amount};
use super::refs::{checked_consumer, ConsumerDocument, Node};
use super::registration::{read_resource_type, ResourceRegistration};
use crate::crd::fields::Reader;
use crate::Cause;

pub const MAX_ALLOWANCES: usize = 20;

/// The grant of each policy that [`super::GRANTS_ANNOTATION`] records
/// (policy name → grant name); malformed entries are skipped (the owner
/// check on the grant read decides anyway).
pub fn held_grants(value: &str) -> BTreeMap<String, String> {
    annotation_pairs(value, '=').collect()
}

/// The value of [`super::GRANTS_ANNOTATION`] for these grants (`None`:
/// none, no annotation).
pub fn held_grants_value(held: &BTreeMap<String, String>) -> Option<String> {
    let entries: Vec<String> = held
        .iter()
        .map(|(policy, name)| format!("{policy}={name}"))
        .collect();
    (!entries.is_empty()).then(|| entries.join(","))
}

/// One `spec.allowances[]` entry, its buckets summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    pub resource_type: String,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceGrant {
    pub name: String,
    pub namespace: String,
    pub generation: i64,
    pub consumer: Node,
    pub allowances: Vec<Allowance>,
}

impl ResourceGrant {
    /// What the grant adds to each bucket's limit: per resource type, the
    /// sum of its allowances (a type listed twice counts twice, as Milo sums).
    pub fn contributions(&self) -> BTreeMap<BucketKey, i64> {
        let mut out = BTreeMap::new();
        for allowance in &self.allowances {
            let key = BucketKey::new(self.consumer.clone(), &allowance.resource_type);
            *out.entry(key).or_insert(0) += allowance.amount;
        }
        out
    }
}

impl ResourceGrant {
    /// Checks at write that every allowance's type is registered. The
    /// consumer's kind may differ from the registration's consumerType:
    /// beyond Milo, a folder or project may get a grant that caps its
    /// subtree under the organization's.
    pub fn check_registrations(&self, registrations: &[ResourceRegistration]) -> Vec<Cause> {
        self.allowances
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                !registrations
                    .iter()
                    .any(|r| r.resource_type == a.resource_type)
            })
            .map(|(i, a)| {
                Cause::invalid(
                    format!("spec.allowances[{i}].resourceType"),
                    format!(
                        "Invalid value: {:?}: no ResourceRegistration registers this resource type",
                        a.resource_type
                    ),
                )
            })
            .collect()
    }
}

/// Parses and checks a ResourceGrant document: a consumer that is a
/// hierarchy node, 1..=20 allowances, each with at least one bucket of a
/// non-negative amount (0 gives nothing but is allowed, as in Milo).
pub fn parse_grant(doc: &Value) -> Result<ResourceGrant, Vec<Cause>> {
    let mut r = Reader::default();
    let document = ConsumerDocument::read(&mut r, doc);
    let spec = &document.spec;

    let mut allowances = Vec::new();
    for item in bounded_array(&mut r, &spec.get("allowances"), 1, MAX_ALLOWANCES) {
        if !r.object_item(&item) {
            continue;
        }
        let resource_type = read_resource_type(&mut r, &item.get("resourceType"));
        let mut total: Option<i64> = Some(0);
        for bucket in bounded_array(&mut r, &item.get("buckets"), 1, usize::MAX) {
            if !r.object_item(&bucket) {
                total = None;
                continue;
            }
            let amount = non_negative_amount(&mut r, &bucket.get("amount"));
            total = match (total, amount) {
                (Some(t), Some(a)) => match t.checked_add(a) {
                    Some(sum) => Some(sum),
                    None => {
                        r.push(Cause::invalid(
                            &bucket.path,
                            "the allowance's buckets sum past the largest amount",
                        ));
                        None
                    }
                },
                _ => None,
            };
        }
        if let (Some(resource_type), Some(amount)) = (resource_type, total) {
            allowances.push(Allowance {
                resource_type,
                amount,
            });
        }
    }

    let consumer = checked_consumer(r, document.consumer)?;
    Ok(ResourceGrant {
        name: document.name,
        namespace: document.namespace,
        generation: document.generation,
        consumer,
        allowances,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scenario_grant() -> Value {
        json!({
            "apiVersion": "quota.miloapis.com/v1alpha1",
            "kind": "ResourceGrant",
            "metadata": {"name": "core-test-basic-quota-org-grant", "namespace": "organization-core-test-basic-quota-org", "generation": 3},
            "spec": {
                "consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "name": "core-test-basic-quota-org"},
                "allowances": [{"resourceType": "test.corefunction.miloapis.com/projects", "buckets": [{"amount": 2}]}]
            }
        })
    }

    fn with(pointer: &str, value: Value) -> Vec<Cause> {
        let mut doc = scenario_grant();
        match doc.pointer_mut(pointer) {
            Some(slot) => *slot = value,
            None => panic!("no {pointer}"),
        }
        parse_grant(&doc).unwrap_err()
    }

    #[test]
    fn scenario_grant_parses() {
        let grant = parse_grant(&scenario_grant()).unwrap();
        assert_eq!(
            grant.consumer,
            Node::organization("core-test-basic-quota-org")
        );
        assert_eq!(grant.generation, 3);
        let contributions = grant.contributions();
        let key = BucketKey::new(
            grant.consumer.clone(),
            "test.corefunction.miloapis.com/projects",
        );
        assert_eq!(contributions.get(&key), Some(&2));
    }

    #[test]
    fn buckets_and_repeated_allowances_sum() {
        let mut doc = scenario_grant();
        doc["spec"]["allowances"] = json!([
            {"resourceType": "t", "buckets": [{"amount": 3}, {"amount": 4}]},
            {"resourceType": "t", "buckets": [{"amount": 0}]},
            {"resourceType": "u", "buckets": [{"amount": 1}]}
        ]);
        let grant = parse_grant(&doc).unwrap();
        let c = grant.contributions();
        assert_eq!(c.values().copied().collect::<Vec<_>>(), [7, 1]);
    }

    #[test]
    fn negative_amounts_and_empty_lists_are_refused() {
        let causes = with("/spec/allowances/0/buckets/0/amount", json!(-1));
        assert_eq!(causes[0].field, "spec.allowances[0].buckets[0].amount");
        assert_eq!(
            with("/spec/allowances/0/buckets", json!([]))[0].field,
            "spec.allowances[0].buckets"
        );
        assert_eq!(
            with("/spec/allowances", json!([]))[0].field,
            "spec.allowances"
        );
        let causes = with(
            "/spec/allowances/0/buckets",
            json!([{"amount": i64::MAX}, {"amount": 1}]),
        );
        assert_eq!(causes[0].field, "spec.allowances[0].buckets[1]");
    }

    #[test]
    fn consumer_must_be_a_hierarchy_node() {
        let causes = with("/spec/consumerRef", json!({"kind": "User", "name": "u"}));
        assert_eq!(causes[0].field, "spec.consumerRef");
        let mut doc = scenario_grant();
        doc["spec"].as_object_mut().unwrap().remove("consumerRef");
        assert_eq!(parse_grant(&doc).unwrap_err()[0].field, "spec.consumerRef");
    }
}
