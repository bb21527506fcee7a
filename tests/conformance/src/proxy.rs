//! The suites' server: their kubeconfigs and scripts speak HTTPS to
//! `https://localhost:30443` with the static bearer tokens of Milo's test
//! environment. This proxy listens there (the stack's own certificate, made
//! for localhost; the kubeconfigs skip verification anyway), swaps each
//! static token for a JWT the platform accepts (same subject and groups),
//! and forwards the request unchanged otherwise to the local stack's
//! functions. The platform's authentication is not touched; a token it does
//! not know is forwarded as is and refused there.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use lambda_local::listener::{serve_http, tls_acceptor};
use tokio::net::TcpListener;

/// The static tokens of Milo's test environment and who they stand for: the
/// administrator (in `system:masters`, as the suites' comments say) and the
/// unprivileged user the RBAC fixtures bind.
pub const STATIC_TOKENS: &[(&str, &str, &[&str])] = &[
    ("test-admin-token", "test-admin", &["system:masters"]),
    ("test-user-token", "test-user", &[]),
];

/// How to reach and authenticate to the stack.
#[derive(Clone)]
pub struct Upstream {
    /// The functions' plain-HTTP base, e.g. `http://127.0.0.1:19001/lambda-url/resources`.
    pub base_url: String,
    /// Static token → JWT.
    pub tokens: Vec<(String, String)>,
}

impl Upstream {
    /// Mints a JWT per static token with the stack's HS256 secret.
    pub fn from_stack(
        base_url: &str,
        secret: &str,
        issuer: &str,
        audience: &str,
    ) -> anyhow::Result<Self> {
        let mut tokens = Vec::new();
        for (token, subject, groups) in STATIC_TOKENS {
            let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
            let jwt = auth::mint_hs256(secret, issuer, audience, subject, &groups, 24 * 3600)
                .map_err(|e| anyhow!("minting a token for {subject}: {e}"))?;
            tokens.push((token.to_string(), jwt));
        }
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            tokens,
        })
    }

    fn swap(&self, authorization: &str) -> Option<String> {
        let token = authorization.strip_prefix("Bearer ")?.trim();
        self.tokens
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, jwt)| format!("Bearer {jwt}"))
    }
}

/// Starts the proxy on `port` of 127.0.0.1 (and ::1 when the host has it),
/// with the certificate and key the stack serves HTTPS with; it serves until
/// the process ends.
pub async fn start(port: u16, upstream: Upstream, cert: &str, key: &str) -> anyhow::Result<()> {
    let tls = tls_acceptor(cert, key)?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(16)
        .build()?;
    let upstream = Arc::new(upstream);
    let v4: SocketAddr = ([127, 0, 0, 1], port).into();
    let listener = TcpListener::bind(v4)
        .await
        .with_context(|| format!("listening on {v4} (the suites' fixed server address)"))?;
    let mut listeners = vec![listener];
    let v6: SocketAddr = (std::net::Ipv6Addr::LOCALHOST, port).into();
    if let Ok(l) = TcpListener::bind(v6).await {
        listeners.push(l);
    }
    for listener in listeners {
        let (http, upstream) = (http.clone(), upstream.clone());
        tokio::spawn(serve_http(listener, Some(tls.clone()), move |req, _| {
            forward(req, http.clone(), upstream.clone())
        }));
    }
    Ok(())
}

async fn forward(
    req: Request<Incoming>,
    http: reqwest::Client,
    upstream: Arc<Upstream>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return plain(400, &format!("reading the request: {e}")),
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut out = http.request(parts.method.clone(), format!("{}{path}", upstream.base_url));
    for (name, value) in &parts.headers {
        if matches!(
            name.as_str(),
            "host" | "connection" | "content-length" | "transfer-encoding"
        ) {
            continue;
        }
        if name == http::header::AUTHORIZATION {
            if let Some(jwt) = value.to_str().ok().and_then(|v| upstream.swap(v)) {
                out = out.header(name, jwt);
                continue;
            }
        }
        out = out.header(name, value);
    }
    let resp = match out.body(body).send().await {
        Ok(r) => r,
        Err(e) => return plain(502, &format!("the stack did not answer: {e}")),
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap_or_default();
    let mut builder = Response::builder().status(status.as_u16());
    for (name, value) in &headers {
        if matches!(
            name.as_str(),
            "connection" | "content-length" | "transfer-encoding"
        ) {
            continue;
        }
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(bytes))
        .unwrap_or_else(|_| plain(502, "bad response headers"))
}

fn plain(code: u16, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text.to_string())));
    *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_static_tokens_are_swapped() {
        let up = Upstream {
            base_url: "http://x".into(),
            tokens: vec![("test-admin-token".into(), "jwt-a".into())],
        };
        assert_eq!(
            up.swap("Bearer test-admin-token").as_deref(),
            Some("Bearer jwt-a")
        );
        assert_eq!(up.swap("Bearer other"), None);
        assert_eq!(up.swap("Basic test-admin-token"), None);
    }
}
