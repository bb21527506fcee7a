//! A local Lambda emulator for the workspace's functions: function URLs in
//! front (HTTP, and HTTPS for kubectl), the Lambda Runtime API behind, and
//! the functions' own binaries as Lambda instances polling it. It stands in
//! for `cargo lambda watch`, whose Runtime API loses responses under
//! concurrent load (docs/local-stack.md).
//!
//!     lambda-local --function resources [--function admission]...
//!         --http ADDR [--https ADDR --tls-cert PEM --tls-key PEM]
//!         [--env-file FILE] [--concurrency N] [--release] [--target-dir DIR]
//!         [--watch DIR] [--timeout-seconds N] [--memory-mb N]
//!
//! The first function is the root one: every path that does not start with
//! `/lambda-url/{function}/` is its own, so a kubeconfig's server can be the
//! root of the port. With `--watch DIR`, files changing under DIR rebuild the
//! functions (`cargo build --bin ...`) and restart their instances.

mod function_url;
mod rebuild;
mod runtime_api;

use lambda_local::listener;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use runtime_api::{Function, Launch, Outcome};

/// A function URL's limit on a request's payload.
const MAX_REQUEST_BYTES: usize = 6 * 1024 * 1024;
/// A streamed answer's prelude is a small JSON object (status, headers).
const MAX_PRELUDE_BYTES: usize = 64 * 1024;

struct Flags(Vec<String>);

impl Flags {
    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .windows(2)
            .filter(|w| w[0] == name)
            .map(|w| w[1].as_str())
            .collect()
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.all(name).first().copied()
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }

    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .ok()
                .with_context(|| format!("{name} takes a number, not {v:?}")),
        }
    }
}

/// The front: which function a request is for, its event, its answer.
struct Front {
    functions: HashMap<String, Arc<Function>>,
    root: String,
}

#[tokio::main]
async fn main() -> Result<()> {
    let flags = Flags(std::env::args().skip(1).collect());
    let names = flags.all("--function");
    let Some(root) = names.first() else {
        bail!("usage: lambda-local --function NAME... --http ADDR [--https ADDR --tls-cert F --tls-key F] (see the top of tools/lambda-local/src/main.rs)")
    };
    let release = flags.has("--release");
    let target_dir = flags
        .get("--target-dir")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("target"));
    let launch = Launch {
        binary_dir: target_dir.join(if release { "release" } else { "debug" }),
        env: match flags.get("--env-file") {
            Some(file) => read_env_file(file)?,
            None => Vec::new(),
        },
        memory_mb: flags.number("--memory-mb", 512)?,
        timeout: Duration::from_secs(flags.number("--timeout-seconds", 29)?),
    };
    let concurrency = flags.number("--concurrency", 4)?;
    let functions: HashMap<String, Arc<Function>> = names
        .iter()
        .map(|name| {
            (
                name.to_string(),
                Function::new(name, concurrency, launch.clone()),
            )
        })
        .collect();

    runtime_api::serve(functions.clone()).await?;

    let front = Arc::new(Front {
        functions: functions.clone(),
        root: root.to_string(),
    });
    let http_addr: SocketAddr = flags
        .get("--http")
        .context("--http ADDR is required")?
        .parse()
        .context("--http takes an address such as 127.0.0.1:9001")?;
    let http_listener = TcpListener::bind(http_addr)
        .await
        .with_context(|| format!("binding {http_addr}"))?;
    let plain_front = front.clone();
    tokio::spawn(listener::serve_http(
        http_listener,
        None,
        move |request, peer| {
            let front = plain_front.clone();
            async move { front.serve(request, peer).await }
        },
    ));
    eprintln!("lambda-local: serving {} on http://{http_addr} (root: {root}; others at /lambda-url/{{function}}/)", names.join(", "));

    if let Some(https) = flags.get("--https") {
        let https_addr: SocketAddr = https
            .parse()
            .context("--https takes an address such as 127.0.0.1:9000")?;
        let tls = listener::tls_acceptor(
            flags
                .get("--tls-cert")
                .context("--https needs --tls-cert")?,
            flags.get("--tls-key").context("--https needs --tls-key")?,
        )?;
        let https_listener = TcpListener::bind(https_addr)
            .await
            .with_context(|| format!("binding {https_addr}"))?;
        let tls_front = front.clone();
        tokio::spawn(listener::serve_http(
            https_listener,
            Some(tls),
            move |request, peer| {
                let front = tls_front.clone();
                async move { front.serve(request, peer).await }
            },
        ));
        eprintln!("lambda-local: and on https://{https_addr}");
    }

    if let Some(root_dir) = flags.get("--watch") {
        let mut build = vec!["cargo".to_owned(), "build".to_owned()];
        if release {
            build.push("--release".into());
        }
        for name in &names {
            build.extend(["--bin".to_owned(), name.to_string()]);
        }
        tokio::spawn(rebuild::watch(
            PathBuf::from(root_dir),
            build,
            functions.values().cloned().collect(),
        ));
        eprintln!("lambda-local: rebuilding on changes under {root_dir}");
    }

    shutdown_signal().await;
    eprintln!("lambda-local: stopping");
    for function in functions.values() {
        function.stop_all();
    }
    for _ in 0..50 {
        if functions.values().all(|f| f.instance_count() == 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

impl Front {
    async fn serve(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<ResponseBody> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut response = self.invoke(request, peer, &request_id).await;
        if let Ok(value) = http::HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-amzn-requestid", value);
        }
        response
    }

    async fn invoke(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
        request_id: &str,
    ) -> Response<ResponseBody> {
        let (parts, body) = request.into_parts();
        let (name, raw_path) = function_url::route(parts.uri.path(), &self.root);
        let Some(function) = self.functions.get(name) else {
            let mut served: Vec<&String> = self.functions.keys().collect();
            served.sort();
            return message(
                StatusCode::NOT_FOUND,
                &format!("no function {name:?} here; served: {served:?}"),
            );
        };
        let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
            Ok(body) => body.to_bytes(),
            Err(err) => {
                return message(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("the request could not be read whole (function URLs take at most {MAX_REQUEST_BYTES} bytes): {err}"),
                )
            }
        };
        let origin = function_url::Origin {
            request_id,
            function: name,
            source_ip: peer.ip().to_string(),
            now: chrono::Utc::now(),
        };
        let event = function_url::event(&parts, &raw_path, &body, &origin);
        let outcome = function
            .invoke(request_id, Bytes::from(event.to_string()))
            .await;
        let failure = match outcome {
            Outcome::Response(answer) => match function_url::response(&answer) {
                Ok(response) => return response.map(whole),
                Err(err) => err.to_string(),
            },
            Outcome::Streamed(chunks) => match streamed(chunks).await {
                Ok(response) => return response,
                Err(err) => err,
            },
            Outcome::Error(error) => format!(
                "the function reported an error: {}",
                String::from_utf8_lossy(&error)
            ),
            Outcome::Lost(why) => why,
        };
        // As a function URL: 502 when the function did not answer properly.
        eprintln!("lambda-local: {name}: request {request_id}: {failure}");
        message(StatusCode::BAD_GATEWAY, "Internal Server Error")
    }
}

