//! Races between a move and the delete of the new parent (issue 17, item 1).
//! Each round sends both requests at once through two server instances; the
//! invariant is checked over the whole table afterwards, whatever either
//! request answered.

mod common;

use std::collections::HashSet;

use aws_sdk_dynamodb::types::AttributeValue;
use common::*;
use serde_json::json;

const ROUNDS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_move_racing_the_delete_of_its_new_parent_never_orphans_it() {
    let api = api().await;
    let other = api.sibling().await;
    api.org("o").await;
    let mut outcomes = HashSet::new();
    for round in 0..ROUNDS {
        let (a, b, p) = (
            format!("a{round}"),
            format!("b{round}"),
            format!("p{round}"),
        );
        assert_eq!(api.folder(&a, "Organization", "o").await.status, 201);
        assert_eq!(api.folder(&b, "Organization", "o").await.status, 201);
        assert_eq!(api.project(&p, "Organization", "o").await.status, 201);
        let into_b = |field: &str| json!({"spec": {field: {"kind": "Folder", "name": b}}});
        let (folder_a, project_p, folder_b) = (
            format!("{G}/folders/{a}"),
            format!("{G}/projects/{p}"),
            format!("{G}/folders/{b}"),
        );
        let (moved, project_moved, deleted) = tokio::join!(
            api.call("PATCH", &folder_a, Some(into_b("parentRef"))),
            api.call("PATCH", &project_p, Some(into_b("ownerRef"))),
            other.call("DELETE", &folder_b, None),
        );
        for reply in [&moved, &project_moved, &deleted] {
            assert!(
                matches!(reply.status, 200 | 404 | 409 | 422),
                "round {round}: {} {}",
                reply.status,
                reply.body
            );
        }
        outcomes.insert((moved.status, project_moved.status, deleted.status));
    }
    assert_hierarchy_whole(&api).await;
    // The organization's delete cascades through whatever the races left,
    // and leaves no item behind.
    let r = api
        .call("DELETE", &format!("{G}/organizations/o"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    while apiserver::gc::sweep(&api.server).await.unwrap().deletes > 0 {}
    assert_eq!(api.get(&format!("{G}/organizations/o")).await.status, 404);
    assert_hierarchy_whole(&api).await;
    eprintln!("outcomes (move, project move, delete): {outcomes:?}");
}

/// Every live folder's and project's parent is live, and every child-index
/// item points at an object that exists.
async fn assert_hierarchy_whole(api: &Api) {
    let items = scan_items(api).await;
    let object_keys: HashSet<(String, String)> = items
        .iter()
        .filter(|i| text(i, "pk").starts_with("o#"))
        .map(|i| (text(i, "pk"), text(i, "sk")))
        .collect();
    for item in items.iter().filter(|i| text(i, "pk").starts_with("c#")) {
        let target = (text(item, "opk"), text(item, "osk"));
        assert!(
            object_keys.contains(&target),
            "child-index item {} / {} names a child that does not exist",
            text(item, "pk"),
            text(item, "sk")
        );
    }
    let live = |kind: &str, name: &str| {
        object_keys.iter().any(|(pk, sk)| {
            pk == &format!("o#_#resourcemanager.miloapis.com#{kind}") && sk == &format!("#{name}")
        })
    };
    for item in items
        .iter()
        .filter(|i| text(i, "pk").starts_with("o#_#resourcemanager"))
    {
        let obj: serde_json::Value = serde_json::from_str(&text(item, "obj")).expect("obj");
        let parent = obj["spec"]["parentRef"]
            .as_object()
            .or_else(|| obj["spec"]["ownerRef"].as_object());
        let Some(parent) = parent else { continue };
        let (kind, name) = (
            parent["kind"].as_str().unwrap_or_default(),
            parent["name"].as_str().unwrap_or_default(),
        );
        assert!(
            live(kind, name),
            "{} {} names a parent {kind} {name} that does not exist",
            obj["kind"],
            obj["metadata"]["name"]
        );
    }
}

fn text(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}
