//! Input that used to reach DynamoDB as a key it refuses (issue 17, item 3):
//! a continue token from another list, names longer than any key holds.
//! Each is a 4xx Status, never a 500.

mod common;
use common::*;
use serde_json::json;

fn org_plane(org: &str) -> String {
    format!("{G}/organizations/{org}/control-plane")
}

fn project_plane(project: &str) -> String {
    format!("{G}/projects/{project}/control-plane")
}

/// The continue token of a list with `limit=1` at `uri`.
async fn first_page_token(api: &Api, uri: &str) -> String {
    let r = api.get(&format!("{uri}?limit=1")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["metadata"]["continue"]
        .as_str()
        .unwrap_or_else(|| panic!("no continue token from {uri}: {}", r.body))
        .to_string()
}

async fn assert_refused_token(api: &Api, uri: &str, token: &str) {
    let r = api.get(&format!("{uri}?limit=1&continue={token}")).await;
    assert!(
        matches!(r.status, 400 | 410),
        "a token from another list on {uri}: {} {}",
        r.status,
        r.body
    );
    assert_eq!(r.body["kind"], "Status", "{}", r.body);
    assert!(
        r.body["message"].as_str().unwrap().contains("continue"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn a_continue_token_is_bound_to_the_context_it_came_from() {
    let api = api().await;
    for org in ["a", "b"] {
        api.org(org).await;
        for f in 0..3 {
            let r = api
                .folder(&format!("{org}-f{f}"), "Organization", org)
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
        }
    }
    let token = first_page_token(&api, &format!("{}{G}/folders", org_plane("a"))).await;
    assert_refused_token(&api, &format!("{}{G}/folders", org_plane("b")), &token).await;
    assert_refused_token(&api, &format!("{G}/folders"), &token).await;
    // The token still works where it came from.
    let r = api
        .get(&format!(
            "{}{G}/folders?limit=1&continue={token}",
            org_plane("a")
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let platform = first_page_token(&api, &format!("{G}/folders")).await;
    assert_refused_token(&api, &format!("{}{G}/folders", org_plane("a")), &platform).await;

    for project in ["p1", "p2"] {
        assert_eq!(api.project(project, "Organization", "a").await.status, 201);
    }
    for ns in ["n1", "n2"] {
        let r = api
            .post(
                &format!("{}/api/v1/namespaces", project_plane("p1")),
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let token = first_page_token(&api, &format!("{}/api/v1/namespaces", project_plane("p1"))).await;
    assert_refused_token(
        &api,
        &format!("{}/api/v1/namespaces", project_plane("p2")),
        &token,
    )
    .await;
    assert_refused_token(&api, "/api/v1/namespaces", &token).await;
}

#[tokio::test]
async fn names_longer_than_any_key_holds_are_refused_before_a_key_is_built() {
    let api = api().await;
    api.org("acme").await;
    api.folder("team", "Organization", "acme").await;
    let long = "a".repeat(1100);

    // Reads of a name that cannot exist: 404.
    for uri in [
        format!("{G}/organizations/{long}"),
        format!("{G}/folders/{long}"),
        format!("{}{G}/folders", org_plane(&long)),
        format!("{}/api/v1/namespaces", project_plane(&long)),
        format!("/api/v1/namespaces/{long}"),
        format!("{}/api/v1/namespaces/{long}", org_plane("acme")),
    ] {
        let r = api.get(&uri).await;
        assert_eq!(r.status, 404, "GET {}: {}", &uri[..80], r.body);
        assert_eq!(r.body["reason"], "NotFound", "{}", r.body);
    }
    // A field selector on such a name selects nothing.
    let r = api
        .get(&format!(
            "{G}/organizations?fieldSelector=metadata.name={long}"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["items"], json!([]), "{}", r.body);

    // A label selector on a value no label can hold, a graph walk from a URN
    // no key holds, and the quota tree of such an organization.
    let r = api
        .get(&format!("{G}/organizations?labelSelector=x%3D{long}"))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = api
        .get(&format!(
            "/apis/graph.miloapis.com/v1alpha1/traversals?urn=urn:milo:project:{}",
            "a".repeat(3000)
        ))
        .await;
    assert!(r.status < 500, "{} {}", r.status, r.body);
    let r = api
        .get(&format!(
            "/apis/quota.miloapis.com/v1alpha1/quotatrees/{long}"
        ))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);

    // Writes naming it: a 4xx, not a 500.
    let patch = json!({"metadata": {"labels": {"x": "y"}}});
    for (method, body) in [
        ("PUT", Some(organization(&long))),
        ("PATCH", Some(patch.clone())),
        ("DELETE", None),
    ] {
        let r = api
            .call(method, &format!("{G}/organizations/{long}"), body)
            .await;
        assert!(
            matches!(r.status, 400 | 404 | 422),
            "{method}: {} {}",
            r.status,
            r.body
        );
        assert_eq!(r.body["kind"], "Status");
    }
    let r = api
        .post(&format!("{G}/organizations"), organization(&long))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    // A create in a context or namespace that cannot exist.
    let r = api
        .post(
            &format!("{}{G}/folders", org_plane(&long)),
            folder("f", "Organization", "acme"),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = api
        .post(
            &format!("{}/api/v1/namespaces/{long}/configmaps", project_plane("p")),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    // A parent named by a name that cannot exist.
    let r = api.folder("child", "Folder", &long).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = api.project("p9", "Folder", &long).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = api
        .call(
            "PATCH",
            &format!("{G}/folders/team"),
            Some(json!({"spec": {"parentRef": {"kind": "Folder", "name": long}}})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
}
