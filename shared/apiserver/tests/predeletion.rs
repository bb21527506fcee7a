//! Pre-deletion hooks (#21) through the API, over DynamoDB Local and a real
//! nats-server: a hook's finalizer on what it matches (new objects at
//! create, existing ones by the gc), its action run by the gc when a
//! deletion starts (an HTTP endpoint on this machine; a NATS responder),
//! a failure shown as a condition and retried after its back-off, and the
//! object gone once the action succeeds.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use apiserver::gc::sweep;
use common::*;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const P1: &str = "/apis/resourcemanager.miloapis.com/v1alpha1/projects/p1/control-plane";
const HOOKS: &str = "/apis/resourcemanager.miloapis.com/v1alpha1/predeletionhooks";
const FINALIZER: &str = "predeletion.resourcemanager.miloapis.com/";

fn configmaps() -> String {
    format!("{P1}/api/v1/namespaces/default/configmaps")
}

fn configmap(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"k": "v"}
    })
}

fn hook(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "PreDeletionHook",
        "metadata": {"name": name}, "spec": spec,
    })
}

async fn project_p1(api: &Api) {
    assert_eq!(api.org("acme").await.status, 201);
    assert_eq!(api.project("p1", "Organization", "acme").await.status, 201);
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect()
}

/// What a kind without a status (a ConfigMap) shows of a hook's failure:
/// the annotation named as the hook's finalizer.
fn failure_annotation(obj: &Value, hook: &str) -> Option<String> {
    obj["metadata"]["annotations"][format!("{FINALIZER}{hook}")]
        .as_str()
        .map(str::to_string)
}

fn hook_condition(obj: &Value) -> Option<Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "PreDeletionHooks")
        .cloned()
}

/// A local HTTP endpoint: it answers every request with the status in
/// `answer` and keeps the JSON bodies it was sent.
#[derive(Clone)]
struct Endpoint {
    url: String,
    answer: Arc<Mutex<u16>>,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Endpoint {
    async fn start(answer: u16) -> Endpoint {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/archive", listener.local_addr().unwrap());
        let endpoint = Endpoint {
            url,
            answer: Arc::new(Mutex::new(answer)),
            bodies: Arc::new(Mutex::new(Vec::new())),
        };
        let serving = endpoint.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serving.clone().answer(socket));
            }
        });
        endpoint
    }

    fn answer_with(&self, status: u16) {
        *self.answer.lock().unwrap() = status;
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }

    /// One HTTP/1.1 request: its head, then as many body bytes as it says.
    async fn answer(self, mut socket: tokio::net::TcpStream) {
        let mut read = Vec::new();
        let mut chunk = [0u8; 4096];
        let (head_end, length) = loop {
            let n = socket.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            read.extend_from_slice(&chunk[..n]);
            if let Some(end) = read.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&read[..end]).to_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                break (end + 4, length);
            }
        };
        while read.len() < head_end + length {
            let n = socket.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            read.extend_from_slice(&chunk[..n]);
        }
        let body =
            serde_json::from_slice(&read[head_end..head_end + length]).unwrap_or(Value::Null);
        self.bodies.lock().unwrap().push(body);
        let status = *self.answer.lock().unwrap();
        let reply =
            format!("HTTP/1.1 {status} X\r\ncontent-length: 7\r\nconnection: close\r\n\r\nanswer!");
        let _ = socket.write_all(reply.as_bytes()).await;
    }
}

/// One gc pass after the hook's back-off (1 s here) is over.
async fn pass_after_back_off(api: &Api) {
    tokio::time::sleep(Duration::from_millis(1100)).await;
    sweep(&api.server).await.expect("a gc pass");
}

