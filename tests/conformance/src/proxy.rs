//! The suites' server: their kubeconfigs and scripts speak HTTPS to
//! `https://localhost:30443` with the static bearer tokens of Milo's test
//! environment. This proxy listens there, terminates TLS (a throwaway
//! self-signed certificate: the kubeconfigs skip verification), swaps each
//! static token for a JWT the platform accepts (same subject and groups),
//! and forwards the request unchanged otherwise to the local stack's
//! functions. The platform's authentication is not touched; a token it does
//! not know is forwarded as is and refused there.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

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

/// A self-signed certificate for `localhost`, made with the openssl the
/// stack already needs.
fn certificate(dir: &Path) -> anyhow::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    std::fs::create_dir_all(dir)?;
    let (cert, key) = (dir.join("proxy.pem"), dir.join("proxy.key"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .context("running openssl to make the proxy's certificate")?;
    if !status.success() {
        return Err(anyhow!("openssl could not make the proxy's certificate"));
    }
    let certs = CertificateDer::pem_file_iter(&cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(&key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Starts the proxy on `port` of 127.0.0.1 (and ::1 when the host has it);
/// it serves until the process ends.
pub async fn start(port: u16, upstream: Upstream, state_dir: &Path) -> anyhow::Result<()> {
    let acceptor = TlsAcceptor::from(Arc::new(certificate(state_dir)?));
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
        let (acceptor, http, upstream) = (acceptor.clone(), http.clone(), upstream.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, http, upstream) = (acceptor.clone(), http.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service =
                        service_fn(move |req| forward(req, http.clone(), upstream.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
    }
    Ok(())
}

/// The body `cargo lambda watch` itself answers with when its runtime API
/// lost a function's response: never the platform's (its errors are
/// Status objects). The request is sent once more, as tests/e2e does.
const EMULATOR_LOST_RESPONSE: &str = "https://httpstatuses.com/500";

async fn forward(
    req: Request<Incoming>,
    http: reqwest::Client,
    upstream: Arc<Upstream>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(plain(400, &format!("reading the request: {e}"))),
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = format!("{}{path}", upstream.base_url);
    for attempt in 0..2 {
        let mut out = http.request(parts.method.clone(), &url);
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
        let resp = match out.body(body.clone()).send().await {
            Ok(r) => r,
            Err(e) => return Ok(plain(502, &format!("the stack did not answer: {e}"))),
        };
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap_or_default();
        if attempt == 0
            && status.as_u16() == 500
            && String::from_utf8_lossy(&bytes).contains(EMULATOR_LOST_RESPONSE)
        {
            continue;
        }
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
        return Ok(builder
            .body(Full::new(bytes))
            .unwrap_or_else(|_| plain(502, "bad response headers")));
    }
    Ok(plain(
        502,
        "the local function emulator lost the response twice",
    ))
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