/// A body sent whole, or as it comes (a streamed answer).
type ResponseBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

fn whole(body: Bytes) -> ResponseBody {
    Full::new(body).boxed()
}

/// A streamed answer (Lambda response streaming) as the function URL
/// sends it: its prelude's status and headers, then its body as it comes.
async fn streamed(mut chunks: mpsc::Receiver<Bytes>) -> Result<Response<ResponseBody>, String> {
    let mut arrived = Vec::new();
    let (head, rest) = loop {
        let Some(chunk) = chunks.recv().await else {
            return Err("the streamed answer ended before its prelude".into());
        };
        arrived.extend_from_slice(&chunk);
        if let Some((prelude, rest)) = function_url::split_prelude(&arrived) {
            let head = function_url::streamed_head(prelude).map_err(|e| e.to_string())?;
            break (head, Bytes::copy_from_slice(rest));
        }
        if arrived.len() > MAX_PRELUDE_BYTES {
            return Err("the streamed answer's prelude never ended".into());
        }
    };
    let more = futures_util::stream::unfold(chunks, |mut chunks| async move {
        chunks.recv().await.map(|chunk| (chunk, chunks))
    });
    let body = futures_util::stream::once(std::future::ready(rest))
        .chain(more)
        .map(|chunk| Ok(Frame::data(chunk)));
    Ok(head.map(|()| BodyExt::boxed(StreamBody::new(body))))
}

/// An answer of the emulator's own, in the shape function URLs use.
fn message(status: StatusCode, text: &str) -> Response<ResponseBody> {
    function_url::json_response(
        status,
        Bytes::from(serde_json::json!({ "Message": text }).to_string()),
    )
    .map(whole)
}

/// `KEY=VALUE` lines; blank lines and `#` comments skipped.
fn read_env_file(path: &str) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            line.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .with_context(|| format!("{path}: not KEY=VALUE: {line:?}"))
        })
        .collect()
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