#[tokio::test]
async fn a_hook_holds_what_it_matches_and_its_object_goes_once_the_endpoint_recovers() {
    let api = api().await;
    project_p1(&api).await;
    let endpoint = Endpoint::start(503).await;
    let archived = json!({"archive": "true"});
    for (name, labels) in [("old", archived.clone()), ("old-plain", json!({}))] {
        let r = api.post(&configmaps(), configmap(name, labels)).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }

    let spec = json!({
        "resources": [{"group": "", "kind": "ConfigMap"}],
        "selector": {"matchLabels": {"archive": "true"}},
        "action": {"http": {"url": endpoint.url, "timeoutSeconds": 5}},
        "backoff": {"initialSeconds": 1, "maxSeconds": 1},
    });
    let r = api.post(HOOKS, hook("archive", spec)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let held = format!("{FINALIZER}archive");

    // New objects: held at create when they match, not otherwise.
    let r = api.post(&configmaps(), configmap("new", archived)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(finalizers(&r.body), vec![held.clone()]);
    let r = api
        .post(&configmaps(), configmap("new-plain", json!({})))
        .await;
    assert!(finalizers(&r.body).is_empty(), "{}", r.body);

    // Existing objects: held by the gc's next pass, the same way.
    sweep(&api.server).await.expect("a gc pass");
    let get = |name: &str| {
        let uri = format!("{}/{name}", configmaps());
        let api = &api;
        async move { api.get(&uri).await }
    };
    assert_eq!(finalizers(&get("old").await.body), vec![held.clone()]);
    assert!(finalizers(&get("old-plain").await.body).is_empty());
    assert!(endpoint.bodies().is_empty(), "nothing runs before a delete");

    // The delete starts; the endpoint fails: the object waits and says why.
    let r = api
        .call("DELETE", &format!("{}/new", configmaps()), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    sweep(&api.server).await.expect("a gc pass");
    let r = get("new").await;
    assert_eq!(r.status, 200, "held while its hook fails: {}", r.body);
    let message = failure_annotation(&r.body, "archive").expect("the hook's failure shown");
    assert!(
        message.contains("archive") && message.contains("attempt 1") && message.contains("503"),
        "{message}"
    );

    // Still failing: tried again after the back-off, the attempt counted.
    pass_after_back_off(&api).await;
    let r = get("new").await;
    let message = failure_annotation(&r.body, "archive").unwrap();
    assert!(message.contains("attempt 2"), "{message}");
    assert_eq!(endpoint.bodies().len(), 2);

    // It recovers: the next attempt succeeds and the object goes.
    endpoint.answer_with(200);
    pass_after_back_off(&api).await;
    assert_eq!(get("new").await.status, 404, "gone once its hook succeeded");
    let sent = endpoint.bodies();
    assert_eq!(sent.len(), 3, "no attempt after the success");
    let last = &sent[2];
    assert_eq!(last["kind"], "PreDeletionHookRequest");
    assert_eq!(last["hook"], "archive");
    assert_eq!(last["object"]["metadata"]["name"], "new");
    assert_eq!(last["object"]["data"]["k"], "v");
    let left = scan_keys(&api).await;
    assert!(
        !left.iter().any(|(pk, _)| pk.starts_with("gc#attempts#")),
        "the gc forgets its record once the finalizer went: {left:?}"
    );

    // An object it does not hold goes at once.
    let r = api
        .call("DELETE", &format!("{}/old-plain", configmaps()), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(get("old-plain").await.status, 404);
}

/// A NATS responder on `subject` that refuses the first `refusals`
/// requests, then allows; the requests it got.
async fn responder(subject: &str, refusals: usize) -> Arc<Mutex<Vec<Value>>> {
    let url =
        std::env::var("NATS_URL").expect("NATS_URL is not set: run the tests with `make test`");
    let client = async_nats::connect(&url).await.expect("NATS");
    let mut requests = client.subscribe(subject.to_string()).await.unwrap();
    client.flush().await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            let body: Value = serde_json::from_slice(&request.payload).unwrap_or(Value::Null);
            let count = {
                let mut seen = kept.lock().unwrap();
                seen.push(body);
                seen.len()
            };
            let answer = match count <= refusals {
                true => json!({"allowed": false, "reason": "billing is still open"}),
                false => json!({"allowed": true}),
            };
            if let Some(reply) = request.reply {
                let _ = client.publish(reply, answer.to_string().into()).await;
            }
        }
    });
    seen
}

#[tokio::test]
async fn a_nats_hook_holds_a_project_while_its_service_refuses() {
    let api = api().await;
    assert_eq!(api.org("acme").await.status, 201);
    let subject = format!("hooks.test.{}", uuid::Uuid::new_v4().simple());
    let seen = responder(&subject, 1).await;
    let spec = json!({
        "resources": [{"group": "resourcemanager.miloapis.com", "kind": "Project"}],
        "action": {"nats": {"subject": subject, "timeoutSeconds": 5}},
        "backoff": {"initialSeconds": 1, "maxSeconds": 1},
    });
    assert_eq!(api.post(HOOKS, hook("notify", spec)).await.status, 201);
    let r = api.project("billed", "Organization", "acme").await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(finalizers(&r.body), vec![format!("{FINALIZER}notify")]);
    let billed = format!("{G}/projects/billed");

    assert_eq!(api.call("DELETE", &billed, None).await.status, 200);
    sweep(&api.server).await.expect("a gc pass");
    let r = api.get(&billed).await;
    assert_eq!(r.status, 200, "held while its service refuses");
    let condition = hook_condition(&r.body).expect("the hook's condition");
    assert_eq!(condition["status"], "False");
    assert_eq!(condition["reason"], "HookFailed");
    let message = condition["message"].as_str().unwrap();
    assert!(
        message.contains("billing is still open") && message.contains("attempt 1"),
        "{message}"
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..10 {
        sweep(&api.server).await.expect("a gc pass");
        if api.get(&billed).await.status == 404 {
            break;
        }
    }
    assert_eq!(api.get(&billed).await.status, 404, "gone once allowed");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "asked once more, then no more");
    assert_eq!(seen[1]["object"]["kind"], "Project");
    assert_eq!(seen[1]["object"]["metadata"]["name"], "billed");
}

#[tokio::test]
async fn failure_policy_ignore_lets_the_object_go_after_its_attempts() {
    let api = api().await;
    project_p1(&api).await;
    // No service answers on this subject: every attempt fails.
    let subject = format!("hooks.nobody.{}", uuid::Uuid::new_v4().simple());
    let spec = json!({
        "resources": [{"group": "", "kind": "ConfigMap"}],
        "action": {"nats": {"subject": subject, "timeoutSeconds": 1}},
        "failurePolicy": "Ignore", "maxAttempts": 2,
        "backoff": {"initialSeconds": 1, "maxSeconds": 1},
    });
    assert_eq!(api.post(HOOKS, hook("best-effort", spec)).await.status, 201);
    assert_eq!(
        api.post(&configmaps(), configmap("c", json!({})))
            .await
            .status,
        201
    );
    let c = format!("{}/c", configmaps());
    assert_eq!(api.call("DELETE", &c, None).await.status, 200);

    sweep(&api.server).await.expect("a gc pass");
    let r = api.get(&c).await;
    assert_eq!(r.status, 200, "held after one failure of two");
    assert!(
        failure_annotation(&r.body, "best-effort").is_some(),
        "{}",
        r.body
    );
    // Each failure is also an Event on the object, as kubectl describe
    // shows it: the one retried, then the one that let it go.
    let events =
        format!("{P1}/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dc");
    let reasons = |r: &Reply| -> Vec<String> {
        let items = r.body["items"].as_array().cloned().unwrap_or_default();
        items
            .iter()
            .map(|e| e["reason"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(reasons(&api.get(&events).await), ["PreDeletionHookFailed"]);
    pass_after_back_off(&api).await;
    assert_eq!(api.get(&c).await.status, 404, "let go after the second");
    let mut seen = reasons(&api.get(&events).await);
    seen.sort();
    assert_eq!(seen, ["PreDeletionHookFailed", "PreDeletionHookIgnored"]);
}

#[tokio::test]
async fn a_hook_that_cannot_run_is_refused_and_nothing_is_written() {
    let api = api().await;
    let cases = [
        (
            json!({"resources": [{"group": "", "kind": "ConfigMap"}],
                   "action": {"http": {"url": "ftp://archive.example.com/"}}}),
            "spec.action.http.url",
        ),
        (
            json!({"resources": [{"group": "", "kind": "ConfigMap"}],
                   "selector": {"matchExpressions": [{"key": "tier", "operator": "Near", "values": ["a"]}]},
                   "action": {"http": {"url": "https://archive.example.com/"}}}),
            "spec.selector.matchExpressions[0].operator",
        ),
        (
            json!({"resources": [{"group": "example.com", "kind": "Nothing"}],
                   "action": {"nats": {"subject": "hooks.deleting"}}}),
            "spec.resources[0]",
        ),
        (
            json!({"resources": [{"group": "", "kind": "ConfigMap"}],
                   "action": {"nats": {"subject": "hooks.>"}}}),
            "spec.action.nats.subject",
        ),
        (
            json!({"resources": [{"group": "", "kind": "ConfigMap"}],
                   "action": {"nats": {"subject": "a"}, "http": {"url": "https://a.example.com/"}}}),
            "spec.action",
        ),
    ];
    for (spec, field) in cases {
        let r = api.post(HOOKS, hook("bad", spec)).await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(
            causes(&r.body).contains(&field.to_string()),
            "{field}: {}",
            r.body
        );
    }
    let r = api.get(HOOKS).await;
    assert!(names(&r.body).is_empty(), "nothing written: {}", r.body);
    let left = scan_keys(&api).await;
    assert!(
        !left.iter().any(|(pk, _)| pk == "gc#predeletion"),
        "{left:?}"
    );
}

#[tokio::test]
async fn a_hook_holds_what_comes_to_match_it_by_its_change_or_the_objects() {
    let api = api().await;
    project_p1(&api).await;
    let endpoint = Endpoint::start(200).await;
    for tier in ["blue", "green"] {
        let r = api
            .post(&configmaps(), configmap(tier, json!({"tier": tier})))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let spec = json!({
        "resources": [{"group": "", "kind": "ConfigMap"}],
        "selector": {"matchLabels": {"tier": "blue"}},
        "action": {"http": {"url": endpoint.url}},
    });
    assert_eq!(api.post(HOOKS, hook("tiers", spec)).await.status, 201);
    sweep(&api.server).await.expect("a gc pass");
    let held = |name: &str| {
        let uri = format!("{}/{name}", configmaps());
        let api = &api;
        async move { finalizers(&api.get(&uri).await.body) }
    };
    assert_eq!(held("blue").await, vec![format!("{FINALIZER}tiers")]);
    assert!(held("green").await.is_empty());

    let tiers = format!("{HOOKS}/tiers");
    let select_green = json!({"spec": {"selector": {"matchLabels": {"tier": "green"}}}});
    let r = api.call("PATCH", &tiers, Some(select_green)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    sweep(&api.server).await.expect("a gc pass");
    assert_eq!(held("green").await, vec![format!("{FINALIZER}tiers")]);

    // An object that comes to match by an update is held by that update.
    let r = api.post(&configmaps(), configmap("later", json!({}))).await;
    assert!(finalizers(&r.body).is_empty(), "{}", r.body);
    let label = json!({"metadata": {"labels": {"tier": "green"}}});
    let later = format!("{}/later", configmaps());
    let r = api.call("PATCH", &later, Some(label)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(finalizers(&r.body), vec![format!("{FINALIZER}tiers")]);

    // A change that leaves the spec alone queues nothing.
    let relabel = json!({"metadata": {"labels": {"team": "archive"}}});
    assert_eq!(api.call("PATCH", &tiers, Some(relabel)).await.status, 200);
    let left = scan_keys(&api).await;
    assert!(
        !left.iter().any(|(pk, _)| pk == "gc#predeletion"),
        "{left:?}"
    );
}
