//! The Lambda Runtime API the function processes poll, and the processes
//! themselves: each function has a queue of invocations and up to N
//! instances (processes of its binary, each handling one invocation at a
//! time, as on Lambda), started when the queue has more waiting than there
//! are instances free.
//!
//! A response is read whole before it is acknowledged: `cargo lambda watch`
//! acknowledges first and reads the body later, and loses it when the
//! function's HTTP client closes that connection in between (the 500s this
//! emulator replaces; docs/local-stack.md).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use tokio::sync::{mpsc, oneshot, Notify};

/// Lambda's limit on an invocation's response (synchronous invocations).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// How one invocation ended.
#[derive(Debug)]
pub enum Outcome {
    /// What the function answered.
    Response(Bytes),
    /// The function reported an error (the runtime's error document).
    Error(Bytes),
    /// The instance went away or answered nothing usable.
    Lost(String),
    /// A streamed answer (Lambda response streaming): its bytes as the
    /// function sends them, the prelude (status, headers) first.
    Streamed(mpsc::Receiver<Bytes>),
}

struct Invocation {
    request_id: String,
    event: Bytes,
    reply: oneshot::Sender<Outcome>,
}

enum Work {
    /// Started, or between invocations.
    Free,
    Busy {
        request_id: String,
        /// Taken when a streamed answer starts: the instance stays busy
        /// until its stream ends.
        reply: Option<oneshot::Sender<Outcome>>,
    },
}

struct Instance {
    generation: u64,
    work: Work,
    took_work: bool,
    kill: Option<oneshot::Sender<()>>,
}

#[derive(Default)]
struct Pool {
    queue: VecDeque<Invocation>,
    instances: HashMap<u64, Instance>,
    next_instance: u64,
    /// Instances of older generations (an earlier build) take no new work.
    generation: u64,
}

impl Pool {
    fn current(&self) -> impl Iterator<Item = &Instance> {
        self.instances
            .values()
            .filter(move |i| i.generation == self.generation)
    }
}

/// How instances are started.
#[derive(Clone)]
pub struct Launch {
    pub binary_dir: PathBuf,
    pub env: Vec<(String, String)>,
    pub memory_mb: u32,
    /// The time each invocation is given (its `lambda-runtime-deadline-ms`);
    /// told to the function, not enforced.
    pub timeout: Duration,
}

pub struct Function {
    pub name: String,
    max_instances: usize,
    launch: Launch,
    runtime_api: Mutex<Option<SocketAddr>>,
    pool: Mutex<Pool>,
    wake: Notify,
}

