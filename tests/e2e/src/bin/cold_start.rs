//! Cold start and size of the four functions (issue 17): each release
//! binary's size, and the time from spawning its process to its first
//! request for work (init, what Lambda reports as Init Duration) and to its
//! first answer, against a fake Lambda Runtime API that serves one
//! invocation, with the functions talking to DynamoDB Local (and
//! nats-server) as they do under `make dev`.
//!
//! The fake Runtime API is a plain HTTP/1.1 server on 127.0.0.1 (a fresh
//! port per run) that implements what `lambda_runtime` calls:
//! `GET /2018-06-01/runtime/invocation/next` answered once with the event
//! and the `Lambda-Runtime-*` headers, `POST …/invocation/{id}/response`
//! (the measured answer), and `…/error` and `/init/error` (which fail the
//! run). The process is killed after its first answer, as every run is a
//! cold start.
//!
//! The binaries are `target/release/{resources,events,admission,quota}`
//! (`cargo build --release -p resources -p events -p admission -p quota`)
//! and, if built, the hello-world baseline
//! `target/release/examples/hello_lambda`
//! (`cargo build --release -p e2e --example hello_lambda`); `make bench`
//! builds them. docs/benchmarks.md has the command, the figures and how to
//! read them. Environment: the stack's (`DYNAMODB_ENDPOINT`, `NATS_URL`,
//! `E2E_TABLE`, `E2E_HS256_SECRET`, `E2E_ISSUER`, `E2E_AUDIENCE`, as
//! localstack/with-stack.sh sets them), `COLD_START_RUNS` (measured runs
//! per function, default 30), `COLD_START_BIN_DIR` (default the
//! workspace's `target/release`, or `$CARGO_TARGET_DIR/release`) and
//! `COLD_START_ENV` (`NAME=VALUE` pairs separated by spaces, added to every
//! function's environment: for experiments, e.g. with `SSL_CERT_FILE`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context as _};
use e2e::measure::{ms, percentile};
use serde_json::{json, Value};

const WARMUP_RUNS: usize = 2;
const DEFAULT_RUNS: usize = 30;
/// A run that has not answered by then has failed (the events function's
/// fetch from an empty stream returns at once; nothing else waits).
const RUN_TIMEOUT: Duration = Duration::from_secs(30);
const REGION: &str = "us-east-1";
const ORGANIZATIONS: &str = "/apis/resourcemanager.miloapis.com/v1alpha1/organizations";
/// The public figure the issue compares against: a Rust hello world's Init
/// Duration on Lambda, 128 MB, arm64.
const PUBLIC_HELLO_INIT_MS: f64 = 14.0;
const TARGET_INIT_MS: f64 = 30.0;
const TARGET_SIZE_MB: f64 = 15.0;

fn main() -> anyhow::Result<()> {
    let stack = StackEnv::from_env()?;
    let runs =
        match std::env::var("COLD_START_RUNS") {
            Ok(v) => v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                anyhow!("COLD_START_RUNS must be a positive whole number, not {v:?}")
            })?,
            Err(_) => DEFAULT_RUNS,
        };
    let bin_dir = bin_dir();
    let functions = functions(&stack, &bin_dir)?;
    let logs = std::env::temp_dir().join(format!("cold-start-{}", std::process::id()));
    std::fs::create_dir_all(&logs)?;
    eprintln!(
        "binaries from {}; {WARMUP_RUNS} unmeasured and {runs} measured runs per function, in turn; \
         function logs in {}",
        bin_dir.display(),
        logs.display()
    );

    let mut timings: Vec<Vec<Timing>> = functions.iter().map(|_| Vec::new()).collect();
    for round in 0..WARMUP_RUNS + runs {
        for (function, timings) in functions.iter().zip(timings.iter_mut()) {
            let log = logs.join(format!("{}.log", function.name));
            let timing = cold_start(function, &log).with_context(|| {
                format!("{} (round {round}; log {})", function.name, log.display())
            })?;
            if round >= WARMUP_RUNS {
                timings.push(timing);
            }
        }
        if round + 1 == WARMUP_RUNS {
            eprintln!("warmed up; measuring…");
        }
    }
    print_report(runs, &functions, &timings);
    Ok(())
}

/// What the local stack gives the functions.
struct StackEnv {
    dynamodb_endpoint: String,
    nats_url: String,
    table: String,
    hs256_secret: String,
    issuer: String,
    audience: String,
}

