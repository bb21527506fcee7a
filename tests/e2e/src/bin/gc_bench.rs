//! The deletion benchmark (#21): what emptying a project's control plane
//! through the gc function costs, against raw deletes of the same items.
//!
//! In one run against DynamoDB Local:
//!
//! 1. cascade: an organization, a project and N ConfigMaps in the project's
//!    `default` namespace, put through the API (untimed); then, timed, the
//!    project's DELETE and `apiserver::gc::sweep` passes until the project
//!    is gone, with the moment its namespace holds nothing;
//! 2. raw: every item those N objects put (read back from the table before
//!    the delete) written to a fresh table and deleted with BatchWriteItem,
//!    25 to a batch, as many batches in flight as the gc has deletes;
//! 3. orphans: an owner ConfigMap with N dependents naming its uid, the
//!    owner deleted (Background), and sweeps until the dependents are gone.
//!
//! The server's DynamoDB calls go through a counting relay (`Calls`), so
//! the reads each phase makes are counted at the wire, not in the store.
//! docs/benchmarks.md has the command and the figures.
//!
//! Environment: `DYNAMODB_ENDPOINT` (required), `BENCH_OBJECTS` (N; default
//! 10000).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use e2e::measure::measure;
use e2e::pipeline::InProcess;
use e2e::raw::{self, s};
use futures_util::{stream, StreamExt, TryStreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const G: &str = "/apis/resourcemanager.miloapis.com/v1alpha1";
const ORG: &str = "gc-bench-org";
const PROJECT: &str = "gc-bench-p";
/// As the batches of a sealed container's bulk delete in flight
/// (apiserver's objects/delete_collection.rs, `IN_FLIGHT`): the raw side
/// gets the same concurrency.
const IN_FLIGHT: usize = 16;
/// The puts of the setup, untimed.
const SETUP_CONCURRENCY: usize = 32;
/// BatchWriteItem's limit.
const BATCH: usize = 25;
/// A pass that leaves the project still there this many times is a bug.
const MAX_PASSES: usize = 20;

type Item = HashMap<String, AttributeValue>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let objects = objects_from_env()?;
    let endpoint = std::env::var("DYNAMODB_ENDPOINT")?;
    let direct = store::Store::client_from_env().await;
    let calls = Calls::relay(&endpoint).await?;
    let counted = Client::from_conf(
        direct
            .config()
            .to_builder()
            .endpoint_url(&calls.url)
            .build(),
    );
    let mut tables = Vec::new();
    let result = benchmark(&direct, &counted, &calls, objects, &mut tables).await;
    for table in &tables {
        raw::drop_table(&direct, table).await;
    }
    print_report(objects, &result?);
    Ok(())
}

struct Report {
    items: usize,
    empty: Duration,
    gone: Duration,
    passes: usize,
    cascade_calls: HashMap<String, usize>,
    raw: Duration,
    orphans: Duration,
    orphan_passes: usize,
    orphan_calls: HashMap<String, usize>,
}

async fn benchmark(
    direct: &Client,
    counted: &Client,
    calls: &Calls,
    objects: usize,
    tables: &mut Vec<String>,
) -> anyhow::Result<Report> {
    let table = fresh_table(direct, tables).await?;
    let admin = Arc::new(InProcess::new(counted.clone(), &table)?);
    setup_project(&admin).await?;
    let before: HashSet<(String, String)> =
        scan(direct, &table).await?.iter().map(key_of).collect();
    eprintln!("putting {objects} ConfigMaps…");
    put_configmaps(&admin, objects, None).await?;
    let items: Vec<Item> = scan(direct, &table)
        .await?
        .into_iter()
        .filter(|i| !before.contains(&key_of(i)))
        .collect();
    let children_pk = items
        .iter()
        .map(|i| text(i, "pk"))
        .find(|pk| pk.starts_with("c#") && pk.contains("Namespace"))
        .ok_or_else(|| {
            anyhow!(
                "no child index item of the namespace among {} items",
                items.len()
            )
        })?;

    eprintln!("deleting the project ({} items)…", items.len());
    let counts = calls.snapshot();
    let (empty, gone, passes) = cascade(&admin, direct, &table, &children_pk).await?;
    let cascade_calls = calls.since(&counts);

    eprintln!("raw BatchWriteItem deletes of the same items…");
    let raw_table = fresh_table(direct, tables).await?;
    batch_write(direct, &raw_table, items.iter().map(put_request).collect()).await?;
    let began = Instant::now();
    batch_write(
        direct,
        &raw_table,
        items.iter().map(delete_request).collect(),
    )
    .await?;
    let raw = began.elapsed();

    eprintln!("orphans: an owner and {objects} dependents…");
    let table = fresh_table(direct, tables).await?;
    let admin = Arc::new(InProcess::new(counted.clone(), &table)?);
    setup_project(&admin).await?;
    let (orphans, orphan_passes, orphan_calls) = orphans(&admin, calls, objects).await?;
    Ok(Report {
        items: items.len(),
        empty,
        gone,
        passes,
        cascade_calls,
        raw,
        orphans,
        orphan_passes,
        orphan_calls,
    })
}

