//! The change feed's benchmark (#22), against DynamoDB Local and
//! nats-server, the publisher and the server in-process:
//!
//! 1. latency: writes through the API at 100 a second; for each, the time
//!    from the write's answer (its commit) to its lifecycle event on NATS
//!    and to its event on a watch, p50 and p99;
//! 2. rate: the publisher over a burst's stream records, against raw
//!    JetStream publishes of the same messages (acknowledged, as many in
//!    flight as the publisher's lanes) in the same run;
//! 3. watchers: 100 watches of one collection while writes go on at 100 a
//!    second: each watcher's events, and their latency.
//!
//! Environment: `DYNAMODB_ENDPOINT`, `NATS_URL` (required); `BENCH_WRITES`
//! (phase 1 and 3 writes, default 1000), `BENCH_BURST` (phase 2 changes,
//! default 2000), `BENCH_WATCHERS` (default 100).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use apiserver::{Api, ApiServer};
use async_nats::jetstream;
use e2e::measure::{ms, percentile};
use feed::{FeedConfig, Poller, Publisher};
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};
use store::stream::TableStream;
use store::Store;

const ISSUER: &str = "bench";
const AUDIENCE: &str = "milo";
const SECRET: &str = "bench-secret-with-at-least-32-bytes-of-key";
const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";
/// The writes' pace in phases 1 and 3.
const EVERY: Duration = Duration::from_millis(10);
/// As the publisher's lanes (feed::publisher, OBJECTS_IN_FLIGHT).
const IN_FLIGHT: usize = 32;

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let writes = number("BENCH_WRITES", 1000)?;
    let burst = number("BENCH_BURST", 2000)?;
    let watchers = number("BENCH_WATCHERS", 100)?;
    let nats_url = std::env::var("NATS_URL").context("NATS_URL")?;
    let client = async_nats::connect(&nats_url).await?;
    let js = jetstream::new(client.clone());

    let world = World::new(&nats_url, &js, true).await?;
    latency(&world, &client, writes).await?;
    rate(&nats_url, &js, burst).await?;
    let world = World::new(&nats_url, &js, true).await?;
    many_watchers(&world, writes.min(400), watchers).await?;
    Ok(())
}

fn number(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v.parse().with_context(|| format!("{name}={v:?}")),
        Err(_) => Ok(default),
    }
}

/// A table, a feed of its own, a server whose watches read it, and (when
/// asked) the publisher running.
struct World {
    server: Arc<ApiServer>,
    bearer: String,
    config: FeedConfig,
    store: Store,
    _publisher: Option<tokio::task::JoinHandle<()>>,
}

impl World {
    async fn new(nats_url: &str, js: &jetstream::Context, publish: bool) -> anyhow::Result<World> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let config = FeedConfig {
            nats_url: nats_url.to_string(),
            stream: format!("BENCH_CHANGES_{id}"),
            prefix: format!("bench.{id}"),
            checkpoints: format!("bench-positions-{id}"),
            duplicate_window: feed::config::DEFAULT_DUPLICATE_WINDOW,
            watch_stream: format!("BENCH_WATCH_{id}"),
            watch_prefix: format!("benchwatch.{id}"),
            watch_window: feed::config::DEFAULT_WATCH_WINDOW,
        };
        feed::streams::ensure_streams(js, &config).await?;
        let client = Store::client_from_env().await;
        let table = format!("feed-bench-{id}");
        store::table::create_table(&client, &table).await?;
        let store = Store::new(client.clone(), table.clone());
        let verifier = auth::Verifier::new(auth::AuthConfig::hs256(ISSUER, AUDIENCE, SECRET))?;
        let token = auth::mint_hs256(
            SECRET,
            ISSUER,
            AUDIENCE,
            "bench",
            &["system:masters".into()],
            3600,
        )?;
        let source = apiserver::watch::WatchSource::new(
            js.clone(),
            config.watch_stream.clone(),
            config.watch_prefix.clone(),
        );
        let server = ApiServer::new(
            store.clone(),
            verifier,
            b"continue-secret",
            apiserver::DEFAULT_CATALOG_REFRESH,
        )
        .map_err(anyhow::Error::msg)?
        .with_watch(source);
        let publisher = if publish {
            let publisher = Publisher::connect(config.clone(), store.clone()).await?;
            let poller = Poller::new(publisher, TableStream::open(&store).await?).await?;
            Some(tokio::spawn(async move { poller.run().await }))
        } else {
            None
        };
        let world = World {
            server: Arc::new(server),
            bearer: format!("Bearer {token}"),
            config,
            store,
            _publisher: publisher,
        };
        // The server's bootstrap (its first request) writes before the clock starts.
        world.call("GET", CONFIGMAPS, Value::Null).await?;
        Ok(world)
    }

    async fn call(&self, method: &str, uri: &str, body: Value) -> anyhow::Result<Value> {
        let caller = WorldRef {
            server: &self.server,
            bearer: &self.bearer,
        };
        caller.call(method, uri, body).await
    }

    /// A watch of the platform's ConfigMaps in default from now on; each
    /// event's arrival is recorded under "{name}:{counter}".
    async fn watch(&self, arrivals: Arrivals) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let request = http::Request::builder()
            .uri(format!(
                "{CONFIGMAPS}?watch=true&resourceVersion={}",
                self.position().await?
            ))
            .header("authorization", &self.bearer)
            .body(bytes::Bytes::new())?;
        let response = self.server.respond_streaming(request, Api::Resources).await;
        if !response.status().is_success() {
            bail!("watch: {}", response.status());
        }
        let mut body = response.into_body();
        Ok(tokio::spawn(async move {
            let mut pending = Vec::new();
            while let Some(chunk) = body.next().await {
                let now = Instant::now();
                pending.extend_from_slice(&chunk);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let Ok(frame) = serde_json::from_slice::<Value>(&line) else {
                        continue;
                    };
                    let object = &frame["object"];
                    let rv = object["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap_or_default();
                    let counter = rv.split('.').next().unwrap_or_default();
                    let key = format!(
                        "{}:{counter}",
                        object["metadata"]["name"].as_str().unwrap_or_default()
                    );
                    arrivals.lock().unwrap().entry(key).or_insert(now);
                }
            }
        }))
    }

    async fn position(&self) -> anyhow::Result<String> {
        let list = self.call("GET", CONFIGMAPS, Value::Null).await?;
        Ok(list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }
}

