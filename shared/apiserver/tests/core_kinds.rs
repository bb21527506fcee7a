//! The core kinds a Kubernetes control plane serves that Milo's project
//! control planes hold (#18): Secret, ConfigMap, discovery.k8s.io
//! EndpointSlice, with Kubernetes' rules, against DynamoDB Local.

mod common;

use common::*;
use serde_json::{json, Value};

async fn project_web() -> (Api, String) {
    let api = api().await;
    api.org("acme").await;
    assert_eq!(api.project("web", "Organization", "acme").await.status, 201);
    (api, format!("{G}/projects/web/control-plane"))
}

fn secret(name: &str, fields: Value) -> Value {
    let mut doc = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}});
    for (k, v) in fields.as_object().unwrap() {
        doc[k] = v.clone();
    }
    doc
}

#[tokio::test]
async fn a_secrets_string_data_is_stored_as_data_and_never_returned() {
    let (api, web) = project_web().await;
    let secrets = format!("{web}/api/v1/namespaces/default/secrets");
    let r = api
        .post(
            &secrets,
            secret(
                "db",
                json!({"stringData": {"password": "s3cret"}, "data": {"user": "YWRtaW4="}}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["type"], "Opaque");
    assert_eq!(
        r.body["data"],
        json!({"user": "YWRtaW4=", "password": "czNjcmV0"})
    );
    assert!(r.body.get("stringData").is_none(), "{}", r.body);
    let stored = api.get(&format!("{secrets}/db")).await;
    assert_eq!(stored.body["data"], r.body["data"]);
    assert!(stored.body.get("stringData").is_none());

    // A merge patch of stringData changes data the same way.
    let r = api
        .call(
            "PATCH",
            &format!("{secrets}/db"),
            Some(json!({"stringData": {"password": "other"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["password"], "b3RoZXI=");
    assert!(r.body.get("stringData").is_none());
}

#[tokio::test]
async fn secrets_are_checked_as_kubernetes_checks_them() {
    let (api, web) = project_web().await;
    let secrets = format!("{web}/api/v1/namespaces/default/secrets");
    for (fields, field) in [
        (json!({"data": {"k": "not base64!"}}), "data[k]"),
        (json!({"data": {"bad/key": "YQ=="}}), "data"),
        (json!({"data": {"..": "YQ=="}}), "data"),
    ] {
        let r = api.post(&secrets, secret("s", fields.clone())).await;
        assert_eq!(r.status, 422, "{fields}: {}", r.body);
        assert!(
            causes(&r.body).iter().any(|c| c.starts_with(field)),
            "{fields}: {:?}",
            causes(&r.body)
        );
    }
    assert_eq!(api.get(&format!("{secrets}/s")).await.status, 404);

    let r = api
        .post(
            &secrets,
            secret(
                "tls",
                json!({"type": "kubernetes.io/tls", "immutable": true, "data": {"a": "YQ=="}}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let patch = |body: Value| {
        let api = &api;
        let uri = format!("{secrets}/tls");
        async move { api.call("PATCH", &uri, Some(body)).await }
    };
    let r = patch(json!({"type": "Opaque"})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        causes(&r.body).iter().any(|c| c.starts_with("type")),
        "{}",
        r.body
    );
    let r = patch(json!({"data": {"a": "Yg=="}})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body["message"].as_str().unwrap().contains("immutable"),
        "{}",
        r.body
    );
    let r = patch(json!({"immutable": false})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    // Metadata stays writable.
    let r = patch(json!({"metadata": {"labels": {"tier": "db"}}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn config_maps_keep_data_and_binary_data_apart_and_honour_immutable() {
    let (api, web) = project_web().await;
    let config_maps = format!("{web}/api/v1/namespaces/default/configmaps");
    let cm = |name: &str, fields: Value| {
        let mut doc = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
        for (k, v) in fields.as_object().unwrap() {
            doc[k] = v.clone();
        }
        doc
    };
    let r = api
        .post(
            &config_maps,
            cm(
                "both",
                json!({"data": {"a": "x"}, "binaryData": {"a": "eA=="}}),
            ),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = api
        .post(
            &config_maps,
            cm("frozen", json!({"data": {"a": "x"}, "immutable": true})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .call(
            "PATCH",
            &format!("{config_maps}/frozen"),
            Some(json!({"data": {"a": "y"}})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    // Served by its short name's plural in the project, as kubectl finds it.
    let list = api.get(&config_maps).await;
    assert_eq!(names(&list.body), ["frozen"]);
}

#[tokio::test]
async fn endpoint_slices_are_served_with_their_address_type_fixed() {
    let (api, web) = project_web().await;
    let slices = format!("{web}/apis/discovery.k8s.io/v1/namespaces/default/endpointslices");
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "ext"},
        "addressType": "FQDN",
        "endpoints": [{"addresses": ["example.com"], "conditions": {"ready": true}}],
        "ports": [{"port": 443}]
    });
    let r = api.post(&slices, slice.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["ports"][0]["protocol"], "TCP");
    let r = api
        .call(
            "PATCH",
            &format!("{slices}/ext"),
            Some(json!({"addressType": "IPv4"})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let mut bad = slice.clone();
    bad["metadata"]["name"] = json!("bad");
    bad["addressType"] = json!("Carrier-Pigeon");
    let r = api.post(&slices, bad).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let discovery = api.get(&format!("{web}/apis/discovery.k8s.io/v1")).await;
    assert_eq!(discovery.status, 200, "{}", discovery.body);
    assert!(discovery.body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "endpointslices"));
}
