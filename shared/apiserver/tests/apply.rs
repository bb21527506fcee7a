//! Server-side apply through the API, against DynamoDB Local (#23):
//! Kubernetes' semantics case by case, managedFields on every write, and
//! each kind of bad input a Status that writes nothing.

mod common;

use common::*;
use serde_json::{json, Value};

const GADGETS: &str =
    "/apis/resourcemanager.miloapis.com/v1alpha1/projects/p1/control-plane/apis/example.com/v1/namespaces/default/gadgets";

/// Gadgets: a keyed list of ports, a set of tags, a status subresource.
fn gadget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "size": {"type": "integer"},
                        "color": {"type": "string"},
                        "tags": {"type": "array", "x-kubernetes-list-type": "set",
                                 "items": {"type": "string"}},
                        "ports": {"type": "array", "x-kubernetes-list-type": "map",
                                  "x-kubernetes-list-map-keys": ["name"],
                                  "items": {"type": "object", "required": ["name"], "properties": {
                                      "name": {"type": "string"}, "port": {"type": "integer"}}}}}},
                    "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}}]
        }
    })
}

async fn world() -> Api {
    let api = api().await;
    let r = api
        .post(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            gadget_crd(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    api.org("o1").await;
    assert_eq!(api.project("p1", "Organization", "o1").await.status, 201);
    api
}

fn gadget(spec: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": spec})
}

async fn apply_as(api: &Api, manager: &str, query: &str, body: &Value) -> Reply {
    let uri = format!("{GADGETS}/g?fieldManager={manager}{query}");
    let yaml = serde_yaml::to_string(body).unwrap();
    api.raw(
        "PATCH",
        &uri,
        "application/apply-patch+yaml",
        yaml.into_bytes(),
        Some(&api.token),
    )
    .await
}

/// Each manager's operation and fieldsV1.
fn managers(object: &Value) -> Vec<(String, String, Value)> {
    object["metadata"]["managedFields"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|m| {
                    (
                        m["manager"].as_str().unwrap_or_default().to_string(),
                        m["operation"].as_str().unwrap_or_default().to_string(),
                        m["fieldsV1"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn stored(api: &Api) -> Value {
    let r = api.get(&format!("{GADGETS}/g")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

#[tokio::test]
async fn an_apply_creates_then_managers_share_a_keyed_list_and_drop_what_they_stop_applying() {
    let api = world().await;
    let first = gadget(json!({"size": 1, "ports": [{"name": "http", "port": 80}]}));
    let r = apply_as(&api, "ci", "", &first).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        managers(&stored(&api).await),
        vec![(
            "ci".into(),
            "Apply".into(),
            json!({"f:spec": {
                "f:ports": {"k:{\"name\":\"http\"}": {".": {}, "f:name": {}, "f:port": {}}},
                "f:size": {}}})
        )]
    );
    let again = apply_as(&api, "ci", "", &first).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let version = again.body["metadata"]["resourceVersion"].clone();
    assert_eq!(
        version, r.body["metadata"]["resourceVersion"],
        "unchanged: no write"
    );

    let other = gadget(json!({"ports": [{"name": "metrics", "port": 9090}]}));
    let r = apply_as(&api, "monitoring", "", &other).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["spec"]["ports"],
        json!([{"name": "http", "port": 80}, {"name": "metrics", "port": 9090}])
    );
    // ci no longer applies its port: it goes; monitoring's stays.
    let r = apply_as(&api, "ci", "", &gadget(json!({"size": 1}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        stored(&api).await["spec"],
        json!({"size": 1, "ports": [{"name": "metrics", "port": 9090}]})
    );
}

#[tokio::test]
async fn a_conflict_names_each_field_and_its_manager_and_force_takes_them() {
    let api = world().await;
    let r = apply_as(&api, "ci", "", &gadget(json!({"size": 1, "color": "red"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let theirs = gadget(json!({"size": 3, "color": "blue"}));
    let r = apply_as(&api, "ops", "", &theirs).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["reason"], "Conflict");
    let causes: Vec<(&str, &str)> = r.body["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["reason"].as_str().unwrap(), c["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        causes,
        vec![
            ("FieldManagerConflict", ".spec.color"),
            ("FieldManagerConflict", ".spec.size")
        ]
    );
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("conflict with \"ci\""),
        "{}",
        r.body
    );
    assert_eq!(stored(&api).await["spec"]["size"], 1, "nothing written");

    let r = apply_as(&api, "ops", "&force=true", &theirs).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let after = stored(&api).await;
    assert_eq!(after["spec"], json!({"size": 3, "color": "blue"}));
    let owners: Vec<String> = managers(&after).into_iter().map(|(m, ..)| m).collect();
    assert_eq!(owners, vec!["ops"], "ci lost every field, so it is gone");
}

#[tokio::test]
async fn other_writes_own_what_they_change_and_an_applier_then_conflicts() {
    let api = world().await;
    let r = apply_as(&api, "ci", "", &gadget(json!({"size": 1, "tags": ["a"]}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .call(
            "PATCH",
            &format!("{GADGETS}/g?fieldManager=kubectl-edit"),
            Some(json!({"spec": {"size": 5}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let after = stored(&api).await;
    assert_eq!(
        managers(&after),
        vec![
            (
                "ci".into(),
                "Apply".into(),
                json!({"f:spec": {"f:tags": {"v:\"a\"": {}}}})
            ),
            (
                "kubectl-edit".into(),
                "Update".into(),
                json!({"f:spec": {"f:size": {}}})
            ),
        ]
    );
    let r = apply_as(&api, "ci", "", &gadget(json!({"size": 1, "tags": ["a"]}))).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["details"]["causes"][0]["field"], ".spec.size");

    // A create by POST is recorded too, as its client's manager.
    let r = api
        .post(
            &format!("{GADGETS}?fieldManager=importer"),
            json!({"apiVersion": "example.com/v1", "kind": "Gadget",
                   "metadata": {"name": "h"}, "spec": {"size": 2}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        managers(&r.body),
        vec![(
            "importer".into(),
            "Update".into(),
            json!({"f:spec": {"f:size": {}}})
        )]
    );
}

#[tokio::test]
async fn a_dry_run_apply_answers_what_it_would_store_and_writes_nothing() {
    let api = world().await;
    let r = apply_as(&api, "ci", "&dryRun=All", &gadget(json!({"size": 1}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["spec"]["size"], 1);
    assert_eq!(api.get(&format!("{GADGETS}/g")).await.status, 404);
}

#[tokio::test]
async fn bad_applies_are_refused_with_a_status_and_write_nothing() {
    let api = world().await;
    let r = apply_as(&api, "ci", "", &gadget(json!({"size": 1}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let before = stored(&api).await;
    let body = |spec: Value| gadget(spec);
    let no_manager = api
        .raw(
            "PATCH",
            &format!("{GADGETS}/g"),
            "application/apply-patch+yaml",
            serde_yaml::to_string(&body(json!({"size": 2})))
                .unwrap()
                .into_bytes(),
            Some(&api.token),
        )
        .await;
    assert_eq!(no_manager.status, 400, "{}", no_manager.body);
    assert!(no_manager.body["message"]
        .as_str()
        .unwrap()
        .contains("fieldManager is required"));

    let mut renamed = body(json!({"size": 2}));
    renamed["metadata"]["name"] = json!("other");
    let mut other_kind = body(json!({"size": 2}));
    other_kind["kind"] = json!("Widget");
    let mut with_status = body(json!({"size": 2}));
    with_status["status"] = json!({"ready": true});
    let mut with_managers = body(json!({"size": 2}));
    with_managers["metadata"]["managedFields"] = json!([]);
    let cases = [
        (renamed, 400, "does not match the name on the URL"),
        (other_kind, 400, "names its apiVersion and kind"),
        (with_managers, 400, "managedFields must be nil"),
        (with_status, 422, "status subresource"),
        (
            body(json!({"ports": [{"port": 80}]})),
            422,
            "spec.ports[0].name",
        ),
    ];
    for (config, code, says) in cases {
        let r = apply_as(&api, "ci", "", &config).await;
        assert_eq!(r.status, code, "{config}: {}", r.body);
        assert!(r.body.to_string().contains(says), "{says}: {}", r.body);
    }
    let r = api
        .raw(
            "PATCH",
            &format!("{GADGETS}/g?fieldManager=ci"),
            "application/apply-patch+yaml",
            b"spec: [unclosed".to_vec(),
            Some(&api.token),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = api
        .raw(
            "PATCH",
            &format!("{GADGETS}/g?force=true"),
            "application/merge-patch+json",
            b"{}".to_vec(),
            Some(&api.token),
        )
        .await;
    assert_eq!(r.status, 400, "force is for applies: {}", r.body);
    assert_eq!(stored(&api).await, before, "nothing written");
}

/// An apply is the create or update it becomes: a validating policy on
/// gadget creates and updates judges it, and a principal without the
/// permission to patch gadgets is refused; neither writes.
#[tokio::test]
async fn admission_and_authorization_judge_an_apply_as_the_write_it_becomes() {
    let api = world().await;
    let rules = json!([{"apiGroups": ["example.com"], "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"], "resources": ["gadgets"]}]);
    let policy = json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy", "metadata": {"name": "small"},
        "spec": {"matchConstraints": {"resourceRules": rules},
                 "validations": [{"expression": "object.spec.size <= 10",
                                  "message": "gadgets stay small"}]}});
    let binding = json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "small"},
        "spec": {"policyName": "small", "validationActions": ["Deny"]}});
    for (uri, body) in [
        ("validatingadmissionpolicies", policy),
        ("validatingadmissionpolicybindings", binding),
    ] {
        let r = api
            .post(
                &format!("/apis/admissionregistration.k8s.io/v1/{uri}"),
                body,
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = apply_as(&api, "ci", "", &gadget(json!({"size": 20}))).await;
    assert_eq!(r.status, 422, "the create it becomes: {}", r.body);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("gadgets stay small"));
    assert_eq!(api.get(&format!("{GADGETS}/g")).await.status, 404);
    let r = apply_as(&api, "ci", "", &gadget(json!({"size": 2}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = apply_as(&api, "ci", "", &gadget(json!({"size": 30}))).await;
    assert_eq!(r.status, 422, "the update it becomes: {}", r.body);
    assert_eq!(stored(&api).await["spec"]["size"], 2);

    let stranger = token_for("stranger", &[]);
    let yaml = serde_yaml::to_string(&gadget(json!({"size": 3}))).unwrap();
    let r = api
        .raw(
            "PATCH",
            &format!("{GADGETS}/g?fieldManager=stranger"),
            "application/apply-patch+yaml",
            yaml.into_bytes(),
            Some(&stranger),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(stored(&api).await["spec"]["size"], 2);
}
