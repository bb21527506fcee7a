//! archive-hook: an example pre-deletion hook with an HTTP action. It keeps
//! an archive copy of every object the platform is about to delete.
//!
//! The platform POSTs a `PreDeletionHookRequest` (any path; the examples use
//! `/archive`); the object is written, pretty-printed, to
//! `{ARCHIVE_DIR}/{uid}.json` and the answer is 200 `{"archived": "<path>"}`.
//! A body that is not such a request is a 400, another method a 405, a
//! failed write a 500 (the platform retries until a 2xx).
//!
//! Environment:
//! - `ARCHIVE_LISTEN`: address to listen on, default `127.0.0.1:8480`
//! - `ARCHIVE_DIR`: where the copies go (required; created if missing)
//! - `RUST_LOG`: log filter for stderr, default `info`

use std::convert::Infallible;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use predeletion_examples::{init_logs, say, HookRequest};
use serde_json::json;
use tokio::net::TcpListener;

/// Objects are at most a few MB as stored; anything larger is not a request.
const MAX_BODY: usize = 16 << 20;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    init_logs();
    let listen = std::env::var("ARCHIVE_LISTEN").unwrap_or_else(|_| "127.0.0.1:8480".into());
    let dir = std::env::var("ARCHIVE_DIR").map_err(|_| "ARCHIVE_DIR must be set")?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {dir}: {e}"))?;
    let dir = Arc::new(PathBuf::from(dir));

    let listener = TcpListener::bind(&listen).await?;
    // The bound address, not ARCHIVE_LISTEN: with port 0 it says which port.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    stdout.flush()?;
    drop(stdout);

    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                continue;
            }
        };
        let dir = dir.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(request, dir.clone()));
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("connection from {peer}: {e}");
            }
        });
    }
}

async fn handle(
    request: Request<Incoming>,
    dir: Arc<PathBuf>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() != Method::POST {
        let mut response = answer(StatusCode::METHOD_NOT_ALLOWED, json!({"error": "use POST"}));
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return Ok(response);
    }
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => return Ok(bad_request(format!("cannot read the body: {e}"))),
    };
    let hook_request = match HookRequest::parse(&body) {
        Ok(hook_request) => hook_request,
        Err(message) => return Ok(bad_request(message)),
    };
    let path = dir.join(format!("{}.json", hook_request.uid));
    // std::fs with a sync before the rename: run it off the async workers.
    let target = path.clone();
    let written =
        tokio::task::spawn_blocking(move || write_atomically(&target, &hook_request.object)).await;
    let path = path.display().to_string();
    match written {
        Ok(Ok(())) => {
            say(&format!("archived {path}"));
            Ok(answer(StatusCode::OK, json!({"archived": path})))
        }
        Ok(Err(e)) => Ok(server_error(format!("cannot write {path}: {e}"))),
        Err(e) => Ok(server_error(format!("the archive write failed: {e}"))),
    }
}

/// A reader never sees a half-written copy: the rename replaces the file
/// whole, and a retry of the same object simply replaces it again.
fn write_atomically(path: &Path, object: &serde_json::Value) -> std::io::Result<()> {
    // Unique per write, since the platform may retry an object while an
    // earlier attempt is still writing.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = path.with_file_name(format!(".{file_name}.{}.{n}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        serde_json::to_writer_pretty(&mut file, object)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn server_error(message: String) -> Response<Full<Bytes>> {
    tracing::error!("{message}");
    answer(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": message}))
}

fn bad_request(message: String) -> Response<Full<Bytes>> {
    tracing::warn!("bad request: {message}");
    answer(StatusCode::BAD_REQUEST, json!({"error": message}))
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}
