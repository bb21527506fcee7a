//! The graph read API of the resources function over what the consumer
//! ingested: outgoing and incoming relationships by URN, and bounded walks.

mod common;

use common::*;
use serde_json::{json, Value};

const ROOT: &str = "urn:infratographer:tenant:5d0c8f4e-1111-4c2a-9d3e-000000000001";
const API: &str = "/apis/graph.miloapis.com/v1alpha1";

/// A tenant create whose `parent_urn` names `parent`.
fn tenant_create(tenant: &str, parent: &str) -> Vec<u8> {
    let mut event: Value = serde_json::from_slice(&sample("01-loadbalancer-create.json")).unwrap();
    event["subject_urn"] = json!(tenant);
    event["additional_subjects"] = json!([parent]);
    event["source"] = json!("tenant-api");
    event["fields"] = json!({"parent_urn": parent});
    serde_json::to_vec(&event).unwrap()
}

/// loadbalancer —tenant→ TENANT_1 —parent→ ROOT, through the real consumer.
async fn chain() -> World {
    let w = World::new().await;
    let (status, body) = w
        .call(
            "POST",
            &format!("{API}/relationshiptypes"),
            Some(json!({
                "apiVersion": "graph.miloapis.com/v1alpha1",
                "kind": "RelationshipType",
                "metadata": {"name": "tenant.parent"},
                "spec": {"resourceType": "tenant", "relation": "parent", "subjectTypes": ["tenant"], "cardinality": "One"}
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    w.publish("loadbalancer.create", sample("01-loadbalancer-create.json"))
        .await;
    w.publish("tenant.create", tenant_create(TENANT_1, ROOT))
        .await;
    let report = w.drain_all().await;
    assert_eq!((report.acked, report.dead_lettered), (2, 0), "{report:?}");
    w
}

fn edges(body: &Value, field: &str) -> Vec<(String, String, String)> {
    body[field]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| {
            (
                e["resource"].as_str().unwrap_or_default().to_string(),
                e["relation"].as_str().unwrap_or_default().to_string(),
                e["subject"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn edge(a: &str, r: &str, b: &str) -> (String, String, String) {
    (a.into(), r.into(), b.into())
}

#[tokio::test]
async fn relationships_in_both_directions_by_urn() {
    let w = chain().await;
    let (status, body) = w
        .call("GET", &format!("{API}/relationships?urn={LB}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(edges(&body, "items"), [edge(LB, "tenant", TENANT_1)]);
    // The tenant has a record of its own and is pointed at by the load balancer.
    let (_, body) = w
        .call(
            "GET",
            &format!("{API}/relationships?urn={TENANT_1}&direction=incoming"),
            None,
        )
        .await;
    assert_eq!(edges(&body, "items"), [edge(LB, "tenant", TENANT_1)]);
    // ROOT has no record at all, and is still a subject.
    let (status, body) = w
        .call(
            "GET",
            &format!("{API}/relationships?urn={ROOT}&direction=incoming"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(edges(&body, "items"), [edge(TENANT_1, "parent", ROOT)]);
    let (_, body) = w
        .call(
            "GET",
            &format!("{API}/relationships?urn={LB}&relation=owner"),
            None,
        )
        .await;
    assert_eq!(edges(&body, "items"), []);
}

#[tokio::test]
async fn traversals_follow_relations_within_their_bounds() {
    let w = chain().await;
    let (status, body) = w
        .call(
            "GET",
            &format!("{API}/traversals?urn={LB}&direction=outgoing&depth=3"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let nodes: Vec<(String, u64)> = body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["urn"].as_str().unwrap().to_string(),
                n["depth"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        nodes,
        [
            (LB.to_string(), 0),
            (TENANT_1.to_string(), 1),
            (ROOT.to_string(), 2)
        ]
    );
    assert_eq!(
        edges(&body, "edges"),
        [edge(LB, "tenant", TENANT_1), edge(TENANT_1, "parent", ROOT)]
    );
    assert_eq!(body["truncated"], false);
    // From the root, incoming, one level: the tenant, and a bound was hit.
    let (_, body) = w
        .call(
            "GET",
            &format!("{API}/traversals?urn={ROOT}&direction=incoming&depth=1"),
            None,
        )
        .await;
    assert_eq!(body["nodes"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(body["truncated"], true);
    // Only `parent` edges: the load balancer is not reached from the tenant.
    let (_, body) = w
        .call(
            "GET",
            &format!("{API}/traversals?urn={TENANT_1}&relation=parent"),
            None,
        )
        .await;
    assert_eq!(edges(&body, "edges"), [edge(TENANT_1, "parent", ROOT)]);
    // A node bound.
    let (_, body) = w
        .call("GET", &format!("{API}/traversals?urn={LB}&limit=2"), None)
        .await;
    assert_eq!(body["nodes"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(body["truncated"], true);
}

#[tokio::test]
async fn bad_graph_requests_are_400_or_405() {
    let w = World::new().await;
    for (query, needle) in [
        ("relationships", "urn parameter is required"),
        ("relationships?urn=urn:a:b:c:d", "not valid"),
        (
            &format!("relationships?urn={LB}&direction=sideways") as &str,
            "direction must be",
        ),
        (
            &format!("relationships?urn={LB}&direction=both"),
            "one direction",
        ),
        (&format!("traversals?urn={LB}&depth=11"), "depth must be"),
    ] {
        let (status, body) = w.call("GET", &format!("{API}/{query}"), None).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{query}: {body}"
        );
    }
    let (status, _) = w
        .call(
            "POST",
            &format!("{API}/relationships?urn={LB}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 405);
}