/// Writes at 100 a second: `count` changes over `count / 5` ConfigMaps
/// (a create, then updates); each write's answer time, by "{name}:{counter}".
async fn paced_writes(
    world: &World,
    count: usize,
) -> anyhow::Result<HashMap<String, (Instant, String)>> {
    let objects = (count / 5).max(1);
    let committed = Arc::new(Mutex::new(HashMap::new()));
    let mut tasks = Vec::new();
    let start = Instant::now();
    for i in 0..count {
        tokio::time::sleep_until((start + EVERY * i as u32).into()).await;
        let (object, version) = (i % objects, i / objects + 1);
        let name = format!("c{object}");
        let (method, uri, body) = if version == 1 {
            (
                "POST",
                CONFIGMAPS.to_string(),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": "1"}}),
            )
        } else {
            (
                "PATCH",
                format!("{CONFIGMAPS}/{name}"),
                json!({"data": {"v": version.to_string()}}),
            )
        };
        // One write per object at a time: the next version waits for this one.
        let done = tasks.len() >= objects;
        if done {
            let previous: tokio::task::JoinHandle<anyhow::Result<()>> = tasks.remove(0);
            previous.await??;
        }
        let server = world.server.clone();
        let bearer = world.bearer.clone();
        let committed = committed.clone();
        tasks.push(tokio::spawn(async move {
            let w = WorldRef {
                server: &server,
                bearer: &bearer,
            };
            let answer = w.call(method, &uri, body).await?;
            let at = Instant::now();
            let uid = answer["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let rv = answer["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            committed
                .lock()
                .unwrap()
                .insert(format!("{name}:{rv}"), (at, format!("{uid}:{rv}")));
            Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let committed = committed.lock().unwrap().clone();
    Ok(committed)
}

struct WorldRef<'a> {
    server: &'a ApiServer,
    bearer: &'a str,
}

impl WorldRef<'_> {
    async fn call(&self, method: &str, uri: &str, body: Value) -> anyhow::Result<Value> {
        let request = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", self.bearer)
            .header(
                "content-type",
                if method == "PATCH" {
                    "application/merge-patch+json"
                } else {
                    "application/json"
                },
            )
            .body(bytes::Bytes::from(match body {
                Value::Null => Vec::new(),
                body => serde_json::to_vec(&body)?,
            }))?;
        let response = self.server.handle(request).await;
        if !response.status().is_success() {
            bail!(
                "{method} {uri}: {} {}",
                response.status(),
                String::from_utf8_lossy(response.body())
            );
        }
        Ok(serde_json::from_slice(response.body())?)
    }
}

fn report(label: &str, mut latencies: Vec<Duration>, expected: usize) {
    latencies.sort_unstable();
    println!(
        "{label:<44} {:>6} of {:>6}   p50 {:>8} ms   p90 {:>8} ms   p99 {:>8} ms",
        latencies.len(),
        expected,
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 90.0)),
        ms(percentile(&latencies, 99.0)),
    );
}

/// Waits until `arrivals` holds `count` entries, or 60 s pass.
async fn settle(arrivals: &Arrivals, count: usize) {
    let started = Instant::now();
    while arrivals.lock().unwrap().len() < count && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn latency(world: &World, client: &async_nats::Client, writes: usize) -> anyhow::Result<()> {
    println!("1. commit → NATS message and → watch event, {writes} writes at 100/s");
    let nats: Arrivals = Arc::default();
    let mut subscription = client
        .subscribe(format!("{}.configmap.>", world.config.prefix))
        .await?;
    let listener = {
        let nats = nats.clone();
        tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                let now = Instant::now();
                let id = message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Nats-Msg-Id"))
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                nats.lock().unwrap().entry(id).or_insert(now);
            }
        })
    };
    let watched: Arrivals = Arc::default();
    let watch = world.watch(watched.clone()).await?;
    let committed = paced_writes(world, writes).await?;
    settle(&nats, writes).await;
    settle(&watched, writes).await;
    let to_nats = committed
        .values()
        .filter_map(|(at, id)| {
            nats.lock()
                .unwrap()
                .get(id)
                .map(|arrived| arrived.saturating_duration_since(*at))
        })
        .collect();
    let to_watch = committed
        .iter()
        .filter_map(|(key, (at, _))| {
            watched
                .lock()
                .unwrap()
                .get(key)
                .map(|arrived| arrived.saturating_duration_since(*at))
        })
        .collect();
    report("   commit → lifecycle event on NATS", to_nats, writes);
    report("   commit → watch event", to_watch, writes);
    listener.abort();
    watch.abort();
    Ok(())
}

