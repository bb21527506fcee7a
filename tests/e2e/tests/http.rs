//! The resources function as a client meets it: over HTTP, through
//! the local Lambda emulator (tools/lambda-local), against DynamoDB Local.

use e2e::{unique, Stack};
use serde_json::{json, Value};

const G: &str = "/apis/resourcemanager.miloapis.com/v1alpha1";

struct Client {
    stack: Stack,
    http: reqwest::Client,
}

impl Client {
    fn new() -> Self {
        Self {
            stack: Stack::from_env(),
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.stack.base_url));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some((content_type, bytes)) = body {
            req = req.header("content-type", content_type).body(bytes);
        }
        let resp = req.send().await.expect("the stack answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn json(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let content_type = if method == reqwest::Method::PATCH {
            "application/merge-patch+json"
        } else {
            "application/json"
        };
        self.send(
            method,
            path,
            Some((content_type, serde_json::to_vec(&body).unwrap())),
            Some(&self.stack.token),
        )
        .await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None, Some(&self.stack.token))
            .await
    }
}

fn org(name: &str) -> Value {
    json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Organization", "metadata": {"name": name}, "spec": {"type": "Standard"}})
}

#[tokio::test]
async fn crud_over_http() {
    let c = Client::new();
    let name = unique("http");
    let (status, created) = c
        .json(
            reqwest::Method::POST,
            &format!("{G}/organizations"),
            org(&name),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let project = json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project",
        "metadata": {"name": format!("{name}-p"), "labels": {"run": name}},
        "spec": {"ownerRef": {"kind": "Organization", "name": name}}});
    let (status, body) = c
        .json(reqwest::Method::POST, &format!("{G}/projects"), project)
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, got) = c.get(&format!("{G}/organizations/{name}")).await;
    assert_eq!(
        (status, got["metadata"]["uid"].clone()),
        (200, created["metadata"]["uid"].clone())
    );
    let (status, list) = c
        .get(&format!("{G}/projects?labelSelector=run%3D{name}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (status, patched) = c
        .json(
            reqwest::Method::PATCH,
            &format!("{G}/projects/{name}-p"),
            json!({"metadata": {"labels": {"stage": "two"}}}),
        )
        .await;
    assert_eq!(
        (status, patched["metadata"]["resourceVersion"].as_str()),
        (200, Some("2"))
    );
    let (status, terminating) = c
        .send(
            reqwest::Method::DELETE,
            &format!("{G}/organizations/{name}"),
            None,
            Some(&c.stack.token),
        )
        .await;
    // It holds a project: Terminating while the stack's gc worker deletes
    // the project, then gone.
    assert_eq!(status, 200, "{terminating}");
    assert!(
        terminating["metadata"]["deletionTimestamp"].is_string(),
        "{terminating}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while c.get(&format!("{G}/organizations/{name}")).await.0 != 404 {
        assert!(std::time::Instant::now() < deadline, "not gone in 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (status, _) = c.get(&format!("{G}/projects/{name}-p")).await;
    assert_eq!(status, 404, "the project went with it");
    let (status, missing) = c.get(&format!("{G}/organizations/{name}")).await;
    assert_eq!(
        (status, missing["reason"].as_str()),
        (404, Some("NotFound"))
    );
}

#[tokio::test]
async fn requests_without_a_valid_token_are_401() {
    let c = Client::new();
    let (status, body) = c.send(reqwest::Method::GET, "/apis", None, None).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (401, Some("Unauthorized"))
    );
    let (status, _) = c
        .send(reqwest::Method::GET, "/apis", None, Some("garbage"))
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn bad_input_over_http_is_a_status() {
    let c = Client::new();
    let (status, body) = c
        .send(
            reqwest::Method::POST,
            &format!("{G}/organizations"),
            Some(("application/json", b"{not json".to_vec())),
            Some(&c.stack.token),
        )
        .await;
    assert_eq!((status, body["kind"].as_str()), (400, Some("Status")));
    let big = json!({"metadata": {"name": "big", "annotations": {"a": "x".repeat(500 * 1024)}}});
    let (status, body) = c
        .json(reqwest::Method::POST, &format!("{G}/organizations"), big)
        .await;
    assert_eq!(status, 413, "{body}");
    let (status, _) = c
        .get(&format!("{G}/projects?labelSelector=a%20in%20("))
        .await;
    assert_eq!(status, 400);
    let (status, _) = c
        .get(&format!("{G}/projects?limit=1&continue=forged.token"))
        .await;
    assert_eq!(status, 400);
}