impl Function {
    pub fn new(name: &str, max_instances: usize, launch: Launch) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_owned(),
            max_instances: max_instances.max(1),
            launch,
            runtime_api: Mutex::new(None),
            pool: Mutex::new(Pool::default()),
            wake: Notify::new(),
        })
    }

    pub fn serve_runtime_api_at(&self, addr: SocketAddr) {
        *lock(&self.runtime_api) = Some(addr);
    }

    /// Queues one invocation and waits for how it ended.
    pub async fn invoke(self: &Arc<Self>, request_id: &str, event: Bytes) -> Outcome {
        let (reply, outcome) = oneshot::channel();
        let start = {
            let mut pool = lock(&self.pool);
            pool.queue.push_back(Invocation {
                request_id: request_id.to_owned(),
                event,
                reply,
            });
            self.reserve_instance(&mut pool)
        };
        if let Some(id) = start {
            self.start_instance(id);
        }
        self.wake.notify_waiters();
        outcome
            .await
            .unwrap_or_else(|_| Outcome::Lost("the invocation was dropped".into()))
    }

    /// An instance to start when more invocations wait than current
    /// instances are free, within the limit.
    fn reserve_instance(&self, pool: &mut Pool) -> Option<u64> {
        let free = pool
            .current()
            .filter(|i| matches!(i.work, Work::Free))
            .count();
        let live = pool.current().count();
        if pool.queue.len() <= free || live >= self.max_instances {
            return None;
        }
        let id = pool.next_instance;
        pool.next_instance += 1;
        let generation = pool.generation;
        pool.instances.insert(
            id,
            Instance {
                generation,
                work: Work::Free,
                took_work: false,
                kill: None,
            },
        );
        Some(id)
    }

    fn start_instance(self: &Arc<Self>, id: u64) {
        let binary = self.launch.binary_dir.join(&self.name);
        let runtime_api = lock(&self.runtime_api)
            .map(|addr| format!("http://{addr}/{}/{id}", self.name))
            .unwrap_or_default();
        let mut command = tokio::process::Command::new(&binary);
        command
            .envs(self.launch.env.iter().cloned())
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                self.launch.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/{id}"))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let child = match command.spawn() {
            Ok(child) => child,
            Err(err) => {
                let why = format!("cannot start {}: {err}", binary.display());
                eprintln!("lambda-local: {}: {why}", self.name);
                let mut pool = lock(&self.pool);
                pool.instances.remove(&id);
                if pool.current().count() == 0 {
                    fail_queue(&mut pool, &why);
                }
                return;
            }
        };
        let pid = child.id().unwrap_or_default();
        eprintln!(
            "lambda-local: {}: instance {id} started (pid {pid})",
            self.name
        );
        let (kill, killed) = oneshot::channel();
        if let Some(instance) = lock(&self.pool).instances.get_mut(&id) {
            instance.kill = Some(kill);
        }
        let function = self.clone();
        tokio::spawn(async move { function.watch_instance(id, child, killed).await });
    }

    /// Waits for the process to exit (or to be told to stop it), then fails
    /// what it was doing and keeps the queue served.
    async fn watch_instance(
        self: Arc<Self>,
        id: u64,
        mut child: tokio::process::Child,
        killed: oneshot::Receiver<()>,
    ) {
        let (status, on_purpose) = tokio::select! {
            status = child.wait() => (status, false),
            _ = killed => {
                let _ = child.start_kill();
                (child.wait().await, true)
            }
        };
        let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
        let start = {
            let mut pool = lock(&self.pool);
            let Some(instance) = pool.instances.remove(&id) else {
                return;
            };
            if !on_purpose {
                eprintln!(
                    "lambda-local: {}: instance {id} exited ({status})",
                    self.name
                );
            }
            if let Work::Busy {
                reply: Some(reply),
                request_id,
            } = instance.work
            {
                let _ = reply.send(Outcome::Lost(format!(
                    "instance {id} exited ({status}) during invocation {request_id}"
                )));
            }
            let current = instance.generation == pool.generation;
            if current && !instance.took_work && pool.current().count() == 0 {
                // It died before taking any work: starting another would
                // only die the same way, so the waiting requests are told.
                fail_queue(
                    &mut pool,
                    &format!(
                        "{} exited before taking an invocation ({status}); see its log",
                        self.name
                    ),
                );
                None
            } else {
                self.reserve_instance(&mut pool)
            }
        };
        if let Some(id) = start {
            self.start_instance(id);
        }
    }

    /// A new build: current instances finish what they are doing and stop;
    /// new ones start from the new binary as work comes.
    pub fn retire_instances(self: &Arc<Self>) {
        let start = {
            let mut pool = lock(&self.pool);
            pool.generation += 1;
            for instance in pool.instances.values_mut() {
                if matches!(instance.work, Work::Free) {
                    if let Some(kill) = instance.kill.take() {
                        let _ = kill.send(());
                    }
                }
            }
            self.reserve_instance(&mut pool)
        };
        if let Some(id) = start {
            self.start_instance(id);
        }
        self.wake.notify_waiters();
    }

    /// Stops every instance (shutting down).
    pub fn stop_all(&self) {
        let mut pool = lock(&self.pool);
        fail_queue(&mut pool, "shutting down");
        for instance in pool.instances.values_mut() {
            if let Some(kill) = instance.kill.take() {
                let _ = kill.send(());
            }
        }
    }

    pub fn instance_count(&self) -> usize {
        lock(&self.pool).instances.len()
    }

    /// `GET /runtime/invocation/next`: the next invocation for this instance,
    /// waiting as long as there is none.
    async fn next(&self, instance_id: u64) -> Response<Full<Bytes>> {
        loop {
            let notified = self.wake.notified();
            {
                let mut guard = lock(&self.pool);
                let pool = &mut *guard;
                let Some(instance) = pool.instances.get_mut(&instance_id) else {
                    return runtime_error(StatusCode::GONE, "unknown instance");
                };
                if instance.generation != pool.generation {
                    if let Some(kill) = instance.kill.take() {
                        let _ = kill.send(());
                    }
                    return runtime_error(StatusCode::GONE, "instance retired by a new build");
                }
                if let Some(invocation) = pool.queue.pop_front() {
                    instance.took_work = true;
                    instance.work = Work::Busy {
                        request_id: invocation.request_id.clone(),
                        reply: Some(invocation.reply),
                    };
                    return self.next_response(&invocation.request_id, invocation.event);
                }
                instance.work = Work::Free;
            }
            notified.await;
        }
    }

    fn next_response(&self, request_id: &str, event: Bytes) -> Response<Full<Bytes>> {
        let deadline = SystemTime::now()
            .checked_add(self.launch.timeout)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let mut response = Response::new(Full::new(event));
        let headers = response.headers_mut();
        let pairs = [
            ("content-type", "application/json".to_owned()),
            ("lambda-runtime-aws-request-id", request_id.to_owned()),
            ("lambda-runtime-deadline-ms", deadline.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                format!(
                    "arn:aws:lambda:us-east-1:000000000000:function:{}",
                    self.name
                ),
            ),
        ];
        for (name, value) in pairs {
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        response
    }

    /// `POST /runtime/invocation/{id}/response|error`, the body already read.
    fn finish(
        &self,
        instance_id: u64,
        request_id: &str,
        outcome: Outcome,
    ) -> Response<Full<Bytes>> {
        let mut pool = lock(&self.pool);
        let retired = pool.generation;
        let Some(instance) = pool.instances.get_mut(&instance_id) else {
            return runtime_error(StatusCode::GONE, "unknown instance");
        };
        let matches =
            matches!(&instance.work, Work::Busy { request_id: id, .. } if id == request_id);
        if !matches {
            return runtime_error(StatusCode::BAD_REQUEST, "no such invocation in progress");
        }
        if let Work::Busy {
            reply: Some(reply), ..
        } = std::mem::replace(&mut instance.work, Work::Free)
        {
            let _ = reply.send(outcome);
        }
        if instance.generation != retired {
            if let Some(kill) = instance.kill.take() {
                let _ = kill.send(());
            }
        }
        accepted()
    }
}