async fn rate(nats_url: &str, js: &jetstream::Context, burst: usize) -> anyhow::Result<()> {
    println!("2. the publisher against raw JetStream publishes, {burst} changes (2 messages each)");
    let world = World::new(nats_url, js, false).await?;
    let objects = (burst / 4).max(1);
    stream::iter(0..burst)
        .map(|i| {
            let world = &world;
            async move {
                let name = format!("r{}", i % objects);
                let version = i / objects + 1;
                if version == 1 {
                    world.call("POST", CONFIGMAPS, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": "1"}})).await
                } else {
                    world.call("PATCH", &format!("{CONFIGMAPS}/{name}"), json!({"data": {"v": version.to_string()}})).await
                }
            }
        })
        .buffered(objects.min(IN_FLIGHT))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let stream = TableStream::open(&world.store).await?;
    let mut records = Vec::new();
    for shard in stream.shards().await? {
        let mut at = stream.iterator(&shard.id, None).await?;
        while let Some(iterator) = at {
            let page = stream.records(&iterator).await?;
            if page.records.is_empty() {
                break;
            }
            records.extend(page.records);
            at = page.next;
        }
    }
    let publisher = Publisher::connect(world.config.clone(), world.store.clone()).await?;
    let started = Instant::now();
    let published = publisher.publish(&records).await?;
    let publisher_time = started.elapsed();

    // The same messages, raw, to a stream of their own.
    let mut messages = Vec::new();
    for name in [&world.config.stream, &world.config.watch_stream] {
        let stream = js.get_stream(name).await?;
        let state = stream.get_info().await?.state;
        for sequence in state.first_sequence..=state.last_sequence {
            let message = stream.get_raw_message(sequence).await?;
            messages.push((message.subject.to_string(), message.payload.clone()));
        }
    }
    let raw_stream = format!("BENCH_RAW_{}", uuid::Uuid::new_v4().simple());
    js.create_stream(jetstream::stream::Config {
        name: raw_stream.clone(),
        subjects: vec![format!("{}.>", raw_stream.to_lowercase())],
        ..Default::default()
    })
    .await?;
    let started = Instant::now();
    let total = messages.len();
    stream::iter(messages)
        .map(|(subject, payload)| {
            let subject = format!("{}.{subject}", raw_stream.to_lowercase());
            async move {
                js.publish(subject, payload)
                    .await?
                    .await
                    .map(|_| ())
                    .map_err(anyhow::Error::from)
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let raw_time = started.elapsed();
    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "   publisher: {} messages ({} records) in {} ms = {:.0} msg/s",
        published.stored,
        records.len(),
        ms(publisher_time),
        rate(published.stored, publisher_time)
    );
    println!(
        "   raw JetStream publish + ack, {IN_FLIGHT} in flight: {total} messages in {} ms = {:.0} msg/s",
        ms(raw_time),
        rate(total, raw_time)
    );
    println!(
        "   publisher / raw: {:.2}",
        rate(published.stored, publisher_time) / rate(total, raw_time)
    );
    Ok(())
}

async fn many_watchers(world: &World, writes: usize, watchers: usize) -> anyhow::Result<()> {
    println!("3. {watchers} watchers of one collection, {writes} writes at 100/s");
    let mut all = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..watchers {
        let arrivals: Arrivals = Arc::default();
        tasks.push(world.watch(arrivals.clone()).await?);
        all.push(arrivals);
    }
    let committed = paced_writes(world, writes).await?;
    let mut latencies = Vec::new();
    let mut complete = 0;
    for arrivals in &all {
        settle(arrivals, writes).await;
        let arrivals = arrivals.lock().unwrap();
        if arrivals.len() >= writes {
            complete += 1;
        }
        latencies.extend(committed.iter().filter_map(|(key, (at, _))| {
            arrivals
                .get(key)
                .map(|arrived| arrived.saturating_duration_since(*at))
        }));
    }
    report(
        "   commit → watch event, every watcher",
        latencies,
        writes * watchers,
    );
    println!("   watchers that saw every change: {complete} of {watchers}");
    for task in tasks {
        task.abort();
    }
    Ok(())
}
