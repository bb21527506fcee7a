//! The admission function (issue 4): AdmissionReviews answered with the
//! platform's policies, and the policy audit over stored objects, through
//! `ApiServer::handle_admission` against DynamoDB Local.

mod common;

use std::collections::BTreeSet;

use base64::Engine as _;
use common::*;
use serde_json::{json, Value};

const VAP: &str = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies";
const VAPB: &str = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings";
const MAP: &str = "/apis/admissionregistration.k8s.io/v1/mutatingadmissionpolicies";
const MAPB: &str = "/apis/admissionregistration.k8s.io/v1/mutatingadmissionpolicybindings";

fn naming_policy(prefix: &str) -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "names"},
        "spec": {
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["resourcemanager.miloapis.com"], "apiVersions": ["*"],
                "operations": ["CREATE", "UPDATE"], "resources": ["projects"]}]},
            "validations": [{
                "expression": format!("object.metadata.name.startsWith('{prefix}')"),
                "message": format!("names start with {prefix}")
            }]
        }
    })
}

fn binding(name: &str, policy: &str, actions: &[&str]) -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": policy, "validationActions": actions}
    })
}

fn project_review(operation: &str, name: &str, labels: Value) -> Value {
    let project = json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project",
                         "metadata": {"name": name, "labels": labels}});
    let mut request = json!({
        "uid": "3b0d6c7e-0c5a-4d0a-9a53-5a0d1e1e0001",
        "kind": {"group": "resourcemanager.miloapis.com", "version": "v1alpha1", "kind": "Project"},
        "resource": {"group": "resourcemanager.miloapis.com", "version": "v1alpha1", "resource": "projects"},
        "name": name,
        "operation": operation,
        "userInfo": {"username": "ci@example.com"}
    });
    if operation == "DELETE" {
        request["oldObject"] = project;
    } else {
        request["object"] = project;
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
}

async fn created(api: &Api, uri: &str, body: Value) {
    let r = api.post(uri, body).await;
    assert_eq!(r.status, 201, "{uri}: {}", r.body);
}

#[tokio::test]
async fn reviews_answer_with_the_policies_in_force() {
    let api = api().await;
    created(&api, VAP, naming_policy("ok-")).await;
    created(&api, VAPB, binding("names", "names", &["Deny"])).await;
    created(
        &api,
        MAP,
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingAdmissionPolicy",
            "metadata": {"name": "stamp"},
            "spec": {
                "matchConstraints": {"resourceRules": [{
                    "apiGroups": ["resourcemanager.miloapis.com"], "apiVersions": ["*"],
                    "operations": ["CREATE"], "resources": ["projects"]}]},
                "mutations": [{"patchType": "ApplyConfiguration", "applyConfiguration": {
                    "expression": "Object{metadata: Object.metadata{labels: {'reviewed-by': 'milo'}}}"}}]
            }
        }),
    )
    .await;
    created(
        &api,
        MAPB,
        json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicyBinding",
               "metadata": {"name": "stamp"}, "spec": {"policyName": "stamp"}}),
    )
    .await;

    // Refused: the review says so, with the policy's message and code.
    let r = api
        .admission(
            "/review",
            &project_review("CREATE", "shop", json!({})),
            Some(&api.token),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["kind"], "AdmissionReview");
    let response = &r.body["response"];
    assert_eq!(response["uid"], "3b0d6c7e-0c5a-4d0a-9a53-5a0d1e1e0001");
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 422);
    assert!(
        response["status"]["message"]
            .as_str()
            .unwrap()
            .contains("ValidatingAdmissionPolicy 'names' with binding 'names' denied request: names start with ok-"),
        "{response}"
    );
    assert!(response.get("patch").is_none());

    // Allowed and mutated: the JSONPatch turns the sent object into the
    // mutated one.
    let review = project_review("CREATE", "ok-shop", json!({"team": "a"}));
    let r = api.admission("/review", &review, Some(&api.token)).await;
    let response = &r.body["response"];
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(response["patchType"], "JSONPatch");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().unwrap())
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
    let mut object = review["request"]["object"].clone();
    json_patch::patch(&mut object, &patch).unwrap();
    assert_eq!(
        object["metadata"]["labels"],
        json!({"team": "a", "reviewed-by": "milo"})
    );

    // DELETE is not matched by these rules: allowed, nothing to patch.
    let r = api
        .admission(
            "/review",
            &project_review("DELETE", "shop", json!({})),
            Some(&api.token),
        )
        .await;
    assert_eq!(r.body["response"]["allowed"], true, "{}", r.body);
    assert!(r.body["response"].get("patch").is_none());

    // A Warn binding: allowed, with the warning.
    created(&api, VAP, {
        let mut p = naming_policy("x-");
        p["metadata"]["name"] = json!("x-names");
        p
    })
    .await;
    created(&api, VAPB, binding("x-names", "x-names", &["Warn"])).await;
    let r = api
        .admission(
            "/review",
            &project_review("UPDATE", "ok-shop", json!({})),
            Some(&api.token),
        )
        .await;
    // An UPDATE without oldObject is malformed.
    assert_eq!(r.status, 422, "{}", r.body);
    let mut update = project_review("UPDATE", "ok-shop", json!({}));
    update["request"]["oldObject"] = update["request"]["object"].clone();
    let r = api.admission("/review", &update, Some(&api.token)).await;
    let response = &r.body["response"];
    assert_eq!(response["allowed"], true, "{response}");
    assert!(
        response["warnings"][0]
            .as_str()
            .unwrap()
            .contains("names start with x-"),
        "{response}"
    );
}

