//! Watch (#22) against DynamoDB Local and a real nats-server: the change
//! feed's publisher runs beside the server (as `events --publish` does),
//! and watches read what it published. Each test has its own table and
//! its own feed streams.

mod common;
#[path = "../../feed/tests/common/mod.rs"]
mod feed_common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use apiserver::watch::WatchSource;
use common::{api, Api};
use feed::{FeedConfig, Poller, Publisher};
use serde_json::{json, Value};
use store::Store;

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

/// A server whose watches read a feed of the test's own, and that feed's
/// publisher running until the test ends.
struct World {
    api: Api,
    config: FeedConfig,
    js: async_nats::jetstream::Context,
    _publisher: Running,
}

/// The publisher's task, stopped with the test.
struct Running(tokio::task::JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn world() -> World {
    let api = api().await;
    let (config, js) = feed_common::feed_config(&feed_common::nats_url()).await;
    let store = Store::new(Store::client_from_env().await, api.table.clone());
    let publisher = Publisher::connect(config.clone(), store.clone())
        .await
        .unwrap();
    let stream = store::stream::TableStream::open(&store).await.unwrap();
    let poller = Poller::new(publisher, stream).await.unwrap();
    let publisher = tokio::spawn(async move { poller.run().await });
    let api = with_watch(api, &config, &js);
    World {
        api,
        config,
        js,
        _publisher: Running(publisher),
    }
}

fn with_watch(api: Api, config: &FeedConfig, js: &async_nats::jetstream::Context) -> Api {
    let source = WatchSource::new(
        js.clone(),
        config.watch_stream.clone(),
        config.watch_prefix.clone(),
    );
    Api {
        server: api.server.with_watch(source),
        ..api
    }
}

impl World {
    /// Waits until the publisher has put `count` changes of the platform's
    /// ConfigMaps in namespace default on the watch stream.
    async fn published(&self, count: usize) {
        let subject = format!("{}._._.ConfigMap.default", self.config.watch_prefix);
        let started = Instant::now();
        loop {
            let messages = feed_common::messages(&self.js, &self.config.watch_stream).await;
            let held = messages.iter().filter(|m| m.subject == subject).count();
            if held >= count {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{held} of {count} changes published"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A watch's frames: (type, object), read until the watch ends.
async fn watch(api: &Api, query: &str) -> (u16, Vec<(String, Value)>) {
    let request = http::Request::builder()
        .method("GET")
        .uri(format!("{CONFIGMAPS}?watch=true&{query}"))
        .header("authorization", format!("Bearer {}", api.token))
        .body(bytes::Bytes::new())
        .unwrap();
    let response = Box::pin(api.server.handle(request)).await;
    let status = response.status().as_u16();
    let text = String::from_utf8_lossy(response.body()).to_string();
    if status != 200 {
        return (
            status,
            vec![(
                "Status".into(),
                serde_json::from_str(&text).unwrap_or(Value::Null),
            )],
        );
    }
    let frames = text
        .lines()
        .map(|line| {
            let frame: Value = serde_json::from_str(line).unwrap();
            (
                frame["type"].as_str().unwrap().to_string(),
                frame["object"].clone(),
            )
        })
        .collect();
    (status, frames)
}

fn configmap(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"v": "1"}})
}

async fn update(api: &Api, name: &str, change: Value) -> Value {
    let r = api
        .call("PATCH", &format!("{CONFIGMAPS}/{name}"), Some(change))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

fn rv(object: &Value) -> &str {
    object["metadata"]["resourceVersion"].as_str().unwrap()
}

fn summary(frames: &[(String, Value)]) -> Vec<(String, String, String)> {
    frames
        .iter()
        .map(|(t, o)| {
            let version = rv(o).split('.').next().unwrap().to_string();
            (
                t.clone(),
                o["metadata"]["name"].as_str().unwrap_or("").to_string(),
                version,
            )
        })
        .collect()
}

fn event(t: &str, name: &str, version: &str) -> (String, String, String) {
    (t.into(), name.into(), version.into())
}

#[tokio::test]
async fn a_watch_from_a_lists_resource_version_sees_each_change_after_it_and_resumes_from_an_events(
) {
    let w = world().await;
    let list = w.api.get(CONFIGMAPS).await;
    let from = rv(&list.body).to_string();
    assert!(
        from.starts_with("0."),
        "a list's resourceVersion is a position: {from}"
    );
    assert_eq!(
        w.api
            .post(CONFIGMAPS, configmap("a", json!({})))
            .await
            .status,
        201
    );
    update(&w.api, "a", json!({"data": {"v": "2"}})).await;
    assert_eq!(
        w.api
            .call("DELETE", &format!("{CONFIGMAPS}/a"), None)
            .await
            .status,
        200
    );
    w.published(3).await;

    let (status, frames) = watch(&w.api, &format!("resourceVersion={from}&timeoutSeconds=1")).await;
    assert_eq!(status, 200);
    assert_eq!(
        summary(&frames),
        vec![
            event("ADDED", "a", "1"),
            event("MODIFIED", "a", "2"),
            event("DELETED", "a", "2")
        ]
    );
    // An event's resourceVersion: the object's counter and the position.
    let added = rv(&frames[0].1).to_string();
    assert!(added.starts_with("1.") && added != from, "{added}");
    let (_, resumed) = watch(&w.api, &format!("resourceVersion={added}&timeoutSeconds=1")).await;
    assert_eq!(
        summary(&resumed),
        vec![event("MODIFIED", "a", "2"), event("DELETED", "a", "2")]
    );
}

#[tokio::test]
async fn a_selector_sees_an_object_enter_as_added_and_leave_as_deleted() {
    let w = world().await;
    let from = rv(&w.api.get(CONFIGMAPS).await.body).to_string();
    assert_eq!(
        w.api
            .post(CONFIGMAPS, configmap("b", json!({"app": "y"})))
            .await
            .status,
        201
    );
    update(&w.api, "b", json!({"metadata": {"labels": {"app": "x"}}})).await;
    update(&w.api, "b", json!({"data": {"v": "3"}})).await;
    update(&w.api, "b", json!({"metadata": {"labels": {"app": "z"}}})).await;
    w.published(4).await;
    let (_, frames) = watch(
        &w.api,
        &format!("resourceVersion={from}&labelSelector=app%3Dx&timeoutSeconds=1"),
    )
    .await;
    assert_eq!(
        summary(&frames),
        vec![
            event("ADDED", "b", "2"),
            event("MODIFIED", "b", "3"),
            event("DELETED", "b", "4")
        ]
    );
}

#[tokio::test]
async fn watch_list_sends_the_current_state_then_the_bookmark_that_ends_it() {
    let w = world().await;
    for name in ["c1", "c2", "c3"] {
        assert_eq!(
            w.api
                .post(CONFIGMAPS, configmap(name, json!({})))
                .await
                .status,
            201
        );
    }
    w.published(3).await;
    let query = "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1";
    let (status, frames) = watch(&w.api, query).await;
    assert_eq!(status, 200, "{frames:?}");
    let types: Vec<&str> = frames.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["ADDED", "ADDED", "ADDED", "BOOKMARK"]);
    let end = &frames[3].1;
    assert_eq!(
        end["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    // What the initial events showed is not sent again from the stream.
    let bookmark = rv(end).to_string();
    assert!(bookmark.starts_with("0."));
    let (_, after) = watch(
        &w.api,
        &format!("resourceVersion={bookmark}&timeoutSeconds=1"),
    )
    .await;
    assert!(after.is_empty(), "{after:?}");
}

#[tokio::test]
async fn a_watch_of_one_object_from_a_gets_version_starts_with_its_newer_state() {
    let w = world().await;
    let created = w.api.post(CONFIGMAPS, configmap("d", json!({}))).await.body;
    update(&w.api, "d", json!({"data": {"v": "2"}})).await;
    let query = format!(
        "fieldSelector=metadata.name%3Dd&resourceVersion={}&timeoutSeconds=1",
        rv(&created)
    );
    let (_, frames) = watch(&w.api, &query).await;
    assert_eq!(summary(&frames)[0], event("MODIFIED", "d", "2"));
    // A collection cannot start from one object's counter.
    let (status, body) = watch(&w.api, "resourceVersion=1").await;
    assert_eq!(status, 410, "{body:?}");
}

#[tokio::test]
async fn an_update_takes_a_watch_events_resource_version_as_its_precondition() {
    let w = world().await;
    let from = rv(&w.api.get(CONFIGMAPS).await.body).to_string();
    assert_eq!(
        w.api
            .post(CONFIGMAPS, configmap("e", json!({})))
            .await
            .status,
        201
    );
    w.published(1).await;
    let (_, frames) = watch(&w.api, &format!("resourceVersion={from}&timeoutSeconds=1")).await;
    let mut object = frames[0].1.clone();
    object["data"]["v"] = json!("2");
    let r = w
        .api
        .call("PUT", &format!("{CONFIGMAPS}/e"), Some(object.clone()))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The same position again is stale now.
    let r = w
        .api
        .call("PUT", &format!("{CONFIGMAPS}/e"), Some(object))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
}

#[tokio::test]
async fn too_old_is_410_and_not_yet_reached_is_504() {
    let w = world().await;
    assert_eq!(
        w.api
            .post(CONFIGMAPS, configmap("f", json!({})))
            .await
            .status,
        201
    );
    w.published(1).await;
    let last = rv(&w.api.get(CONFIGMAPS).await.body).to_string();
    let ahead: u64 = last[2..].parse::<u64>().unwrap() + 100;
    let (status, body) = watch(&w.api, &format!("resourceVersion=0.{ahead}")).await;
    assert_eq!(status, 504, "{body:?}");
    assert!(body[0].1["message"]
        .as_str()
        .unwrap()
        .contains("Too large resource version"));
    // The window passes: the stream no longer holds position 1.
    w.js.get_stream(&w.config.watch_stream)
        .await
        .unwrap()
        .purge()
        .await
        .unwrap();
    let (status, body) = watch(&w.api, "resourceVersion=0.0").await;
    assert_eq!(status, 410, "{body:?}");
    assert_eq!(body[0].1["reason"], "Expired");
}

#[tokio::test]
async fn bad_watch_parameters_are_each_a_400_saying_what_to_change() {
    let w = world().await;
    for (query, says) in [
        ("resourceVersion=abc", "invalid resourceVersion"),
        ("resourceVersion=0.x", "invalid resourceVersion"),
        ("resourceVersionMatch=Newest", "NotOlderThan or Exact"),
        ("timeoutSeconds=-1", "timeoutSeconds"),
        ("labelSelector=a%20in%20(", "labelSelector"),
        ("fieldSelector=spec.x%3Dy", "field label not supported"),
        (
            "sendInitialEvents=true&allowWatchBookmarks=true",
            "NotOlderThan",
        ),
        (
            "sendInitialEvents=true&resourceVersionMatch=NotOlderThan",
            "allowWatchBookmarks",
        ),
    ] {
        let (status, body) = watch(&w.api, query).await;
        assert_eq!(status, 400, "{query}: {body:?}");
        let message = body[0].1["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(message.contains(says), "{query}: {message}");
    }
}

/// The world's server again, its watches paced so.
fn paced(w: World, pacing: apiserver::watch::Pacing) -> World {
    let source = WatchSource::new(
        w.js.clone(),
        w.config.watch_stream.clone(),
        w.config.watch_prefix.clone(),
    )
    .with_pacing(pacing);
    let World {
        api,
        config,
        js,
        _publisher,
    } = w;
    World {
        api: Api {
            server: api.server.with_watch(source),
            ..api
        },
        config,
        js,
        _publisher,
    }
}

#[tokio::test]
async fn an_idle_watch_that_allows_bookmarks_is_sent_them_at_its_position() {
    let w = world().await;
    assert_eq!(
        w.api
            .post(CONFIGMAPS, configmap("h", json!({})))
            .await
            .status,
        201
    );
    w.published(1).await;
    let w = paced(
        w,
        apiserver::watch::Pacing {
            bookmark_every: Duration::from_secs(1),
            ..Default::default()
        },
    );
    let from = rv(&w.api.get(CONFIGMAPS).await.body).to_string();
    let (_, frames) = watch(
        &w.api,
        &format!("resourceVersion={from}&allowWatchBookmarks=true&timeoutSeconds=3"),
    )
    .await;
    let bookmarks: Vec<&str> = frames
        .iter()
        .filter(|(t, _)| t == "BOOKMARK")
        .map(|(_, o)| rv(o))
        .collect();
    assert!(bookmarks.len() >= 2, "{frames:?}");
    assert!(
        bookmarks.iter().all(|b| *b == from),
        "{bookmarks:?} at {from}"
    );
    assert_eq!(
        bookmarks.len(),
        frames.len(),
        "nothing but bookmarks: {frames:?}"
    );
    let (_, quiet) = watch(&w.api, &format!("resourceVersion={from}&timeoutSeconds=2")).await;
    assert!(quiet.is_empty(), "bookmarks only when allowed: {quiet:?}");
}

#[tokio::test]
async fn a_reader_that_falls_behind_is_dropped_with_an_error_frame() {
    let w = world().await;
    let from = rv(&w.api.get(CONFIGMAPS).await.body).to_string();
    for i in 0..20 {
        assert_eq!(
            w.api
                .post(CONFIGMAPS, configmap(&format!("s{i}"), json!({})))
                .await
                .status,
            201
        );
    }
    w.published(20).await;
    let w = paced(
        w,
        apiserver::watch::Pacing {
            buffered_frames: 4,
            slow_reader: Duration::from_secs(1),
            ..Default::default()
        },
    );
    let request = http::Request::builder()
        .uri(format!(
            "{CONFIGMAPS}?watch=true&resourceVersion={from}&timeoutSeconds=30"
        ))
        .header("authorization", format!("Bearer {}", w.api.token))
        .body(bytes::Bytes::new())
        .unwrap();
    let response = w
        .api
        .server
        .respond_streaming(request, apiserver::Api::Resources)
        .await;
    assert_eq!(response.status(), 200);
    // Nothing read while the watch fills its buffer and waits.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let started = Instant::now();
    let mut body = response.into_body();
    let mut text = Vec::new();
    while let Some(chunk) = futures_util::StreamExt::next(&mut body).await {
        text.extend_from_slice(&chunk);
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the watch ran on to its timeout"
    );
    let frames: Vec<Value> = String::from_utf8_lossy(&text)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = frames.last().unwrap();
    assert_eq!(last["type"], "ERROR", "{frames:?}");
    assert_eq!(last["object"]["code"], 503);
    assert!(last["object"]["message"]
        .as_str()
        .unwrap()
        .contains("fell 4 events behind"));
    assert!(
        frames.len() < 20,
        "the reader got {} frames of 20 before the error",
        frames.len() - 1
    );
}

/// An informer's loop: list, then watch from the list's resourceVersion,
/// and after each disconnect (the watch's timeout) watch again from the
/// last event's. Every change any object goes through is seen, in order.
#[tokio::test]
async fn a_thousand_changes_under_an_informer_that_is_cut_off_and_whose_server_restarts() {
    const OBJECTS: usize = 50;
    const VERSIONS: u64 = 20;
    let w = world().await;
    let list = w.api.get(CONFIGMAPS).await;
    let mut position = rv(&list.body).to_string();
    // Five writers side by side, each changing its own objects in order.
    let mut writers = Vec::new();
    for lane in 0..5 {
        let api = w.api.sibling().await;
        writers.push(tokio::spawn(async move {
            let mine: Vec<usize> = (lane..OBJECTS).step_by(5).collect();
            for &i in &mine {
                let created = api.post(CONFIGMAPS, configmap(&format!("g{i}"), json!({})));
                assert_eq!(created.await.status, 201);
            }
            for version in 2..=VERSIONS {
                for &i in &mine {
                    let data = json!({"data": {"v": version.to_string()}});
                    update(&api, &format!("g{i}"), data).await;
                }
            }
        }));
    }
    let mut seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let World {
        api: mut server,
        config,
        js,
        _publisher,
    } = w;
    let mut watches = 0;
    // Not a speed figure: a change lost stalls the count for good, while
    // a loaded machine (a full CI run) only slows it.
    let mut progress = (0, Instant::now());
    while seen.values().map(Vec::len).sum::<usize>() < OBJECTS * VERSIONS as usize {
        let count = seen.values().map(Vec::len).sum::<usize>();
        if count > progress.0 {
            progress = (count, Instant::now());
        }
        assert!(
            progress.1.elapsed() < Duration::from_secs(120),
            "seen {count}, none new for two minutes"
        );
        watches += 1;
        if watches == 3 {
            // The function restarts: a new instance, the same table and stream.
            let fresh = server.sibling().await;
            server = with_watch(fresh, &config, &js);
        }
        let (status, frames) = watch(
            &server,
            &format!("resourceVersion={position}&timeoutSeconds=1&allowWatchBookmarks=true"),
        )
        .await;
        assert_eq!(status, 200, "{frames:?}");
        for (t, object) in frames {
            position = rv(&object).to_string();
            if t == "BOOKMARK" {
                continue;
            }
            let name = object["metadata"]["name"].as_str().unwrap().to_string();
            let version = object["data"]["v"].as_str().unwrap().parse().unwrap();
            seen.entry(name).or_default().push(version);
        }
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(watches >= 3, "the informer watched again {watches} times");
    assert_eq!(seen.len(), OBJECTS);
    for (name, versions) in seen {
        let expected: Vec<u64> = (1..=VERSIONS).collect();
        assert_eq!(
            versions, expected,
            "{name}: every change, in order, none invented"
        );
    }
}