impl StackEnv {
    fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| {
                anyhow!(
                    "{name} is not set: run the bench with `make bench`, or under \
                     localstack/with-stack.sh, which starts the stack"
                )
            })
        };
        Ok(Self {
            dynamodb_endpoint: var("DYNAMODB_ENDPOINT")?,
            nats_url: var("NATS_URL")?,
            table: var("E2E_TABLE")?,
            hs256_secret: var("E2E_HS256_SECRET")?,
            issuer: var("E2E_ISSUER")?,
            audience: var("E2E_AUDIENCE")?,
        })
    }

    /// The functions' environment, as infra/template.yaml gives it on AWS
    /// (and localstack/env.sh locally), plus what Lambda itself sets and
    /// `lambda_runtime` reads. Nothing else is inherited.
    fn function_env(&self, name: &str, memory_mb: u32) -> Vec<(String, String)> {
        let continue_secret = "cold-start-continue-secret-of-thirty-two-bytes";
        let extra = std::env::var("COLD_START_ENV").unwrap_or_default();
        let extra = extra
            .split_whitespace()
            .filter_map(|pair| pair.split_once('='));
        [
            ("AWS_LAMBDA_FUNCTION_NAME", name),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", &memory_mb.to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", &format!("/aws/lambda/{name}")),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "cold-start"),
            ("AWS_REGION", REGION),
            ("AWS_DEFAULT_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("TABLE_NAME", &self.table),
            ("DYNAMODB_ENDPOINT", &self.dynamodb_endpoint),
            ("NATS_URL", &self.nats_url),
            ("AUTH_ISSUER", &self.issuer),
            ("AUTH_AUDIENCE", &self.audience),
            ("AUTH_HS256_SECRET", &self.hs256_secret),
            ("CONTINUE_SECRET", continue_secret),
            ("RUST_LOG", "info"),
        ]
        .into_iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

/// One function under test: its binary, the event of its first invocation
/// and what its answer must be.
struct Function {
    name: &'static str,
    binary: PathBuf,
    env: Vec<(String, String)>,
    event: Value,
    check: fn(&Value) -> anyhow::Result<()>,
    /// The baseline, not a function of ours: no target applies.
    baseline: bool,
}

fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("COLD_START_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("release")
}

fn functions(stack: &StackEnv, bin_dir: &Path) -> anyhow::Result<Vec<Function>> {
    let token = auth::mint_hs256(
        &stack.hs256_secret,
        &stack.issuer,
        &stack.audience,
        "cold-start-admin",
        &["system:masters".to_string()],
        3600,
    )
    .map_err(|e| anyhow!("minting a token: {e}"))?;
    let bearer = format!("Bearer {token}");
    let binary = |name: &str| -> anyhow::Result<PathBuf> {
        let path = bin_dir.join(name);
        if !path.is_file() {
            bail!(
                "{} is missing: build the functions first with \
                 `cargo build --release -p resources -p events -p admission -p quota` \
                 (make bench does)",
                path.display()
            );
        }
        Ok(path)
    };
    // Memory as infra/template.yaml sets it; lambda_runtime only reports it.
    let mut functions = vec![
        Function {
            name: "resources",
            binary: binary("resources")?,
            env: stack.function_env("resources", 512),
            event: url_event("GET", ORGANIZATIONS, &bearer, None),
            check: |answer| http_answer(answer, 200, "OrganizationList"),
            baseline: false,
        },
        Function {
            name: "admission",
            binary: binary("admission")?,
            env: stack.function_env("admission", 512),
            event: url_event("POST", "/review", &bearer, Some(&project_review())),
            check: |answer| {
                http_answer(answer, 200, "AdmissionReview")?;
                let body = http_body(answer)?;
                if body["response"]["allowed"] != true {
                    bail!("the review did not allow the project: {body}");
                }
                Ok(())
            },
            baseline: false,
        },
        Function {
            name: "events",
            binary: binary("events")?,
            env: stack.function_env("events", 256),
            event: scheduled_event("events"),
            check: |answer| report_has(answer, "acked"),
            baseline: false,
        },
        Function {
            name: "quota",
            binary: binary("quota")?,
            env: stack.function_env("quota", 256),
            event: scheduled_event("quota"),
            check: |answer| report_has(answer, "buckets"),
            baseline: false,
        },
    ];
    let hello = bin_dir.join("examples/hello_lambda");
    if hello.is_file() {
        functions.push(Function {
            name: "hello-world",
            binary: hello,
            env: stack.function_env("hello-world", 128),
            event: scheduled_event("hello-world"),
            check: |answer| report_has(answer, "message"),
            baseline: true,
        });
    } else {
        eprintln!(
            "no hello-world baseline ({} is missing: `cargo build --release -p e2e --example hello_lambda`)",
            hello.display()
        );
    }
    Ok(functions)
}

