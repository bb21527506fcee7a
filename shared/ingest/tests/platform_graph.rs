//! The platform's own objects in the graph (issue 6): the hierarchy
//! (organization ← folder ← project, relation `parent`) and owner references
//! (relation `owner`) are written with the objects, as
//! `urn:milo:{kind}:{uid}` nodes, so one walk crosses from a project to what
//! other services report about its tenant.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};

const API: &str = "/apis/graph.miloapis.com/v1alpha1";
const RM: &str = "/apis/resourcemanager.miloapis.com/v1alpha1";

type Edge = (String, String, String);

fn edge(a: &str, r: &str, b: &str) -> Edge {
    (a.into(), r.into(), b.into())
}

fn edges(body: &Value, field: &str) -> BTreeSet<Edge> {
    body[field]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| {
            edge(
                e["resource"].as_str().unwrap_or_default(),
                e["relation"].as_str().unwrap_or_default(),
                e["subject"].as_str().unwrap_or_default(),
            )
        })
        .collect()
}

/// Creates an object through the API and returns its graph node.
async fn create(w: &World, path: &str, body: Value, kind: &str) -> String {
    let (status, created) = w.call("POST", path, Some(body)).await;
    assert_eq!(status, 201, "{path}: {created}");
    let uid = created["metadata"]["uid"].as_str().expect("uid");
    format!("urn:milo:{kind}:{uid}")
}

async fn outgoing(w: &World, urn: &str) -> BTreeSet<Edge> {
    let (status, body) = w
        .call("GET", &format!("{API}/relationships?urn={urn}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    edges(&body, "items")
}

async fn incoming(w: &World, urn: &str) -> BTreeSet<Edge> {
    let (status, body) = w
        .call(
            "GET",
            &format!("{API}/relationships?urn={urn}&direction=incoming"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    edges(&body, "items")
}

/// acme ← eng ← shop, through the API.
async fn hierarchy(w: &World) -> (String, String, String) {
    let org = create(
        w,
        &format!("{RM}/organizations"),
        json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Organization",
               "metadata": {"name": "acme"}, "spec": {"type": "Standard"}}),
        "organization",
    )
    .await;
    let folder = create(
        w,
        &format!("{RM}/folders"),
        json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Folder",
               "metadata": {"name": "eng"},
               "spec": {"parentRef": {"kind": "Organization", "name": "acme"}}}),
        "folder",
    )
    .await;
    let project = create(
        w,
        &format!("{RM}/projects"),
        json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project",
               "metadata": {"name": "shop"},
               "spec": {"ownerRef": {"kind": "Folder", "name": "eng"}}}),
        "project",
    )
    .await;
    (org, folder, project)
}

