//! Input the server does not understand is refused, never misread: a
//! DeleteOptions body, query parameters, duplicate fields in a body.

mod common;
use common::*;
use serde_json::{json, Value};

const FOLDER: &str = "/apis/resourcemanager.miloapis.com/v1alpha1/folders/f";

async fn org_and_folder(api: &Api) -> Value {
    api.org("acme").await;
    let r = api.folder("f", "Organization", "acme").await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

async fn delete_with(api: &Api, uri: &str, body: &[u8]) -> Reply {
    api.raw(
        "DELETE",
        uri,
        "application/json",
        body.to_vec(),
        Some(&api.token),
    )
    .await
}

#[tokio::test]
async fn a_delete_body_that_is_not_understood_is_400_and_deletes_nothing() {
    let api = api().await;
    org_and_folder(&api).await;
    let bodies: &[&str] = &[
        r#"{"dryRun":"All"}"#,
        r#"{"dryRun":["Bogus"]}"#,
        r#"{"dryRun":["All","Bogus"]}"#,
        r#"{"preconditions":{"resourceVersion":999}}"#,
        r#"{"preconditions":{"uid":12345}}"#,
        r#"{"preconditions":"x"}"#,
        r#"{"preconditions":{"generation":"1"}}"#,
        r#"{"gracePeriodSeconds":"x"}"#,
        r#"{"orphanDependents":"yes"}"#,
        r#"{"propagationPolicy":"Sideways"}"#,
        r#"{"propagationPolicy":"Background","orphanDependents":true}"#,
        r#"{"kind":"Folder"}"#,
        r#"{"apiVersion":"apps/v1","kind":"DeleteOptions"}"#,
        r#"{"dryrun":["All"]}"#,
        r#"{"spec":{}}"#,
        r#"["All"]"#,
        r#""All""#,
        r#"{"dryRun":["All"]"#,
    ];
    for body in bodies {
        let r = delete_with(&api, FOLDER, body.as_bytes()).await;
        assert_eq!(
            (r.status, r.body["kind"].as_str()),
            (400, Some("Status")),
            "{body}: {}",
            r.body
        );
        assert_eq!(
            api.get(FOLDER).await.status,
            200,
            "{body} must not delete the folder"
        );
    }
}

#[tokio::test]
async fn the_delete_bodies_clients_send_are_understood() {
    let api = api().await;
    let folder = org_and_folder(&api).await;
    let uid = folder["metadata"]["uid"].as_str().unwrap();
    // Every DeleteOptions field, as dry runs: nothing goes.
    let bodies = [
        json!({"apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions", "dryRun": ["All"],
               "gracePeriodSeconds": 0, "preconditions": {"uid": uid, "resourceVersion": "1"},
               "propagationPolicy": "Foreground",
               "ignoreStoreReadErrorWithClusterBreakingPotential": false}),
        json!({"apiVersion": "v1", "kind": "DeleteOptions", "dryRun": ["All"],
               "orphanDependents": false, "preconditions": null, "gracePeriodSeconds": null}),
        json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "DeleteOptions",
               "dryRun": ["All"]}),
    ];
    for body in bodies {
        let r = delete_with(&api, FOLDER, &serde_json::to_vec(&body).unwrap()).await;
        assert_eq!(r.status, 200, "{body}: {}", r.body);
        assert_eq!(api.get(FOLDER).await.status, 200, "{body} is a dry run");
    }
    // kubectl's own body deletes.
    let r = delete_with(
        &api,
        FOLDER,
        br#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(api.get(FOLDER).await.status, 404);
}

#[tokio::test]
async fn a_query_parameter_with_a_bad_value_is_400_and_deletes_nothing() {
    let api = api().await;
    org_and_folder(&api).await;
    let too_long_manager = "m".repeat(129);
    let queries = [
        "dryRun=Bogus".to_string(),
        "gracePeriodSeconds=x".into(),
        "gracePeriodSeconds=1.5".into(),
        "propagationPolicy=Bogus".into(),
        "propagationPolicy=Background&orphanDependents=true".into(),
        "timeoutSeconds=x".into(),
        "timeout=soon".into(),
        "resourceVersionMatch=Bogus".into(),
        format!("fieldManager={too_long_manager}"),
        "fieldManager=a%07b".into(),
        "fieldValidation=Bogus".into(),
        "limit=abc".into(),
    ];
    for query in &queries {
        let r = delete_with(&api, &format!("{FOLDER}?{query}"), b"").await;
        assert_eq!(
            (r.status, r.body["kind"].as_str()),
            (400, Some("Status")),
            "{query}: {}",
            r.body
        );
        assert_eq!(
            api.get(FOLDER).await.status,
            200,
            "{query} must not delete the folder"
        );
    }
}

