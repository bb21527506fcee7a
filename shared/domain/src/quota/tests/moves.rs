//! Moving projects and folders.

use std::collections::BTreeMap;

use super::*;

fn level(limit: i64, allocated: i64, grants: i64) -> BucketLevel {
    BucketLevel {
        limit,
        allocated,
        claim_count: allocated,
        grant_count: grants,
    }
}

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
    let q = world
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
    let types = world.registered_types();
    let plan = plan_move(
        &Node::project("p"),
        &in_a,
        &in_b,
        &types,
        &world.buckets,
        std::slice::from_ref(&p),
    )
    .unwrap();
    let touched: Vec<(Node, i64, Option<Node>)> = plan
        .changes
        .iter()
        .map(|c| (c.key.consumer.clone(), c.allocated_delta, c.parent.clone()))
        .collect();
    assert_eq!(
        touched,
        [
            (Node::folder("a"), -1, Some(Node::organization("acme"))),
            (Node::folder("b"), 1, Some(Node::organization("acme")))
        ]
    );
    // The project's bucket for every registered type is re-parented (here
    // none exists yet: it is created, so no late claim finds it missing).
    assert_eq!(
        plan.reparents,
        [Reparent {
            key: BucketKey::new(Node::project("p"), PROJECTS),
            expected: None,
            old_parent: Node::folder("a"),
            new_parent: Node::folder("b"),
        }]
    );
    world.commit_move(&plan).unwrap();
    let i = world
        .claims
        .iter()
        .position(|(c, _)| c.name == p.name)
        .unwrap();
    world.claims[i].1 = in_b.clone();
    world.assert_no_drift();

    // q cannot follow: folder b allows 1.
    let usage_q = std::slice::from_ref(&q);
    let refused = plan_move(
        &Node::project("q"),
        &in_a,
        &in_b,
        &types,
        &world.buckets,
        usage_q,
    )
    .unwrap_err();
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
    let types = vec![PROJECTS.to_string()];
    let mut buckets = BTreeMap::new();
    buckets.insert(BucketKey::new(team.clone(), PROJECTS), level(0, 3, 0));
    buckets.insert(BucketKey::new(Node::folder("b"), PROJECTS), level(3, 1, 1));
    let old = under_folder("a", "acme");
    let new = under_folder("b", "acme");
    let Err(MoveRefusal::Exceeded(refused)) = plan_move(&team, &old, &new, &types, &buckets, &[])
    else {
        panic!("the move fits")
    };
    let d = &refused.denials[0];
    assert_eq!((d.requested, d.allocated, d.limit), (3, 1, 3));
    // With room it goes; the organization, shared, is not touched.
    buckets
        .get_mut(&BucketKey::new(Node::folder("b"), PROJECTS))
        .unwrap()
        .limit = 4;
    let plan = plan_move(&team, &old, &new, &types, &buckets, &[]).unwrap();
    assert!(plan
        .changes
        .iter()
        .all(|c| c.key.consumer != Node::organization("acme")));
    assert_eq!(plan.changes.len(), 2);
    assert_eq!(plan.changes[1].check, HeadroomCheck::IfLimited(3));
    assert_eq!(plan.reparents[0].expected, Some(level(0, 3, 0)));
    // Nothing used, nothing to move; the buckets are still re-parented.
    let plan = plan_move(&team, &old, &new, &types, &BTreeMap::new(), &[]).unwrap();
    assert!(plan.changes.is_empty());
    assert_eq!(plan.reparents.len(), 1);
}