/// The project's DELETE, then gc passes until it is gone: the time until
/// its namespace lists nothing (watched beside the passes), until the
/// project is gone, and the passes it took.
async fn cascade(
    admin: &InProcess,
    direct: &Client,
    table: &str,
    children_pk: &str,
) -> anyhow::Result<(Duration, Duration, usize)> {
    let began = Instant::now();
    let emptied = tokio::spawn(watch_empty(
        direct.clone(),
        table.into(),
        children_pk.into(),
    ));
    let (status, body) = admin
        .send("DELETE", &format!("{G}/projects/{PROJECT}"), &Value::Null)
        .await?;
    if !matches!(status, 200 | 202) {
        bail!(
            "project DELETE: {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    for pass in 1..=MAX_PASSES {
        apiserver::gc::sweep(admin.server())
            .await
            .map_err(|e| anyhow!("gc pass: {e:?}"))?;
        let (status, _) = admin
            .send("GET", &format!("{G}/projects/{PROJECT}"), &Value::Null)
            .await?;
        if status == 404 {
            let gone = began.elapsed();
            let empty = emptied.await?? - began;
            return Ok((empty, gone, pass));
        }
    }
    bail!("the project is still there after {MAX_PASSES} passes")
}

/// When the children index partition of the namespace first reads empty.
async fn watch_empty(client: Client, table: String, pk: String) -> anyhow::Result<Instant> {
    loop {
        let page = client
            .query()
            .table_name(&table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(&pk))
            .limit(1)
            .send()
            .await
            .map_err(|e| anyhow!("watching the namespace: {}", DisplayErrorContext(e)))?;
        if page.items().is_empty() {
            return Ok(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An owner with `objects` dependents, deleted Background; sweeps until
/// the orphaned queue is empty: the time, the passes and the calls.
async fn orphans(
    admin: &Arc<InProcess>,
    calls: &Calls,
    objects: usize,
) -> anyhow::Result<(Duration, usize, HashMap<String, usize>)> {
    let path = format!("{}/owner", configmaps());
    let body = admin
        .call("POST", &configmaps(), &configmap("owner", None), 201)
        .await?;
    let owner: Value = serde_json::from_slice(&body)?;
    let uid = owner["metadata"]["uid"]
        .as_str()
        .ok_or_else(|| anyhow!("the owner has no uid: {owner}"))?
        .to_string();
    put_configmaps(admin, objects, Some(uid)).await?;
    let counts = calls.snapshot();
    let began = Instant::now();
    admin
        .call(
            "DELETE",
            &path,
            &json!({"propagationPolicy": "Background"}),
            200,
        )
        .await?;
    for pass in 1..=MAX_PASSES {
        let done = apiserver::gc::sweep(admin.server())
            .await
            .map_err(|e| anyhow!("gc pass: {e:?}"))?;
        if done.queued == 0 {
            let (elapsed, counted) = (began.elapsed(), calls.since(&counts));
            let (status, list) = admin
                .send("GET", &format!("{}?limit=1", configmaps()), &Value::Null)
                .await?;
            let list: Value = serde_json::from_slice(&list)?;
            if status != 200 || list["items"].as_array().is_none_or(|i| !i.is_empty()) {
                bail!("the queue is empty but dependents are left: {status} {list}");
            }
            return Ok((elapsed, pass, counted));
        }
    }
    bail!("dependents still queued after {MAX_PASSES} passes")
}

async fn setup_project(admin: &InProcess) -> anyhow::Result<()> {
    let org = json!({
        "apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Organization",
        "metadata": {"name": ORG}, "spec": {"type": "Standard"}
    });
    admin
        .call("POST", &format!("{G}/organizations"), &org, 201)
        .await?;
    let project = json!({
        "apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project",
        "metadata": {"name": PROJECT},
        "spec": {"ownerRef": {"kind": "Organization", "name": ORG}}
    });
    admin
        .call("POST", &format!("{G}/projects"), &project, 201)
        .await
        .map(drop)
}

/// `objects` ConfigMaps `cm-{n:06}` in the project's default namespace,
/// dependents of `owner` (a uid) when given.
async fn put_configmaps(
    admin: &Arc<InProcess>,
    objects: usize,
    owner: Option<String>,
) -> anyhow::Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let (admin, owner) = (admin.clone(), Arc::new(owner));
    measure(objects, SETUP_CONCURRENCY, move || {
        let (admin, owner) = (admin.clone(), owner.clone());
        let n = next.fetch_add(1, Ordering::Relaxed);
        async move {
            let body = configmap(&format!("cm-{n:06}"), owner.as_deref());
            admin
                .call("POST", &configmaps(), &body, 201)
                .await
                .map(drop)
        }
    })
    .await
    .map(drop)
}

fn configmaps() -> String {
    format!("{G}/projects/{PROJECT}/control-plane/api/v1/namespaces/default/configmaps")
}

fn configmap(name: &str, owner: Option<&str>) -> Value {
    let mut body = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"k": "v"}
    });
    if let Some(uid) = owner {
        body["metadata"]["ownerReferences"] = json!([{
            "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid
        }]);
    }
    body
}

// ---------------------------------------------------------------------------
// Raw DynamoDB

async fn fresh_table(client: &Client, tables: &mut Vec<String>) -> anyhow::Result<String> {
    let table = format!("gc-bench-{}", uuid::Uuid::new_v4().simple());
    raw::create_table(client, &table).await?;
    tables.push(table.clone());
    Ok(table)
}

async fn scan(client: &Client, table: &str) -> anyhow::Result<Vec<Item>> {
    client
        .scan()
        .table_name(table)
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| anyhow!("Scan: {}", DisplayErrorContext(e)))
}

