//! The quota core as a whole: the built-in CRDs (crds), Milo's core
//! scenario and the folder example as pure simulations (scenarios),
//! the claim, move and recompute rules (claims, moves), the policies
//! (policies). The fixtures below are Milo's scenario documents.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::*;
use crate::crd;

mod claims;
mod crds;
mod moves;
mod policies;
mod scenarios;

const PROJECTS: &str = "test.corefunction.miloapis.com/projects";
const NOW: &str = "2026-01-01T00:00:00Z";

fn crd_source(file: &str) -> Value {
    let path = format!("{}/crds/{file}.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn quota_type(file: &str) -> crd::ResourceType {
    crd::parse(&crd_source(file)).unwrap_or_else(|c| panic!("{file}: {c:?}"))
}

/// `doc` is valid for the type's schema and loses nothing to pruning.
fn assert_schema_accepts(file: &str, doc: &Value) {
    let rt = quota_type(file);
    let schema = &rt.storage_version().unwrap().schema;
    let mut object = doc.clone();
    schema.apply_defaults(&mut object);
    let pruned = schema.prune(&mut object);
    assert!(pruned.is_empty(), "{file}: pruned {pruned:?}");
    let causes = schema.validate(&object, None);
    assert!(causes.is_empty(), "{file}: {causes:?}");
}

// ---------------------------------------------------------------------------
// Fixtures: Milo's quota-core-functionality scenario
// ---------------------------------------------------------------------------

fn registration_doc() -> Value {
    json!({
        "apiVersion": "quota.miloapis.com/v1alpha1",
        "kind": "ResourceRegistration",
        "metadata": {"name": "core-test-projects-per-org"},
        "spec": {
            "consumerType": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization"},
            "type": "Entity",
            "resourceType": PROJECTS,
            "description": "Core functionality test quota for maximum projects per organization",
            "baseUnit": "project",
            "displayUnit": "projects",
            "unitConversionFactor": 1,
            "claimingResources": [{"apiGroup": "resourcemanager.miloapis.com", "kind": "Project"}]
        }
    })
}

fn claim_policy_doc() -> Value {
    json!({
        "apiVersion": "quota.miloapis.com/v1alpha1",
        "kind": "ClaimCreationPolicy",
        "metadata": {"name": "core-test-project-quota-policy"},
        "spec": {
            "disabled": false,
            "trigger": {
                "resource": {"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project"},
                "constraints": [{
                    "expression": "has(trigger.metadata.labels) && \"test.miloapis.com/scenario\" in trigger.metadata.labels && trigger.metadata.labels[\"test.miloapis.com/scenario\"] == \"core-functionality\""
                }]
            },
            "target": {
                "resourceClaimTemplate": {
                    "metadata": {
                        "namespace": "organization-{{trigger.spec.ownerRef.name}}",
                        "labels": {"quota.miloapis.com/test": "true"}
                    },
                    "spec": {
                        "consumerRef": {
                            "apiGroup": "resourcemanager.miloapis.com",
                            "kind": "Organization",
                            "name": "{{trigger.spec.ownerRef.name}}"
                        },
                        "requests": [{"resourceType": PROJECTS, "amount": 1}]
                    }
                }
            }
        }
    })
}

fn grant_doc(name: &str, consumer_kind: &str, consumer: &str, amount: i64) -> Value {
    json!({
        "apiVersion": "quota.miloapis.com/v1alpha1",
        "kind": "ResourceGrant",
        "metadata": {"name": name, "namespace": "organization-core-test-basic-quota-org"},
        "spec": {
            "consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": consumer_kind, "name": consumer},
            "allowances": [{"resourceType": PROJECTS, "buckets": [{"amount": amount}]}]
        }
    })
}

fn project(name: &str, parent_kind: &str, parent: &str) -> Value {
    json!({
        "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name, "uid": format!("uid-{name}"), "labels": {"test.miloapis.com/scenario": "core-functionality"}},
        "spec": {"ownerRef": {"kind": parent_kind, "name": parent}}
    })
}

