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