fn key_of(item: &Item) -> (String, String) {
    (text(item, "pk"), text(item, "sk"))
}

fn text(item: &Item, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        _ => String::new(),
    }
}

fn put_request(item: &Item) -> anyhow::Result<WriteRequest> {
    let put = PutRequest::builder().set_item(Some(item.clone())).build()?;
    Ok(WriteRequest::builder().put_request(put).build())
}

fn delete_request(item: &Item) -> anyhow::Result<WriteRequest> {
    let (pk, sk) = key_of(item);
    let delete = DeleteRequest::builder()
        .key("pk", s(&pk))
        .key("sk", s(&sk))
        .build()?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}

/// The requests in batches of 25, `IN_FLIGHT` at once, each retried
/// until nothing is left unprocessed.
async fn batch_write(
    client: &Client,
    table: &str,
    requests: Vec<anyhow::Result<WriteRequest>>,
) -> anyhow::Result<()> {
    let requests = requests.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    stream::iter(requests.chunks(BATCH).map(<[_]>::to_vec))
        .map(|batch| async move {
            let mut pending = batch;
            while !pending.is_empty() {
                let out = client
                    .batch_write_item()
                    .request_items(table, std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(|e| anyhow!("BatchWriteItem: {}", DisplayErrorContext(e)))?;
                if let Some(rest) = out.unprocessed_items.and_then(|mut u| u.remove(table)) {
                    pending = rest;
                }
            }
            anyhow::Ok(())
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<()>()
        .await
}

// ---------------------------------------------------------------------------
// Counting the server's calls

/// A TCP relay in front of DynamoDB Local that counts each request by its
/// `X-Amz-Target` operation (`DynamoDB_20120810.{Operation}`).
struct Calls {
    url: String,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

const TARGET: &[u8] = b"DynamoDB_20120810.";

impl Calls {
    async fn relay(endpoint: &str) -> anyhow::Result<Calls> {
        let upstream = endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let shared = counts.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, counts) = (upstream.clone(), shared.clone());
                tokio::spawn(async move {
                    if let Err(e) = relay_one(client, &upstream, &counts).await {
                        eprintln!("relay: {e}");
                    }
                });
            }
        });
        Ok(Calls { url, counts })
    }

    fn snapshot(&self) -> HashMap<String, usize> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn since(&self, before: &HashMap<String, usize>) -> HashMap<String, usize> {
        let mut now = self.snapshot();
        for (operation, n) in now.iter_mut() {
            *n -= before.get(operation).copied().unwrap_or(0);
        }
        now.retain(|_, n| *n > 0);
        now
    }
}

