//! The publisher over real writes: objects written through the API into
//! DynamoDB Local, the table stream's records published to a real
//! nats-server. Each change is one message, in order per object, naming
//! its project, organization and ancestors; a republish stores nothing.

#[path = "../../apiserver/tests/common.rs"]
mod api_common;
mod common;

use api_common::{api, Api, G};
use common::*;
use feed::Publisher;
use serde_json::{json, Value};
use store::Store;

const P1: &str = "/apis/resourcemanager.miloapis.com/v1alpha1/projects/p1/control-plane";

async fn store_of(api: &Api) -> Store {
    Store::new(Store::client_from_env().await, api.table.clone())
}

/// Every record of `api`'s table's stream published, once.
async fn publish_the_stream(api: &Api) -> (feed::FeedConfig, async_nats::jetstream::Context) {
    let (config, js) = feed_config(&nats_url()).await;
    let publisher = Publisher::connect(config.clone(), store_of(api).await)
        .await
        .expect("publisher");
    let records = table_records(&store_of(api).await).await;
    publisher.publish(&records).await.expect("published");
    (config, js)
}

async fn uid(api: &Api, path: &str) -> String {
    let r = api.get(path).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.body["metadata"]["uid"].as_str().unwrap().to_string()
}

/// o1 → folder f1 → project p1, and a ConfigMap in p1's control plane
/// created, changed and deleted.
async fn hierarchy_and_a_configmap(api: &Api) -> Value {
    api.org("o1").await;
    assert_eq!(api.folder("f1", "Organization", "o1").await.status, 201);
    assert_eq!(api.project("p1", "Folder", "f1").await.status, 201);
    let configmaps = format!("{P1}/api/v1/namespaces/default/configmaps");
    let created = api
        .post(
            &configmaps,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let mut changed = created.body.clone();
    changed["data"]["a"] = json!("2");
    let r = api
        .call("PUT", &format!("{configmaps}/settings"), Some(changed))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .call("DELETE", &format!("{configmaps}/settings"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    created.body
}

#[tokio::test]
async fn each_change_of_an_object_is_one_event_naming_its_project_organization_and_ancestors() {
    let api = api().await;
    let configmap = hierarchy_and_a_configmap(&api).await;
    let (config, js) = feed_config(&nats_url()).await;
    let publisher = Publisher::connect(config.clone(), store_of(&api).await)
        .await
        .expect("publisher");
    let records = table_records(&store_of(&api).await).await;
    let report = publisher.publish(&records).await.expect("published");

    let urn = |kind: &str, uid: &str| format!("urn:milo:{kind}:{uid}");
    let org = urn(
        "organization",
        &uid(&api, &format!("{G}/organizations/o1")).await,
    );
    let folder = urn("folder", &uid(&api, &format!("{G}/folders/f1")).await);
    let project = urn("project", &uid(&api, &format!("{G}/projects/p1")).await);
    let cm_uid = configmap["metadata"]["uid"].as_str().unwrap();

    let all = messages(&js, &config.stream).await;
    let watch = messages(&js, &config.watch_stream).await;
    assert_eq!(
        all.len(),
        watch.len(),
        "a lifecycle event and a watch message per change"
    );
    assert_eq!(all.len() + watch.len(), report.stored);
    let of_configmap: Vec<_> = all
        .iter()
        .filter(|m| m.payload["subject_urn"] == urn("configmap", cm_uid))
        .collect();
    let seen: Vec<(&str, &str)> = of_configmap
        .iter()
        .map(|m| (m.subject.as_str(), m.id.as_str()))
        .collect();
    let subject = |event: &str| format!("{}.configmap.{event}", config.prefix);
    let (create, update, delete) = (subject("create"), subject("update"), subject("delete"));
    let ids = [
        format!("{cm_uid}:1"),
        format!("{cm_uid}:2"),
        format!("{cm_uid}:delete"),
    ];
    assert_eq!(
        seen,
        vec![
            (create.as_str(), ids[0].as_str()),
            (update.as_str(), ids[1].as_str()),
            (delete.as_str(), ids[2].as_str()),
        ]
    );
    for message in &of_configmap {
        let fields = &message.payload["fields"];
        assert_eq!(fields["project_urn"], json!(project), "{}", message.payload);
        assert_eq!(fields["organization_urn"], json!(org));
        assert_eq!(fields["namespace"], json!("default"));
        assert_eq!(
            message.payload["additional_subjects"],
            json!([project, folder, org])
        );
        assert_eq!(message.payload["source"], json!("milo-platform"));
    }
    assert_eq!(
        of_configmap[1].payload["additional_data"]["object"]["data"]["a"],
        json!("2")
    );

    // Watchers of p1's ConfigMaps in namespace default read one subject.
    let subject = format!("{}.project:p1._.ConfigMap.default", config.watch_prefix);
    let watched: Vec<_> = watch.iter().filter(|m| m.subject == subject).collect();
    let changes: Vec<(&str, &str)> = watched
        .iter()
        .map(|m| (m.payload["change"].as_str().unwrap(), m.id.as_str()))
        .collect();
    assert_eq!(
        changes,
        vec![
            ("create", ids[0].as_str()),
            ("update", ids[1].as_str()),
            ("delete", ids[2].as_str())
        ]
    );
    assert_eq!(watched[1].payload["previous"]["data"]["a"], json!("1"));
    assert_eq!(watched[1].payload["object"]["data"]["a"], json!("2"));

    // The project itself: its parent and organization, its ancestors.
    let project_created = all
        .iter()
        .find(|m| m.subject == format!("{}.project.create", config.prefix))
        .expect("the project's create");
    assert_eq!(
        project_created.payload["fields"]["organization_urn"],
        json!(org)
    );
    assert_eq!(
        project_created.payload["additional_subjects"],
        json!([folder, org])
    );

    // The same records again (a publisher stopped before it recorded its
    // position): JetStream has every message already.
    let again = publisher.publish(&records).await.expect("republished");
    assert_eq!((again.stored, again.duplicates), (0, report.stored));
    assert_eq!(messages(&js, &config.stream).await.len(), all.len());
    assert_eq!(messages(&js, &config.watch_stream).await.len(), watch.len());
}

#[tokio::test]
async fn what_a_deleted_project_held_is_still_published_as_in_that_project() {
    let api = api().await;
    api.org("o1").await;
    assert_eq!(api.project("p1", "Organization", "o1").await.status, 201);
    let project = uid(&api, &format!("{G}/projects/p1")).await;
    let configmaps = format!("{P1}/api/v1/namespaces/default/configmaps");
    let r = api
        .post(
            &configmaps,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api.call("DELETE", &format!("{G}/projects/p1"), None).await;
    assert!(r.status == 200 || r.status == 202, "{}", r.body);
    for _ in 0..5 {
        apiserver::gc::sweep(&api.server).await.expect("a gc pass");
    }
    assert_eq!(api.get(&format!("{G}/projects/p1")).await.status, 404);

    // Only now is the stream published: the project is no longer stored.
    let (config, js) = publish_the_stream(&api).await;
    let deleted = messages(&js, &config.stream)
        .await
        .into_iter()
        .find(|m| m.subject == format!("{}.configmap.delete", config.prefix))
        .expect("the ConfigMap's delete");
    assert_eq!(
        deleted.payload["fields"]["project_urn"],
        json!(format!("urn:milo:project:{project}"))
    );
}

/// `actor_urn` is the User who made the change: the writer of a create or
/// update, the deleter of a delete (the delete's note), and a hook's write
/// is the request's. A principal without a User object is no actor.
#[tokio::test]
async fn each_event_names_the_user_who_made_the_change() {
    let api = api().await;
    // The tests' own principal, `tester`, as a User; `ghost` is none.
    let tester = json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "User",
        "metadata": {"name": "tester"}, "spec": {"email": "tester@example.com"}});
    let r = api
        .post("/apis/iam.miloapis.com/v1alpha1/users", tester)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let tester = format!(
        "urn:milo:user:{}",
        r.body["metadata"]["uid"].as_str().unwrap()
    );
    let ghost = api_common::token_for("ghost", &["system:masters"]);
    api.org("o1").await;
    assert_eq!(api.project("p1", "Organization", "o1").await.status, 201);
    let configmaps = format!("{P1}/api/v1/namespaces/default/configmaps");
    let configmap =
        |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
    let mine = api.post(&configmaps, configmap("mine")).await;
    assert_eq!(mine.status, 201, "{}", mine.body);
    let theirs = api
        .call_as(&ghost, "POST", &configmaps, Some(configmap("theirs")))
        .await;
    assert_eq!(theirs.status, 201, "{}", theirs.body);
    // Each changes the other's, then deletes it.
    let patch = json!({"data": {"touched": "yes"}});
    let r = api
        .call(
            "PATCH",
            &format!("{configmaps}/theirs"),
            Some(patch.clone()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .call_as(&ghost, "PATCH", &format!("{configmaps}/mine"), Some(patch))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .call_as(&ghost, "DELETE", &format!("{configmaps}/mine"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .call("DELETE", &format!("{configmaps}/theirs"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let (config, js) = publish_the_stream(&api).await;
    let all = messages(&js, &config.stream).await;
    let actors = |uid: &Value| -> Vec<(String, String)> {
        all.iter()
            .filter(|m| {
                m.payload["subject_urn"]
                    == json!(format!("urn:milo:configmap:{}", uid.as_str().unwrap()))
            })
            .map(|m| {
                let event = m.subject.rsplit('.').next().unwrap().to_string();
                (event, m.payload["actor_urn"].as_str().unwrap().to_string())
            })
            .collect()
    };
    let pair = |event: &str, actor: &str| (event.to_string(), actor.to_string());
    assert_eq!(
        actors(&mine.body["metadata"]["uid"]),
        vec![
            pair("create", &tester),
            pair("update", ""),
            pair("delete", "")
        ]
    );
    assert_eq!(
        actors(&theirs.body["metadata"]["uid"]),
        vec![
            pair("create", ""),
            pair("update", &tester),
            pair("delete", &tester)
        ]
    );
    // The project's default namespace, a write of the project's own
    // request (the strategy's companion), is its writer's too.
    let project = format!(
        "urn:milo:project:{}",
        uid(&api, &format!("{G}/projects/p1")).await
    );
    let namespace = all
        .iter()
        .filter(|m| m.subject == format!("{}.namespace.create", config.prefix))
        .find(|m| m.payload["fields"]["project_urn"] == json!(project))
        .expect("p1's namespace");
    assert_eq!(namespace.payload["actor_urn"], json!(tester));
}