#[tokio::test]
async fn bad_reviews_and_requests_are_refused_clearly() {
    let api = api().await;
    // Unauthenticated.
    let review = project_review("CREATE", "shop", json!({}));
    let r = api.admission("/review", &review, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    // Malformed: each field named.
    let bad = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                     "request": {"operation": "PATCH", "kind": {}, "resource": {"resource": "projects"}}});
    let r = api.admission("/review", &bad, Some(&api.token)).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let fields: BTreeSet<String> = causes(&r.body).into_iter().collect();
    for field in [
        "request.uid",
        "request.operation",
        "request.kind.version",
        "request.resource.version",
    ] {
        assert!(fields.contains(field), "{field} in {fields:?}");
    }
    // Not a review at all.
    let r = api
        .admission("/review", &json!("just a string"), Some(&api.token))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(causes(&r.body), ["apiVersion", "request"]);
    // Unknown endpoint.
    let r = api.admission("/reviews/x", &review, Some(&api.token)).await;
    assert_eq!(r.status, 404, "{}", r.body);
}

/// Projects made before any policy exists: what an audit then reports.
async fn projects(api: &Api, names: &[&str]) {
    created(
        api,
        &format!("{G}/organizations"),
        json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Organization",
               "metadata": {"name": "acme"}, "spec": {"type": "Standard"}}),
    )
    .await;
    for name in names {
        created(
            api,
            &format!("{G}/projects"),
            json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project",
                   "metadata": {"name": name},
                   "spec": {"ownerRef": {"kind": "Organization", "name": "acme"}}}),
        )
        .await;
    }
}

fn reported(body: &Value) -> BTreeSet<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_audit_reports_what_a_policy_would_refuse_before_it_is_on() {
    let api = api().await;
    projects(&api, &["ok-a", "b", "ok-c", "d", "e"]).await;

    // A policy in the request, never stored.
    let r = api
        .admission("/audit", &naming_policy("ok-"), Some(&api.token))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["kind"], "AuditReport");
    assert_eq!(reported(&r.body), ["b", "d", "e"].map(String::from).into());
    assert_eq!(r.body["scanned"], 5);
    assert!(r.body["metadata"]["continue"].is_null());
    let first = &r.body["items"][0];
    assert_eq!(first["kind"], "Project");
    assert!(first["violations"][0]["message"]
        .as_str()
        .unwrap()
        .contains("names start with ok-"));
    // Nothing was stored by auditing.
    assert_eq!(api.get(&format!("{VAP}/names")).await.status, 404);

    // Paged: two objects read per page, the pages together report the same.
    let mut seen = BTreeSet::new();
    let mut pages = 0;
    let mut uri = "/audit?limit=2".to_string();
    loop {
        let r = api
            .admission(&uri, &naming_policy("ok-"), Some(&api.token))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body["scanned"].as_u64().unwrap() <= 2);
        seen.extend(reported(&r.body));
        pages += 1;
        match r.body["metadata"]["continue"].as_str() {
            Some(token) => uri = format!("/audit?limit=2&continue={token}"),
            None => break,
        }
    }
    assert_eq!(seen, ["b", "d", "e"].map(String::from).into());
    assert!(pages >= 3, "{pages} pages");

    // A stored policy, by name, with its Warn binding (what one tries first).
    created(&api, VAP, naming_policy("ok-")).await;
    created(&api, VAPB, binding("names-trial", "names", &["Warn"])).await;
    let r = api
        .admission("/audit", &json!({"policyName": "names"}), Some(&api.token))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(reported(&r.body), ["b", "d", "e"].map(String::from).into());
    assert_eq!(
        r.body["items"][0]["violations"][0]["binding"],
        "names-trial"
    );
}

#[tokio::test]
async fn bad_audits_are_refused_clearly() {
    let api = api().await;
    let r = api
        .admission("/audit", &json!({"policyName": "nope"}), Some(&api.token))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let mut broken = naming_policy("ok-");
    broken["spec"]["validations"][0]["expression"] = json!("object.metadata.name.startsWith(");
    let r = api.admission("/audit", &broken, Some(&api.token)).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        causes(&r.body)
            .iter()
            .any(|f| f.contains("validations[0].expression")),
        "{}",
        r.body
    );
    let r = api
        .admission(
            "/audit?continue=forged",
            &naming_policy("ok-"),
            Some(&api.token),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = api
        .admission("/audit", &json!({"kind": "Pod"}), Some(&api.token))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}
