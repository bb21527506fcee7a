//! How the gc runs a pre-deletion hook's action (#21): the seam between the
//! gc's decisions (gc/predeletion.rs) and the network. [`NetworkActions`]
//! POSTs over HTTP(S) and sends NATS requests; a worker builds it once and
//! keeps its clients across passes.

use std::future::Future;
use std::pin::Pin;

use domain::predeletion::Action;
use serde_json::Value;
use tokio::sync::OnceCell;

/// An action's run: Ok when it succeeded, else why not (shown on the
/// object it holds, so never a secret).
pub type Run<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

pub trait HookActions: Send + Sync {
    /// Runs `action` with `request` (the hook's request for one object).
    fn run<'a>(&'a self, action: &'a Action, request: &'a Value) -> Run<'a>;
}

/// HTTP POSTs with reqwest; NATS requests on a connection made at the first
/// NATS action (`NATS_URL`), kept. Both clients are made when first used,
/// so a pass that runs no hook costs nothing.
pub struct NetworkActions {
    http: std::sync::OnceLock<reqwest::Client>,
    nats_url: Option<String>,
    nats: OnceCell<async_nats::Client>,
}

impl NetworkActions {
    /// NATS actions go to `NATS_URL`; without it they fail, saying so.
    pub fn from_env() -> Self {
        Self {
            http: std::sync::OnceLock::new(),
            nats_url: std::env::var("NATS_URL").ok().filter(|u| !u.is_empty()),
            nats: OnceCell::new(),
        }
    }

    async fn post(
        &self,
        url: &str,
        timeout: std::time::Duration,
        request: &Value,
    ) -> Result<(), String> {
        let response = self
            .http
            .get_or_init(reqwest::Client::new)
            .post(url)
            .timeout(timeout)
            .json(request)
            .send()
            .await
            .map_err(|e| match e.is_timeout() {
                true => format!("POST {url}: no answer within {} s", timeout.as_secs()),
                false => format!("POST {url}: {}", without_url(&e)),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        let body: String = body.chars().take(200).collect();
        Err(format!("POST {url} answered {status}: {body}"))
    }

    async fn request(
        &self,
        subject: &str,
        timeout: std::time::Duration,
        request: &Value,
    ) -> Result<(), String> {
        let client = self.nats().await?;
        let payload = serde_json::to_vec(request).map_err(|e| e.to_string())?;
        let reply =
            tokio::time::timeout(timeout, client.request(subject.to_string(), payload.into()))
                .await
                .map_err(|_| {
                    format!(
                        "NATS request on {subject}: no reply within {} s",
                        timeout.as_secs()
                    )
                })?
                .map_err(|e| format!("NATS request on {subject}: {e}"))?;
        match serde_json::from_slice::<Value>(&reply.payload) {
            Ok(answer) if answer["allowed"] == Value::Bool(false) => Err(format!(
                "NATS request on {subject} was refused: {}",
                answer["reason"].as_str().unwrap_or("no reason given")
            )),
            _ => Ok(()),
        }
    }

    async fn nats(&self) -> Result<&async_nats::Client, String> {
        let Some(url) = &self.nats_url else {
            return Err("this gc has no NATS_URL, so it cannot send NATS requests".into());
        };
        self.nats
            .get_or_try_init(|| async {
                async_nats::connect(url)
                    .await
                    .map_err(|e| format!("connecting to NATS: {e}"))
            })
            .await
    }
}

impl HookActions for NetworkActions {
    fn run<'a>(&'a self, action: &'a Action, request: &'a Value) -> Run<'a> {
        Box::pin(async move {
            match action {
                Action::Http { url, timeout } => self.post(url, *timeout, request).await,
                Action::Nats { subject, timeout } => self.request(subject, *timeout, request).await,
            }
        })
    }
}

/// A reqwest error's words without its URL, which the caller names once.
fn without_url(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = e.to_string();
    while let Some(cause) = source {
        last = cause.to_string();
        source = cause.source();
    }
    last
}
