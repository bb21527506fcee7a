//! Bad input of every kind: a clear Status, and nothing written.

mod common;
use common::*;
use serde_json::json;

async fn nothing_stored(api: &Api, name: &str) {
    assert_eq!(
        api.get(&format!("{G}/organizations/{name}")).await.status,
        404,
        "{name} must not exist"
    );
}

#[tokio::test]
async fn malformed_bodies_are_400() {
    let api = api().await;
    let r = api
        .raw(
            "POST",
            &format!("{G}/organizations"),
            "application/json",
            b"{\"metadata\": ".to_vec(),
            Some(&api.token),
        )
        .await;
    assert_eq!((r.status, r.body["kind"].as_str()), (400, Some("Status")));
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    let r = api
        .raw(
            "POST",
            &format!("{G}/organizations"),
            "application/yaml",
            b"metadata: [name".to_vec(),
            Some(&api.token),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = api
        .raw(
            "POST",
            &format!("{G}/organizations"),
            "application/json",
            b"[1,2]".to_vec(),
            Some(&api.token),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = api
        .post(
            &format!("{G}/organizations"),
            json!({"metadata": {"name": "x", "labels": "not-a-map"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    nothing_stored(&api, "x").await;
}

#[tokio::test]
async fn yaml_bodies_are_accepted() {
    let api = api().await;
    let yaml = "apiVersion: resourcemanager.miloapis.com/v1alpha1\nkind: Organization\nmetadata:\n  name: yam\nspec:\n  type: Personal\n";
    let r = api
        .raw(
            "POST",
            &format!("{G}/organizations"),
            "application/yaml",
            yaml.as_bytes().to_vec(),
            Some(&api.token),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["spec"]["type"], "Personal");
}

#[tokio::test]
async fn wrong_api_version_or_kind_for_the_path_is_400() {
    let api = api().await;
    let mut body = organization("x");
    body["kind"] = json!("Project");
    let r = api.post(&format!("{G}/organizations"), body).await;
    assert_eq!(r.status, 400);
    assert!(r.body["message"].as_str().unwrap().contains("kind"));
    let mut body = organization("x");
    body["apiVersion"] = json!("resourcemanager.miloapis.com/v9");
    assert_eq!(
        api.post(&format!("{G}/organizations"), body).await.status,
        400
    );
    nothing_stored(&api, "x").await;
}

#[tokio::test]
async fn unknown_fields_are_refused_in_strict_mode_and_pruned_otherwise() {
    let api = api().await;
    let mut body = organization("x");
    body["spec"]["colour"] = json!("blue");
    let r = api
        .post(
            &format!("{G}/organizations?fieldValidation=Strict"),
            body.clone(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("unknown field \"spec.colour\""),
        "{}",
        r.body
    );
    nothing_stored(&api, "x").await;
    let r = api.post(&format!("{G}/organizations"), body).await;
    assert_eq!(r.status, 201);
    assert!(r.body["spec"].get("colour").is_none());
    let warning = r
        .headers
        .get("warning")
        .and_then(|w| w.to_str().ok())
        .unwrap_or_default();
    assert!(warning.contains("spec.colour"), "{warning}");
}

#[tokio::test]
async fn names_that_break_the_rules_are_422() {
    let api = api().await;
    for bad in ["Upper", "under_score", "-lead", "trail-", "dot.ted", ""] {
        let r = api
            .post(&format!("{G}/organizations"), organization(bad))
            .await;
        assert_eq!(r.status, 422, "{bad:?}: {}", r.body);
        assert_eq!(causes(&r.body), ["metadata.name"], "{bad:?}");
    }
    let r = api
        .post(&format!("{G}/organizations"), organization(&"a".repeat(51)))
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body["message"].as_str().unwrap().contains("50"),
        "{}",
        r.body
    );
    assert_eq!(
        api.post(&format!("{G}/organizations"), organization(&"a".repeat(50)))
            .await
            .status,
        201
    );
    api.org("acme").await;
    assert_eq!(
        api.project(&"p".repeat(56), "Organization", "acme")
            .await
            .status,
        422
    );
    assert_eq!(
        api.project(&"p".repeat(55), "Organization", "acme")
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn bad_labels_and_oversized_annotations_are_422() {
    let api = api().await;
    let mut body = organization("x");
    body["metadata"]["labels"] = json!({"bad key!": "v"});
    let r = api.post(&format!("{G}/organizations"), body).await;
    assert_eq!(r.status, 422);
    assert_eq!(causes(&r.body), ["metadata.labels"]);
    let mut body = organization("x");
    body["metadata"]["labels"] = json!({"k": "v".repeat(64)});
    assert_eq!(
        api.post(&format!("{G}/organizations"), body).await.status,
        422
    );
    let mut body = organization("x");
    body["metadata"]["annotations"] = json!({"big": "a".repeat(256 * 1024)});
    let r = api.post(&format!("{G}/organizations"), body).await;
    assert_eq!(r.status, 422, "{}", r.body["message"]);
    assert_eq!(causes(&r.body), ["metadata.annotations"]);
    nothing_stored(&api, "x").await;
}

#[tokio::test]
async fn a_body_over_400_kb_is_413() {
    let api = api().await;
    let mut body = organization("x");
    body["metadata"]["annotations"] =
        json!({"a": "a".repeat(200 * 1024), "b": "b".repeat(210 * 1024)});
    let r = api.post(&format!("{G}/organizations"), body).await;
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (413, Some("RequestEntityTooLarge"))
    );
    nothing_stored(&api, "x").await;
}

#[tokio::test]
async fn invalid_spec_values_are_422_with_field_paths() {
    let api = api().await;
    let mut body = organization("x");
    body["spec"]["type"] = json!("Enormous");
    let r = api.post(&format!("{G}/organizations"), body).await;
    assert_eq!(r.status, 422);
    assert_eq!(causes(&r.body), ["spec.type"]);
    api.org("acme").await;
    let r = api
        .post(
            &format!("{G}/projects"),
            json!({"metadata": {"name": "p"}, "spec": {}}),
        )
        .await;
    assert_eq!(causes(&r.body), ["spec.ownerRef"]);
    let r = api.project("p", "Team", "acme").await;
    assert_eq!(causes(&r.body), ["spec.ownerRef.kind"]);
}

#[tokio::test]
async fn unknown_paths_and_verbs_get_a_status() {
    let api = api().await;
    let r = api.get(&format!("{G}/widgets")).await;
    assert_eq!((r.status, r.body["kind"].as_str()), (404, Some("Status")));
    let r = api.get(&format!("{G}/organizations/x/bogus")).await;
    assert_eq!(r.status, 404);
    let r = api
        .call("DELETE", &format!("{G}/organizations"), None)
        .await;
    assert_eq!(r.status, 405, "a container is deleted by name: {}", r.body);
    let r = api
        .call("POST", &format!("{G}/organizations/x"), None)
        .await;
    assert_eq!(r.status, 405);
    let r = api.get(&format!("{G}/organizations?watch=true")).await;
    assert_eq!(r.status, 405);
    let r = api.get(&format!("{G}/organizations?limit=ten")).await;
    assert_eq!(r.status, 400);
}
