//! The quota core as a whole: the built-in CRDs, Milo's core scenario and
//! the folder example as pure simulations, and every planning rule.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::*;
use crate::crd;
use crate::kinds::{ContextKind, Scope};

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
        let claim = parse_claim(&policy.render_claim(&inputs).unwrap()).unwrap();
        let plan = plan_claim(&claim, path, &self.buckets, &self.registrations)?;
        // The transaction's conditions hold against the same state.
        for change in &plan.changes {
            assert!(change.check.holds(self.buckets.get(&change.key)));
        }
        apply_changes(&mut self.buckets, &plan.changes);
        self.claims.push((claim.clone(), path.clone()));
        Ok(claim)
    }

    fn delete(&mut self, claim_name: &str) {
        let i = self
            .claims
            .iter()
            .position(|(c, _)| c.name == claim_name)
            .unwrap();
        let (claim, path) = self.claims.remove(i);
        apply_changes(&mut self.buckets, &plan_release(&claim, &path));
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

// ---------------------------------------------------------------------------
// The built-in CRDs
// ---------------------------------------------------------------------------

#[test]
fn every_quota_crd_parses_with_milos_scope_contexts_and_status() {
    let expect = [
        (
            "resourceregistrations",
            "ResourceRegistration",
            Scope::Cluster,
        ),
        ("resourcegrants", "ResourceGrant", Scope::Namespaced),
        ("allowancebuckets", "AllowanceBucket", Scope::Namespaced),
        ("resourceclaims", "ResourceClaim", Scope::Namespaced),
        (
            "claimcreationpolicies",
            "ClaimCreationPolicy",
            Scope::Cluster,
        ),
        (
            "grantcreationpolicies",
            "GrantCreationPolicy",
            Scope::Cluster,
        ),
    ];
    for (file, kind, scope) in expect {
        let rt = quota_type(file);
        assert_eq!(rt.group, QUOTA_GROUP);
        assert_eq!(rt.kind, kind);
        assert_eq!(rt.plural, file);
        assert_eq!(rt.scope, scope, "{file}");
        let contexts = if scope == Scope::Cluster {
            vec![ContextKind::Platform]
        } else {
            vec![ContextKind::Organization, ContextKind::Project]
        };
        assert_eq!(rt.contexts, contexts, "{file}");
        let version = rt.storage_version().unwrap();
        assert_eq!(version.name, "v1alpha1");
        assert!(version.status_subresource, "{file}");
    }
    let kinds = [
        RESOURCE_REGISTRATION,
        RESOURCE_GRANT,
        ALLOWANCE_BUCKET,
        RESOURCE_CLAIM,
        CLAIM_CREATION_POLICY,
        GRANT_CREATION_POLICY,
    ];
    for id in kinds {
        assert_eq!(quota_type(id.plural).kind, id.kind);
    }
}

#[test]
fn allowance_buckets_print_limit_allocated_available() {
    let rt = quota_type("allowancebuckets");
    let version = rt.storage_version().unwrap();
    let columns: Vec<&str> = version.columns.iter().map(|c| c.name.as_str()).collect();
    for name in ["Limit", "Allocated", "Available", "Claims"] {
        assert!(columns.contains(&name), "{columns:?}");
    }
    assert!(version
        .selectable_fields
        .contains(&"spec.resourceType".to_string()));
}

#[test]
fn milo_scenario_documents_fit_our_schemas() {
    assert_schema_accepts("resourceregistrations", &registration_doc());
    assert_schema_accepts("claimcreationpolicies", &claim_policy_doc());
    assert_schema_accepts("resourcegrants", &grant_doc("g", "Organization", "o", 2));
    assert_schema_accepts("grantcreationpolicies", &grant_policy_doc());
    // What the system writes fits too.
    let key = BucketKey::new(Node::organization("o"), PROJECTS);
    let mut bucket = key.document("o");
    let level = BucketLevel {
        limit: 2,
        allocated: 1,
        claim_count: 1,
        grant_count: 1,
    };
    let refs = update_contributing_refs(&[], "g", 1, Some(2));
    bucket["status"] = bucket_status(&level, &refs, NOW);
    assert_schema_accepts("allowancebuckets", &bucket);
    let policy = parse_claim_creation_policy(&claim_policy_doc()).unwrap();
    let trigger = project("p1", "Organization", "o");
    let mut claim = policy
        .render_claim(&PolicyInputs::trigger_only(&trigger))
        .unwrap();
    let allocation = ClaimAllocation {
        resource_type: PROJECTS.into(),
        amount: 1,
        allocating_bucket: key.name(),
    };
    claim["status"] = claim_granted_status(&[allocation], 1, NOW);
    assert_schema_accepts("resourceclaims", &claim);
    let mut reg = registration_doc();
    reg["status"] = registration_status(1, NOW);
    assert_schema_accepts("resourceregistrations", &reg);
}

#[test]
fn the_schemas_refuse_what_milos_refuse() {
    let rt = quota_type("resourceregistrations");
    let schema = &rt.storage_version().unwrap().schema;
    let mut changed = registration_doc();
    changed["spec"]["resourceType"] = json!("other");
    let causes = schema.validate(&changed, Some(&registration_doc()));
    assert!(
        causes
            .iter()
            .any(|c| c.message.contains("resourceType is immutable")),
        "{causes:?}"
    );
    let mut bad = registration_doc();
    bad["spec"]["type"] = json!("Counter");
    assert!(!schema.validate(&bad, None).is_empty());

    let rt = quota_type("claimcreationpolicies");
    let schema = &rt.storage_version().unwrap().schema;
    let mut with_ref = claim_policy_doc();
    with_ref["spec"]["target"]["resourceClaimTemplate"]["spec"]["resourceRef"] =
        json!({"kind": "Project", "name": "x"});
    let causes = schema.validate(&with_ref, None);
    assert!(
        causes
            .iter()
            .any(|c| c.message.contains("cannot be set in the template")),
        "{causes:?}"
    );
    assert!(parse_claim_creation_policy(&with_ref).is_err());
}

// ---------------------------------------------------------------------------
// Milo's quota-core-functionality, as a simulation
// ---------------------------------------------------------------------------

#[test]
fn milo_core_scenario_two_projects_then_denied_then_released() {
    let mut world = World::scenario();
    let policy = parse_claim_creation_policy(&claim_policy_doc()).unwrap();
    assert!(policy.check_registrations(&world.registrations).is_empty());
    let org = "core-test-basic-quota-org";
    world.grant(&grant_doc(
        "core-test-basic-quota-org-grant",
        "Organization",
        org,
        2,
    ));
    let path = under_org(org);

    let c1 = world
        .create(
            &policy,
            &project("core-test-basic-project-1", "Organization", org),
            &path,
        )
        .unwrap();
    world
        .create(
            &policy,
            &project("core-test-basic-project-2", "Organization", org),
            &path,
        )
        .unwrap();
    assert_eq!(c1.namespace, "organization-core-test-basic-quota-org");
    assert_eq!(
        world.level(Node::organization(org)),
        BucketLevel {
            limit: 2,
            allocated: 2,
            claim_count: 2,
            grant_count: 1
        }
    );

    let refused = world
        .create(
            &policy,
            &project("core-test-exceeds-project-1", "Organization", org),
            &path,
        )
        .unwrap_err();
    let message = refused.to_string();
    assert!(message.contains(PROJECTS), "{message}");
    assert!(
        message.contains("requested 1, allocated 2, limit 2"),
        "{message}"
    );
    let error = refused.to_api_error("core-test-exceeds-project-1-core-test-project-quota-policy");
    assert_eq!(error.code_and_reason(), (403, "Forbidden"));
    // Nothing was written for the refused project.
    assert_eq!(world.claims.len(), 2);
    assert_eq!(world.level(Node::organization(org)).allocated, 2);
    world.assert_no_drift();

    let names: Vec<String> = world.claims.iter().map(|(c, _)| c.name.clone()).collect();
    for name in names {
        world.delete(&name);
    }
    assert_eq!(
        world.level(Node::organization(org)),
        BucketLevel {
            limit: 2,
            allocated: 0,
            claim_count: 0,
            grant_count: 1
        }
    );
    world.assert_no_drift();
}

#[test]
fn rendered_scenario_claim_matches_milos_assertion() {
    let policy = parse_claim_creation_policy(&claim_policy_doc()).unwrap();
    let trigger = project(
        "core-test-basic-project-1",
        "Organization",
        "core-test-basic-quota-org",
    );
    let claim = policy
        .render_claim(&PolicyInputs::trigger_only(&trigger))
        .unwrap();
    assert_eq!(
        claim["metadata"]["namespace"],
        "organization-core-test-basic-quota-org"
    );
    let labels = &claim["metadata"]["labels"];
    assert_eq!(labels[AUTO_CREATED_LABEL], "true");
    assert_eq!(labels["quota.miloapis.com/test"], "true");
    assert_eq!(labels[RESOURCE_NAME_LABEL], "core-test-basic-project-1");
    assert_eq!(labels[POLICY_LABEL], "core-test-project-quota-policy");
    let owner = &claim["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "Project");
    assert_eq!(owner["name"], "core-test-basic-project-1");
    assert_eq!(owner["uid"], "uid-core-test-basic-project-1");
    assert_eq!(owner["controller"], false);
    assert_eq!(owner["blockOwnerDeletion"], false);
    assert_eq!(
        claim["spec"]["consumerRef"],
        json!({"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "name": "core-test-basic-quota-org"})
    );
    assert_eq!(
        claim["spec"]["requests"],
        json!([{"resourceType": PROJECTS, "amount": 1}])
    );
    assert_eq!(
        claim["spec"]["resourceRef"],
        json!({"apiGroup": "resourcemanager.miloapis.com", "kind": "Project", "name": "core-test-basic-project-1"})
    );
    // Granted status as the scenario asserts it.
    let status = claim_granted_status(
        &[ClaimAllocation {
            resource_type: PROJECTS.into(),
            amount: 1,
            allocating_bucket: "b".into(),
        }],
        1,
        NOW,
    );
    let condition = &status["conditions"][0];
    assert_eq!(condition["type"], "Granted");
    assert_eq!(condition["status"], "True");
    assert_eq!(condition["reason"], "QuotaAvailable");
    assert_eq!(
        condition["message"],
        "All 1 resource requests have been granted"
    );
    assert_eq!(status["allocations"][0]["status"], "Granted");
    assert_eq!(status["allocations"][0]["allocatedAmount"], 1);
}

#[test]
fn scenario_conditions_are_the_ones_chainsaw_waits_for() {
    let active = |s: Value| {
        (
            s["conditions"][0]["type"].clone(),
            s["conditions"][0]["status"].clone(),
            s["conditions"][0]["reason"].clone(),
        )
    };
    assert_eq!(
        active(registration_status(1, NOW)),
        (json!("Active"), json!("True"), json!("RegistrationActive"))
    );
    assert_eq!(
        active(grant_status(1, NOW)),
        (json!("Active"), json!("True"), json!("GrantActive"))
    );
    assert_eq!(
        active(policy_status(false, 1, NOW)),
        (json!("Ready"), json!("True"), json!("PolicyReady"))
    );
    assert_eq!(
        active(policy_status(true, 1, NOW)),
        (json!("Ready"), json!("False"), json!("PolicyDisabled"))
    );
    assert_eq!(
        grant_status(3, NOW)["conditions"][0]["observedGeneration"],
        3
    );
}

// ---------------------------------------------------------------------------
// The folder example: the organization allows 10 projects, one
// folder at most 4
// ---------------------------------------------------------------------------

#[test]
fn folder_subtree_stops_at_four_and_organization_at_ten() {
    let mut world = World::scenario();
    let policy = hierarchy_policy();
    world.grant(&grant_doc("org-grant", "Organization", "acme", 10));
    world.grant(&grant_doc("folder-grant", "Folder", "eng", 4));
    let in_folder = under_folder("eng", "acme");
    let in_org = under_org("acme");
    let other_folder = under_folder("ops", "acme");

    for i in 0..4 {
        world
            .create(
                &policy,
                &placed_project(&format!("eng-{i}"), "Folder", "eng", "acme"),
                &in_folder,
            )
            .unwrap();
    }
    let refused = world
        .create(
            &policy,
            &placed_project("eng-4", "Folder", "eng", "acme"),
            &in_folder,
        )
        .unwrap_err();
    let ClaimRefusal::Exceeded(exceeded) = &refused else {
        panic!("{refused:?}")
    };
    assert_eq!(exceeded.denials[0].consumer, Node::folder("eng"));
    assert_eq!(
        (exceeded.denials[0].allocated, exceeded.denials[0].limit),
        (4, 4)
    );
    assert!(refused.to_string().contains("Folder \"eng\""));

    // The rest of the organization still has 6.
    for i in 0..3 {
        world
            .create(
                &policy,
                &placed_project(&format!("top-{i}"), "Organization", "acme", "acme"),
                &in_org,
            )
            .unwrap();
    }
    for i in 0..3 {
        world
            .create(
                &policy,
                &placed_project(&format!("ops-{i}"), "Folder", "ops", "acme"),
                &other_folder,
            )
            .unwrap();
    }
    assert_eq!(world.level(Node::organization("acme")).allocated, 10);
    assert_eq!(world.level(Node::folder("eng")).allocated, 4);
    // A folder without a grant counts but does not limit.
    assert_eq!(
        world.level(Node::folder("ops")),
        BucketLevel {
            limit: 0,
            allocated: 3,
            claim_count: 3,
            grant_count: 0
        }
    );
    let refused = world
        .create(
            &policy,
            &placed_project("ops-3", "Folder", "ops", "acme"),
            &other_folder,
        )
        .unwrap_err();
    let ClaimRefusal::Exceeded(exceeded) = &refused else {
        panic!("{refused:?}")
    };
    assert_eq!(exceeded.denials[0].consumer, Node::organization("acme"));
    assert_eq!(
        (exceeded.denials[0].allocated, exceeded.denials[0].limit),
        (10, 10)
    );
    world.assert_no_drift();

    // Freeing one in the folder lets the folder, not the organization, grow.
    world.delete("eng-0-core-test-project-quota-policy");
    world
        .create(
            &policy,
            &placed_project("eng-5", "Folder", "eng", "acme"),
            &in_folder,
        )
        .unwrap();
    assert!(world
        .create(
            &policy,
            &placed_project("top-9", "Organization", "acme", "acme"),
            &in_org
        )
        .is_err());
    world.assert_no_drift();
}

#[test]
fn the_most_restrictive_bucket_allocates() {
    let mut world = World::scenario();
    world.grant(&grant_doc("org-grant", "Organization", "acme", 10));
    world.grant(&grant_doc("folder-grant", "Folder", "eng", 4));
    let claim = parse_claim(&json!({
        "metadata": {"name": "c"},
        "spec": {
            "consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "name": "acme"},
            "requests": [{"resourceType": PROJECTS, "amount": 1}]
        }
    }))
    .unwrap();
    let plan = plan_claim(
        &claim,
        &under_folder("eng", "acme"),
        &world.buckets,
        &world.registrations,
    )
    .unwrap();
    let folder_bucket = BucketKey::new(Node::folder("eng"), PROJECTS);
    assert_eq!(plan.allocations[0].allocating_bucket, folder_bucket.name());
    let checks: Vec<(NodeKind, HeadroomCheck)> = plan
        .changes
        .iter()
        .map(|c| (c.key.consumer.kind, c.check))
        .collect();
    assert_eq!(
        checks,
        [
            (NodeKind::Folder, HeadroomCheck::IfLimited(1)),
            (NodeKind::Organization, HeadroomCheck::Required(1))
        ]
    );
    let status = claim_granted_status(&plan.allocations, 1, NOW);
    assert_eq!(
        status["allocations"][0]["allocatingBucket"],
        folder_bucket.name()
    );
}

// ---------------------------------------------------------------------------
// Claim rules
// ---------------------------------------------------------------------------

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

#[test]
fn a_consumer_without_a_grant_has_no_quota() {
    let world = World::scenario();
    let claim = claim_of(
        org_ref("acme"),
        json!([{"resourceType": PROJECTS, "amount": 1}]),
    );
    let refused = plan_claim(
        &claim,
        &under_org("acme"),
        &world.buckets,
        &world.registrations,
    )
    .unwrap_err();
    assert!(
        refused.to_string().contains("allocated 0, limit 0"),
        "{refused}"
    );
    assert_eq!(refused.reason(), "QuotaExceeded");
}

#[test]
fn the_consumer_must_be_on_the_path() {
    let mut world = World::scenario();
    world.grant(&grant_doc("g", "Organization", "acme", 5));
    let claim = claim_of(
        org_ref("other"),
        json!([{"resourceType": PROJECTS, "amount": 1}]),
    );
    let refused = plan_claim(
        &claim,
        &under_org("acme"),
        &world.buckets,
        &world.registrations,
    )
    .unwrap_err();
    let ClaimRefusal::Invalid(causes) = &refused else {
        panic!("{refused:?}")
    };
    assert_eq!(causes[0].field, "spec.consumerRef");
    assert!(causes[0].message.contains("Organization \"acme\""));
    assert_eq!(
        refused.to_api_error("c").code_and_reason(),
        (422, "Invalid")
    );
    assert_eq!(refused.reason(), "ValidationFailed");
    let status = claim_refused_status(&refused, 1, NOW);
    assert_eq!(status["conditions"][0]["reason"], "ValidationFailed");
    assert_eq!(status["conditions"][0]["status"], "False");
}

#[test]
fn unregistered_feature_and_mismatched_claims_are_invalid() {
    let registrations = vec![
        registration(PROJECTS, "Entity"),
        registration("flags/sso", "Feature"),
    ];
    let buckets = BTreeMap::new();
    let path = under_org("acme");
    let fields = |claim: &ResourceClaim, regs: &[ResourceRegistration]| -> Vec<String> {
        match plan_claim(claim, &path, &buckets, regs) {
            Err(ClaimRefusal::Invalid(causes)) => causes.into_iter().map(|c| c.field).collect(),
            other => panic!("{other:?}"),
        }
    };
    let unregistered = claim_of(
        org_ref("acme"),
        json!([{"resourceType": "nope/x", "amount": 1}]),
    );
    assert_eq!(
        fields(&unregistered, &registrations),
        ["spec.requests[0].resourceType"]
    );
    let feature = claim_of(
        org_ref("acme"),
        json!([{"resourceType": "flags/sso", "amount": 1}]),
    );
    assert_eq!(
        fields(&feature, &registrations),
        ["spec.requests[0].resourceType"]
    );
    let folder_consumer = claim_of(
        json!({"apiGroup": "resourcemanager.miloapis.com", "kind": "Folder", "name": "f"}),
        json!([{"resourceType": PROJECTS, "amount": 1}]),
    );
    let path_with_folder = under_folder("f", "acme");
    match plan_claim(
        &folder_consumer,
        &path_with_folder,
        &buckets,
        &registrations,
    ) {
        Err(ClaimRefusal::Invalid(causes)) => assert_eq!(causes[0].field, "spec.consumerRef.kind"),
        other => panic!("{other:?}"),
    }
    let mut not_claimable = claim_of(
        org_ref("acme"),
        json!([{"resourceType": PROJECTS, "amount": 1}]),
    );
    if let Some(r) = not_claimable.resource_ref.as_mut() {
        r.kind = "Folder".into();
    }
    assert_eq!(fields(&not_claimable, &registrations), ["spec.resourceRef"]);
}

#[test]
fn a_claim_is_all_or_nothing_across_its_requests() {
    let mut world = World::scenario();
    world.registrations.push(registration("cpu", "Allocation"));
    world.grant(&grant_doc("g", "Organization", "acme", 5));
    let mut cpu = grant_doc("g-cpu", "Organization", "acme", 1000);
    cpu["spec"]["allowances"][0]["resourceType"] = json!("cpu");
    world.grant(&cpu);
    let claim = claim_of(
        org_ref("acme"),
        json!([{"resourceType": PROJECTS, "amount": 1}, {"resourceType": "cpu", "amount": 1500}, ]),
    );
    let refused = plan_claim(
        &claim,
        &under_org("acme"),
        &world.buckets,
        &world.registrations,
    )
    .unwrap_err();
    let ClaimRefusal::Exceeded(e) = refused else {
        panic!()
    };
    assert_eq!(e.denials.len(), 1);
    assert_eq!(e.denials[0].resource_type, "cpu");
    assert_eq!((e.denials[0].requested, e.denials[0].limit), (1500, 1000));
    let fits = claim_of(
        org_ref("acme"),
        json!([{"resourceType": PROJECTS, "amount": 1}, {"resourceType": "cpu", "amount": 1000}]),
    );
    let plan = plan_claim(
        &fits,
        &under_org("acme"),
        &world.buckets,
        &world.registrations,
    )
    .unwrap();
    assert_eq!(plan.changes.len(), 2);
    assert_eq!(plan.allocations.len(), 2);
}

#[test]
fn lowering_a_grant_below_usage_keeps_claims_and_refuses_new_ones() {
    let mut world = World::scenario();
    let policy = parse_claim_creation_policy(&claim_policy_doc()).unwrap();
    world.grant(&grant_doc("g", "Organization", "acme", 3));
    for i in 0..3 {
        world
            .create(
                &policy,
                &project(&format!("p{i}"), "Organization", "acme"),
                &under_org("acme"),
            )
            .unwrap();
    }
    world.grant(&grant_doc("g", "Organization", "acme", 1));
    let level = world.level(Node::organization("acme"));
    assert_eq!((level.limit, level.allocated, level.available()), (1, 3, 0));
    assert_eq!(bucket_status(&level, &[], NOW)["available"], 0);
    assert!(world
        .create(
            &policy,
            &project("p9", "Organization", "acme"),
            &under_org("acme")
        )
        .is_err());
    world.delete("p0-core-test-project-quota-policy");
    world.delete("p1-core-test-project-quota-policy");
    assert!(world
        .create(
            &policy,
            &project("p9", "Organization", "acme"),
            &under_org("acme")
        )
        .is_err());
    world.delete("p2-core-test-project-quota-policy");
    world
        .create(
            &policy,
            &project("p9", "Organization", "acme"),
            &under_org("acme"),
        )
        .unwrap();
    world.assert_no_drift();
}

#[test]
fn headroom_checks_hold_as_documented() {
    let limited = BucketLevel {
        limit: 4,
        allocated: 3,
        claim_count: 3,
        grant_count: 1,
    };
    let unlimited = BucketLevel {
        limit: 0,
        allocated: 9,
        claim_count: 9,
        grant_count: 0,
    };
    assert!(HeadroomCheck::Required(1).holds(Some(&limited)));
    assert!(!HeadroomCheck::Required(2).holds(Some(&limited)));
    assert!(!HeadroomCheck::Required(1).holds(None));
    assert!(!HeadroomCheck::Required(1).holds(Some(&unlimited)));
    assert!(HeadroomCheck::IfLimited(1).holds(None));
    assert!(HeadroomCheck::IfLimited(100).holds(Some(&unlimited)));
    assert!(!HeadroomCheck::IfLimited(2).holds(Some(&limited)));
    assert!(HeadroomCheck::None.holds(None));
}

#[test]
fn release_gives_back_on_every_node() {
    let claim = claim_of(
        org_ref("acme"),
        json!([{"resourceType": PROJECTS, "amount": 2}]),
    );
    let path = QuotaPath::new(vec![
        Node::project("p"),
        Node::folder("f"),
        Node::organization("acme"),
    ])
    .unwrap();
    let changes = plan_release(&claim, &path);
    assert_eq!(changes.len(), 3);
    assert!(changes.iter().all(|c| c.allocated_delta == -2
        && c.claim_count_delta == -1
        && c.check == HeadroomCheck::None));
}

// ---------------------------------------------------------------------------
// Moves
// ---------------------------------------------------------------------------

#[test]
fn moving_a_project_moves_its_usage_to_the_new_ancestors() {
    let mut world = World::scenario();
    let policy = hierarchy_policy();
    world.grant(&grant_doc("org", "Organization", "acme", 10));
    world.grant(&grant_doc("a", "Folder", "a", 4));
    world.grant(&grant_doc("b", "Folder", "b", 1));
    let in_a = under_folder("a", "acme");
    let in_b = under_folder("b", "acme");
    let p = world
        .create(&policy, &placed_project("p", "Folder", "a", "acme"), &in_a)
        .unwrap();
    world
        .create(&policy, &placed_project("q", "Folder", "a", "acme"), &in_a)
        .unwrap();

    // Project p moves from folder a to folder b: its own claim goes along.
    let usage = subject_usage(
        &Node::project("p"),
        &world.buckets,
        std::slice::from_ref(&p),
    );
    assert_eq!(
        usage[PROJECTS],
        SubtreeUsage {
            allocated: 1,
            claim_count: 1
        }
    );
    let changes = plan_move(&in_a, &in_b, &usage, &world.buckets).unwrap();
    let touched: Vec<(Node, i64)> = changes
        .iter()
        .map(|c| (c.key.consumer.clone(), c.allocated_delta))
        .collect();
    assert_eq!(touched, [(Node::folder("a"), -1), (Node::folder("b"), 1)]);
    apply_changes(&mut world.buckets, &changes);
    let i = world
        .claims
        .iter()
        .position(|(c, _)| c.name == p.name)
        .unwrap();
    world.claims[i].1 = in_b.clone();
    world.assert_no_drift();

    // q cannot follow: folder b allows 1.
    let q = world
        .claims
        .iter()
        .find(|(c, _)| c.name.starts_with("q-"))
        .unwrap()
        .0
        .clone();
    let usage = subject_usage(&Node::project("q"), &world.buckets, &[q]);
    let refused = plan_move(&in_a, &in_b, &usage, &world.buckets).unwrap_err();
    let MoveRefusal::Exceeded(exceeded) = &refused else {
        panic!("{refused:?}")
    };
    assert_eq!(exceeded.denials[0].consumer, Node::folder("b"));
    assert!(refused
        .to_string()
        .contains("requested 1, allocated 1, limit 1"));
    assert_eq!(refused.to_api_error().code_and_reason(), (403, "Forbidden"));
}

#[test]
fn moving_a_folder_moves_its_whole_subtree() {
    // Folder "team" (with 3 projects below, counted in its own bucket)
    // moves from under "a" to under "b", both in acme.
    let team = Node::folder("team");
    let mut buckets = BTreeMap::new();
    buckets.insert(
        BucketKey::new(team.clone(), PROJECTS),
        BucketLevel {
            limit: 0,
            allocated: 3,
            claim_count: 3,
            grant_count: 0,
        },
    );
    buckets.insert(
        BucketKey::new(Node::folder("b"), PROJECTS),
        BucketLevel {
            limit: 3,
            allocated: 1,
            claim_count: 1,
            grant_count: 1,
        },
    );
    let usage = subject_usage(&team, &buckets, &[]);
    let old = under_folder("a", "acme");
    let new = under_folder("b", "acme");
    let Err(MoveRefusal::Exceeded(refused)) = plan_move(&old, &new, &usage, &buckets) else {
        panic!("the move fits")
    };
    assert_eq!(
        (
            refused.denials[0].requested,
            refused.denials[0].allocated,
            refused.denials[0].limit
        ),
        (3, 1, 3)
    );
    // With room it goes; the organization, shared, is not touched.
    buckets
        .get_mut(&BucketKey::new(Node::folder("b"), PROJECTS))
        .unwrap()
        .limit = 4;
    let changes = plan_move(&old, &new, &usage, &buckets).unwrap();
    assert!(changes
        .iter()
        .all(|c| c.key.consumer != Node::organization("acme")));
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[1].check, HeadroomCheck::IfLimited(3));
    // Nothing to move, nothing to write.
    assert!(plan_move(&old, &new, &BTreeMap::new(), &buckets)
        .unwrap()
        .is_empty());
}

// ---------------------------------------------------------------------------
// Recompute and drift
// ---------------------------------------------------------------------------

#[test]
fn recompute_sums_grants_and_counts_claims_on_every_node() {
    let grants = vec![
        parse_grant(&grant_doc("g1", "Organization", "acme", 3)).unwrap(),
        parse_grant(&grant_doc("g2", "Organization", "acme", 2)).unwrap(),
    ];
    let claim = claim_of(
        org_ref("acme"),
        json!([{"resourceType": PROJECTS, "amount": 1}]),
    );
    let path = under_folder("f", "acme");
    let computed = recompute(
        &grants,
        &[CountedClaim {
            claim: &claim,
            path: &path,
        }],
    );
    let org = &computed[&BucketKey::new(Node::organization("acme"), PROJECTS)];
    assert_eq!(
        org.level,
        BucketLevel {
            limit: 5,
            allocated: 1,
            claim_count: 1,
            grant_count: 2
        }
    );
    assert_eq!(
        org.contributing
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["g1", "g2"]
    );
    assert_eq!(
        computed[&BucketKey::new(Node::folder("f"), PROJECTS)]
            .level
            .allocated,
        1
    );
    // As Milo's pre-created-buckets scenario reads it: limit 5, 1 used, 4 left.
    let status = bucket_status(&org.level, &org.contributing, NOW);
    assert_eq!(
        (
            status["limit"].clone(),
            status["available"].clone(),
            status["grantCount"].clone()
        ),
        (json!(5), json!(4), json!(2))
    );
}

#[test]
fn drift_reports_differences_but_not_idle_buckets() {
    let key = BucketKey::new(Node::organization("acme"), PROJECTS);
    let idle = BucketKey::new(Node::folder("old"), PROJECTS);
    let computed = BTreeMap::from([(
        key.clone(),
        BucketTotals {
            level: BucketLevel {
                limit: 5,
                allocated: 2,
                claim_count: 2,
                grant_count: 1,
            },
            contributing: vec![],
        },
    )]);
    let mut stored = BTreeMap::from([(idle.clone(), BucketLevel::default())]);
    let report = drift(&stored, &computed);
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].stored, None);
    assert!(report[0].to_string().contains("missing"));
    stored.insert(
        key.clone(),
        BucketLevel {
            limit: 5,
            allocated: 3,
            claim_count: 3,
            grant_count: 1,
        },
    );
    let report = drift(&stored, &computed);
    assert_eq!(report[0].computed.allocated, 2);
    assert!(report[0].to_string().contains("allocated 3"));
    stored.insert(key, computed.values().next().unwrap().level);
    assert!(drift(&stored, &computed).is_empty());
    stored.insert(
        idle,
        BucketLevel {
            limit: 0,
            allocated: 1,
            claim_count: 1,
            grant_count: 0,
        },
    );
    assert_eq!(drift(&stored, &computed).len(), 1);
}

// ---------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------

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

#[test]
fn grant_policy_renders_the_default_allowance_and_follows_updates() {
    let policy = parse_grant_creation_policy(&grant_policy_doc()).unwrap();
    let registrations = [registration(PROJECTS, "Entity")];
    assert!(policy.check_registrations(&registrations).is_empty());
    assert!(!policy.check_registrations(&[]).is_empty());
    let org = organization("acme", "Standard");
    assert!(policy.applies_to(&org).unwrap());
    let rendered = policy.render_grant(&org).unwrap();
    let doc = &rendered.document;
    assert_eq!(doc["metadata"]["name"], "auto-grant-acme");
    assert_eq!(doc["metadata"]["namespace"], "organization-acme");
    assert_eq!(doc["metadata"]["labels"][AUTO_CREATED_LABEL], "true");
    assert_eq!(
        doc["metadata"]["labels"][POLICY_LABEL],
        "test-organization-grant-policy"
    );
    assert_eq!(
        doc["metadata"]["annotations"]["quota.miloapis.com/description"],
        "Auto-generated grant for acme"
    );
    assert_eq!(doc["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(doc["spec"]["consumerRef"]["name"], "acme");
    assert_eq!(rendered.parent_context, None);
    let grant = parse_grant(doc).unwrap();
    assert_eq!(grant.allowances[0].amount, 5);
    // The organization changes type: the constraint no longer holds, so the
    // grant it made is to go.
    assert!(!policy
        .applies_to(&organization("acme", "Personal"))
        .unwrap());
    // Other kinds never trigger it.
    assert!(!policy
        .applies_to(&project("p", "Organization", "acme"))
        .unwrap());
}

#[test]
fn grant_policy_parent_context_is_resolved_from_object() {
    let mut doc = grant_policy_doc();
    doc["spec"]["target"]["parentContext"] = json!({
        "apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "nameExpression": "object.metadata.name"
    });
    let policy = parse_grant_creation_policy(&doc).unwrap();
    let rendered = policy
        .render_grant(&organization("acme", "Standard"))
        .unwrap();
    assert_eq!(
        rendered.parent_context,
        Some(ParentContext {
            api_group: "resourcemanager.miloapis.com".into(),
            kind: "Organization".into(),
            name: "acme".into()
        })
    );
    doc["spec"]["target"]["parentContext"]["nameExpression"] = json!("trigger.metadata.name");
    let causes = parse_grant_creation_policy(&doc).unwrap_err();
    assert_eq!(causes[0].field, "spec.target.parentContext.nameExpression");
}

#[test]
fn claim_policies_see_user_and_request_info() {
    let mut doc = claim_policy_doc();
    doc["spec"]["trigger"]["constraints"] = json!([
        {"expression": "user.groups.exists(g, g == 'admins') && requestInfo.verb == 'create'"}
    ]);
    doc["spec"]["target"]["resourceClaimTemplate"]["metadata"]["annotations"] =
        json!({"requested-by": "{{user.name}}"});
    let policy = parse_claim_creation_policy(&doc).unwrap();
    let trigger = project("p", "Organization", "acme");
    let user = json!({"name": "alice", "groups": ["admins"]});
    let request = json!({"verb": "create"});
    let inputs = PolicyInputs {
        trigger: &trigger,
        user: &user,
        request_info: &request,
    };
    assert!(policy.applies_to(&inputs).unwrap());
    let claim = policy.render_claim(&inputs).unwrap();
    assert_eq!(claim["metadata"]["annotations"]["requested-by"], "alice");
    assert_eq!(
        claim["metadata"]["annotations"][CREATED_BY_ANNOTATION],
        CLAIM_CREATED_BY
    );
    let outsider = json!({"name": "bob", "groups": []});
    let inputs = PolicyInputs {
        trigger: &trigger,
        user: &outsider,
        request_info: &request,
    };
    assert!(!policy.applies_to(&inputs).unwrap());
    // Grant policies have no user.
    let mut grant = grant_policy_doc();
    grant["spec"]["trigger"]["constraints"] = json!([{"expression": "user.name == 'x'"}]);
    let causes = parse_grant_creation_policy(&grant).unwrap_err();
    assert_eq!(causes[0].field, "spec.trigger.constraints[0].expression");
    assert!(causes[0].message.contains("undeclared reference to 'user'"));
}

#[test]
fn disabled_policies_and_other_kinds_do_not_apply() {
    let mut doc = claim_policy_doc();
    doc["spec"]["disabled"] = json!(true);
    let policy = parse_claim_creation_policy(&doc).unwrap();
    let trigger = project("p", "Organization", "acme");
    assert!(!policy
        .applies_to(&PolicyInputs::trigger_only(&trigger))
        .unwrap());
    let policy = parse_claim_creation_policy(&claim_policy_doc()).unwrap();
    let folder = json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Folder", "metadata": {"name": "f"}});
    assert!(!policy
        .applies_to(&PolicyInputs::trigger_only(&folder))
        .unwrap());
    // Another version of the same kind matches.
    let mut v2 = trigger.clone();
    v2["apiVersion"] = json!("resourcemanager.miloapis.com/v1beta1");
    assert!(policy.applies_to(&PolicyInputs::trigger_only(&v2)).unwrap());
    // The constraint filters on the label.
    let mut unlabelled = trigger;
    unlabelled["metadata"]["labels"] = json!({});
    assert!(!policy
        .applies_to(&PolicyInputs::trigger_only(&unlabelled))
        .unwrap());
}

#[test]
fn policies_that_do_not_compile_are_refused_at_write() {
    let field_of = |pointer: &str, value: Value| -> Vec<String> {
        let mut doc = claim_policy_doc();
        *doc.pointer_mut(pointer).unwrap() = value;
        parse_claim_creation_policy(&doc)
            .unwrap_err()
            .into_iter()
            .map(|c| c.field)
            .collect()
    };
    let t = "/spec/target/resourceClaimTemplate";
    assert_eq!(
        field_of(
            "/spec/trigger/constraints/0/expression",
            json!("trigger.metadata.name ==")
        ),
        ["spec.trigger.constraints[0].expression"]
    );
    assert_eq!(
        field_of(
            &format!("{t}/spec/consumerRef/name"),
            json!("{{trigger.spec.ownerRef.name")
        ),
        ["spec.target.resourceClaimTemplate.spec.consumerRef.name"]
    );
    assert_eq!(
        field_of(
            &format!("{t}/metadata/namespace"),
            json!("org-{{ nope.x }}")
        ),
        ["spec.target.resourceClaimTemplate.metadata.namespace"]
    );
    assert_eq!(
        field_of(&format!("{t}/spec/requests/0/amount"), json!(0)),
        ["spec.target.resourceClaimTemplate.spec.requests[0].amount"]
    );
    assert_eq!(
        field_of(&format!("{t}/spec/requests/0/amount"), json!(-1)),
        ["spec.target.resourceClaimTemplate.spec.requests[0].amount"]
    );
    assert_eq!(
        field_of(&format!("{t}/spec/requests"), json!([])),
        ["spec.target.resourceClaimTemplate.spec.requests"]
    );
    assert_eq!(
        field_of(
            &format!("{t}/spec"),
            json!({
                "consumerRef": org_ref("acme"),
                "requests": [{"resourceType": PROJECTS, "amount": 1}],
                "resourceRef": {"kind": "Project", "name": "x"}
            })
        ),
        ["spec.target.resourceClaimTemplate.spec.resourceRef"]
    );
    assert_eq!(
        field_of("/spec/trigger/resource/kind", json!("project")),
        ["spec.trigger.resource.kind"]
    );
    assert_eq!(
        field_of(
            "/spec/trigger/resource/apiVersion",
            json!("resourcemanager.miloapis.com/")
        ),
        ["spec.trigger.resource.apiVersion"]
    );
    let constraints: Vec<Value> = (0..11).map(|_| json!({"expression": "true"})).collect();
    assert_eq!(
        field_of("/spec/trigger/constraints", json!(constraints)),
        ["spec.trigger.constraints"]
    );
    let mut doc = claim_policy_doc();
    doc["spec"]["target"]["resourceClaimTemplate"]["spec"]
        .as_object_mut()
        .unwrap()
        .remove("consumerRef");
    let causes = parse_claim_creation_policy(&doc).unwrap_err();
    assert_eq!(
        causes[0].field,
        "spec.target.resourceClaimTemplate.spec.consumerRef"
    );
    let causes = parse_claim_creation_policy(&json!({"spec": {}})).unwrap_err();
    let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["spec.trigger", "spec.target"]);
}

#[test]
fn a_template_that_renders_an_invalid_claim_is_a_clear_error() {
    let policy = parse_claim_creation_policy(&claim_policy_doc()).unwrap();
    // The owner's name makes an invalid namespace and consumer name.
    let trigger = project("p", "Organization", "Not_Valid");
    let err = policy
        .render_claim(&PolicyInputs::trigger_only(&trigger))
        .unwrap_err();
    let PolicyError::InvalidDocument { causes, kind, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*kind, "ResourceClaim");
    assert_eq!(causes[0].field, "metadata.namespace");
    assert!(
        err.to_string().contains("core-test-project-quota-policy"),
        "{err}"
    );
    assert_eq!(err.to_api_error().code_and_reason(), (400, "BadRequest"));

    // A field the trigger lacks is an evaluation error at the template field.
    let trigger = json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project",
        "metadata": {"name": "p", "labels": {"test.miloapis.com/scenario": "core-functionality"}}, "spec": {}});
    let err = policy
        .render_claim(&PolicyInputs::trigger_only(&trigger))
        .unwrap_err();
    let PolicyError::Evaluation { field, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        field,
        "spec.target.resourceClaimTemplate.metadata.namespace"
    );

    // A cluster-scoped trigger and no namespace in the template.
    let mut doc = claim_policy_doc();
    doc["spec"]["target"]["resourceClaimTemplate"]["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("namespace");
    let policy = parse_claim_creation_policy(&doc).unwrap();
    let err = policy
        .render_claim(&PolicyInputs::trigger_only(&project(
            "p",
            "Organization",
            "acme",
        )))
        .unwrap_err();
    let PolicyError::InvalidDocument { causes, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(causes[0].field, "metadata.namespace");
    assert_eq!(causes[0].reason, "FieldValueRequired");
}

#[test]
fn a_constraint_that_fails_to_evaluate_is_an_error_not_a_skip() {
    let mut doc = claim_policy_doc();
    doc["spec"]["trigger"]["constraints"] =
        json!([{"expression": "trigger.spec.tier == 'gold'", "message": "gold projects only"}]);
    let policy = parse_claim_creation_policy(&doc).unwrap();
    let trigger = project("p", "Organization", "acme");
    let err = policy
        .applies_to(&PolicyInputs::trigger_only(&trigger))
        .unwrap_err();
    let PolicyError::Evaluation { field, message, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(field, "spec.trigger.constraints[0].expression");
    assert!(message.contains("gold projects only"));
    doc["spec"]["trigger"]["constraints"] = json!([{"expression": "trigger.metadata.name"}]);
    let policy = parse_claim_creation_policy(&doc).unwrap();
    let err = policy
        .applies_to(&PolicyInputs::trigger_only(&trigger))
        .unwrap_err();
    assert!(err.to_string().contains("boolean"), "{err}");
}

#[test]
fn claim_policy_registrations_are_checked_against_the_trigger_kind() {
    let policy = parse_claim_creation_policy(&claim_policy_doc()).unwrap();
    let mut doc = registration_doc();
    doc["spec"]["claimingResources"] =
        json!([{"apiGroup": "resourcemanager.miloapis.com", "kind": "Folder"}]);
    let folder_only = parse_registration(&doc).unwrap();
    let causes = policy.check_registrations(&[folder_only]);
    assert_eq!(
        causes[0].field,
        "spec.target.resourceClaimTemplate.spec.requests[0].resourceType"
    );
    assert!(causes[0].message.contains("claimingResources"));
    assert_eq!(policy.requests, [(PROJECTS.to_string(), 1)]);
}

#[test]
fn a_move_too_large_for_one_transaction_is_refused() {
    let team = Node::folder("team");
    let mut buckets = BTreeMap::new();
    for i in 0..40 {
        let level = BucketLevel {
            limit: 0,
            allocated: 1,
            claim_count: 1,
            grant_count: 0,
        };
        buckets.insert(BucketKey::new(team.clone(), format!("type-{i}")), level);
    }
    let usage = subject_usage(&team, &buckets, &[]);
    let old = under_folder("a", "acme");
    let new = under_folder("b", "acme");
    assert_eq!(
        plan_move(&old, &new, &usage, &buckets),
        Err(MoveRefusal::TooLarge {
            changes: 80,
            max: MAX_BUCKET_CHANGES
        })
    );
}

#[test]
fn several_claims_for_one_object_are_decided_together() {
    let mut world = World::scenario();
    world.grant(&grant_doc("g", "Organization", "acme", 3));
    let two = claim_of(
        org_ref("acme"),
        json!([{"resourceType": PROJECTS, "amount": 2}]),
    );
    let path = under_folder("f", "acme");
    // Each fits alone; together they do not.
    assert!(plan_claim(&two, &path, &world.buckets, &world.registrations).is_ok());
    let refused = plan_claims(
        &[two.clone(), two.clone()],
        &path,
        &world.buckets,
        &world.registrations,
    )
    .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("requested 2, allocated 2, limit 3"),
        "{refused}"
    );
    let one = claim_of(
        org_ref("acme"),
        json!([{"resourceType": PROJECTS, "amount": 1}]),
    );
    let plan = plan_claims(&[two, one], &path, &world.buckets, &world.registrations).unwrap();
    assert_eq!(plan.plans.len(), 2);
    // One write per bucket, with the check of the sum.
    let merged: Vec<(NodeKind, i64, i64, HeadroomCheck)> = plan
        .changes
        .iter()
        .map(|c| {
            (
                c.key.consumer.kind,
                c.allocated_delta,
                c.claim_count_delta,
                c.check,
            )
        })
        .collect();
    assert_eq!(
        merged,
        [
            (NodeKind::Folder, 3, 2, HeadroomCheck::IfLimited(3)),
            (NodeKind::Organization, 3, 2, HeadroomCheck::Required(3))
        ]
    );
    let releases = merge_changes(
        &[
            plan_release(
                &claim_of(
                    org_ref("acme"),
                    json!([{"resourceType": PROJECTS, "amount": 2}]),
                ),
                &path,
            ),
            plan_release(
                &claim_of(
                    org_ref("acme"),
                    json!([{"resourceType": PROJECTS, "amount": 1}]),
                ),
                &path,
            ),
        ]
        .concat(),
    );
    assert_eq!(releases.len(), 2);
    assert!(releases
        .iter()
        .all(|c| c.allocated_delta == -3 && c.check == HeadroomCheck::None));
}

#[test]
fn a_claim_too_large_for_one_transaction_is_invalid() {
    let mut registrations = Vec::new();
    let mut requests = Vec::new();
    for i in 0..6 {
        registrations.push(registration(&format!("t{i}"), "Allocation"));
        requests.push(json!({"resourceType": format!("t{i}"), "amount": 1}));
    }
    let claim = claim_of(org_ref("acme"), json!(requests));
    let mut nodes: Vec<Node> = (0..10).map(|i| Node::folder(format!("f{i}"))).collect();
    nodes.insert(0, Node::project("p"));
    nodes.push(Node::organization("acme"));
    let deep = QuotaPath::new(nodes).unwrap();
    let refused = plan_claim(&claim, &deep, &BTreeMap::new(), &registrations).unwrap_err();
    let ClaimRefusal::Invalid(causes) = refused else {
        panic!()
    };
    assert_eq!(causes[0].field, "spec.requests");
    assert!(
        causes[0].message.contains("72 buckets"),
        "{}",
        causes[0].message
    );
}

#[test]
fn grants_need_registered_types_but_any_hierarchy_consumer() {
    let registrations = [registration(PROJECTS, "Entity")];
    let folder_grant = parse_grant(&grant_doc("g", "Folder", "eng", 4)).unwrap();
    assert!(folder_grant.check_registrations(&registrations).is_empty());
    let mut doc = grant_doc("g", "Organization", "acme", 4);
    doc["spec"]["allowances"][0]["resourceType"] = json!("unknown/type");
    let causes = parse_grant(&doc)
        .unwrap()
        .check_registrations(&registrations);
    assert_eq!(causes[0].field, "spec.allowances[0].resourceType");
}
