//! The platform in-process (an `ApiServer` over a fresh table in DynamoDB
//! Local, its gc run as its worker would), for the examples' end-to-end
//! tests: a shipped hook manifest applied, a project deleted, the example
//! called by the gc.

use apiserver::ApiServer;
use serde_json::{json, Value};

const SECRET: &str = "examples-test-secret-with-at-least-32-bytes";
pub const PROJECTS: &str = "/apis/resourcemanager.miloapis.com/v1alpha1/projects";
const HOOKS: &str = "/apis/resourcemanager.miloapis.com/v1alpha1/predeletionhooks";

pub struct Platform {
    server: ApiServer,
    token: String,
}

impl Platform {
    pub async fn start() -> Platform {
        assert!(
            std::env::var("DYNAMODB_ENDPOINT").is_ok(),
            "DYNAMODB_ENDPOINT is not set: run the tests with `make test`, which starts DynamoDB Local"
        );
        let client = store::Store::client_from_env().await;
        let table = format!("examples-{}", uuid::Uuid::new_v4().simple());
        store::table::create_table(&client, &table)
            .await
            .expect("create table");
        let config = auth::AuthConfig::hs256("examples", "milo", SECRET);
        let server = ApiServer::new(
            store::Store::new(client, table),
            auth::Verifier::new(config).expect("verifier"),
            b"continue-secret",
            apiserver::DEFAULT_CATALOG_REFRESH,
        )
        .expect("server");
        let admin = ["system:masters".to_string()];
        let token = auth::mint_hs256(SECRET, "examples", "milo", "admin", &admin, 3600).unwrap();
        Platform { server, token }
    }

    pub async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (u16, Value) {
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let request = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", self.token))
            .body(bytes::Bytes::from(bytes))
            .unwrap();
        let response = Box::pin(self.server.handle(request)).await;
        let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        (response.status().as_u16(), body)
    }

    /// Applies a shipped hook manifest with `edit` made to it (the address
    /// of this test's service).
    pub async fn apply_hook(&self, manifest: &str, edit: impl FnOnce(&mut Value)) {
        let mut hook: Value = serde_yaml::from_str(manifest).expect("the manifest parses");
        edit(&mut hook);
        let (status, body) = self.call("POST", HOOKS, Some(hook)).await;
        assert_eq!(status, 201, "{body}");
    }

    /// Organization `acme` and its project `name` with `labels`.
    pub async fn project(&self, name: &str, labels: Value) -> Value {
        let org = json!({
            "apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Organization",
            "metadata": {"name": "acme"}, "spec": {"type": "Standard"},
        });
        let organizations = "/apis/resourcemanager.miloapis.com/v1alpha1/organizations";
        let (status, _) = self.call("POST", organizations, Some(org)).await;
        assert!(status == 201 || status == 409);
        let project = json!({
            "apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project",
            "metadata": {"name": name, "labels": labels},
            "spec": {"ownerRef": {"kind": "Organization", "name": "acme"}},
        });
        let (status, body) = self.call("POST", PROJECTS, Some(project)).await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Deletes project `name` and runs gc passes until it is gone (at most
    /// `passes`); whether it went.
    pub async fn delete_project(&self, name: &str, passes: usize) -> bool {
        let uri = format!("{PROJECTS}/{name}");
        let (status, body) = self.call("DELETE", &uri, None).await;
        assert_eq!(status, 200, "{body}");
        for _ in 0..passes {
            apiserver::gc::sweep(&self.server).await.expect("a gc pass");
            if self.call("GET", &uri, None).await.0 == 404 {
                return true;
            }
        }
        false
    }
}
