//! The gc function killed (SIGKILL) in the middle of a cascade and started
//! again completes it, and leaves nothing behind (#21, item 6). The
//! function's own binary runs as `make dev` runs it (`gc --watch`), over
//! a fresh table in DynamoDB Local; the objects are written through an
//! API server in this process.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use apiserver::ApiServer;
use serde_json::{json, Value};

const ISSUER: &str = "gc-test";
const AUDIENCE: &str = "milo";
const SECRET: &str = "gc-test-secret-with-at-least-32-bytes-long";
const G: &str = "/apis/resourcemanager.miloapis.com/v1alpha1";
const PROJECTS: usize = 6;
const PER_PROJECT: usize = 40;

struct Api {
    server: ApiServer,
    token: String,
}

impl Api {
    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", self.token))
            .body(bytes::Bytes::from(body))
            .unwrap();
        let response = Box::pin(self.server.handle(request)).await;
        let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        (response.status().as_u16(), body)
    }
}

/// A running gc worker, killed (SIGKILL) and reaped when dropped, so a
/// failing assertion leaves no process behind.
struct Worker(Child);

impl Worker {
    fn kill(mut self) {
        self.0.kill().expect("SIGKILL");
        self.0.wait().expect("reaped");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn gc(table: &str) -> Worker {
    let child = Command::new(env!("CARGO_BIN_EXE_gc"))
        .arg("--watch")
        .env("TABLE_NAME", table)
        .env("AUTH_ISSUER", ISSUER)
        .env("AUTH_AUDIENCE", AUDIENCE)
        .env("AUTH_HS256_SECRET", SECRET)
        .env("CONTINUE_SECRET", "continue-secret")
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("the gc binary starts");
    Worker(child)
}

async fn configmaps_left(store: &store::Store) -> u64 {
    store.count_of_type("", "ConfigMap").await.expect("count")
}

#[tokio::test]
async fn killed_mid_cascade_and_started_again_the_gc_completes_it() {
    assert!(
        std::env::var("DYNAMODB_ENDPOINT").is_ok(),
        "DYNAMODB_ENDPOINT is not set: run the tests with `make test`, which starts DynamoDB Local"
    );
    let client = store::Store::client_from_env().await;
    let table = format!("gc-test-{}", uuid::Uuid::new_v4().simple());
    store::table::create_table(&client, &table)
        .await
        .expect("table");
    let store = store::Store::new(client.clone(), table.clone());
    let verifier = auth::Verifier::new(auth::AuthConfig::hs256(ISSUER, AUDIENCE, SECRET)).unwrap();
    let token = auth::mint_hs256(
        SECRET,
        ISSUER,
        AUDIENCE,
        "tester",
        &["system:masters".into()],
        3600,
    )
    .unwrap();
    let server = ApiServer::new(
        store::Store::new(client, table.clone()),
        verifier,
        b"continue-secret",
        apiserver::DEFAULT_CATALOG_REFRESH,
    )
    .unwrap();
    let api = Api { server, token };

    let org = json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Organization",
                     "metadata": {"name": "acme"}, "spec": {"type": "Standard"}});
    assert_eq!(
        api.call("POST", &format!("{G}/organizations"), Some(org))
            .await
            .0,
        201
    );
    for p in 0..PROJECTS {
        let project = json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project",
            "metadata": {"name": format!("p{p}")},
            "spec": {"ownerRef": {"kind": "Organization", "name": "acme"}}});
        let (status, body) = api
            .call("POST", &format!("{G}/projects"), Some(project))
            .await;
        assert_eq!(status, 201, "{body}");
        let list = format!("{G}/projects/p{p}/control-plane/api/v1/namespaces/default/configmaps");
        for i in 0..PER_PROJECT {
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": format!("c{i}")}, "data": {"i": i.to_string()}});
            assert_eq!(api.call("POST", &list, Some(cm)).await.0, 201);
        }
    }
    let total = (PROJECTS * PER_PROJECT) as u64;
    assert_eq!(configmaps_left(&store).await, total);
    let (status, body) = api
        .call("DELETE", &format!("{G}/organizations/acme"), None)
        .await;
    assert_eq!(status, 200, "{body}");

    // Killed once it has deleted some, before it has deleted all.
    let first = gc(&table);
    let deadline = Instant::now() + Duration::from_secs(120);
    while configmaps_left(&store).await == total {
        assert!(Instant::now() < deadline, "the gc deleted nothing in 120 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill();
    let left_at_kill = configmaps_left(&store).await;
    assert!(
        left_at_kill > 0,
        "the cascade must be cut short to test anything"
    );
    let (status, _) = api
        .call("GET", &format!("{G}/organizations/acme"), None)
        .await;
    assert_eq!(status, 200, "the organization waits, Terminating");

    let second = gc(&table);
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (status, _) = api
            .call("GET", &format!("{G}/organizations/acme"), None)
            .await;
        if status == 404 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted gc did not finish in 300 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    second.kill();
    assert_eq!(configmaps_left(&store).await, 0);
    for p in 0..PROJECTS {
        let (status, _) = api.call("GET", &format!("{G}/projects/p{p}"), None).await;
        assert_eq!(status, 404, "p{p}");
    }
    let queued = store
        .query_index(store::keys::TERMINATING_PK, "", None, None)
        .await
        .unwrap();
    assert!(queued.items.is_empty(), "left queued: {:?}", queued.items);
}
