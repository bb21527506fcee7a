//! Milo's ProjectSuspension (issue #18) through the API: served in the
//! platform context, it names a project that exists, its spec cannot change
//! (Milo's messages), and it goes with its project.

mod common;

use common::{api, G};
use serde_json::{json, Value};

fn suspension(name: &str, project: &str) -> Value {
    json!({
        "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
        "kind": "ProjectSuspension",
        "metadata": {"name": name},
        "spec": {
            "projectRef": {"name": project},
            "reason": "Abuse",
            "reinstateAuthority": "Operator",
            "requestedBy": "operator-admin",
            "description": "a test"
        }
    })
}

#[tokio::test]
async fn a_suspension_names_a_project_that_exists_and_is_served_in_the_platform() {
    let api = api().await;
    api.org("acme").await;
    let url = format!("{G}/projectsuspensions");
    let r = api.post(&url, suspension("s1", "missing")).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("\"missing\" not found")),
        "{}",
        r.body
    );
    assert_eq!(api.project("p1", "Organization", "acme").await.status, 201);
    let r = api.post(&url, suspension("s1", "p1")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["spec"]["reason"], "Abuse");
    assert_eq!(r.body["status"]["phase"], "Active", "{}", r.body);
    let r = api
        .post(&url, {
            let mut bad = suspension("s2", "p1");
            bad["spec"]["reason"] = json!("Boredom");
            bad
        })
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    // Operators write suspensions; a project's own control plane has none.
    let r = api
        .get(&format!(
            "{G}/projects/p1/control-plane/apis/resourcemanager.miloapis.com/v1alpha1/projectsuspensions"
        ))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
}