/// A Lambda function URL request (payload format 2.0), as AWS sends it.
fn url_event(method: &str, path: &str, authorization: &str, body: Option<&Value>) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut headers = json!({
        "accept": "application/json",
        "authorization": authorization,
        "host": "abcdefghij.lambda-url.us-east-1.on.aws",
        "user-agent": "cold-start-bench",
        "x-forwarded-proto": "https",
    });
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghij",
            "domainName": "abcdefghij.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghij",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "cold-start-bench"
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": now.as_millis() as u64
        },
        "isBase64Encoded": false
    });
    if let Some(body) = body {
        event["body"] = json!(body.to_string());
    }
    event
}

/// An EventBridge schedule's event, as the events and quota functions get it.
fn scheduled_event(name: &str) -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": REGION,
        "resources": [format!("arn:aws:events:{REGION}:123456789012:rule/{name}-schedule")],
        "detail": {}
    })
}

/// A Project create for review (no policies installed: allowed).
fn project_review() -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "3b0d6c7e-0c5a-4d0a-9a53-5a0d1e1e0001",
            "kind": {"group": "resourcemanager.miloapis.com", "version": "v1alpha1", "kind": "Project"},
            "resource": {"group": "resourcemanager.miloapis.com", "version": "v1alpha1", "resource": "projects"},
            "name": "cold",
            "operation": "CREATE",
            "userInfo": {"username": "ci@example.com"},
            "object": {
                "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
                "kind": "Project",
                "metadata": {"name": "cold"}
            }
        }
    })
}

fn http_body(answer: &Value) -> anyhow::Result<Value> {
    let body = answer["body"]
        .as_str()
        .ok_or_else(|| anyhow!("no text body in {answer}"))?;
    serde_json::from_str(body).with_context(|| format!("the body is not JSON: {body}"))
}

fn http_answer(answer: &Value, status: u64, kind: &str) -> anyhow::Result<()> {
    if answer["statusCode"] != status {
        bail!("expected status {status}: {answer}");
    }
    let body = http_body(answer)?;
    if body["kind"] != kind {
        bail!("expected a {kind}: {body}");
    }
    Ok(())
}

fn report_has(answer: &Value, field: &str) -> anyhow::Result<()> {
    if answer.get(field).is_none() {
        bail!("expected {field:?} in {answer}");
    }
    Ok(())
}

/// One cold start's figures.
struct Timing {
    /// Spawn to the first `GET …/invocation/next`.
    init: Duration,
    /// Spawn to the first answer's `POST …/response`.
    first_answer: Duration,
    /// VmHWM of the process after its answer, in KiB (0 without /proc).
    peak_rss_kib: u64,
}

/// What the fake Runtime API saw, in order.
enum Seen {
    Next(Instant),
    Answer(Instant, Vec<u8>),
    Failed(String, Vec<u8>),
    Unexpected(String),
}

