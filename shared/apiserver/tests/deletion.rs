//! The deletion lifecycle (#21) through the API, over DynamoDB Local:
//! finalizers and deletionTimestamp, containers that stay Terminating
//! while the gc function (`apiserver::gc::sweep`, run here as its worker
//! would) empties them, and what a Terminating object refuses.

mod common;

use apiserver::gc::sweep;
use common::*;
use serde_json::{json, Value};

const P1: &str = "/apis/resourcemanager.miloapis.com/v1alpha1/projects/p1/control-plane";

fn configmap(name: &str, namespace: &str, finalizers: &[&str]) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "finalizers": finalizers},
        "data": {"k": "v"}
    })
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

async fn project_p1(api: &Api) {
    assert_eq!(api.org("acme").await.status, 201);
    assert_eq!(api.project("p1", "Organization", "acme").await.status, 201);
}

/// Sweeps until the gc asks for nothing more (at most `passes`).
async fn settle(api: &Api, passes: usize) {
    for _ in 0..passes {
        let pass = sweep(&api.server).await.expect("a gc pass");
        if pass.deletes == 0 {
            return;
        }
    }
}

fn condition<'a>(obj: &'a Value, kind: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

#[tokio::test]
async fn a_finalizer_keeps_an_object_terminating_until_the_update_that_removes_it() {
    let api = api().await;
    project_p1(&api).await;
    let configmaps = format!("{P1}/api/v1/namespaces/default/configmaps");
    let held = format!("{configmaps}/held");
    let r = api
        .post(
            &configmaps,
            configmap("held", "default", &["example.com/hold"]),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let generation = r.body["metadata"]["generation"].as_i64().unwrap();

    let r = api.call("DELETE", &held, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["metadata"]["deletionTimestamp"].is_string(),
        "{}",
        r.body
    );
    assert_eq!(r.body["metadata"]["deletionGracePeriodSeconds"], 0);
    assert_eq!(
        r.body["metadata"]["generation"].as_i64(),
        Some(generation + 1)
    );
    let r = api.get(&held).await;
    assert_eq!(
        r.status, 200,
        "it stays while its finalizer does: {}",
        r.body
    );
    // A second delete changes nothing.
    let again = api.call("DELETE", &held, None).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(
        again.body["metadata"]["resourceVersion"],
        r.body["metadata"]["resourceVersion"]
    );

    // No finalizer may be added once deletion started; the timestamp stays.
    let add = json!({"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}});
    let r = api.call("PATCH", &held, Some(add)).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("no new finalizers can be added"),
        "{}",
        r.body
    );
    let clear_timestamp = json!({"metadata": {"deletionTimestamp": null}, "data": {"k": "w"}});
    let r = api.call("PATCH", &held, Some(clear_timestamp)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["metadata"]["deletionTimestamp"].is_string(),
        "{}",
        r.body
    );

    // Removing the last finalizer lets it go.
    let release = json!({"metadata": {"finalizers": null}});
    let r = api.call("PATCH", &held, Some(release)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(api.get(&held).await.status, 404);
}

#[tokio::test]
async fn an_object_without_finalizers_goes_at_once() {
    let api = api().await;
    project_p1(&api).await;
    let configmaps = format!("{P1}/api/v1/namespaces/default/configmaps");
    let r = api
        .post(&configmaps, configmap("plain", "default", &[]))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .call("DELETE", &format!("{configmaps}/plain"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(api.get(&format!("{configmaps}/plain")).await.status, 404);
}

#[tokio::test]
async fn a_namespace_with_contents_is_terminating_takes_nothing_new_and_goes_once_emptied() {
    let api = api().await;
    project_p1(&api).await;
    let namespaces = format!("{P1}/api/v1/namespaces");
    assert_eq!(api.post(&namespaces, namespace("work")).await.status, 201);
    let configmaps = format!("{namespaces}/work/configmaps");
    for (name, finalizers) in [("a", vec![]), ("held", vec!["example.com/hold"])] {
        let r = api
            .post(&configmaps, configmap(name, "work", &finalizers))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }

    let r = api
        .call("DELETE", &format!("{namespaces}/work"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"]["phase"], "Terminating", "{}", r.body);
    let r = api.post(&configmaps, configmap("late", "work", &[])).await;
    assert_eq!(
        r.status, 403,
        "nothing new in a Terminating namespace: {}",
        r.body
    );
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("because it is being deleted"),
        "{}",
        r.body
    );

    settle(&api, 5).await;
    assert_eq!(api.get(&format!("{configmaps}/a")).await.status, 404);
    let held = api.get(&format!("{configmaps}/held")).await;
    assert!(
        held.body["metadata"]["deletionTimestamp"].is_string(),
        "{}",
        held.body
    );
    let ns = api.get(&format!("{namespaces}/work")).await;
    assert_eq!(ns.status, 200, "the namespace outlives its contents");

    let release = json!({"metadata": {"finalizers": []}});
    let r = api
        .call("PATCH", &format!("{configmaps}/held"), Some(release))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    settle(&api, 5).await;
    assert_eq!(api.get(&format!("{namespaces}/work")).await.status, 404);
}

/// Milo's project-deletion-blocked-resources, here: a project whose
/// objects are held stays Terminating and its ResourceCleanup condition
/// names them and their finalizers; released, it goes.
#[tokio::test]
async fn a_project_waits_for_its_held_objects_names_them_and_goes_when_they_do() {
    let api = api().await;
    project_p1(&api).await;
    let namespaces = format!("{P1}/api/v1/namespaces");
    assert_eq!(
        api.post(&namespaces, namespace("blocked-ns")).await.status,
        201
    );
    let in_default = format!("{namespaces}/default/configmaps");
    let in_blocked = format!("{namespaces}/blocked-ns/configmaps");
    let hold = ["test.miloapis.com/consumer-cleanup"];
    for (list, ns) in [(&in_default, "default"), (&in_blocked, "blocked-ns")] {
        let r = api.post(list, configmap("held-resource", ns, &hold)).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let r = api.post(list, configmap("free", ns, &[])).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }

    let project = format!("{G}/projects/p1");
    let r = api.call("DELETE", &project, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["metadata"]["deletionTimestamp"].is_string(),
        "{}",
        r.body
    );
    settle(&api, 5).await;

    let r = api.get(&project).await;
    assert_eq!(r.status, 200, "the project waits: {}", r.body);
    let cleanup = condition(&r.body, "ResourceCleanup").expect("a ResourceCleanup condition");
    assert_eq!(cleanup["status"], "True", "{cleanup}");
    assert_eq!(cleanup["reason"], "CleanupAwaitingCompletion");
    let message = cleanup["message"].as_str().unwrap();
    for part in [
        "default/held-resource",
        "blocked-ns/held-resource",
        "test.miloapis.com/consumer-cleanup",
    ] {
        assert!(message.contains(part), "{part} in {message}");
    }
    assert_eq!(api.get(&format!("{in_default}/free")).await.status, 404);
    assert_eq!(api.get(&format!("{in_blocked}/free")).await.status, 404);
    let ns = api.get(&format!("{namespaces}/blocked-ns")).await;
    assert_eq!(ns.body["status"]["phase"], "Terminating", "{}", ns.body);
    // Nothing new lands in the project while it waits, not even in the
    // namespace it keeps.
    let r = api
        .post(&in_default, configmap("late", "default", &[]))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    let release = json!({"metadata": {"finalizers": null}});
    for list in [&in_default, &in_blocked] {
        let r = api
            .call(
                "PATCH",
                &format!("{list}/held-resource"),
                Some(release.clone()),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    settle(&api, 5).await;
    assert_eq!(api.get(&project).await.status, 404);
    assert_eq!(
        api.get(&format!("{G}/organizations/acme")).await.status,
        200,
        "only the project went"
    );
}

#[tokio::test]
async fn an_organization_cascades_through_its_folders_and_projects() {
    let api = api().await;
    api.org("acme").await;
    api.folder("f1", "Organization", "acme").await;
    api.folder("f2", "Folder", "f1").await;
    api.folder("f3", "Folder", "f2").await;
    for (project, folder) in [("p1", "f3"), ("p2", "f1")] {
        assert_eq!(api.project(project, "Folder", folder).await.status, 201);
        let configmaps =
            format!("{G}/projects/{project}/control-plane/api/v1/namespaces/default/configmaps");
        for i in 0..3 {
            let r = api
                .post(&configmaps, configmap(&format!("c{i}"), "default", &[]))
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
        }
    }
    let r = api
        .call("DELETE", &format!("{G}/organizations/acme"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A project created under it meanwhile is refused.
    let r = api.project("late", "Folder", "f1").await;
    assert_eq!(r.status, 403, "{}", r.body);
    let message = r.body["message"].as_str().unwrap();
    assert!(message.contains("organization \"acme\""), "{message}");
    settle(&api, 20).await;
    for path in [
        "organizations/acme",
        "folders/f1",
        "folders/f3",
        "projects/p1",
        "projects/p2",
    ] {
        let r = api.get(&format!("{G}/{path}")).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
}

const CONFIGMAPS: &str = "/apis/resourcemanager.miloapis.com/v1alpha1/projects/p1/control-plane/api/v1/namespaces/default/configmaps";

/// A ConfigMap in p1's default namespace owned by `owners` (name, uid,
/// blockOwnerDeletion), held by `finalizers`.
async fn owned(api: &Api, name: &str, owners: &[(&str, &str, bool)], finalizers: &[&str]) -> Value {
    let refs: Vec<Value> = owners
        .iter()
        .map(|(owner, uid, blocks)| {
            json!({"apiVersion": "v1", "kind": "ConfigMap", "name": owner, "uid": uid,
                   "blockOwnerDeletion": blocks})
        })
        .collect();
    let mut body = configmap(name, "default", finalizers);
    body["metadata"]["ownerReferences"] = json!(refs);
    let r = api.post(CONFIGMAPS, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

fn uid(obj: &Value) -> String {
    obj["metadata"]["uid"].as_str().unwrap().to_string()
}

async fn delete_with(api: &Api, name: &str, policy: &str) -> Reply {
    let body = json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy});
    api.call("DELETE", &format!("{CONFIGMAPS}/{name}"), Some(body))
        .await
}

#[tokio::test]
async fn background_an_owner_goes_at_once_and_takes_the_dependents_it_alone_owned() {
    let api = api().await;
    project_p1(&api).await;
    let owner = uid(&owned(&api, "owner", &[], &[]).await);
    let keeper = uid(&owned(&api, "keeper", &[], &[]).await);
    owned(&api, "only-owned", &[("owner", &owner, false)], &[]).await;
    owned(
        &api,
        "shared",
        &[("owner", &owner, false), ("keeper", &keeper, false)],
        &[],
    )
    .await;

    let r = delete_with(&api, "owner", "Background").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(api.get(&format!("{CONFIGMAPS}/owner")).await.status, 404);
    settle(&api, 5).await;
    assert_eq!(
        api.get(&format!("{CONFIGMAPS}/only-owned")).await.status,
        404
    );
    let shared = api.get(&format!("{CONFIGMAPS}/shared")).await;
    assert_eq!(shared.status, 200, "another owner keeps it");
    let refs = shared.body["metadata"]["ownerReferences"]
        .as_array()
        .unwrap();
    assert_eq!(refs.len(), 1, "{refs:?}");
    assert_eq!(
        refs[0]["name"], "keeper",
        "only the dangling reference went"
    );
    // Nothing is left queued.
    let pass = sweep(&api.server).await.unwrap();
    assert_eq!((pass.queued, pass.deletes), (0, 0), "{pass:?}");
}

#[tokio::test]
async fn foreground_the_owner_waits_for_its_blocking_dependents() {
    let api = api().await;
    project_p1(&api).await;
    let owner = uid(&owned(&api, "owner", &[], &[]).await);
    owned(
        &api,
        "blocking",
        &[("owner", &owner, true)],
        &["example.com/hold"],
    )
    .await;
    owned(&api, "loose", &[("owner", &owner, false)], &[]).await;

    let r = delete_with(&api, "owner", "Foreground").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["metadata"]["finalizers"],
        json!(["foregroundDeletion"])
    );
    settle(&api, 5).await;
    assert_eq!(api.get(&format!("{CONFIGMAPS}/loose")).await.status, 404);
    let blocking = api.get(&format!("{CONFIGMAPS}/blocking")).await;
    assert!(
        blocking.body["metadata"]["deletionTimestamp"].is_string(),
        "{}",
        blocking.body
    );
    let r = api.get(&format!("{CONFIGMAPS}/owner")).await;
    assert_eq!(r.status, 200, "the owner waits for what blocks it");

    let release = json!({"metadata": {"finalizers": null}});
    let r = api
        .call("PATCH", &format!("{CONFIGMAPS}/blocking"), Some(release))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    settle(&api, 5).await;
    assert_eq!(api.get(&format!("{CONFIGMAPS}/owner")).await.status, 404);
}

#[tokio::test]
async fn orphan_the_owner_goes_and_its_dependents_stay_without_its_reference() {
    let api = api().await;
    project_p1(&api).await;
    let owner = uid(&owned(&api, "owner", &[], &[]).await);
    owned(&api, "dependent", &[("owner", &owner, true)], &[]).await;

    let r = delete_with(&api, "owner", "Orphan").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["metadata"]["finalizers"], json!(["orphan"]));
    settle(&api, 5).await;
    assert_eq!(api.get(&format!("{CONFIGMAPS}/owner")).await.status, 404);
    let dependent = api.get(&format!("{CONFIGMAPS}/dependent")).await;
    assert_eq!(dependent.status, 200, "{}", dependent.body);
    assert!(
        dependent.body["metadata"]["ownerReferences"].is_null(),
        "{}",
        dependent.body
    );
}

#[tokio::test]
async fn bad_owner_references_and_propagation_are_refused_and_write_nothing() {
    let api = api().await;
    project_p1(&api).await;
    let mut body = configmap("d", "default", &[]);
    body["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "example.com/v1", "kind": "Nothing", "name": "n", "uid": "u-1"
    }]);
    let r = api.post(CONFIGMAPS, body).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(causes(&r.body), vec!["metadata.ownerReferences[0].kind"]);

    let mut ns = namespace("owned-ns");
    ns["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "u-2"
    }]);
    let r = api.post(&format!("{P1}/api/v1/namespaces"), ns).await;
    assert_eq!(
        r.status, 422,
        "a cluster-scoped object, a namespaced owner: {}",
        r.body
    );

    owned(&api, "kept", &[], &[]).await;
    let r = delete_with(&api, "kept", "Sideways").await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = api.get(&format!("{CONFIGMAPS}/kept")).await;
    assert!(
        r.body["metadata"]["deletionTimestamp"].is_null(),
        "{}",
        r.body
    );

    let r = api
        .post(
            CONFIGMAPS,
            configmap("bad-finalizer", "default", &["not a name"]),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
}

fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]
        }
    })
}

/// Item 3's scale: an organization with three folder levels, 20 projects
/// and 500 objects of a registered type (labelled, some owning others)
/// deleted: nothing of it is left, no index item, no queue entry.
#[tokio::test]
async fn an_organization_of_20_projects_and_500_objects_goes_whole_and_leaves_no_item() {
    let api = api().await;
    let r = api
        .post(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            widget_crd(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let before = scan_keys(&api).await;

    api.org("acme").await;
    api.folder("f1", "Organization", "acme").await;
    api.folder("f2", "Folder", "f1").await;
    api.folder("f3", "Folder", "f2").await;
    let parents = [
        ("Organization", "acme"),
        ("Folder", "f1"),
        ("Folder", "f2"),
        ("Folder", "f3"),
    ];
    for p in 0..20 {
        let (kind, parent) = parents[p % parents.len()];
        assert_eq!(
            api.project(&format!("p{p}"), kind, parent).await.status,
            201
        );
        let widgets = format!(
            "{G}/projects/p{p}/control-plane/apis/example.com/v1/namespaces/default/widgets"
        );
        let first = api
            .post(
                &widgets,
                json!({"apiVersion": "example.com/v1", "kind": "Widget",
                "metadata": {"name": "w0", "labels": {"tier": "a"}}, "spec": {"size": 0}}),
            )
            .await;
        assert_eq!(first.status, 201, "{}", first.body);
        let owner_uid = uid(&first.body);
        let creates = (1..25).map(|i| {
            let widgets = widgets.clone();
            let api = &api;
            let owner = json!([{"apiVersion": "example.com/v1", "kind": "Widget",
                                "name": "w0", "uid": owner_uid}]);
            async move {
                let mut body = json!({"apiVersion": "example.com/v1", "kind": "Widget",
                    "metadata": {"name": format!("w{i}"), "labels": {"tier": "b", "n": i.to_string()}},
                    "spec": {"size": i}});
                if i % 2 == 0 {
                    body["metadata"]["ownerReferences"] = owner;
                }
                api.post(&widgets, body).await
            }
        });
        for r in futures_util::future::join_all(creates).await {
            assert_eq!(r.status, 201, "{}", r.body);
        }
    }

    let r = api
        .call("DELETE", &format!("{G}/organizations/acme"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    settle(&api, 50).await;
    assert_eq!(
        api.get(&format!("{G}/organizations/acme")).await.status,
        404
    );
    let after = scan_keys(&api).await;
    let left: Vec<_> = after
        .difference(&before)
        .filter(|(pk, _)| !pk.starts_with("s#"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn lien(name: &str, target: Value, restriction: &str) -> Value {
    json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Lien",
           "metadata": {"name": name},
           "spec": {"targetRef": target, "restrictions": [restriction],
                    "reason": "invoices are still being issued", "origin": "billing.example.com"}})
}

fn message(reply: &Reply) -> String {
    reply.body["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_lien_on_a_project_refuses_its_delete_and_its_ancestors_until_it_is_removed() {
    let api = api().await;
    api.org("acme").await;
    api.folder("f1", "Organization", "acme").await;
    assert_eq!(api.project("p1", "Folder", "f1").await.status, 201);
    let target =
        json!({"apiGroup": "resourcemanager.miloapis.com", "kind": "Project", "name": "p1"});
    let r = api
        .post(
            &format!("{G}/liens"),
            lien(
                "keep-p1",
                target,
                "resourcemanager.miloapis.com/projects.delete",
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    for path in ["projects/p1", "folders/f1", "organizations/acme"] {
        let r = api.call("DELETE", &format!("{G}/{path}"), None).await;
        assert_eq!(r.status, 409, "{path}: {}", r.body);
        let said = message(&r);
        assert!(
            said.contains(
                "held by lien _/keep-p1 (billing.example.com: invoices are still being issued)"
            ),
            "{path}: {said}"
        );
        let r = api.get(&format!("{G}/{path}")).await;
        assert!(
            r.body["metadata"]["deletionTimestamp"].is_null(),
            "{path}: not even started"
        );
    }
    // A held project does not move (its holds stay where they are).
    api.folder("f2", "Organization", "acme").await;
    let to_f2 = json!({"spec": {"ownerRef": {"kind": "Folder", "name": "f2"}}});
    let r = api
        .call("PATCH", &format!("{G}/projects/p1"), Some(to_f2))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);

    let r = api
        .call("DELETE", &format!("{G}/liens/keep-p1"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .call("DELETE", &format!("{G}/organizations/acme"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    settle(&api, 10).await;
    assert_eq!(api.get(&format!("{G}/projects/p1")).await.status, 404);
}

#[tokio::test]
async fn a_lien_on_a_deep_object_holds_it_its_namespace_and_its_project() {
    let api = api().await;
    project_p1(&api).await;
    let namespaces = format!("{P1}/api/v1/namespaces");
    assert_eq!(api.post(&namespaces, namespace("ledger")).await.status, 201);
    let configmaps = format!("{namespaces}/ledger/configmaps");
    assert_eq!(
        api.post(&configmaps, configmap("books", "ledger", &[]))
            .await
            .status,
        201
    );
    let target = json!({"kind": "ConfigMap", "name": "books", "namespace": "ledger"});
    let liens = format!("{P1}/apis/resourcemanager.miloapis.com/v1alpha1/liens");
    let r = api
        .post(&liens, lien("keep-books", target, "core/configmaps.delete"))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    for path in [
        format!("{configmaps}/books"),
        format!("{namespaces}/ledger"),
        format!("{G}/projects/p1"),
    ] {
        let r = api.call("DELETE", &path, None).await;
        assert_eq!(r.status, 409, "{path}: {}", r.body);
        assert!(
            message(&r).contains("lien project:p1/keep-books"),
            "{}",
            message(&r)
        );
    }
    assert_eq!(api.get(&format!("{configmaps}/books")).await.status, 200);

    let r = api
        .call("DELETE", &format!("{liens}/keep-books"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .call("DELETE", &format!("{configmaps}/books"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn a_bad_lien_is_refused_and_holds_nothing() {
    let api = api().await;
    project_p1(&api).await;
    let liens = format!("{G}/liens");
    let project =
        json!({"apiGroup": "resourcemanager.miloapis.com", "kind": "Project", "name": "p1"});
    let missing =
        json!({"apiGroup": "resourcemanager.miloapis.com", "kind": "Project", "name": "gone"});
    let unknown = json!({"apiGroup": "example.com", "kind": "Nothing", "name": "n"});
    for (body, field) in [
        (
            lien(
                "l1",
                missing,
                "resourcemanager.miloapis.com/projects.delete",
            ),
            "spec.targetRef",
        ),
        (
            lien(
                "l2",
                project.clone(),
                "resourcemanager.miloapis.com/projects.update",
            ),
            "spec.restrictions[0]",
        ),
        (
            lien("l3", unknown, "example.com/nothings.delete"),
            "spec.targetRef.kind",
        ),
    ] {
        let r = api.post(&liens, body).await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(causes(&r.body), vec![field], "{}", r.body);
    }
    let mut no_reason = lien(
        "l4",
        project.clone(),
        "resourcemanager.miloapis.com/projects.delete",
    );
    no_reason["spec"]["reason"] = json!("");
    assert_eq!(api.post(&liens, no_reason).await.status, 422);

    // None of them holds anything: the project goes.
    let r = api.call("DELETE", &format!("{G}/projects/p1"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    settle(&api, 5).await;

    // A lien is not changed, only deleted.
    api.project("p2", "Organization", "acme").await;
    let p2 = json!({"apiGroup": "resourcemanager.miloapis.com", "kind": "Project", "name": "p2"});
    let r = api
        .post(
            &liens,
            lien("l5", p2, "resourcemanager.miloapis.com/projects.delete"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .call(
            "PATCH",
            &format!("{liens}/l5"),
            Some(json!({"spec": {"reason": "other"}})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
}

/// One queued entry whose step fails (here an orphan of a kind no longer
/// served, written raw) is counted and logged, and the pass goes on with
/// the others.
#[tokio::test]
async fn a_failing_queue_entry_does_not_hold_up_the_others() {
    let api = api().await;
    project_p1(&api).await;
    let store = store::Store::new(store::Store::client_from_env().await, api.table.clone());
    let ghost = store::ObjectRef {
        context: store::Context::Project("p1".into()),
        group: "gone.example.com".into(),
        kind: "Ghost".into(),
        namespace: "default".into(),
        name: "g".into(),
    };
    let doc = json!({"apiVersion": "gone.example.com/v1", "kind": "Ghost",
        "metadata": {"name": "g", "namespace": "default", "uid": "ghost-uid",
                     "ownerReferences": [{"apiVersion": "gone.example.com/v1", "kind": "Ghost",
                                          "name": "owner", "uid": "owner-uid"}]}});
    store
        .write(vec![
            store::Write::PutObject {
                key: ghost.key(),
                object: doc,
                version: 1,
                expect: store::Expect::Absent,
            },
            store::Write::PutIndex {
                key: ghost.owner_index_key("owner-uid"),
                target: ghost.key(),
            },
            store::Write::PutItem {
                key: store::keys::orphaned_key("owner-uid"),
                attributes: Vec::new(),
            },
        ])
        .await
        .unwrap();
    // And a namespace to empty, queued after it.
    let namespaces = format!("{P1}/api/v1/namespaces");
    assert_eq!(api.post(&namespaces, namespace("work")).await.status, 201);
    let configmaps = format!("{namespaces}/work/configmaps");
    assert_eq!(
        api.post(&configmaps, configmap("c", "work", &[]))
            .await
            .status,
        201
    );
    let r = api
        .call("DELETE", &format!("{namespaces}/work"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let pass = sweep(&api.server).await.expect("the pass goes on");
    assert_eq!(pass.failed, 1, "{pass:?}");
    settle(&api, 5).await;
    assert_eq!(api.get(&format!("{namespaces}/work")).await.status, 404);
}
