//! Organizations, folders and projects: parents, depth, moves, deletion.

mod common;
use common::*;
use serde_json::json;

#[tokio::test]
async fn created_objects_carry_system_metadata_and_are_ready() {
    let api = api().await;
    let org = api.org("acme").await.body;
    assert_eq!(org["metadata"]["resourceVersion"], "1");
    assert_eq!(org["metadata"]["generation"], 1);
    assert!(org["metadata"]["uid"]
        .as_str()
        .is_some_and(|u| u.len() == 36));
    assert!(org["metadata"]["creationTimestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert_eq!(org["status"]["conditions"][0]["type"], "Ready");
    assert_eq!(org["status"]["conditions"][0]["status"], "True");
    let project = api.project("p1", "Organization", "acme").await;
    assert_eq!(project.status, 201, "{}", project.body);
    let p = project.body;
    assert_eq!(
        p["metadata"]["labels"]["resourcemanager.miloapis.com/organization-name"],
        "acme"
    );
    assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "Organization");
    assert_eq!(p["metadata"]["ownerReferences"][0]["name"], "acme");
    assert_eq!(
        p["metadata"]["ownerReferences"][0]["uid"],
        org["metadata"]["uid"]
    );
    let fetched = api.get(&format!("{G}/projects/p1")).await;
    assert_eq!(fetched.body, p);
}

#[tokio::test]
async fn the_parent_must_exist() {
    let api = api().await;
    let r = api.project("p1", "Organization", "ghost").await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(causes(&r.body), ["spec.ownerRef"]);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("Organization \"ghost\" not found"));
    assert_eq!(api.get(&format!("{G}/projects/p1")).await.status, 404);
}

#[tokio::test]
async fn folders_nest_ten_deep_and_no_deeper() {
    let api = api().await;
    api.org("deep").await;
    let mut parent = ("Organization".to_string(), "deep".to_string());
    for level in 1..=10 {
        let name = format!("f{level}");
        let r = api.folder(&name, &parent.0, &parent.1).await;
        assert_eq!(r.status, 201, "level {level}: {}", r.body);
        assert_eq!(
            r.body["metadata"]["labels"]["resourcemanager.miloapis.com/organization-name"],
            "deep"
        );
        parent = ("Folder".into(), name);
    }
    let r = api.folder("f11", "Folder", "f10").await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("at most 10"));
    // Projects may sit in the deepest folder.
    assert_eq!(api.project("bottom", "Folder", "f10").await.status, 201);
}