fn cold_start(function: &Function, log: &Path) -> anyhow::Result<Timing> {
    let api = FakeRuntimeApi::start(function)?;
    let out = File::create(log)?;
    let err = out.try_clone()?;
    let started = Instant::now();
    let child = Command::new(&function.binary)
        .env_clear()
        .envs(function.env.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {}", function.binary.display()))?;
    let mut child = Killed(child);
    let mut next = None;
    let deadline = started + RUN_TIMEOUT;
    loop {
        let now = Instant::now();
        if now >= deadline {
            bail!("no answer within {RUN_TIMEOUT:?}");
        }
        match api
            .seen
            .recv_timeout((deadline - now).min(Duration::from_millis(50)))
        {
            Ok(Seen::Next(at)) => next = Some(at),
            Ok(Seen::Answer(at, body)) => {
                let peak_rss_kib = peak_rss_kib(child.0.id());
                let answer = answer_of(&body).with_context(|| {
                    format!("the answer is not JSON: {}", String::from_utf8_lossy(&body))
                })?;
                (function.check)(&answer)?;
                let next = next.ok_or_else(|| anyhow!("an answer before any /next"))?;
                return Ok(Timing {
                    init: next - started,
                    first_answer: at - started,
                    peak_rss_kib,
                });
            }
            Ok(Seen::Failed(path, body)) => {
                bail!(
                    "the function reported {path}: {}",
                    String::from_utf8_lossy(&body)
                )
            }
            Ok(Seen::Unexpected(what)) => bail!("unexpected request to the Runtime API: {what}"),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(status) = child.0.try_wait()? {
                    bail!("the function exited ({status}) before answering");
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the fake Runtime API stopped"),
        }
    }
}

/// The child process, killed (and reaped) when the run is over.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A Runtime API for one cold start: one invocation, then nothing (a
/// second `/next` is never answered; the process is killed meanwhile).
struct FakeRuntimeApi {
    addr: SocketAddr,
    seen: mpsc::Receiver<Seen>,
    stop: Arc<AtomicBool>,
}

struct Invocation {
    request_id: String,
    function_arn: String,
    event: Vec<u8>,
    served: AtomicBool,
}

impl FakeRuntimeApi {
    fn start(function: &Function) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (tx, seen) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let invocation = Arc::new(Invocation {
            request_id: uuid::Uuid::new_v4().to_string(),
            function_arn: format!(
                "arn:aws:lambda:{REGION}:123456789012:function:{}",
                function.name
            ),
            event: function.event.to_string().into_bytes(),
            served: AtomicBool::new(false),
        });
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (tx, invocation) = (tx.clone(), invocation.clone());
                std::thread::spawn(move || serve(stream, &invocation, &tx));
            }
        });
        Ok(Self { addr, seen, stop })
    }
}

impl Drop for FakeRuntimeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the stop.
        let _ = TcpStream::connect(self.addr);
    }
}

/// One connection (the runtime's client keeps it alive across requests)
/// until the process closes it.
fn serve(stream: TcpStream, invocation: &Invocation, seen: &mpsc::Sender<Seen>) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Ok(Some(request)) = read_request(&mut reader) {
        let at = Instant::now();
        let path = request.path.as_str();
        let invocation_path = format!("/2018-06-01/runtime/invocation/{}/", invocation.request_id);
        if request.method == "GET" && path == "/2018-06-01/runtime/invocation/next" {
            if invocation.served.swap(true, Ordering::SeqCst) {
                // The next invocation, which never comes in a cold start.
                continue;
            }
            let _ = seen.send(Seen::Next(at));
            let deadline_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
                + 60_000;
            let headers = [
                ("Content-Type", "application/json".to_string()),
                (
                    "Lambda-Runtime-Aws-Request-Id",
                    invocation.request_id.clone(),
                ),
                ("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string()),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    invocation.function_arn.clone(),
                ),
                (
                    "Lambda-Runtime-Trace-Id",
                    "Root=1-00000000-000000000000000000000000;Sampled=0".to_string(),
                ),
            ];
            if respond(&mut writer, "200 OK", &headers, &invocation.event).is_err() {
                return;
            }
        } else if request.method == "POST" && path == format!("{invocation_path}response") {
            let _ = seen.send(Seen::Answer(at, request.body));
            let _ = respond(&mut writer, "202 Accepted", &[], br#"{"status":"OK"}"#);
        } else if request.method == "POST"
            && (path == format!("{invocation_path}error")
                || path == "/2018-06-01/runtime/init/error")
        {
            let _ = seen.send(Seen::Failed(request.path.clone(), request.body));
            let _ = respond(&mut writer, "202 Accepted", &[], br#"{"status":"OK"}"#);
        } else {
            let _ = seen.send(Seen::Unexpected(format!("{} {}", request.method, path)));
            let _ = respond(&mut writer, "404 Not Found", &[], b"{}");
        }
    }
}

/// A function's answer as a function URL response: as sent, or, for a
/// streamed answer (Lambda response streaming: a JSON prelude, eight NUL
/// bytes, the body), the prelude with the body put back in.
fn answer_of(body: &[u8]) -> serde_json::Result<Value> {
    let delimiter = [0u8; 8];
    let Some(at) = body.windows(8).position(|w| w == delimiter) else {
        return serde_json::from_slice(body);
    };
    let mut answer: Value = serde_json::from_slice(&body[..at])?;
    answer["body"] = Value::String(String::from_utf8_lossy(&body[at + 8..]).into_owned());
    Ok(answer)
}

struct HttpRequest {
    method: String,
    path: String,
    body: Vec<u8>,
}

/// One HTTP/1.1 request (`Content-Length` or chunked body); `None` at the
/// end of the connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<HttpRequest>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or_default().to_string();
    let path = words.next().unwrap_or_default().to_string();
    let mut headers = HashMap::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = line.trim().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size, 16).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk size")
            })?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            chunk.truncate(size);
            body.extend(chunk);
            if size == 0 {
                break;
            }
        }
    } else if let Some(length) = headers.get("content-length") {
        let length = length.parse().map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "bad content-length")
        })?;
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(Some(HttpRequest { method, path, body }))
}