/// A project as the hierarchy stores it: with its organization's label.
fn placed_project(name: &str, parent_kind: &str, parent: &str, org: &str) -> Value {
    let mut p = project(name, parent_kind, parent);
    p["metadata"]["labels"][crate::kinds::ORGANIZATION_LABEL] = json!(org);
    p
}

/// Milo's policy with the consumer taken from the organization label
/// rather than the owner (which, for a project in a folder, is the folder).
fn hierarchy_policy() -> ClaimCreationPolicy {
    let mut doc = claim_policy_doc();
    let org = format!(
        "{{{{trigger.metadata.labels['{}']}}}}",
        crate::kinds::ORGANIZATION_LABEL
    );
    let template = &mut doc["spec"]["target"]["resourceClaimTemplate"];
    template["metadata"]["namespace"] = json!(format!("organization-{org}"));
    template["spec"]["consumerRef"]["name"] = json!(org);
    parse_claim_creation_policy(&doc).unwrap()
}

/// The store, as far as quota sees it.
#[derive(Default)]
struct World {
    registrations: Vec<ResourceRegistration>,
    grants: Vec<ResourceGrant>,
    buckets: BTreeMap<BucketKey, BucketLevel>,
    /// Claims with the path they were counted on.
    claims: Vec<(ResourceClaim, QuotaPath)>,
    /// The parent each bucket records for its consumer (the DynamoDB
    /// attribute the adapter keeps; see `BucketChange::parent`).
    parents: BTreeMap<BucketKey, Node>,
}

/// Why a simulated transaction was cancelled.
#[derive(Debug, PartialEq)]
enum Cancelled {
    Headroom(BucketKey),
    Parent(BucketKey),
    Changed(BucketKey),
}

impl World {
    fn scenario() -> World {
        World {
            registrations: vec![parse_registration(&registration_doc()).unwrap()],
            ..World::default()
        }
    }

    fn grant(&mut self, doc: &Value) {
        let grant = parse_grant(doc).unwrap();
        let old = self.grants.iter().position(|g| g.name == grant.name);
        let old_grant = old.map(|i| self.grants.remove(i));
        for change in grant_limit_changes(old_grant.as_ref(), Some(&grant)) {
            let level = self.buckets.entry(change.key).or_default();
            level.limit += change.limit_delta;
            level.grant_count += change.grant_count_delta;
        }
        self.grants.push(grant);
    }

    /// What the resources function does on a create that a policy claims:
    /// render, plan, and commit only if every check holds.
    fn create(
        &mut self,
        policy: &ClaimCreationPolicy,
        object: &Value,
        path: &QuotaPath,
    ) -> Result<ResourceClaim, ClaimRefusal> {
        let inputs = PolicyInputs::trigger_only(object);
        assert!(policy.applies_to(&inputs).unwrap());
        let claim = parse_claim(&policy.claim_for(&inputs).unwrap().unwrap()).unwrap();
        let plan = plan_claim(&claim, path, &self.buckets, &self.registrations)?;
        // The transaction's conditions hold against the state just read.
        self.commit(&plan.changes).unwrap();
        self.claims.push((claim.clone(), path.clone()));
        Ok(claim)
    }

    /// A transaction of bucket changes, as DynamoDB runs it: every
    /// condition against the state before it, then all writes or none.
    fn commit(&mut self, changes: &[BucketChange]) -> Result<(), Cancelled> {
        for change in changes {
            if !change.check.holds(self.buckets.get(&change.key)) {
                return Err(Cancelled::Headroom(change.key.clone()));
            }
            let recorded = self.parents.get(&change.key);
            if recorded.is_some() && recorded != change.parent.as_ref() {
                return Err(Cancelled::Parent(change.key.clone()));
            }
        }
        apply_changes(&mut self.buckets, changes);
        for change in changes {
            if let Some(parent) = &change.parent {
                self.parents.insert(change.key.clone(), parent.clone());
            }
        }
        Ok(())
    }

