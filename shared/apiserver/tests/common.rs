#![allow(dead_code)] // each test binary uses a different part of this module
//! Shared set-up of the pipeline tests: an ApiServer over a fresh table in
//! DynamoDB Local, and a small request helper.

use apiserver::ApiServer;
use serde_json::Value;

pub const ISSUER: &str = "pipeline-test";
pub const AUDIENCE: &str = "milo";
pub const SECRET: &str = "pipeline-test-secret-with-at-least-32-bytes";
pub const G: &str = "/apis/resourcemanager.miloapis.com/v1alpha1";

pub struct Api {
    pub server: ApiServer,
    pub token: String,
    pub table: String,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: http::HeaderMap,
}

pub async fn api() -> Api {
    assert!(
        std::env::var("DYNAMODB_ENDPOINT").is_ok(),
        "DYNAMODB_ENDPOINT is not set: run the tests with `make test`, which starts DynamoDB Local"
    );
    let client = store::Store::client_from_env().await;
    let table = format!("api-test-{}", uuid::Uuid::new_v4().simple());
    store::table::create_table(&client, &table)
        .await
        .expect("create table");
    server_over(client, table).await
}

async fn server_over(client: aws_sdk_dynamodb::Client, table: String) -> Api {
    let verifier =
        auth::Verifier::new(auth::AuthConfig::hs256(ISSUER, AUDIENCE, SECRET)).expect("verifier");
    let token = auth::mint_hs256(
        SECRET,
        ISSUER,
        AUDIENCE,
        "tester",
        &["system:masters".to_string()],
        3600,
    )
    .expect("token");
    Api {
        table: table.clone(),
        server: ApiServer::new(
            store::Store::new(client, table),
            verifier,
            b"continue-secret",
            apiserver::DEFAULT_CATALOG_REFRESH,
        )
        .expect("server"),
        token,
    }
}

/// A token for `user` in `groups` (no administrator unless a group says so).
pub fn token_for(user: &str, groups: &[&str]) -> String {
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    auth::mint_hs256(SECRET, ISSUER, AUDIENCE, user, &groups, 3600).expect("token")
}

impl Api {
    /// Another server instance over the same table (another Lambda instance).
    pub async fn sibling(&self) -> Api {
        server_over(store::Store::client_from_env().await, self.table.clone()).await
    }

    pub async fn raw(
        &self,
        method: &str,
        uri: &str,
        content_type: &str,
        body: Vec<u8>,
        token: Option<&str>,
    ) -> Reply {
        let mut req = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", content_type);
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        // Boxed: the pipeline's future is large in debug builds, and a test
        // that awaits many requests inline would otherwise hold them all in
        // its own future and overflow the test thread's stack.
        let resp = Box::pin(
            self.server
                .handle(req.body(bytes::Bytes::from(body)).unwrap()),
        )
        .await;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers,
        }
    }

    /// A POST to the admission function's API (`handle_admission`).
    pub async fn admission(&self, uri: &str, body: &Value, token: Option<&str>) -> Reply {
        let mut req = http::Request::builder()
            .method("POST")
            .uri(uri)
            .header("content-type", "application/json");
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let request = req
            .body(bytes::Bytes::from(serde_json::to_vec(body).unwrap()))
            .unwrap();
        let resp = Box::pin(self.server.handle_admission(request)).await;
        Reply {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: serde_json::from_slice(resp.body()).unwrap_or(Value::Null),
        }
    }

    pub async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> Reply {
        let content_type = if method == "PATCH" {
            "application/merge-patch+json"
        } else {
            "application/json"
        };
        let bytes = body
            .map(|b| serde_json::to_vec(&b).unwrap())
            .unwrap_or_default();
        self.raw(method, uri, content_type, bytes, Some(&self.token))
            .await
    }

    /// A request as another principal (a token from [`token_for`]).
    pub async fn call_as(
        &self,
        token: &str,
        method: &str,
        uri: &str,
        body: Option<Value>,
    ) -> Reply {
        let content_type = if method == "PATCH" {
            "application/merge-patch+json"
        } else {
            "application/json"
        };
        let bytes = body
            .map(|b| serde_json::to_vec(&b).unwrap())
            .unwrap_or_default();
        self.raw(method, uri, content_type, bytes, Some(token))
            .await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.call("GET", uri, None).await
    }

    pub async fn post(&self, uri: &str, body: Value) -> Reply {
        self.call("POST", uri, Some(body)).await
    }

    pub async fn org(&self, name: &str) -> Reply {
        let r = self
            .post(&format!("{G}/organizations"), organization(name))
            .await;
        assert_eq!(r.status, 201, "create organization {name}: {}", r.body);
        r
    }

    pub async fn folder(&self, name: &str, parent_kind: &str, parent: &str) -> Reply {
        self.post(&format!("{G}/folders"), folder(name, parent_kind, parent))
            .await
    }

    pub async fn project(&self, name: &str, owner_kind: &str, owner: &str) -> Reply {
        self.post(&format!("{G}/projects"), project(name, owner_kind, owner))
            .await
    }
}

pub fn organization(name: &str) -> Value {
    serde_json::json!({
        "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
        "kind": "Organization",
        "metadata": {"name": name},
        "spec": {"type": "Standard"}
    })
}

pub fn folder(name: &str, parent_kind: &str, parent: &str) -> Value {
    serde_json::json!({
        "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
        "kind": "Folder",
        "metadata": {"name": name},
        "spec": {"parentRef": {"kind": parent_kind, "name": parent}}
    })
}

pub fn project(name: &str, owner_kind: &str, owner: &str) -> Value {
    serde_json::json!({
        "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name},
        "spec": {"ownerRef": {"kind": owner_kind, "name": owner}}
    })
}

pub fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

pub fn causes(status: &Value) -> Vec<String> {
    status["details"]["causes"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| c["field"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Every item of the table (a consistent scan).
pub async fn scan_items(
    api: &Api,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let client = store::Store::client_from_env().await;
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(&api.table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        items.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

/// Every key of an item of the table that stays: what a test that deletes
/// checks is left. An item with a time to live (the table's `ttl`: an
/// Event, the note of who deleted an object) goes by itself.
pub async fn scan_keys(api: &Api) -> std::collections::BTreeSet<(String, String)> {
    let text =
        |item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
         name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
    scan_items(api)
        .await
        .iter()
        .filter(|item| !item.contains_key("ttl"))
        .map(|item| (text(item, "pk"), text(item, "sk")))
        .collect()
}