#[test]
fn a_claim_planned_before_a_move_cannot_land_after_it() {
    let mut world = World::scenario();
    world.grant(&grant_doc("org", "Organization", "acme", 10));
    let policy = hierarchy_policy();
    let in_a = under_folder("a", "acme");
    let in_b = under_folder("b", "acme");
    world
        .create(&policy, &placed_project("p", "Folder", "a", "acme"), &in_a)
        .unwrap();
    // Something in project p is being claimed, planned on p's old path...
    let in_p_old = QuotaPath::new(vec![
        Node::project("p"),
        Node::folder("a"),
        Node::organization("acme"),
    ])
    .unwrap();
    let claim = parse_claim(&json!({
        "metadata": {"name": "inner"},
        "spec": {"consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "name": "acme"},
                 "requests": [{"resourceType": PROJECTS, "amount": 1}]}
    }))
    .unwrap();
    let stale = plan_claim(&claim, &in_p_old, &world.buckets, &world.registrations).unwrap();
    // ...while p moves to folder b.
    let own: Vec<ResourceClaim> = world.claims.iter().map(|(c, _)| c.clone()).collect();
    let types = world.registered_types();
    let plan = plan_move(
        &Node::project("p"),
        &in_a,
        &in_b,
        &types,
        &world.buckets,
        &own,
    )
    .unwrap();
    world.commit_move(&plan).unwrap();
    // The stale claim is cancelled on p's recorded parent, not counted on a.
    assert_eq!(
        world.commit(&stale.changes),
        Err(Cancelled::Parent(BucketKey::new(
            Node::project("p"),
            PROJECTS
        )))
    );
    // Re-planned on the new path it lands.
    let in_p_new = QuotaPath::new(vec![
        Node::project("p"),
        Node::folder("b"),
        Node::organization("acme"),
    ])
    .unwrap();
    let fresh = plan_claim(&claim, &in_p_new, &world.buckets, &world.registrations).unwrap();
    world.commit(&fresh.changes).unwrap();
    assert_eq!(world.level(Node::folder("a")).allocated, 0);
    assert_eq!(world.level(Node::folder("b")).allocated, 2);
}

#[test]
fn a_move_planned_before_usage_changed_is_cancelled() {
    let mut world = World::scenario();
    world.grant(&grant_doc("org", "Organization", "acme", 10));
    let policy = hierarchy_policy();
    let in_a = under_folder("a", "acme");
    let in_b = under_folder("b", "acme");
    let in_p = QuotaPath::new(vec![
        Node::project("p"),
        Node::folder("a"),
        Node::organization("acme"),
    ])
    .unwrap();
    world
        .create(&policy, &placed_project("x", "Folder", "a", "acme"), &in_p)
        .unwrap();
    let types = world.registered_types();
    let plan = plan_move(
        &Node::project("p"),
        &in_a,
        &in_b,
        &types,
        &world.buckets,
        &[],
    )
    .unwrap();
    // A claim inside p lands between the move's read and its write.
    world
        .create(&policy, &placed_project("y", "Folder", "a", "acme"), &in_p)
        .unwrap();
    assert_eq!(
        world.commit_move(&plan),
        Err(Cancelled::Changed(BucketKey::new(
            Node::project("p"),
            PROJECTS
        )))
    );
}

#[test]
fn bad_move_paths_are_the_callers_bug() {
    let types = vec![PROJECTS.to_string()];
    let f = Node::folder("f");
    let below_itself = QuotaPath::new(vec![
        Node::folder("g"),
        f.clone(),
        Node::organization("acme"),
    ])
    .unwrap();
    let refused = plan_move(
        &f,
        &under_org("acme"),
        &below_itself,
        &types,
        &BTreeMap::new(),
        &[],
    )
    .unwrap_err();
    assert!(matches!(refused, MoveRefusal::BadPaths { .. }));
    assert_eq!(
        refused.to_api_error().code_and_reason(),
        (500, "InternalError")
    );
    let other_org = plan_move(
        &f,
        &under_org("acme"),
        &under_org("other"),
        &types,
        &BTreeMap::new(),
        &[],
    );
    assert!(matches!(other_org, Err(MoveRefusal::BadPaths { .. })));
}

#[test]
fn a_move_too_large_for_one_transaction_is_refused() {
    let team = Node::folder("team");
    let mut buckets = BTreeMap::new();
    let mut types = Vec::new();
    for i in 0..40 {
        types.push(format!("type-{i}"));
        buckets.insert(
            BucketKey::new(team.clone(), format!("type-{i}")),
            level(0, 1, 0),
        );
    }
    let old = under_folder("a", "acme");
    let new = under_folder("b", "acme");
    assert_eq!(
        plan_move(&team, &old, &new, &types, &buckets, &[]),
        Err(MoveRefusal::TooLarge {
            changes: 120,
            max: MAX_BUCKET_CHANGES
        })
    );
}