    /// A move's transaction: the subject's buckets unchanged and under the
    /// old parent, then the ancestors' changes and the new parent.
    fn commit_move(&mut self, plan: &MovePlan) -> Result<(), Cancelled> {
        for r in &plan.reparents {
            if self.buckets.get(&r.key) != r.expected.as_ref() {
                return Err(Cancelled::Changed(r.key.clone()));
            }
            if self.parents.get(&r.key).is_some_and(|p| *p != r.old_parent) {
                return Err(Cancelled::Parent(r.key.clone()));
            }
        }
        let before = (self.buckets.clone(), self.parents.clone());
        if let Err(e) = self.commit(&plan.changes) {
            (self.buckets, self.parents) = before;
            return Err(e);
        }
        for r in &plan.reparents {
            self.buckets.entry(r.key.clone()).or_default();
            self.parents.insert(r.key.clone(), r.new_parent.clone());
        }
        Ok(())
    }

    fn registered_types(&self) -> Vec<String> {
        self.registrations
            .iter()
            .map(|r| r.resource_type.clone())
            .collect()
    }

    fn delete(&mut self, claim_name: &str) {
        let i = self
            .claims
            .iter()
            .position(|(c, _)| c.name == claim_name)
            .unwrap();
        let (claim, path) = self.claims.remove(i);
        self.commit(&plan_release(&claim, &path)).unwrap();
    }

    fn level(&self, node: Node) -> BucketLevel {
        self.buckets
            .get(&BucketKey::new(node, PROJECTS))
            .copied()
            .unwrap_or_default()
    }

    fn assert_no_drift(&self) {
        let counted: Vec<CountedClaim> = self
            .claims
            .iter()
            .map(|(claim, path)| CountedClaim { claim, path })
            .collect();
        let computed = recompute(&self.grants, &counted);
        assert_eq!(drift(&self.buckets, &computed), []);
    }
}

fn under_org(org: &str) -> QuotaPath {
    QuotaPath::new(vec![Node::organization(org)]).unwrap()
}

fn under_folder(folder: &str, org: &str) -> QuotaPath {
    QuotaPath::new(vec![Node::folder(folder), Node::organization(org)]).unwrap()
}

fn claim_of(consumer: Value, requests: Value) -> ResourceClaim {
    parse_claim(&json!({
        "metadata": {"name": "c", "namespace": "organization-acme"},
        "spec": {"consumerRef": consumer, "requests": requests,
                 "resourceRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Project", "name": "p"}}
    }))
    .unwrap()
}

fn org_ref(name: &str) -> Value {
    json!({"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "name": name})
}

fn registration(resource_type: &str, measurement: &str) -> ResourceRegistration {
    let mut doc = registration_doc();
    doc["metadata"]["name"] = json!(resource_type.replace('/', "-"));
    doc["spec"]["resourceType"] = json!(resource_type);
    doc["spec"]["type"] = json!(measurement);
    parse_registration(&doc).unwrap()
}

fn grant_policy_doc() -> Value {
    json!({
        "apiVersion": "quota.miloapis.com/v1alpha1",
        "kind": "GrantCreationPolicy",
        "metadata": {"name": "test-organization-grant-policy"},
        "spec": {
            "trigger": {
                "resource": {"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Organization"},
                "constraints": [{"expression": "trigger.spec.type == \"Standard\""}]
            },
            "target": {
                "resourceGrantTemplate": {
                    "metadata": {
                        "name": "auto-grant-{{trigger.metadata.name}}",
                        "namespace": "organization-{{trigger.metadata.name}}",
                        "labels": {"test.miloapis.com/scenario": "grant-creation-policy"},
                        "annotations": {"quota.miloapis.com/description": "Auto-generated grant for {{trigger.metadata.name}}"}
                    },
                    "spec": {
                        "consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "name": "{{trigger.metadata.name}}"},
                        "allowances": [{"resourceType": PROJECTS, "buckets": [{"amount": 5}]}]
                    }
                }
            }
        }
    })
}

fn organization(name: &str, kind: &str) -> Value {
    json!({
        "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
        "kind": "Organization",
        "metadata": {"name": name, "uid": "u1"},
        "spec": {"type": kind}
    })
}
