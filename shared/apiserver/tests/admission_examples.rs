//! The policies of examples/admission (issue 4), applied through the API as
//! shipped and exercised on projects: auto-tagging from cost centres, the
//! naming convention, the Personal-organization rule, protection.

mod common;

use common::*;
use serde_json::{json, Value};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/admission");

/// The collection URL of a document's kind.
fn collection(doc: &Value) -> String {
    let api_version = doc["apiVersion"].as_str().unwrap();
    let plural = match doc["kind"].as_str().unwrap() {
        "CustomResourceDefinition" => "customresourcedefinitions",
        "CostCentre" => "costcentres",
        "ValidatingAdmissionPolicy" => "validatingadmissionpolicies",
        "ValidatingAdmissionPolicyBinding" => "validatingadmissionpolicybindings",
        "MutatingAdmissionPolicy" => "mutatingadmissionpolicies",
        "MutatingAdmissionPolicyBinding" => "mutatingadmissionpolicybindings",
        other => panic!("no collection for {other}"),
    };
    format!("/apis/{api_version}/{plural}")
}

/// Creates every document of an example file, in order.
async fn apply(api: &Api, file: &str) {
    let text = std::fs::read_to_string(format!("{EXAMPLES}/{file}")).unwrap();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let doc: Value = serde::Deserialize::deserialize(doc).unwrap();
        let r = api.post(&collection(&doc), doc.clone()).await;
        assert_eq!(
            r.status, 201,
            "{file} {}: {}",
            doc["metadata"]["name"], r.body
        );
    }
}

async fn org(api: &Api, name: &str, org_type: &str) {
    let r = api
        .post(
            &format!("{G}/organizations"),
            json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Organization",
                   "metadata": {"name": name}, "spec": {"type": org_type}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn create_project(api: &Api, name: &str, org: &str, labels: Value) -> Reply {
    api.post(
        &format!("{G}/projects"),
        json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project",
               "metadata": {"name": name, "labels": labels},
               "spec": {"ownerRef": {"kind": "Organization", "name": org}}}),
    )
    .await
}

#[tokio::test]
async fn auto_tagging_gives_projects_their_cost_centres_labels() {
    let api = api().await;
    org(&api, "acme", "Standard").await;
    org(&api, "globex", "Standard").await;
    apply(&api, "00-cost-centres.yaml").await;
    apply(&api, "01-auto-tagging.yaml").await;

    let r = create_project(&api, "web-prod", "acme", json!({"team": "web"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let labels = &r.body["metadata"]["labels"];
    assert_eq!(
        labels["billing.example.com/cost-centre"], "cc-4711",
        "{labels}"
    );
    assert_eq!(labels["billing.example.com/budget-owner"], "finance");
    assert_eq!(labels["team"], "web");
    // Stored as returned.
    let r = api.get(&format!("{G}/projects/web-prod")).await;
    assert_eq!(
        r.body["metadata"]["labels"]["billing.example.com/cost-centre"],
        "cc-4711"
    );
    // An organization without a cost centre: created untagged.
    let r = create_project(&api, "ops-prod", "globex", json!({})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(
        r.body["metadata"]["labels"]
            .get("billing.example.com/cost-centre")
            .is_none(),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn project_names_follow_the_convention() {
    let api = api().await;
    org(&api, "acme", "Standard").await;
    apply(&api, "02-naming-convention.yaml").await;
    let r = create_project(&api, "billing", "acme", json!({})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("project name billing must end in -dev, -staging or -prod"),
        "{}",
        r.body
    );
    let r = api.get(&format!("{G}/projects/billing")).await;
    assert_eq!(r.status, 404, "nothing written");
    let r = create_project(&api, "billing-prod", "acme", json!({})).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn personal_organizations_have_no_enterprise_projects() {
    let api = api().await;
    org(&api, "acme", "Standard").await;
    org(&api, "solo", "Personal").await;
    apply(&api, "03-personal-not-enterprise.yaml").await;
    let enterprise = json!({"tier": "enterprise"});
    let r = create_project(&api, "home", "solo", enterprise.clone()).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("is in Personal organization solo and cannot carry tier=enterprise"),
        "{}",
        r.body
    );
    let r = create_project(&api, "home", "solo", json!({"tier": "basic"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // An update that adds the label is refused too.
    let r = api
        .call(
            "PATCH",
            &format!("{G}/projects/home"),
            Some(json!({"metadata": {"labels": {"tier": "enterprise"}}})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // A Standard organization may.
    let r = create_project(&api, "shop", "acme", enterprise).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn protected_objects_cannot_be_deleted_until_unlabelled() {
    let api = api().await;
    org(&api, "acme", "Standard").await;
    apply(&api, "04-protected.yaml").await;
    let r = create_project(&api, "vault", "acme", json!({"protected": "true"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .call("DELETE", &format!("{G}/projects/vault"), None)
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("Project vault is protected"),
        "{}",
        r.body
    );
    assert_eq!(api.get(&format!("{G}/projects/vault")).await.status, 200);
    // The organization itself can be protected the same way.
    let r = api
        .call(
            "PATCH",
            &format!("{G}/organizations/acme"),
            Some(json!({"metadata": {"labels": {"protected": "true"}}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .call(
            "PATCH",
            &format!("{G}/projects/vault"),
            Some(json!({"metadata": {"labels": {"protected": null}}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .call("DELETE", &format!("{G}/projects/vault"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .call("DELETE", &format!("{G}/organizations/acme"), None)
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
}
