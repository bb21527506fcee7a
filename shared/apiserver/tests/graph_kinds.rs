//! The relationship graph's built-in kinds through the API: RelationshipType
//! objects are checked whole; ExternalResource objects are read-only.

mod common;

use common::{api, causes};
use serde_json::json;

const GRAPH: &str = "/apis/graph.miloapis.com/v1alpha1";

fn relationship_type(name: &str, relation: &str, subject_types: &[&str]) -> serde_json::Value {
    json!({
        "apiVersion": "graph.miloapis.com/v1alpha1",
        "kind": "RelationshipType",
        "metadata": {"name": name},
        "spec": {
            "resourceType": "loadbalancer",
            "relation": relation,
            "subjectTypes": subject_types,
            "cardinality": "One"
        }
    })
}

#[tokio::test]
async fn relationship_types_are_named_by_type_and_relation_and_checked() {
    let api = api().await;
    let url = format!("{GRAPH}/relationshiptypes");
    let ok = api
        .post(
            &url,
            relationship_type("loadbalancer.owner-tenant", "owner_tenant", &["tenant"]),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);

    let misnamed = api
        .post(&url, relationship_type("lb.tenant", "tenant", &["tenant"]))
        .await;
    assert_eq!(misnamed.status, 422, "{}", misnamed.body);
    assert!(
        misnamed.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("loadbalancer.tenant"),
        "{}",
        misnamed.body
    );

    let bad_relation = api
        .post(
            &url,
            relationship_type("loadbalancer.tenant", "Tenant", &["tenant"]),
        )
        .await;
    assert_eq!(bad_relation.status, 422, "{}", bad_relation.body);
    assert!(causes(&bad_relation.body)
        .iter()
        .any(|c| c.contains("spec.relation")));

    let no_subjects = api
        .post(
            &url,
            relationship_type("loadbalancer.tenant", "tenant", &[]),
        )
        .await;
    assert_eq!(no_subjects.status, 422, "{}", no_subjects.body);

    let same_in_other_case = api
        .post(
            &url,
            relationship_type("loadbalancer.tenant", "tenant", &["tenant", "Tenant"]),
        )
        .await;
    assert_eq!(
        same_in_other_case.status, 422,
        "{}",
        same_in_other_case.body
    );

    let list = api.get(&url).await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn external_resources_are_read_only() {
    let api = api().await;
    let url = format!("{GRAPH}/externalresources");
    let body = json!({
        "apiVersion": "graph.miloapis.com/v1alpha1",
        "kind": "ExternalResource",
        "metadata": {"name": "x"},
        "spec": {}
    });
    let created = api.post(&url, body.clone()).await;
    assert_eq!(created.status, 405, "{}", created.body);
    assert_eq!(created.body["reason"], "MethodNotAllowed");
    assert!(created.body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("maintained by the events function"));
    for method in ["PUT", "PATCH", "DELETE"] {
        let r = api
            .call(method, &format!("{url}/x"), Some(body.clone()))
            .await;
        assert_eq!(r.status, 405, "{method}: {}", r.body);
    }
    let list = api.get(&url).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["items"], json!([]));
}