fn respond(
    writer: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut message = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        message.push_str(&format!("{name}: {value}\r\n"));
    }
    message.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut message = message.into_bytes();
    message.extend_from_slice(body);
    writer.write_all(&message)?;
    writer.flush()
}

fn print_report(runs: usize, functions: &[Function], timings: &[Vec<Timing>]) {
    let baseline = functions
        .iter()
        .zip(timings)
        .find(|(f, _)| f.baseline)
        .map(|(_, t)| median(t.iter().map(|t| t.init)));
    println!();
    println!(
        "Cold starts: {runs} runs per function (after {WARMUP_RUNS} unmeasured), in turn; \
         a fresh process and fake Runtime API each run. ms from spawn; median (min–max)."
    );
    println!();
    println!(
        "| function | binary MB | init ms | first answer ms | answer after init ms | peak RSS MB | init / hello-world |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|");
    let mut misses = Vec::new();
    for (function, timings) in functions.iter().zip(timings) {
        let size = std::fs::metadata(&function.binary)
            .map(|m| m.len())
            .unwrap_or(0);
        let size_mb = size as f64 / 1e6;
        let init = spread(timings.iter().map(|t| t.init));
        let answer = spread(timings.iter().map(|t| t.first_answer));
        let handling = spread(timings.iter().map(|t| t.first_answer - t.init));
        let rss = timings.iter().map(|t| t.peak_rss_kib).max().unwrap_or(0) as f64 / 1024.0;
        let init_median = median(timings.iter().map(|t| t.init));
        let ratio = baseline
            .filter(|_| !function.baseline)
            .map(|b| format!("{:.2}", init_median.as_secs_f64() / b.as_secs_f64()))
            .unwrap_or_else(|| "–".to_string());
        println!(
            "| {} | {size_mb:.2} | {init} | {answer} | {handling} | {rss:.1} | {ratio} |",
            function.name
        );
        if !function.baseline {
            if size_mb > TARGET_SIZE_MB {
                misses.push(format!(
                    "{}: {size_mb:.2} MB, over the {TARGET_SIZE_MB} MB target",
                    function.name
                ));
            }
            let init_ms = init_median.as_secs_f64() * 1000.0;
            if init_ms > TARGET_INIT_MS {
                misses.push(format!(
                    "{}: init {init_ms:.2} ms, over the {TARGET_INIT_MS} ms target",
                    function.name
                ));
            }
        }
    }
    println!();
    println!(
        "Public figure: a Rust hello world's Init Duration on Lambda (128 MB, arm64) is about \
         {PUBLIC_HELLO_INIT_MS} ms. Targets: init at most {TARGET_INIT_MS} ms, binary at most \
         {TARGET_SIZE_MB} MB."
    );
    if misses.is_empty() {
        println!("Every function is within both targets.");
    } else {
        for miss in misses {
            println!("MISSED {miss}");
        }
    }
}

fn sorted(durations: impl Iterator<Item = Duration>) -> Vec<Duration> {
    let mut all: Vec<Duration> = durations.collect();
    all.sort_unstable();
    all
}

fn median(durations: impl Iterator<Item = Duration>) -> Duration {
    percentile(&sorted(durations), 50.0)
}

/// "median (min–max)" in milliseconds.
fn spread(durations: impl Iterator<Item = Duration>) -> String {
    let all = sorted(durations);
    match (all.first(), all.last()) {
        (Some(min), Some(max)) => {
            format!("{} ({}–{})", ms(percentile(&all, 50.0)), ms(*min), ms(*max))
        }
        _ => "–".to_string(),
    }
}
