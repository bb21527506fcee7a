//! Where Kubernetes' behaviour is observable to a client, the same:
//! metadata rules, read-only discovery, dry-run updates, patches retried
//! on the server, ObjectMeta in the OpenAPI documents.

mod common;
use common::*;
use serde_json::{json, Value};

fn with_metadata(mut body: Value, field: &str, value: Value) -> Value {
    body["metadata"][field] = value;
    body
}

#[tokio::test]
async fn owner_references_need_a_uid_and_at_most_one_controller() {
    let api = api().await;
    let owner = |name: &str, uid: Option<&str>, controller: bool| {
        // An organization may be owned by another cluster-scoped object.
        let mut r = json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1",
                           "kind": "Organization", "name": name, "controller": controller});
        if let Some(uid) = uid {
            r["uid"] = json!(uid);
        }
        r
    };
    let cases = [
        (
            json!([owner("a", None, false)]),
            "metadata.ownerReferences[0].uid",
        ),
        (
            json!([owner("a", Some(""), false)]),
            "metadata.ownerReferences[0].uid",
        ),
        (
            json!([
                owner("a", Some("6f1c2a9e-0000-4000-8000-000000000001"), true),
                owner("b", Some("6f1c2a9e-0000-4000-8000-000000000002"), true)
            ]),
            "metadata.ownerReferences",
        ),
    ];
    for (owners, field) in cases {
        let body = with_metadata(organization("owned"), "ownerReferences", owners.clone());
        let r = api.post(&format!("{G}/organizations"), body).await;
        assert_eq!(r.status, 422, "{owners}: {}", r.body);
        assert!(causes(&r.body).contains(&field.to_string()), "{}", r.body);
        assert_eq!(
            api.get(&format!("{G}/organizations/owned")).await.status,
            404
        );
    }
    // On update too.
    api.org("acme").await;
    let r = api
        .call(
            "PATCH",
            &format!("{G}/organizations/acme"),
            Some(json!({"metadata": {"ownerReferences": [owner("a", None, false)]}})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    // One controller with its uid is fine.
    let owners = json!([
        owner("a", Some("6f1c2a9e-0000-4000-8000-000000000001"), true),
        owner("b", Some("6f1c2a9e-0000-4000-8000-000000000002"), false)
    ]);
    let body = with_metadata(organization("owned"), "ownerReferences", owners);
    let r = api.post(&format!("{G}/organizations"), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn finalizers_are_qualified_names() {
    let api = api().await;
    for bad in ["not a name", "example.com/", "-leading", "a/b/c"] {
        let body = with_metadata(organization("fin"), "finalizers", json!([bad]));
        let r = api.post(&format!("{G}/organizations"), body).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
        assert!(
            causes(&r.body)
                .iter()
                .any(|f| f.starts_with("metadata.finalizers")),
            "{}",
            r.body
        );
        assert_eq!(api.get(&format!("{G}/organizations/fin")).await.status, 404);
    }
    let body = with_metadata(
        organization("fin"),
        "finalizers",
        json!(["example.com/cleanup", "plain"]),
    );
    let r = api.post(&format!("{G}/organizations"), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn discovery_and_openapi_documents_are_read_only() {
    let api = api().await;
    for (method, path) in [
        ("POST", "/apis"),
        ("DELETE", "/version"),
        ("PUT", "/api"),
        ("PATCH", "/api/v1"),
        ("DELETE", "/apis/resourcemanager.miloapis.com"),
        ("POST", "/apis/resourcemanager.miloapis.com/v1alpha1"),
        ("POST", "/openapi/v3"),
        (
            "DELETE",
            "/openapi/v3/apis/resourcemanager.miloapis.com/v1alpha1",
        ),
        ("PUT", "/openapi/v2"),
    ] {
        let r = api.call(method, path, Some(json!({}))).await;
        assert_eq!(
            (r.status, r.body["kind"].as_str(), r.body["reason"].as_str()),
            (405, Some("Status"), Some("MethodNotAllowed")),
            "{method} {path}: {}",
            r.body
        );
        assert_ne!(api.get(path).await.status, 405, "GET {path}");
    }
}

#[tokio::test]
async fn a_dry_run_update_returns_what_would_be_stored_at_the_stored_version() {
    let api = api().await;
    let stored = api.org("acme").await.body;
    let uri = format!("{G}/organizations/acme?dryRun=All");
    // A change: the new labels, the version and generation unchanged.
    let r = api
        .call(
            "PATCH",
            &uri,
            Some(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["metadata"]["labels"]["a"], "b");
    assert_eq!(r.body["metadata"]["resourceVersion"], "1");
    assert_eq!(r.body["metadata"]["generation"], 1);
    // A spec change: the generation it would be stored with. (An
    // organization's spec cannot change; a binding's can.)
    let bindings = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings";
    let r = api
        .post(
            bindings,
            json!({"apiVersion": "admissionregistration.k8s.io/v1",
                   "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "b"},
                   "spec": {"policyName": "p", "validationActions": ["Deny"]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .call(
            "PATCH",
            &format!("{bindings}/b?dryRun=All"),
            Some(json!({"spec": {"policyName": "q"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["spec"]["policyName"], "q");
    assert_eq!(r.body["metadata"]["resourceVersion"], "1");
    assert_eq!(r.body["metadata"]["generation"], 2);
    let stored_binding = api.get(&format!("{bindings}/b")).await.body;
    assert_eq!(stored_binding["spec"]["policyName"], "p");
    assert_eq!(stored_binding["metadata"]["generation"], 1);
    // No change: exactly what is stored.
    let r = api.call("PUT", &uri, Some(stored.clone())).await;
    assert_eq!((r.status, &r.body), (200, &stored));
    let r = api.call("PATCH", &uri, Some(json!({}))).await;
    assert_eq!((r.status, &r.body), (200, &stored));
    assert_eq!(
        api.get(&format!("{G}/organizations/acme")).await.body,
        stored
    );
}

#[tokio::test]
async fn concurrent_patches_without_a_resource_version_all_apply() {
    let api = std::sync::Arc::new(api().await);
    api.org("busy").await;
    let uri = format!("{G}/organizations/busy");
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let (api, uri) = (api.clone(), uri.clone());
            tokio::spawn(async move {
                let r = api
                    .call(
                        "PATCH",
                        &uri,
                        Some(json!({"metadata": {"labels": {format!("l{i}"): "v"}}})),
                    )
                    .await;
                (r.status, r.body)
            })
        })
        .collect();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let stored = api.get(&uri).await.body;
    let labels = stored["metadata"]["labels"].as_object().unwrap();
    for i in 0..32 {
        assert_eq!(labels[&format!("l{i}")], "v", "{stored}");
    }
    assert_eq!(stored["metadata"]["resourceVersion"], "33");
    // A patch that names a version is still a precondition.
    let r = api
        .call(
            "PATCH",
            &uri,
            Some(json!({"metadata": {"resourceVersion": "1", "labels": {"late": "v"}}})),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
}

#[tokio::test]
async fn concurrent_replacements_without_a_resource_version_all_apply() {
    let api = std::sync::Arc::new(api().await);
    let stored = api.org("busy").await.body;
    let uri = format!("{G}/organizations/busy");
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (api, uri) = (api.clone(), uri.clone());
            let mut body = stored.clone();
            body["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("resourceVersion");
            body["metadata"]["labels"] = json!({"writer": format!("w{i}")});
            tokio::spawn(async move {
                let r = api.call("PUT", &uri, Some(body)).await;
                (r.status, r.body)
            })
        })
        .collect();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let stored = api.get(&uri).await.body;
    assert_eq!(stored["metadata"]["resourceVersion"], "17");
}

/// The schema a `$ref` (or an `allOf` of one) names in the document.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    let reference = schema["$ref"]
        .as_str()
        .or_else(|| schema["allOf"][0]["$ref"].as_str());
    match reference {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").expect("local ref");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

#[tokio::test]
async fn openapi_documents_describe_object_meta() {
    let api = api().await;
    for path in [
        "/openapi/v3/apis/resourcemanager.miloapis.com/v1alpha1",
        "/openapi/v3/api/v1",
        "/openapi/v3/apis/apiextensions.k8s.io/v1",
    ] {
        let r = api.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let doc = &r.body;
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let kinds: Vec<&Value> = schemas
            .values()
            .filter(|s| s.get("x-kubernetes-group-version-kind").is_some())
            .collect();
        assert!(!kinds.is_empty(), "{path}");
        for kind in kinds {
            let metadata = &kind["properties"]["metadata"];
            assert!(
                metadata["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{path}: {metadata}"
            );
            let meta = resolve(doc, metadata);
            let properties = meta["properties"]
                .as_object()
                .expect("ObjectMeta properties");
            for field in [
                "name",
                "generateName",
                "namespace",
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "deletionTimestamp",
                "labels",
                "annotations",
                "ownerReferences",
                "finalizers",
            ] {
                let property = &properties[field];
                assert!(
                    property["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{path}: metadata.{field}: {property}"
                );
            }
            assert_eq!(properties["labels"]["type"], "object");
            assert_eq!(
                properties["labels"]["additionalProperties"]["type"],
                "string"
            );
            let owner = resolve(doc, &properties["ownerReferences"]["items"]);
            for field in [
                "apiVersion",
                "kind",
                "name",
                "uid",
                "controller",
                "blockOwnerDeletion",
            ] {
                assert!(
                    owner["properties"][field]["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{path}: ownerReferences[].{field}: {owner}"
                );
            }
        }
        assert!(
            schemas.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
            "{path}"
        );
    }
}
