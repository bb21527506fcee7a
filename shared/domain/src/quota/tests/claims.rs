//! Claim rules, recompute and drift.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;

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
fn a_bucket_is_empty_only_once_nothing_counts_in_it() {
    let last_grant = BucketLevel {
        limit: 3,
        allocated: 0,
        claim_count: 0,
        grant_count: 1,
    };
    let removing_it = BucketLevel {
        limit: -3,
        allocated: 0,
        claim_count: 0,
        grant_count: -1,
    };
    assert!(!last_grant.is_empty());
    assert!(last_grant.plus(removing_it).is_empty());
    // Another grant, a claim, or a limit left without a grant (drift) keep it.
    for kept in [
        BucketLevel {
            grant_count: 2,
            limit: 5,
            ..last_grant
        },
        BucketLevel {
            allocated: 1,
            claim_count: 1,
            ..last_grant
        },
        BucketLevel {
            limit: 4,
            ..last_grant
        },
    ] {
        assert!(!kept.plus(removing_it).is_empty(), "{kept:?}");
    }
    assert!(BucketLevel::default().is_empty());
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

#[test]
fn a_refused_claim_counts_nowhere() {
    let mut doc = json!({
        "metadata": {"name": "c", "namespace": "milo-system"},
        "spec": {"consumerRef": org_ref("acme"),
                 "requests": [{"resourceType": PROJECTS, "amount": 2}]},
    });
    assert!(parse_claim(&doc).unwrap().granted);
    let refusal = ClaimRefusal::Invalid(vec![]);
    doc["status"] = claim_refused_status(&refusal, 1, NOW);
    let refused = parse_claim(&doc).unwrap();
    assert!(!refused.granted);
    let path = under_org("acme");
    assert!(plan_release(&refused, &path).is_empty());
    let computed = recompute(
        &[],
        &[CountedClaim {
            claim: &refused,
            path: &path,
        }],
    );
    assert!(computed.is_empty());
    // Only the server turns the condition.
    let mut granted = doc.clone();
    granted["status"] = claim_granted_status(&[], 1, NOW);
    assert_eq!(
        check_claim_status_update(&doc, &granted)[0].field,
        "status.conditions"
    );
    assert!(check_claim_status_update(&doc, &doc).is_empty());
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
    let plan = plan_claims(
        &[two.clone(), one.clone()],
        &path,
        &world.buckets,
        &world.registrations,
    )
    .unwrap();
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
    // Planned without reading, the same writes; the two-of-two that does
    // not fit is then refused by its merged condition on the bucket.
    let unread = plan_claims_unread(&[two.clone(), one], &path, &world.registrations).unwrap();
    assert_eq!(unread.changes, plan.changes);
    let too_much = plan_claims_unread(&[two.clone(), two], &path, &world.registrations).unwrap();
    let org = &too_much.changes[1];
    assert_eq!(org.check, HeadroomCheck::Required(4));
    assert!(!org.check.holds(world.buckets.get(&org.key)));
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

#[test]
fn held_claims_round_trip_and_skip_malformed_entries() {
    let claim = |namespace: &str, name: &str| ResourceClaim {
        name: name.into(),
        namespace: namespace.into(),
        ..claim_of(
            org_ref("acme"),
            json!([{"resourceType": PROJECTS, "amount": 1}]),
        )
    };
    let value = held_claims_value(&[claim("organization-acme", "p-1"), claim("ns", "p-2")]);
    assert_eq!(value, "organization-acme/p-1,ns/p-2");
    assert_eq!(
        held_claims(&value),
        [
            ("organization-acme".to_string(), "p-1".to_string()),
            ("ns".to_string(), "p-2".to_string())
        ]
    );
    assert_eq!(
        held_claims("junk,/x,y/,a/b"),
        [("a".to_string(), "b".to_string())]
    );
}

#[test]
fn held_grants_round_trip_and_skip_malformed_entries() {
    let held = BTreeMap::from([
        ("default".to_string(), "default-x7k2p".to_string()),
        ("extra".to_string(), "extra-acme".to_string()),
    ]);
    let value = held_grants_value(&held).unwrap();
    assert_eq!(value, "default=default-x7k2p,extra=extra-acme");
    assert_eq!(held_grants(&value), held);
    assert_eq!(
        held_grants("junk,=x,y=,a=b"),
        BTreeMap::from([("a".to_string(), "b".to_string())])
    );
    assert_eq!(held_grants_value(&BTreeMap::new()), None);
}

#[test]
fn a_claim_policy_without_consumer_ref_claims_from_the_triggers_control_plane() {
    let mut doc = claim_policy_doc();
    let spec = &mut doc["spec"]["target"]["resourceClaimTemplate"]["spec"];
    spec.as_object_mut().unwrap().remove("consumerRef");
    let policy = parse_claim_creation_policy(&doc).unwrap();
    let mut trigger = project("p", "Organization", "acme");
    trigger["metadata"]["labels"] = json!({"test.miloapis.com/scenario": "core-functionality"});
    let inputs = PolicyInputs::trigger_only(&trigger);
    let consumer = Node::project("web").to_ref().to_json();
    let claim = policy
        .claim_in_context_for(&inputs, Some(&consumer))
        .unwrap()
        .unwrap();
    assert_eq!(claim["spec"]["consumerRef"], consumer);
    assert_eq!(parse_claim(&claim).unwrap().consumer, Node::project("web"));
    // In the platform's own context there is none to take: said once, at
    // the template's field.
    match policy.claim_for(&inputs) {
        Err(PolicyError::InvalidDocument { causes, .. }) => {
            let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
            assert_eq!(
                fields,
                ["spec.target.resourceClaimTemplate.spec.consumerRef"]
            );
        }
        other => panic!("{other:?}"),
    }
    // A consumerRef written in the template is kept.
    let policy = parse_claim_creation_policy(&claim_policy_doc()).unwrap();
    let claim = policy
        .claim_in_context_for(&inputs, Some(&consumer))
        .unwrap()
        .unwrap();
    assert_eq!(claim["spec"]["consumerRef"]["kind"], "Organization");
}