impl Function {
    /// A streamed answer begins: the invoker gets `chunks`; the instance
    /// stays busy until [`Function::finish`] at the stream's end.
    fn start_stream(
        &self,
        instance_id: u64,
        request_id: &str,
        chunks: mpsc::Receiver<Bytes>,
    ) -> Result<(), (StatusCode, &'static str)> {
        let mut pool = lock(&self.pool);
        let Some(instance) = pool.instances.get_mut(&instance_id) else {
            return Err((StatusCode::GONE, "unknown instance"));
        };
        match &mut instance.work {
            Work::Busy {
                request_id: id,
                reply,
            } if id == request_id => {
                if let Some(reply) = reply.take() {
                    let _ = reply.send(Outcome::Streamed(chunks));
                }
                Ok(())
            }
            _ => Err((StatusCode::BAD_REQUEST, "no such invocation in progress")),
        }
    }
}

/// A streamed answer's body, passed on chunk by chunk as it arrives. When
/// the client has gone away the body is dropped unread: the function's
/// next write fails and its invocation ends (a watch nobody reads stops
/// holding the instance at its next event or bookmark).
async fn pass_on(mut body: hyper::body::Incoming, chunks: mpsc::Sender<Bytes>) {
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            _ = chunks.closed() => return,
        };
        let Some(Ok(frame)) = frame else { return };
        if let Ok(data) = frame.into_data() {
            if chunks.send(data).await.is_err() {
                return;
            }
        }
    }
}

fn fail_queue(pool: &mut Pool, why: &str) {
    for invocation in pool.queue.drain(..) {
        let _ = invocation.reply.send(Outcome::Lost(why.to_owned()));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; serve on.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn accepted() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"{\"status\":\"OK\"}")));
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

fn runtime_error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"errorMessage": message, "errorType": "InvalidRequest"});
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
}

/// Serves the Runtime API on a loopback port of its own and tells every
/// function where it is.
pub async fn serve(functions: HashMap<String, Arc<Function>>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    for function in functions.values() {
        function.serve_runtime_api_at(addr);
    }
    let functions = Arc::new(functions);
    tokio::spawn(lambda_local::listener::serve_http(
        listener,
        None,
        move |request, _peer| {
            let functions = functions.clone();
            async move { handle(&functions, request).await }
        },
    ));
    Ok(addr)
}