#[tokio::test]
async fn moves_stay_in_the_organization_and_make_no_cycles() {
    let api = api().await;
    api.org("o1").await;
    api.org("o2").await;
    assert_eq!(api.folder("a", "Organization", "o1").await.status, 201);
    assert_eq!(api.folder("b", "Folder", "a").await.status, 201);
    assert_eq!(
        api.folder("elsewhere", "Organization", "o2").await.status,
        201
    );
    assert_eq!(api.project("p", "Organization", "o1").await.status, 201);

    // Into its own descendant: a cycle.
    let r = api
        .call(
            "PATCH",
            &format!("{G}/folders/a"),
            Some(json!({"spec": {"parentRef": {"kind": "Folder", "name": "b"}}})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("descendants"));

    // Across organizations.
    let r = api
        .call(
            "PATCH",
            &format!("{G}/projects/p"),
            Some(json!({"spec": {"ownerRef": {"kind": "Folder", "name": "elsewhere"}}})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);

    // Into a folder of the same organization: owner reference follows.
    let r = api
        .call(
            "PATCH",
            &format!("{G}/projects/p"),
            Some(json!({"spec": {"ownerRef": {"kind": "Folder", "name": "b"}}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["metadata"]["ownerReferences"][0]["kind"], "Folder");
    assert_eq!(r.body["metadata"]["ownerReferences"][0]["name"], "b");
    assert_eq!(
        r.body["metadata"]["labels"]["resourcemanager.miloapis.com/organization-name"],
        "o1"
    );
    assert_eq!(r.body["metadata"]["generation"], 2);

    // The new parent counts the project as a child (a delete would wait
    // for it: Terminating)...
    let dry_run = format!("{G}/folders/b?dryRun=All");
    let r = api.call("DELETE", &dry_run, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["metadata"]["deletionTimestamp"].is_string(),
        "{}",
        r.body
    );
    // ...and after moving on, the old one no longer does.
    let r = api
        .call(
            "PATCH",
            &format!("{G}/projects/p"),
            Some(json!({"spec": {"ownerRef": {"kind": "Folder", "name": "a"}}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api.call("DELETE", &format!("{G}/folders/b"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["metadata"]["deletionTimestamp"].is_null(),
        "{}",
        r.body
    );
    assert_eq!(api.get(&format!("{G}/folders/b")).await.status, 404);
}

#[tokio::test]
async fn a_move_that_would_exceed_the_depth_is_refused() {
    let api = api().await;
    api.org("o").await;
    // A chain of 6 folders and a separate subtree 5 deep.
    let mut parent = ("Organization".to_string(), "o".to_string());
    for i in 1..=6 {
        api.folder(&format!("x{i}"), &parent.0, &parent.1).await;
        parent = ("Folder".into(), format!("x{i}"));
    }
    let mut parent = ("Organization".to_string(), "o".to_string());
    for i in 1..=5 {
        api.folder(&format!("y{i}"), &parent.0, &parent.1).await;
        parent = ("Folder".into(), format!("y{i}"));
    }
    // y1 (with 4 levels below it) under x5 would reach 5 + 5 = 10: fine;
    // under x6 it would reach 11.
    let move_to = |target: &str| json!({"spec": {"parentRef": {"kind": "Folder", "name": target}}});
    let r = api
        .call("PATCH", &format!("{G}/folders/y1"), Some(move_to("x6")))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = api
        .call("PATCH", &format!("{G}/folders/y1"), Some(move_to("x5")))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// A parent with children is not refused: it stays Terminating, takes
/// no new child, and goes once the gc function has deleted what it holds.
#[tokio::test]
async fn a_parent_with_children_is_terminating_until_the_gc_empties_it() {
    let api = api().await;
    api.org("acme").await;
    api.folder("team", "Organization", "acme").await;
    api.project("p1", "Folder", "team").await;
    let r = api.call("DELETE", &format!("{G}/folders/team"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["metadata"]["deletionTimestamp"].is_string(),
        "{}",
        r.body
    );
    assert_eq!(api.get(&format!("{G}/projects/p1")).await.status, 200);
    let r = api.project("p2", "Folder", "team").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("folder \"team\" because it is being deleted"),
        "{}",
        r.body
    );

    while apiserver::gc::sweep(&api.server).await.unwrap().deletes > 0 {}
    for path in ["projects/p1", "folders/team"] {
        assert_eq!(api.get(&format!("{G}/{path}")).await.status, 404, "{path}");
    }
    assert_eq!(
        api.get(&format!("{G}/organizations/acme")).await.status,
        200
    );
}

/// A project's empty namespaces go with it in its delete's one
/// transaction; more than that holds leave the project Terminating while
/// the gc function deletes them one by one, then it goes.
#[tokio::test]
async fn a_project_with_more_namespaces_than_one_delete_holds_goes_through_the_gc() {
    let api = api().await;
    api.org("acme").await;
    assert_eq!(api.project("p1", "Organization", "acme").await.status, 201);
    let namespaces = format!("{G}/projects/p1/control-plane/api/v1/namespaces");
    let namespace =
        |name: String| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    for i in 0..40 {
        let r = api.post(&namespaces, namespace(format!("ns-{i}"))).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = api.call("DELETE", &format!("{G}/projects/p1"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["metadata"]["deletionTimestamp"].is_string(),
        "{}",
        r.body
    );
    let r = api.post(&namespaces, namespace("late".into())).await;
    assert_eq!(r.status, 403, "{}", r.body);

    while apiserver::gc::sweep(&api.server).await.unwrap().deletes > 0 {}
    assert_eq!(api.get(&format!("{G}/projects/p1")).await.status, 404);
    let r = api.get(&format!("{namespaces}/ns-0")).await;
    assert_eq!(r.status, 404, "{}", r.body);
}

#[tokio::test]
async fn an_organization_context_sees_its_own_subtree() {
    let api = api().await;
    api.org("a").await;
    api.org("b").await;
    api.project("pa", "Organization", "a").await;
    api.project("pb", "Organization", "b").await;
    let ctx = format!("{G}/organizations/a/control-plane{G}");
    let list = api.get(&format!("{ctx}/projects")).await;
    assert_eq!(names(&list.body), ["pa"]);
    assert_eq!(api.get(&format!("{ctx}/projects/pb")).await.status, 404);
    assert_eq!(api.get(&format!("{ctx}/projects/pa")).await.status, 200);

    // Without a parent ref, the organization is the parent.
    let r = api.post(&format!("{ctx}/folders"), json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Folder", "metadata": {"name": "fa"}})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["spec"]["parentRef"],
        json!({"kind": "Organization", "name": "a"})
    );
    let r = api
        .post(
            &format!("{ctx}/projects"),
            json!({"metadata": {"name": "pa2"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["spec"]["ownerRef"]["name"], "a");

    // A parent in another organization is refused here.
    let r = api
        .post(
            &format!("{ctx}/projects"),
            project("px", "Organization", "b"),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);

    // Organizations are not served inside an organization.
    assert_eq!(api.get(&format!("{ctx}/organizations")).await.status, 404);
    // A context of an organization that does not exist.
    let r = api
        .get(&format!("{G}/organizations/nope/control-plane{G}/projects"))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["reason"], "NotFound");
}

#[tokio::test]
async fn organization_type_is_immutable() {
    let api = api().await;
    api.org("acme").await;
    let r = api
        .call(
            "PATCH",
            &format!("{G}/organizations/acme"),
            Some(json!({"spec": {"type": "Personal"}})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(causes(&r.body), ["spec.type"]);
    let r = api.call("PATCH", &format!("{G}/organizations/acme"), Some(json!({"spec": {"type": "Standard"}, "metadata": {"annotations": {"kubernetes.io/display-name": "Acme"}}}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
}
