//! A burst of project creates against a quota, for the crash test
//! (tests/quota_crash.rs): sets up (idempotently) a registration, a claim
//! policy, organization `BURST_ORG` and a grant of 50, then creates
//! `{org}-0` .. `{org}-63` concurrently through `ApiServer::handle`,
//! printing each answer's code. The test SIGKILLs it mid-burst and runs it
//! again. Environment: `DYNAMODB_ENDPOINT`, `E2E_TABLE`, `BURST_ORG`.

use apiserver::ApiServer;
use e2e::quota_docs;
use serde_json::{json, Value};

const G: &str = "/apis/resourcemanager.miloapis.com/v1alpha1";
const Q: &str = "/apis/quota.miloapis.com/v1alpha1";
const TYPE: &str = "burst.quota.miloapis.com/projects";
const SECRET: &str = "burst-secret-with-at-least-32-bytes-of-key";

struct Api {
    server: ApiServer,
    bearer: String,
}

impl Api {
    async fn post(&self, uri: &str, body: &Value) -> u16 {
        let request = http::Request::builder()
            .method("POST")
            .uri(uri)
            .header("content-type", "application/json")
            .header("authorization", &self.bearer)
            .body(bytes::Bytes::from(
                serde_json::to_vec(body).unwrap_or_default(),
            ))
            .expect("request");
        self.server.handle(request).await.status().as_u16()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let table = std::env::var("E2E_TABLE")?;
    let org = std::env::var("BURST_ORG")?;
    let verifier = auth::Verifier::new(auth::AuthConfig::hs256("burst", "milo", SECRET))?;
    let token = auth::mint_hs256(
        SECRET,
        "burst",
        "milo",
        "burst",
        &["system:masters".to_string()],
        3600,
    )?;
    let api = Api {
        server: ApiServer::new(
            store::Store::new(store::Store::client_from_env().await, table),
            verifier,
            b"continue-secret",
            apiserver::DEFAULT_CATALOG_REFRESH,
        )
        .map_err(anyhow::Error::msg)?,
        bearer: format!("Bearer {token}"),
    };
    let setup = [
        (
            format!("{Q}/resourceregistrations"),
            quota_docs::project_registration("burst-projects", TYPE),
        ),
        (
            format!("{Q}/claimcreationpolicies"),
            quota_docs::project_claim_policy("burst-projects", TYPE, &org),
        ),
        (
            format!("{G}/organizations"),
            json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Organization",
                   "metadata": {"name": org}, "spec": {"type": "Standard"}}),
        ),
        (
            format!("{Q}/namespaces/organization-{org}/resourcegrants"),
            quota_docs::organization_grant("burst", &org, TYPE, 50),
        ),
    ];
    for (uri, body) in &setup {
        let code = api.post(uri, body).await;
        anyhow::ensure!(code == 201 || code == 409, "setup {uri}: {code}");
    }
    println!("ready");
    let creates = (0..64).map(|i| {
        let api = &api;
        let org = org.clone();
        async move {
            let body = json!({
                "apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project",
                "metadata": {"name": format!("{org}-{i}")},
                "spec": {"ownerRef": {"kind": "Organization", "name": org}}
            });
            let code = api.post(&format!("{G}/projects"), &body).await;
            println!("created {i} {code}");
        }
    });
    futures_util::future::join_all(creates).await;
    Ok(())
}
