//! The API pipeline in-process, as the benchmarks drive it: an `ApiServer`
//! over a table, a bearer token, and requests that must answer a given code.

use anyhow::bail;
use apiserver::ApiServer;
use aws_sdk_dynamodb::Client;
use serde_json::Value;

const ISSUER: &str = "bench";
const AUDIENCE: &str = "milo";
const SECRET: &str = "bench-secret-with-at-least-32-bytes-of-key";

pub struct InProcess {
    server: ApiServer,
    bearer: String,
}

/// Whether the server decides who may do what (the deployed server always
/// does; the authorization benchmark's baseline does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization {
    On,
    Off,
}

impl InProcess {
    /// An authorizing server; the requests are a platform administrator's
    /// (`system:masters`).
    pub fn new(client: Client, table: &str) -> anyhow::Result<Self> {
        Self::as_principal(
            client,
            table,
            "bench",
            &["system:masters"],
            Authorization::On,
        )
    }

    /// A server whose requests are `subject`'s, a member of `groups`.
    pub fn as_principal(
        client: Client,
        table: &str,
        subject: &str,
        groups: &[&str],
        authorization: Authorization,
    ) -> anyhow::Result<Self> {
        let verifier = auth::Verifier::new(auth::AuthConfig::hs256(ISSUER, AUDIENCE, SECRET))?;
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        let token = auth::mint_hs256(SECRET, ISSUER, AUDIENCE, subject, &groups, 24 * 3600)?;
        let server = ApiServer::new(
            store::Store::new(client, table),
            verifier,
            b"continue-secret",
            apiserver::DEFAULT_CATALOG_REFRESH,
        )
        .map_err(anyhow::Error::msg)?;
        let server = match authorization {
            Authorization::On => server,
            Authorization::Off => server.without_authorization(),
        };
        Ok(Self {
            server,
            bearer: format!("Bearer {token}"),
        })
    }

    /// The server itself, for what is not a request (the gc's pass).
    pub fn server(&self) -> &ApiServer {
        &self.server
    }

    /// Sends a request (a null body sends none; PATCH is a merge patch) and
    /// fails unless the answer is `expect`; returns the body.
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        body: &Value,
        expect: u16,
    ) -> anyhow::Result<Vec<u8>> {
        let response = self.server.handle(self.request(method, uri, body)?).await;
        if response.status().as_u16() != expect {
            bail!(
                "{method} {uri}: expected {expect}, got {}: {}",
                response.status(),
                String::from_utf8_lossy(response.body())
            );
        }
        Ok(response.into_body())
    }

    /// Sends a request; returns the status and the body.
    pub async fn send(
        &self,
        method: &str,
        uri: &str,
        body: &Value,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let response = self.server.handle(self.request(method, uri, body)?).await;
        Ok((response.status().as_u16(), response.into_body()))
    }

    /// A server-side apply of `body` (`uri` names the object and the
    /// fieldManager); fails unless the answer is `expect`.
    pub async fn apply(&self, uri: &str, body: &Value, expect: u16) -> anyhow::Result<Vec<u8>> {
        let mut request = self.request("PATCH", uri, body)?;
        request.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/apply-patch+yaml"),
        );
        let response = self.server.handle(request).await;
        if response.status().as_u16() != expect {
            bail!(
                "apply {uri}: expected {expect}, got {}: {}",
                response.status(),
                String::from_utf8_lossy(response.body())
            );
        }
        Ok(response.into_body())
    }

    fn request(
        &self,
        method: &str,
        uri: &str,
        body: &Value,
    ) -> anyhow::Result<http::Request<bytes::Bytes>> {
        let content_type = match method {
            "PATCH" => "application/merge-patch+json",
            _ => "application/json",
        };
        let body = match body {
            Value::Null => Vec::new(),
            b => serde_json::to_vec(b)?,
        };
        Ok(http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", content_type)
            .header("authorization", &self.bearer)
            .body(bytes::Bytes::from(body))?)
    }
}
