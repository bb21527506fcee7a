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

fn labels(prefix: &str, count: usize) -> serde_json::Map<String, serde_json::Value> {
    (0..count)
        .map(|i| (format!("{prefix}{i}"), json!("v")))
        .collect()
}

/// Fills an object's index budget (one entry per label, two per owner
/// reference and one more per owner reference but a hierarchy parent's,
/// for the owner index) to the limit by patch, then shows one more label
/// is refused.
async fn fill_to_the_limit(api: &Api, uri: &str) {
    let r = api.get(uri).await;
    assert_eq!(r.status, 200, "{uri}: {}", r.body);
    let meta = &r.body["metadata"];
    let owners = meta["ownerReferences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let parents = owners
        .iter()
        .filter(|o| o["kind"] == "Organization" || o["kind"] == "Folder")
        .count();
    let used = meta["labels"].as_object().map_or(0, |l| l.len()) + 3 * owners.len() - parents;
    let room = domain::lifecycle::MAX_INDEX_ENTRIES - used;
    let r = api
        .call(
            "PATCH",
            uri,
            Some(json!({"metadata": {"labels": labels("fill-", room)}})),
        )
        .await;
    assert_eq!(r.status, 200, "{uri}: {}", r.body);
    let r = api
        .call(
            "PATCH",
            uri,
            Some(json!({"metadata": {"labels": {"one-more": "v"}}})),
        )
        .await;
    assert_eq!(r.status, 422, "{uri}: {}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("at most 40 labels"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn labels_are_limited_so_that_every_stored_object_can_be_deleted() {
    let api = api().await;
    // One create past the limit: a 422 naming it, nothing stored.
    let mut big = organization("big");
    big["metadata"]["labels"] = json!(labels("l", 41));
    let r = api.post(&format!("{G}/organizations"), big).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body["message"].as_str().unwrap().contains("at most 40"),
        "{}",
        r.body
    );
    assert_eq!(api.get(&format!("{G}/organizations/big")).await.status, 404);

    // Two patches that each fit a create but together do not.
    api.org("acme").await;
    let acme = format!("{G}/organizations/acme");
    let r = api
        .call(
            "PATCH",
            &acme,
            Some(json!({"metadata": {"labels": labels("a", 30)}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .call(
            "PATCH",
            &acme,
            Some(json!({"metadata": {"labels": labels("b", 30)}})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    // An update that replaces every label at once fits.
    let mut replace = api.get(&acme).await.body;
    replace["metadata"]["labels"] = json!(labels("c", 40));
    let r = api.call("PUT", &acme, Some(replace)).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Every object of the deepest hierarchy at its limit, with its
    // namespaces, and a registered type's object with its owner references.
    fill_to_the_limit(&api, &acme).await;
    fill_to_the_limit(&api, "/api/v1/namespaces/organization-acme").await;
    let mut parent = ("Organization", "acme".to_string());
    let mut folders = Vec::new();
    for depth in 1..=10 {
        let name = format!("f{depth}");
        let r = api.folder(&name, parent.0, &parent.1).await;
        assert_eq!(r.status, 201, "{}", r.body);
        fill_to_the_limit(&api, &format!("{G}/folders/{name}")).await;
        folders.push(name.clone());
        parent = ("Folder", name);
    }
    let r = api.project("deep", parent.0, &parent.1).await;
    assert_eq!(r.status, 201, "{}", r.body);
    fill_to_the_limit(&api, &format!("{G}/projects/deep")).await;
    let deep = project_plane("deep");
    fill_to_the_limit(&api, &format!("{deep}/api/v1/namespaces/default")).await;
    let r = api
        .post(
            &format!("{deep}/api/v1/namespaces"),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "extra"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    fill_to_the_limit(&api, &format!("{deep}/api/v1/namespaces/extra")).await;

    let owners: Vec<_> = (0..domain::lifecycle::MAX_OWNER_REFERENCES)
        .map(|i| json!({"apiVersion": "example.com/v1", "kind": "Gadget", "name": format!("t{i}"), "uid": format!("00000000-0000-0000-0000-{i:012}")}))
        .collect();
    let r = api
        .post(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            gadget_crd(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .post(
            &format!("{deep}/apis/example.com/v1/namespaces/extra/gadgets"),
            json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g", "ownerReferences": owners}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let gadget = format!("{deep}/apis/example.com/v1/namespaces/extra/gadgets/g");
    fill_to_the_limit(&api, &gadget).await;

    // Everything goes, bottom up.
    let mut deletes = vec![
        gadget,
        format!("{deep}/api/v1/namespaces/extra"),
        format!("{G}/projects/deep"),
    ];
    deletes.extend(folders.iter().rev().map(|f| format!("{G}/folders/{f}")));
    deletes.push(acme.clone());
    for uri in deletes {
        let r = api.call("DELETE", &uri, None).await;
        assert_eq!(r.status, 200, "DELETE {uri}: {}", r.body);
    }
}

fn gadget_crd() -> serde_json::Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
            }]
        }
    })
}