/// The Runtime API: `/{function}/{instance}/2018-06-01/runtime/...`.
async fn handle(
    functions: &HashMap<String, Arc<Function>>,
    request: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (function, instance, api) = match segments.as_slice() {
        [function, instance, "2018-06-01", "runtime", api @ ..] => (*function, *instance, api),
        _ => return runtime_error(StatusCode::NOT_FOUND, "not a Runtime API path"),
    };
    let (Some(function), Ok(instance)) = (functions.get(function), instance.parse::<u64>()) else {
        return runtime_error(StatusCode::NOT_FOUND, "unknown function or instance");
    };
    let method = request.method().clone();
    match (method, api) {
        (Method::GET, ["invocation", "next"]) => function.next(instance).await,
        (Method::POST, ["invocation", request_id, "response"]) if is_streamed(&request) => {
            let request_id = (*request_id).to_owned();
            let (chunks, streamed) = mpsc::channel(64);
            if let Err((status, why)) = function.start_stream(instance, &request_id, streamed) {
                return runtime_error(status, why);
            }
            pass_on(request.into_body(), chunks).await;
            function.finish(instance, &request_id, Outcome::Lost("streamed".into()))
        }
        (Method::POST, ["invocation", request_id, kind @ ("response" | "error")]) => {
            let request_id = (*request_id).to_owned();
            let is_error = *kind == "error";
            // Read to the end before acknowledging: see the module comment.
            let outcome = match Limited::new(request.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
            {
                Ok(body) if is_error => Outcome::Error(body.to_bytes()),
                Ok(body) => Outcome::Response(body.to_bytes()),
                Err(err) => Outcome::Lost(format!(
                    "the function's answer could not be read (Lambda allows {MAX_RESPONSE_BYTES} bytes): {err}"
                )),
            };
            function.finish(instance, &request_id, outcome)
        }
        (Method::POST, ["init", "error"]) => {
            let body = request.into_body().collect().await.map(|b| b.to_bytes());
            let detail = body.map_or_else(
                |e| e.to_string(),
                |b| String::from_utf8_lossy(&b).into_owned(),
            );
            eprintln!(
                "lambda-local: {}: instance {instance} failed to start: {detail}",
                function.name
            );
            accepted()
        }
        _ => runtime_error(StatusCode::NOT_FOUND, "not a Runtime API path"),
    }
}

/// Whether a response is Lambda response streaming's (the runtime says so).
fn is_streamed(request: &Request<hyper::body::Incoming>) -> bool {
    request
        .headers()
        .get("lambda-runtime-function-response-mode")
        .is_some_and(|mode| mode.as_bytes().eq_ignore_ascii_case(b"streaming"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A function whose instances are `curl`: take one invocation, answer
    /// it with `body`, and close the connection at once (curl does not keep
    /// it), which is what lost large answers under `cargo lambda watch`.
    fn curl_function(dir: &std::path::Path, body: &[u8]) -> Arc<Function> {
        std::fs::write(dir.join("answer"), body).unwrap();
        let script = format!(
            "#!/bin/sh\nset -e\ncd '{}'\nwhile :; do\n  curl -sf -D head -o event \"$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation/next\"\n  id=$(sed -n 's/^lambda-runtime-aws-request-id: *//ip' head | tr -d '\\r')\n  curl -sf -o /dev/null --data-binary @answer \"$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation/$id/response\"\ndone\n",
            dir.display()
        );
        let binary = dir.join("curl-function");
        std::fs::write(&binary, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
        Function::new(
            "curl-function",
            4,
            Launch {
                binary_dir: dir.to_path_buf(),
                env: Vec::new(),
                memory_mb: 128,
                timeout: Duration::from_secs(30),
            },
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_answer_arrives_whole_though_the_instance_closes_its_connection() {
        let dir = std::env::temp_dir().join(format!("lambda-local-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        // Larger than a socket read, as the lists that were lost.
        let body: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let function = curl_function(&dir, &body);
        serve(HashMap::from([(function.name.clone(), function.clone())]))
            .await
            .unwrap();
        let invocations = (0..40).map(|i| {
            let function = function.clone();
            tokio::spawn(async move {
                function
                    .invoke(&format!("req-{i}"), Bytes::from_static(b"{}"))
                    .await
            })
        });
        let mut lost = Vec::new();
        for invocation in invocations {
            match invocation.await.unwrap() {
                Outcome::Response(answer) if answer.as_ref() == body.as_slice() => {}
                Outcome::Response(answer) => lost.push(format!("{} bytes", answer.len())),
                other => lost.push(format!("{other:?}")),
            }
        }
        function.stop_all();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(lost.is_empty(), "answers not delivered whole: {lost:?}");
    }
}