#[tokio::test]
async fn a_suspensions_spec_is_immutable_with_milos_messages() {
    let api = api().await;
    api.org("acme").await;
    api.project("p1", "Organization", "acme").await;
    api.project("p2", "Organization", "acme").await;
    let url = format!("{G}/projectsuspensions");
    assert_eq!(api.post(&url, suspension("s1", "p1")).await.status, 201);
    for (patch, message) in [
        (
            json!({"projectRef": {"name": "p2"}}),
            "projectRef is immutable",
        ),
        (json!({"reason": "Billing"}), "reason is immutable"),
        (
            json!({"reinstateAuthority": "Consumer"}),
            "reinstateAuthority is immutable",
        ),
        (
            json!({"requestedBy": "another-operator"}),
            "requestedBy is immutable",
        ),
    ] {
        let r = api
            .call("PATCH", &format!("{url}/s1"), Some(json!({"spec": patch})))
            .await;
        assert_eq!(r.status, 422, "{patch}: {}", r.body);
        assert!(
            r.body["message"]
                .as_str()
                .is_some_and(|m| m.contains(message)),
            "{patch}: {}",
            r.body
        );
    }
    let r = api
        .call(
            "PATCH",
            &format!("{url}/s1"),
            Some(json!({"spec": {"description": "still under review"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn suspensions_go_with_their_project() {
    let api = api().await;
    api.org("acme").await;
    api.project("p1", "Organization", "acme").await;
    api.project("p2", "Organization", "acme").await;
    let url = format!("{G}/projectsuspensions");
    assert_eq!(api.post(&url, suspension("s1", "p1")).await.status, 201);
    assert_eq!(api.post(&url, suspension("s2", "p1")).await.status, 201);
    assert_eq!(api.post(&url, suspension("other", "p2")).await.status, 201);
    let r = api.call("DELETE", &format!("{G}/projects/p1"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(api.get(&format!("{url}/s1")).await.status, 404);
    assert_eq!(api.get(&format!("{url}/s2")).await.status, 404);
    assert_eq!(api.get(&format!("{url}/other")).await.status, 200);
    // The project can be created again, unsuspended, and suspended anew.
    assert_eq!(api.project("p1", "Organization", "acme").await.status, 201);
    assert_eq!(api.post(&url, suspension("s1", "p1")).await.status, 201);
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn suspended_condition(project: &Value) -> Value {
    project["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Suspended"))
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_suspended_project_refuses_creates_and_updates_until_reinstated() {
    let api = api().await;
    api.org("acme").await;
    api.project("p1", "Organization", "acme").await;
    api.project("p2", "Organization", "acme").await;
    let p1 = format!("{G}/projects/p1/control-plane/api/v1/namespaces");
    let p2 = format!("{G}/projects/p2/control-plane/api/v1/namespaces");
    for ns in ["kept", "gone"] {
        assert_eq!(api.post(&p1, namespace(ns)).await.status, 201);
    }
    let url = format!("{G}/projectsuspensions");
    assert_eq!(api.post(&url, suspension("s1", "p1")).await.status, 201);

    let r = api.post(&p1, namespace("new")).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["reason"], "Forbidden");
    assert_eq!(
        r.body["details"]["causes"][0]["reason"], "ProjectSuspended",
        "{}",
        r.body
    );
    let r = api
        .call(
            "PATCH",
            &format!("{p1}/kept"),
            Some(json!({"metadata": {"labels": {"key": "v"}}})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["details"]["causes"][0]["reason"], "ProjectSuspended");
    // Reads and deletes go on; other projects are not touched.
    assert_eq!(api.get(&format!("{p1}/kept")).await.status, 200);
    let r = api.call("DELETE", &format!("{p1}/gone"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(api.post(&p2, namespace("new")).await.status, 201);

    // Reinstated: the suspension deleted, writes go through again.
    let r = api.call("DELETE", &format!("{url}/s1"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(api.post(&p1, namespace("new")).await.status, 201);
    let r = api
        .call(
            "PATCH",
            &format!("{p1}/kept"),
            Some(json!({"metadata": {"labels": {"key": "v"}}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn a_projects_status_lists_its_suspensions_and_says_whether_it_is_suspended() {
    let api = api().await;
    api.org("acme").await;
    api.project("p1", "Organization", "acme").await;
    let url = format!("{G}/projectsuspensions");
    let project = format!("{G}/projects/p1");
    for (name, reason) in [("s1", "Abuse"), ("s2", "Billing"), ("s3", "Compliance")] {
        let mut s = suspension(name, "p1");
        s["spec"]["reason"] = json!(reason);
        assert_eq!(api.post(&url, s).await.status, 201);
    }
    let p = api.get(&project).await.body;
    let reasons: Vec<&Value> = p["status"]["suspensions"]
        .as_array()
        .expect("suspensions")
        .iter()
        .map(|s| &s["reason"])
        .collect();
    assert_eq!(
        reasons,
        [&json!("Abuse"), &json!("Billing"), &json!("Compliance")]
    );
    assert_eq!(
        p["status"]["suspensions"][0]["reinstateAuthority"],
        "Operator"
    );
    assert_eq!(suspended_condition(&p)["status"], "True");
    assert_eq!(suspended_condition(&p)["reason"], "Suspended");

    api.call("DELETE", &format!("{url}/s1"), None).await;
    let p = api.get(&project).await.body;
    assert_eq!(p["status"]["suspensions"].as_array().map(Vec::len), Some(2));
    assert_eq!(p["status"]["suspensions"][0]["reason"], "Billing");
    assert_eq!(suspended_condition(&p)["status"], "True");
    for name in ["s2", "s3"] {
        api.call("DELETE", &format!("{url}/{name}"), None).await;
    }
    let p = api.get(&project).await.body;
    assert_eq!(p["status"].get("suspensions"), None, "{p}");
    assert_eq!(suspended_condition(&p)["status"], "False");
    assert_eq!(suspended_condition(&p)["reason"], "Active");
    // Milo's order: Suspended, then Ready.
    assert_eq!(p["status"]["conditions"][1]["type"], "Ready");
    // The organization's control plane shows the same status.
    let in_org = api
        .get(&format!(
            "{G}/organizations/acme/control-plane/apis/resourcemanager.miloapis.com/v1alpha1/projects/p1"
        ))
        .await;
    assert_eq!(in_org.body["status"], p["status"]);
}
