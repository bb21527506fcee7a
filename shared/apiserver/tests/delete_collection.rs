//! DELETE on a list path (deletecollection), over DynamoDB Local: what a
//! client gets, and the gc's bulk delete of a container being emptied
//! (#21), with the fence that keeps its objects from changing under it.

mod common;

use apiserver::gc::sweep;
use common::*;
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const P1: &str = "/apis/resourcemanager.miloapis.com/v1alpha1/projects/p1/control-plane";

fn configmap(name: &str, labels: Value, finalizers: &[&str]) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels, "finalizers": finalizers},
        "data": {"k": "v"}
    })
}

async fn project_with_namespace(api: &Api, namespace: &str) -> String {
    assert_eq!(api.org("acme").await.status, 201);
    assert_eq!(api.project("p1", "Organization", "acme").await.status, 201);
    let namespaces = format!("{P1}/api/v1/namespaces");
    let r = api
        .post(
            &namespaces,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    format!("{namespaces}/{namespace}/configmaps")
}

async fn put(api: &Api, configmaps: &str, object: Value) -> Value {
    let r = api.post(configmaps, object).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

async fn status_of(api: &Api, uri: &str) -> u16 {
    api.get(uri).await.status
}

/// A few gc passes delete `namespace` and leave no item that was not
/// there `before` it was filled.
async fn gc_finishes(api: &Api, namespace: &str, before: &BTreeSet<(String, String)>) {
    for _ in 0..5 {
        sweep(&api.server).await.expect("a gc pass");
    }
    assert_eq!(status_of(api, namespace).await, 404);
    let left: Vec<_> = scan_keys(api)
        .await
        .into_iter()
        .filter(|key| !before.contains(key))
        .collect();
    assert!(left.is_empty(), "items left behind: {left:?}");
}

#[tokio::test]
async fn a_deletecollection_deletes_what_its_selector_matches_as_each_delete_would() {
    let api = api().await;
    let configmaps = project_with_namespace(&api, "team").await;
    put(&api, &configmaps, configmap("a", json!({"app": "x"}), &[])).await;
    put(
        &api,
        &configmaps,
        configmap("held", json!({"app": "x"}), &["example.com/hold"]),
    )
    .await;
    put(
        &api,
        &configmaps,
        configmap("other", json!({"app": "y"}), &[]),
    )
    .await;

    // A dry run deletes nothing.
    let r = api
        .call(
            "DELETE",
            &format!("{configmaps}?labelSelector=app%3Dx&dryRun=All"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(status_of(&api, &format!("{configmaps}/a")).await, 200);

    let r = api
        .call(
            "DELETE",
            &format!("{configmaps}?labelSelector=app%3Dx"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["kind"], "Status", "{}", r.body);
    assert_eq!(r.body["status"], "Success", "{}", r.body);
    assert_eq!(status_of(&api, &format!("{configmaps}/a")).await, 404);
    let held = api.get(&format!("{configmaps}/held")).await;
    assert!(
        held.body["metadata"]["deletionTimestamp"].is_string(),
        "its finalizer holds it Terminating: {}",
        held.body
    );
    assert_eq!(
        status_of(&api, &format!("{configmaps}/other")).await,
        200,
        "the selector did not match it"
    );
}

#[tokio::test]
async fn a_bad_deletecollection_is_refused_and_deletes_nothing() {
    let api = api().await;
    let configmaps = project_with_namespace(&api, "team").await;
    put(&api, &configmaps, configmap("a", json!({"app": "x"}), &[])).await;

    let r = api
        .call(
            "DELETE",
            &format!("{configmaps}?labelSelector=app%20in%20(x"),
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("labelSelector"),
        "{}",
        r.body
    );
    let r = api
        .call(
            "DELETE",
            &configmaps,
            Some(json!({"propagationPolicy": "Backgroud"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let stranger = token_for("stranger@example.com", &[]);
    let r = api.call_as(&stranger, "DELETE", &configmaps, None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("deletecollection"),
        "{}",
        r.body
    );
    assert_eq!(status_of(&api, &format!("{configmaps}/a")).await, 200);
}

/// The gc empties a namespace a collection at a time: in a namespace
/// being deleted, what goes in bulk leaves no item behind (labels, owners,
/// child index), and what holds a finalizer still waits for it.
#[tokio::test]
async fn a_namespace_being_emptied_goes_in_bulk_and_leaves_no_item() {
    // Pages of 50, to read several.
    let Api {
        server,
        token,
        table,
    } = api().await;
    let api = Api {
        server: server.with_collection_page(50),
        token,
        table,
    };
    let configmaps = project_with_namespace(&api, "team").await;
    let before = scan_keys(&api).await;
    let owner = put(&api, &configmaps, configmap("owner", json!({}), &[])).await;
    let owner_ref = json!([{
        "apiVersion": "v1", "kind": "ConfigMap",
        "name": "owner", "uid": owner["metadata"]["uid"],
    }]);
    // Three pages of the collection's reads.
    let objects = (0..130).map(|i| {
        let mut object = configmap(
            &format!("cm-{i}"),
            json!({"app": "x", "tier": format!("t{}", i % 3)}),
            &[],
        );
        if i % 10 == 0 {
            object["metadata"]["ownerReferences"] = owner_ref.clone();
        }
        object
    });
    let puts = stream::iter(objects).map(|object| put(&api, &configmaps, object));
    let _: Vec<Value> = puts.buffer_unordered(16).collect().await;
    put(
        &api,
        &configmaps,
        configmap("held", json!({"app": "x"}), &["example.com/hold"]),
    )
    .await;

    let namespace = format!("{P1}/api/v1/namespaces/team");
    let r = api.call("DELETE", &namespace, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The gc's request, made here: one deletecollection, every page.
    let r = api.call("DELETE", &configmaps, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list = api.get(&configmaps).await;
    assert_eq!(
        names(&list.body),
        vec!["held".to_string()],
        "everything without a finalizer went"
    );

    let release = json!({"metadata": {"finalizers": []}});
    let r = api
        .call("PATCH", &format!("{configmaps}/held"), Some(release))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    gc_finishes(&api, &namespace, &before).await;
}

/// A gc killed in the middle of a batch leaves at most containers'
/// entries whose objects are gone (`BatchDeletes`: the entry goes last);
/// the next pass removes those and finishes. Here the cut is made by hand:
/// every item of three objects deleted but their namespace's entry.
#[tokio::test]
async fn entries_a_cut_batch_leaves_are_removed_and_the_cascade_finishes() {
    let api = api().await;
    let configmaps = project_with_namespace(&api, "team").await;
    let before = scan_keys(&api).await;
    for i in 0..5 {
        let name = format!("cm-{i}");
        put(
            &api,
            &configmaps,
            configmap(&name, json!({"app": "x"}), &[]),
        )
        .await;
    }
    let namespace = format!("{P1}/api/v1/namespaces/team");
    assert_eq!(api.call("DELETE", &namespace, None).await.status, 200);

    let cut: Vec<store::ItemKey> = scan_keys(&api)
        .await
        .into_iter()
        .filter(|(pk, sk)| {
            let of_cut = ["cm-0", "cm-1", "cm-2"]
                .iter()
                .any(|name| pk.ends_with(&format!("#{name}")) || sk.ends_with(&format!("#{name}")));
            of_cut && !pk.starts_with("c#")
        })
        .map(|(pk, sk)| store::ItemKey { pk, sk })
        .collect();
    assert!(cut.len() >= 6, "each object and its label: {cut:?}");
    let store = store::Store::new(store::Store::client_from_env().await, api.table.clone());
    store.delete_unchecked(&cut).await.expect("the cut");
    let dangling = scan_keys(&api)
        .await
        .into_iter()
        .filter(|(pk, sk)| pk.starts_with("c#") && sk.ends_with("#cm-0"))
        .count();
    assert_eq!(dangling, 1, "the entry is what a cut leaves");

    gc_finishes(&api, &namespace, &before).await;
}

/// What the gc deletes in bulk cannot change under it: in a namespace
/// being emptied, an object without finalizers gains no finalizer, label
/// or owner; its data may still change, and an object with finalizers
/// may still lose them.
#[tokio::test]
async fn in_a_namespace_being_emptied_an_object_cannot_change_what_its_delete_removes() {
    let api = api().await;
    let configmaps = project_with_namespace(&api, "team").await;
    put(
        &api,
        &configmaps,
        configmap("plain", json!({"app": "x"}), &[]),
    )
    .await;
    put(
        &api,
        &configmaps,
        configmap("held", json!({}), &["example.com/hold"]),
    )
    .await;
    let plain = format!("{configmaps}/plain");

    // Before the namespace's delete, a label is an ordinary change.
    let r = api
        .call(
            "PATCH",
            &plain,
            Some(json!({"metadata": {"labels": {"tier": "a"}}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = api
        .call("DELETE", &format!("{P1}/api/v1/namespaces/team"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for change in [
        json!({"metadata": {"finalizers": ["example.com/late"]}}),
        json!({"metadata": {"labels": {"tier": "b"}}}),
        json!({"metadata": {"ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": "held", "uid": "u-1",
        }]}}),
    ] {
        let r = api.call("PATCH", &plain, Some(change.clone())).await;
        assert_eq!(r.status, 409, "{change}: {}", r.body);
        assert!(
            r.body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("namespace \"team\" is being deleted"),
            "{}",
            r.body
        );
    }
    let r = api
        .call("PATCH", &plain, Some(json!({"data": {"k": "w"}})))
        .await;
    assert_eq!(
        r.status, 200,
        "a change of data is no change to its delete: {}",
        r.body
    );
    let r = api
        .call(
            "PATCH",
            &format!("{configmaps}/held"),
            Some(json!({"metadata": {"labels": {"tier": "b"}, "finalizers": []}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    sweep(&api.server).await.expect("a gc pass");
    assert_eq!(status_of(&api, &plain).await, 404);
    let got = api.get(&configmaps).await;
    assert_eq!(names(&got.body), Vec::<String>::new(), "{}", got.body);
}

/// A delete a policy judges is not made in bulk: the policy refuses it,
/// and the project waits, naming it.
#[tokio::test]
async fn a_policy_that_judges_deletes_is_heard_by_the_cascade() {
    let api = api().await;
    let configmaps = project_with_namespace(&api, "team").await;
    let admission = "/apis/admissionregistration.k8s.io/v1";
    let policy = json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "keep-protected"},
        "spec": {
            "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["*"],
                "operations": ["DELETE"], "resources": ["configmaps"]}]},
            "validations": [{"expression":
                "oldObject.metadata.?labels[?'protected'].orValue('') != 'true'",
                "message": "protected"}],
        },
    });
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "keep-protected"},
        "spec": {"policyName": "keep-protected", "validationActions": ["Deny"]},
    });
    for (path, body) in [
        ("validatingadmissionpolicies", policy),
        ("validatingadmissionpolicybindings", binding),
    ] {
        let r = api.post(&format!("{admission}/{path}"), body).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    put(
        &api,
        &configmaps,
        configmap("kept", json!({"protected": "true"}), &[]),
    )
    .await;
    put(&api, &configmaps, configmap("free", json!({}), &[])).await;

    let project = format!("{G}/projects/p1");
    let r = api.call("DELETE", &project, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for _ in 0..3 {
        sweep(&api.server).await.expect("a gc pass");
    }
    assert_eq!(status_of(&api, &format!("{configmaps}/free")).await, 404);
    assert_eq!(
        status_of(&api, &format!("{configmaps}/kept")).await,
        200,
        "the policy refused its delete"
    );
    let waiting = api.get(&project).await;
    assert!(
        waiting.body["status"].to_string().contains("protected"),
        "the project says what refused it: {}",
        waiting.body["status"]
    );
}