#[tokio::test]
async fn a_walk_crosses_from_a_project_to_the_load_balancer_of_its_tenant() {
    let w = World::new().await;
    let (org, folder, project) = hierarchy(&w).await;
    // The tenant service names the project its tenant belongs to.
    let (status, body) = w
        .call(
            "POST",
            &format!("{API}/relationshiptypes"),
            Some(json!({
                "apiVersion": "graph.miloapis.com/v1alpha1",
                "kind": "RelationshipType",
                "metadata": {"name": "tenant.project"},
                "spec": {"resourceType": "tenant", "relation": "project", "subjectTypes": ["project"], "cardinality": "One"}
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut tenant: Value = serde_json::from_slice(&sample("01-loadbalancer-create.json")).unwrap();
    tenant["subject_urn"] = json!(TENANT_1);
    tenant["additional_subjects"] = json!([project]);
    tenant["source"] = json!("tenant-api");
    tenant["fields"] = json!({"project_urn": project});
    w.publish("tenant.create", serde_json::to_vec(&tenant).unwrap())
        .await;
    w.publish("loadbalancer.create", sample("01-loadbalancer-create.json"))
        .await;
    let report = w.drain_all().await;
    assert_eq!((report.acked, report.dead_lettered), (2, 0), "{report:?}");

    let (status, body) = w
        .call(
            "GET",
            &format!("{API}/traversals?urn={project}&direction=both&depth=2"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let nodes: BTreeSet<(String, u64)> = body["nodes"]
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
    let expected: BTreeSet<(String, u64)> = [
        (project.clone(), 0),
        (folder.clone(), 1),
        (TENANT_1.to_string(), 1),
        (org.clone(), 2),
        (LB.to_string(), 2),
    ]
    .into_iter()
    .collect();
    assert_eq!(nodes, expected, "{body}");
    assert_eq!(
        edges(&body, "edges"),
        [
            edge(&project, "parent", &folder),
            edge(&folder, "parent", &org),
            edge(TENANT_1, "project", &project),
            edge(LB, "tenant", TENANT_1),
        ]
        .into_iter()
        .collect()
    );
}

#[tokio::test]
async fn moves_owner_references_and_deletes_keep_the_edges_exact() {
    let w = World::new().await;
    let (org, folder, project) = hierarchy(&w).await;
    assert_eq!(
        outgoing(&w, &project).await,
        [edge(&project, "parent", &folder)].into_iter().collect()
    );

    // A move to the organization replaces the parent edge in the same write.
    let (status, body) = w
        .merge_patch(
            &format!("{RM}/projects/shop"),
            json!({"spec": {"ownerRef": {"kind": "Organization", "name": "acme"}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        outgoing(&w, &project).await,
        [edge(&project, "parent", &org)].into_iter().collect()
    );
    assert_eq!(incoming(&w, &folder).await, BTreeSet::new());

    // An owner reference a client sets is the `owner` relation; changing the
    // object otherwise leaves it alone, removing the reference removes it.
    let namespaces = format!("{RM}/projects/shop/control-plane/api/v1/namespaces");
    let project_uid = project.rsplit(':').next().unwrap();
    let namespace = create(
        &w,
        &namespaces,
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": "team-a", "ownerReferences": [
                   {"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project",
                    "name": "shop", "uid": project_uid}]}}),
        "namespace",
    )
    .await;
    let owned = [edge(&namespace, "owner", &project)]
        .into_iter()
        .collect::<BTreeSet<_>>();
    assert_eq!(outgoing(&w, &namespace).await, owned);
    assert_eq!(incoming(&w, &project).await, owned);
    let (status, body) = w
        .merge_patch(
            &format!("{namespaces}/team-a"),
            json!({"metadata": {"labels": {"team": "a"}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(outgoing(&w, &namespace).await, owned);
    let (status, body) = w
        .merge_patch(
            &format!("{namespaces}/team-a"),
            json!({"metadata": {"ownerReferences": null}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(outgoing(&w, &namespace).await, BTreeSet::new());
    assert_eq!(incoming(&w, &project).await, BTreeSet::new());

    // Deleting the project removes its edges with it.
    let (status, body) = w
        .call("DELETE", &format!("{namespaces}/team-a"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = w.call("DELETE", &format!("{RM}/projects/shop"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(outgoing(&w, &project).await, BTreeSet::new());
    assert_eq!(
        incoming(&w, &org).await,
        [edge(&folder, "parent", &org)].into_iter().collect()
    );
}

#[tokio::test]
async fn more_owner_references_than_a_transaction_holds_are_refused() {
    let w = World::new().await;
    let owners: Vec<Value> = (0..21)
        .map(|i| {
            json!({"apiVersion": "v1", "kind": "ConfigMap", "name": format!("c{i}"),
                   "uid": format!("6f1c2a9e-0000-4000-8000-{i:012}")})
        })
        .collect();
    let (status, body) = w
        .call(
            "POST",
            "/api/v1/namespaces",
            Some(json!({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": "crowded", "ownerReferences": owners}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["details"]["causes"][0]["field"],
        "metadata.ownerReferences"
    );
    let (status, _) = w.call("GET", "/api/v1/namespaces/crowded", None).await;
    assert_eq!(status, 404);
}
