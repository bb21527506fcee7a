//! Milo's quota-core-functionality and the folder example, simulated.

use serde_json::json;

use super::*;
use serde_json::Value;

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
        .claim_for(&PolicyInputs::trigger_only(&trigger))
        .unwrap()
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
fn the_consumers_bucket_allocates_and_every_limited_bucket_bounds() {
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
    // As in Milo, the claim is charged to its consumer's bucket; the
    // folder's limited bucket bounds it through its condition.
    let org_bucket = BucketKey::new(Node::organization("acme"), PROJECTS);
    assert_eq!(plan.allocations[0].allocating_bucket, org_bucket.name());
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
        org_bucket.name()
    );
    // The plan made without reading writes exactly what the read one does.
    let unread = plan_unread(&claim, &under_folder("eng", "acme"), &world.registrations).unwrap();
    assert_eq!(unread, plan);
}
