//! ResourceClaim (namespaced): a consumer's requests of amounts of resource
//! types, for one object (`resourceRef`).

use serde_json::Value;

use super::names::{AUTO_CREATED_LABEL, RESOURCE_CONTEXT_ANNOTATION};
use super::read::{annotation_pairs, bounded_array, duplicate, positive_amount};
use super::refs::{checked_consumer, ConsumerDocument, Node, NodeKind, ObjectRef};
use super::registration::read_resource_type;
use crate::crd::fields::Reader;
use crate::kinds::RESOURCEMANAGER_GROUP;
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
    annotation_pairs(value, '/').collect()
}

/// The value of [`RESOURCE_CONTEXT_ANNOTATION`] for `node`.
pub fn resource_context_value(node: &Node) -> String {
    format!("{}/{}", node.kind.kind(), node.name)
}

/// [`resource_context_value`] read back; `None` if it names no node.
fn read_resource_context(value: &str) -> Option<Node> {
    let (kind, name) = value.split_once('/')?;
    let kind = NodeKind::of(RESOURCEMANAGER_GROUP, kind)?;
    (kind != NodeKind::Folder && !name.is_empty()).then(|| Node::new(kind, name))
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
    /// A ClaimCreationPolicy made it ([`AUTO_CREATED_LABEL`]).
    pub auto_created: bool,
    /// Where the object it is for lives, when that is an organization's or
    /// project's control plane ([`RESOURCE_CONTEXT_ANNOTATION`]).
    pub resource_context: Option<Node>,
    /// Whether it holds what it requests. A claim written directly that had
    /// no room is stored refused (Granted=False, as Milo stores it) and
    /// counts nowhere: nothing to release, nothing to recompute.
    pub granted: bool,
}

/// Where a claim's usage counts: the bucket of every node on the path from
/// a node to its organization, the node being...
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CountedFrom {
    /// ...its consumer: a claim written directly.
    Consumer,
    /// ...the parent of the folder or project a policy claimed for, read
    /// when counted, so that it follows moves.
    ParentOf(Node),
    /// ...the organization or project in whose control plane the object a
    /// policy claimed for lives.
    Context(Node),
}

impl ResourceClaim {
    /// Where this claim's usage counts, as the write that made it counted it.
    pub fn counted_from(&self) -> CountedFrom {
        if !self.auto_created {
            return CountedFrom::Consumer;
        }
        if let Some(node) = &self.resource_context {
            return CountedFrom::Context(node.clone());
        }
        match self.resource_ref.as_ref().and_then(Node::of_ref) {
            Some(node) if node.kind != NodeKind::Organization => CountedFrom::ParentOf(node),
            _ => CountedFrom::Consumer,
        }
    }

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
    let document = ConsumerDocument::read(&mut r, doc);
    let spec = &document.spec;

    let mut requests: Vec<ClaimRequest> = Vec::new();
    for item in bounded_array(&mut r, &spec.get("requests"), 1, MAX_REQUESTS) {
        if !r.object_item(&item) {
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

    let consumer = checked_consumer(r, document.consumer)?;
    let metadata = &doc["metadata"];
    Ok(ResourceClaim {
        name: document.name,
        namespace: document.namespace,
        generation: document.generation,
        consumer,
        requests,
        resource_ref,
        auto_created: metadata["labels"][AUTO_CREATED_LABEL] == "true",
        resource_context: metadata["annotations"][RESOURCE_CONTEXT_ANNOTATION]
            .as_str()
            .and_then(read_resource_context),
        granted: granted_condition(doc) != Some(false),
    })
}

/// A `/status` write may not turn a claim's Granted condition: it says
/// whether the claim counts in its buckets, which only the server decides
/// (its delete releases what a granted claim holds).
pub fn check_claim_status_update(old: &Value, new: &Value) -> Vec<Cause> {
    if granted_condition(old) == granted_condition(new) {
        return Vec::new();
    }
    vec![Cause::invalid(
        "status.conditions",
        "the Granted condition is set by the server: it says whether the claim counts in its buckets",
    )]
}

/// The status of a claim's Granted condition, if it has one.
pub fn granted_condition(doc: &Value) -> Option<bool> {
    doc["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Granted")
        .map(|c| c["status"] == "True")
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
    fn a_claim_counts_from_where_the_write_that_made_it_counted_it() {
        let counted = |labels: Value, annotations: Value, resource: Value| {
            let mut doc = scenario_claim();
            doc["metadata"]["labels"] = labels;
            doc["metadata"]["annotations"] = annotations;
            doc["spec"]["resourceRef"] = resource;
            parse_claim(&doc).unwrap().counted_from()
        };
        let project =
            json!({"apiGroup": "resourcemanager.miloapis.com", "kind": "Project", "name": "p"});
        let gadget = json!({"apiGroup": "example.com", "kind": "Gadget", "name": "g"});
        let auto = json!({AUTO_CREATED_LABEL: "true"});
        let in_project =
            json!({RESOURCE_CONTEXT_ANNOTATION: resource_context_value(&Node::project("p1"))});
        // Written directly: its consumer's path, whatever it refers to.
        assert_eq!(
            counted(json!({}), json!({}), project.clone()),
            CountedFrom::Consumer
        );
        assert_eq!(
            counted(json!({}), in_project.clone(), gadget.clone()),
            CountedFrom::Consumer
        );
        // A policy's, for a folder or project: from that node's parent.
        assert_eq!(
            counted(auto.clone(), json!({}), project),
            CountedFrom::ParentOf(Node::project("p"))
        );
        // A policy's, for an object in a control plane: from that context.
        assert_eq!(
            counted(auto.clone(), in_project, gadget.clone()),
            CountedFrom::Context(Node::project("p1"))
        );
        assert_eq!(
            counted(
                auto.clone(),
                json!({RESOURCE_CONTEXT_ANNOTATION: "Organization/acme"}),
                gadget.clone()
            ),
            CountedFrom::Context(Node::organization("acme"))
        );
        // A context that names no organization or project is not one.
        for junk in ["Folder/f", "Project/", "acme", "Team/t"] {
            assert_eq!(
                counted(
                    auto.clone(),
                    json!({RESOURCE_CONTEXT_ANNOTATION: junk}),
                    gadget.clone()
                ),
                CountedFrom::Consumer,
                "{junk}"
            );
        }
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
