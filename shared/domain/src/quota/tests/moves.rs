//! Moving projects and folders.

use std::collections::BTreeMap;

use super::*;

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
