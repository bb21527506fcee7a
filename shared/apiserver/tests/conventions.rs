//! Kubernetes API conventions: versions, generation, status, patches,
//! dry run, generateName, authentication.

mod common;
use common::*;
use serde_json::json;

#[tokio::test]
async fn a_stale_resource_version_is_a_conflict() {
    let api = api().await;
    let org = api.org("acme").await.body;
    let mut update = org.clone();
    update["metadata"]["labels"] = json!({"tier": "gold"});
    let r = api
        .call(
            "PUT",
            &format!("{G}/organizations/acme"),
            Some(update.clone()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["metadata"]["resourceVersion"], "2");
    // The same body again carries version 1, which is gone.
    let r = api
        .call("PUT", &format!("{G}/organizations/acme"), Some(update))
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["reason"], "Conflict");
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("the object has been modified"));
}

#[tokio::test]
async fn of_twenty_concurrent_updates_from_one_version_one_succeeds() {
    let api = std::sync::Arc::new(api().await);
    let org = api.org("race").await.body;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let api = api.clone();
            let mut body = org.clone();
            body["metadata"]["labels"] = json!({"writer": format!("w{i}")});
            tokio::spawn(async move {
                api.call("PUT", &format!("{G}/organizations/race"), Some(body))
                    .await
                    .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );
    let stored = api.get(&format!("{G}/organizations/race")).await.body;
    assert_eq!(stored["metadata"]["resourceVersion"], "2");
}

#[tokio::test]
async fn generation_counts_spec_changes_only() {
    let api = api().await;
    api.org("acme").await;
    api.folder("f", "Organization", "acme").await;
    let r = api
        .call(
            "PATCH",
            &format!("{G}/folders/f"),
            Some(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await;
    assert_eq!(
        (
            r.body["metadata"]["generation"].clone(),
            r.body["metadata"]["resourceVersion"].clone()
        ),
        (json!(1), json!("2"))
    );
    api.folder("g", "Organization", "acme").await;
    let r = api
        .call(
            "PATCH",
            &format!("{G}/folders/f"),
            Some(json!({"spec": {"parentRef": {"kind": "Folder", "name": "g"}}})),
        )
        .await;
    assert_eq!(r.body["metadata"]["generation"], 2, "{}", r.body);
    // A patch that changes nothing writes nothing.
    let r = api
        .call(
            "PATCH",
            &format!("{G}/folders/f"),
            Some(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await;
    assert_eq!(r.body["metadata"]["resourceVersion"], "3");
}

#[tokio::test]
async fn status_is_written_only_through_its_subresource() {
    let api = api().await;
    let org = api.org("acme").await.body;
    let mut body = org.clone();
    body["status"] = json!({"conditions": []});
    body["spec"]["type"] = json!("Standard");
    body["metadata"]["labels"] = json!({"x": "y"});
    let r = api
        .call(
            "PUT",
            &format!("{G}/organizations/acme"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["status"], org["status"],
        "the main resource ignores status"
    );

    let mut body = r.body.clone();
    body["status"] = json!({"conditions": [{"type": "Ready", "status": "False", "reason": "Paused", "message": "m", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
    body["metadata"]["labels"] = json!({"x": "changed"});
    let r = api
        .call("PUT", &format!("{G}/organizations/acme/status"), Some(body))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"]["conditions"][0]["status"], "False");
    assert_eq!(
        r.body["metadata"]["labels"]["x"], "y",
        "the status subresource ignores everything else"
    );
    let r = api
        .call(
            "PATCH",
            &format!("{G}/organizations/acme/status"),
            Some(json!({"status": {"conditions": []}})),
        )
        .await;
    assert_eq!(r.body["status"]["conditions"], json!([]));
}

#[tokio::test]
async fn merge_and_json_patches_apply() {
    let api = api().await;
    api.org("acme").await;
    let r = api
        .call(
            "PATCH",
            &format!("{G}/organizations/acme"),
            Some(json!({"metadata": {"annotations": {"note": "hi"}}})),
        )
        .await;
    assert_eq!(r.body["metadata"]["annotations"]["note"], "hi");
    let ops = json!([
        {"op": "test", "path": "/spec/type", "value": "Standard"},
        {"op": "add", "path": "/metadata/labels", "value": {"env": "prod"}},
        {"op": "remove", "path": "/metadata/annotations/note"}
    ]);
    let r = api
        .raw(
            "PATCH",
            &format!("{G}/organizations/acme"),
            "application/json-patch+json",
            serde_json::to_vec(&ops).unwrap(),
            Some(&api.token),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["metadata"]["labels"]["env"], "prod");
    assert!(r.body["metadata"].get("annotations").is_none());
    let failing = json!([{"op": "test", "path": "/spec/type", "value": "Personal"}]);
    let r = api
        .raw(
            "PATCH",
            &format!("{G}/organizations/acme"),
            "application/json-patch+json",
            serde_json::to_vec(&failing).unwrap(),
            Some(&api.token),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = api
        .raw(
            "PATCH",
            &format!("{G}/organizations/acme"),
            "application/x-unknown-patch",
            b"{}".to_vec(),
            Some(&api.token),
        )
        .await;
    assert_eq!(r.status, 415);
}

#[tokio::test]
async fn dry_run_validates_but_writes_nothing() {
    let api = api().await;
    let r = api
        .post(
            &format!("{G}/organizations?dryRun=All"),
            organization("ghost"),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        api.get(&format!("{G}/organizations/ghost")).await.status,
        404
    );
    let r = api
        .post(
            &format!("{G}/organizations?dryRun=All"),
            organization("Bad_Name"),
        )
        .await;
    assert_eq!(r.status, 422);
    api.org("real").await;
    let r = api
        .call(
            "PATCH",
            &format!("{G}/organizations/real?dryRun=All"),
            Some(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await;
    assert_eq!(r.body["metadata"]["labels"]["a"], "b");
    assert!(
        api.get(&format!("{G}/organizations/real")).await.body["metadata"]
            .get("labels")
            .is_none()
    );
    let r = api
        .call(
            "DELETE",
            &format!("{G}/organizations/real?dryRun=All"),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        api.get(&format!("{G}/organizations/real")).await.status,
        200
    );
}

#[tokio::test]
async fn generate_name_makes_a_unique_name() {
    let api = api().await;
    let body = json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Organization", "metadata": {"generateName": "team-"}, "spec": {}});
    let a = api
        .post(&format!("{G}/organizations"), body.clone())
        .await
        .body;
    let b = api.post(&format!("{G}/organizations"), body).await.body;
    let (a, b) = (
        a["metadata"]["name"].as_str().unwrap(),
        b["metadata"]["name"].as_str().unwrap(),
    );
    assert!(a.starts_with("team-") && a.len() == 10, "{a}");
    assert_ne!(a, b);
}

#[tokio::test]
async fn creating_twice_is_already_exists() {
    let api = api().await;
    api.org("acme").await;
    let r = api
        .post(&format!("{G}/organizations"), organization("acme"))
        .await;
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (409, Some("AlreadyExists"))
    );
}

#[tokio::test]
async fn every_request_needs_a_valid_token() {
    let api = api().await;
    let r = api
        .raw(
            "GET",
            &format!("{G}/organizations"),
            "application/json",
            vec![],
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (401, Some("Unauthorized"))
    );
    let r = api
        .raw(
            "GET",
            "/apis",
            "application/json",
            vec![],
            Some("not.a.jwt"),
        )
        .await;
    assert_eq!(r.status, 401);
    let foreign = auth::mint_hs256(
        "another-secret-that-is-long-enough-32b",
        ISSUER,
        AUDIENCE,
        "x",
        &[],
        60,
    )
    .unwrap();
    let r = api
        .raw("GET", "/apis", "application/json", vec![], Some(&foreign))
        .await;
    assert_eq!(r.status, 401);
    let r = api
        .raw(
            "POST",
            &format!("{G}/organizations"),
            "application/json",
            serde_json::to_vec(&organization("sneaky")).unwrap(),
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        api.get(&format!("{G}/organizations/sneaky")).await.status,
        404
    );
}

#[tokio::test]
async fn delete_preconditions_are_honoured() {
    let api = api().await;
    api.org("acme").await;
    let r = api
        .call(
            "DELETE",
            &format!("{G}/organizations/acme"),
            Some(json!({"preconditions": {"resourceVersion": "7"}})),
        )
        .await;
    assert_eq!(r.status, 409);
    let r = api
        .call(
            "DELETE",
            &format!("{G}/organizations/acme"),
            Some(json!({"propagationPolicy": "Sideways"})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = api.call("DELETE", &format!("{G}/organizations/acme"), Some(json!({"propagationPolicy": "Background", "preconditions": {"resourceVersion": "1"}}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        api.call("DELETE", &format!("{G}/organizations/acme"), None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn discovery_lists_the_kinds_of_each_context() {
    let api = api().await;
    api.org("acme").await;
    let r = api.get("/apis").await;
    assert_eq!(r.body["groups"][0]["name"], "resourcemanager.miloapis.com");
    let r = api.get(G).await;
    let names: Vec<_> = r.body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"organizations".to_string()));
    let r = api
        .get(&format!("{G}/organizations/acme/control-plane{G}"))
        .await;
    let names: Vec<_> = r.body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert!(!names.contains(&"organizations".to_string()));
    assert!(names.contains(&"projects".to_string()));
    assert_eq!(api.get("/api").await.body["kind"], "APIVersions");
    assert_eq!(api.get("/apis/example.com/v1").await.status, 404);
}