/// Copies one connection both ways, counting the operations it asks for.
/// An operation's name is counted once the byte after it has arrived; the
/// tail of each read is kept so a name split across reads is seen whole.
async fn relay_one(
    client: tokio::net::TcpStream,
    upstream: &str,
    counts: &Mutex<HashMap<String, usize>>,
) -> anyhow::Result<()> {
    let server = tokio::net::TcpStream::connect(upstream)
        .await
        .with_context(|| format!("connecting to {upstream}"))?;
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let back = tokio::spawn(async move { tokio::io::copy(&mut from_server, &mut to_client).await });
    let mut seen: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from_client.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let carried = seen.len();
        seen.extend_from_slice(&buf[..n]);
        for (operation, end) in operations(&seen) {
            if end >= carried {
                if let Ok(mut c) = counts.lock() {
                    *c.entry(operation).or_default() += 1;
                }
            }
        }
        seen.drain(..seen.len().saturating_sub(80));
        to_server.write_all(&buf[..n]).await?;
    }
    to_server.shutdown().await?;
    back.await??;
    Ok(())
}

/// The complete operation names in `bytes`, each with the index of the
/// byte that ends it.
fn operations(bytes: &[u8]) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(start) = find(&bytes[at..], TARGET).map(|i| at + i + TARGET.len()) {
        let len = bytes[start..]
            .iter()
            .position(|b| !b.is_ascii_alphanumeric());
        match len {
            Some(len) if len > 0 => {
                let name = String::from_utf8_lossy(&bytes[start..start + len]).into_owned();
                found.push((name, start + len));
            }
            _ => {}
        }
        at = start;
    }
    found
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------

fn objects_from_env() -> anyhow::Result<usize> {
    if std::env::var("DYNAMODB_ENDPOINT").is_err() {
        bail!("DYNAMODB_ENDPOINT is not set: run `make bench-gc`, which starts the local stack");
    }
    match std::env::var("BENCH_OBJECTS") {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| anyhow!("BENCH_OBJECTS must be a positive whole number, not {v:?}")),
        Err(_) => Ok(10_000),
    }
}

fn print_report(objects: usize, r: &Report) {
    let secs = |d: Duration| d.as_secs_f64();
    let per = |n: usize| n as f64 * 10_000.0 / objects as f64;
    println!(
        "\n## Deletion: {objects} ConfigMaps in a project's default namespace ({} items)\n",
        r.items
    );
    println!("| phase | seconds | objects/s |");
    println!("|---|--:|--:|");
    println!(
        "| project DELETE → namespace empty | {:.2} | {:.0} |",
        secs(r.empty),
        objects as f64 / secs(r.empty)
    );
    println!(
        "| project DELETE → project gone ({} passes) | {:.2} | {:.0} |",
        r.passes,
        secs(r.gone),
        objects as f64 / secs(r.gone)
    );
    println!("| raw BatchWriteItem deletes of the same {} items ({IN_FLIGHT} batches of {BATCH} in flight) | {:.2} | {:.0} |", r.items, secs(r.raw), objects as f64 / secs(r.raw));
    println!(
        "| orphans: owner DELETE → dependents gone, queue empty ({} passes) | {:.2} | {:.0} |",
        r.orphan_passes,
        secs(r.orphans),
        objects as f64 / secs(r.orphans)
    );
    println!(
        "\nratio, namespace empty / raw: {:.1}×; project gone / raw: {:.1}×",
        secs(r.empty) / secs(r.raw),
        secs(r.gone) / secs(r.raw)
    );
    for (phase, calls) in [
        ("cascade", &r.cascade_calls),
        ("orphan sweeps", &r.orphan_calls),
    ] {
        let mut rows: Vec<_> = calls.iter().collect();
        rows.sort();
        println!("\nDynamoDB calls of the {phase}, per 10 000 objects:\n");
        println!("| operation | calls | per 10 000 objects |");
        println!("|---|--:|--:|");
        for (operation, n) in rows {
            println!("| {operation} | {n} | {:.0} |", per(*n));
        }
    }
}