#[tokio::test]
async fn the_query_parameters_clients_send_are_understood_and_unknown_ones_ignored() {
    let api = api().await;
    org_and_folder(&api).await;
    let list = format!(
        "{G}/folders?limit=500&timeout=32s&timeoutSeconds=30&allowWatchBookmarks=true&resourceVersion=0&resourceVersionMatch=NotOlderThan&pretty=true&sendInitialEvents=false&someFutureParameter=x"
    );
    let r = api.get(&list).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(names(&r.body), ["f"]);
    let r = api
        .call(
            "PATCH",
            &format!("{FOLDER}?fieldManager=kubectl-label&fieldValidation=Strict&timeout=1m0.5s"),
            Some(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = delete_with(
        &api,
        &format!("{FOLDER}?gracePeriodSeconds=0&propagationPolicy=Background&dryRun=All"),
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(api.get(FOLDER).await.status, 200);
    let r = delete_with(&api, &format!("{FOLDER}?orphanDependents=false"), b"").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(api.get(FOLDER).await.status, 404);
}

/// An organization body with `spec.type` twice (the second wins when kept).
const DUPLICATED_JSON: &str = r#"{"apiVersion":"resourcemanager.miloapis.com/v1alpha1","kind":"Organization","metadata":{"name":"dup"},"spec":{"type":"Standard","type":"Personal"}}"#;
const DUPLICATED_YAML: &str = "apiVersion: resourcemanager.miloapis.com/v1alpha1\nkind: Organization\nmetadata:\n  name: dup\nspec:\n  type: Standard\n  type: Personal\n";

fn warnings(r: &Reply) -> Vec<String> {
    r.headers
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn duplicate_fields_are_an_error_under_strict_a_warning_under_warn() {
    let api = api().await;
    for (content_type, body) in [
        ("application/json", DUPLICATED_JSON),
        ("application/yaml", DUPLICATED_YAML),
    ] {
        let post = |validation: &str| {
            let uri = format!("{G}/organizations?fieldValidation={validation}");
            let api = &api;
            async move {
                api.raw(
                    "POST",
                    &uri,
                    content_type,
                    body.as_bytes().to_vec(),
                    Some(&api.token),
                )
                .await
            }
        };
        let r = post("Strict").await;
        assert_eq!(r.status, 400, "{content_type}: {}", r.body);
        assert_eq!(r.body["reason"], "BadRequest");
        let message = r.body["message"].as_str().unwrap();
        assert!(
            message.contains("strict decoding error")
                && message.contains("duplicate field \"spec.type\""),
            "{message}"
        );
        assert_eq!(api.get(&format!("{G}/organizations/dup")).await.status, 404);

        let r = post("Warn").await;
        assert_eq!(r.status, 201, "{content_type}: {}", r.body);
        assert_eq!(r.body["spec"]["type"], "Personal");
        assert!(
            warnings(&r)
                .iter()
                .any(|w| w.contains("duplicate field \\\"spec.type\\\"")
                    || w.contains("duplicate field 'spec.type'")),
            "{:?}",
            warnings(&r)
        );
        let r = api
            .call("DELETE", &format!("{G}/organizations/dup"), None)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);

        let r = post("Ignore").await;
        assert_eq!(r.status, 201, "{content_type}: {}", r.body);
        assert!(warnings(&r).is_empty(), "{:?}", warnings(&r));
        let r = api
            .call("DELETE", &format!("{G}/organizations/dup"), None)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

#[tokio::test]
async fn duplicate_fields_in_a_patch_or_a_replacement_are_an_error_under_strict() {
    let api = api().await;
    let stored = api.org("acme").await.body;
    let uri = format!("{G}/organizations/acme?fieldValidation=Strict");
    let r = api
        .raw(
            "PATCH",
            &uri,
            "application/merge-patch+json",
            br#"{"metadata":{"labels":{"a":"1","a":"2"}}}"#.to_vec(),
            Some(&api.token),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("duplicate field \"metadata.labels.a\""),
        "{}",
        r.body
    );
    let body = serde_json::to_string(&stored).unwrap();
    let duplicated = body.replacen("\"spec\":{", "\"spec\":{\"type\":\"Personal\",", 1);
    assert_ne!(body, duplicated);
    let r = api
        .raw(
            "PUT",
            &uri,
            "application/json",
            duplicated.into_bytes(),
            Some(&api.token),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        api.get(&format!("{G}/organizations/acme")).await.body,
        stored,
        "nothing changed"
    );
}
