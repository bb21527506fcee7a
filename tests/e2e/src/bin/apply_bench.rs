//! Server-side apply's benchmark (#23), the server in-process against
//! DynamoDB Local, on 2 KB ConfigMaps in a project:
//!
//! - an apply that changes nothing (answered without a write);
//! - an apply that changes one field;
//! - a merge patch of the same one-field change;
//! - beside them, the raw DynamoDB calls an update makes: a consistent
//!   GetItem and a conditional PutItem of a 2 KB item;
//!
//! each at concurrency 1 and 32: p50, p99, ops/s. docs/benchmarks.md has
//! the command and the figures. Environment: `DYNAMODB_ENDPOINT`
//! (required), `BENCH_OPS` (per row, default 2000).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::anyhow;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use e2e::measure::{measure, ms, ops_from_env, Stats};
use e2e::pipeline::InProcess;
use e2e::raw::{self, key_item, s};
use serde_json::{json, Value};
use store::ItemKey;

const G: &str = "/apis/resourcemanager.miloapis.com/v1alpha1";
/// The objects the operations go round, so that 32 at once rarely meet.
const OBJECTS: usize = 64;

struct Bench {
    api: InProcess,
    client: aws_sdk_dynamodb::Client,
    table: String,
    next: AtomicUsize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let ops = ops_from_env()?;
    let client = store::Store::client_from_env().await;
    let table = format!("apply-bench-{}", uuid::Uuid::new_v4().simple());
    raw::create_table(&client, &table).await?;
    let result = run(&client, &table, ops).await;
    raw::drop_table(&client, &table).await;
    print_report(ops, &result?);
    Ok(())
}

/// A ConfigMap of about 2 KB: 32 keys of 60 characters, and `counter`.
fn configmap(name: &str, counter: usize) -> Value {
    let mut data = serde_json::Map::new();
    for key in 0..32 {
        data.insert(format!("key-{key:02}"), json!("v".repeat(60)));
    }
    data.insert("counter".into(), json!(counter.to_string()));
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": "default"}, "data": data})
}

fn configmaps() -> String {
    format!("{G}/projects/bench-p/control-plane/api/v1/namespaces/default/configmaps")
}

async fn run(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    ops: usize,
) -> anyhow::Result<Vec<(&'static str, usize, Stats)>> {
    let api = InProcess::new(client.clone(), table)?;
    let org = json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Organization",
        "metadata": {"name": "bench-o"}, "spec": {"type": "Standard"}});
    api.call("POST", &format!("{G}/organizations"), &org, 201)
        .await?;
    let project = json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project",
        "metadata": {"name": "bench-p"},
        "spec": {"ownerRef": {"kind": "Organization", "name": "bench-o"}}});
    api.call("POST", &format!("{G}/projects"), &project, 201)
        .await?;
    for i in 0..OBJECTS {
        let name = format!("cm-{i}");
        let uri = format!("{}/{name}?fieldManager=bench", configmaps());
        api.apply(&uri, &configmap(&name, 0), 201).await?;
    }
    let raw_item = raw_item(&"x".repeat(2048));
    client
        .put_item()
        .table_name(table)
        .set_item(Some(raw_item))
        .send()
        .await
        .map_err(|e| anyhow!("raw PutItem: {}", DisplayErrorContext(e)))?;
    let bench = Arc::new(Bench {
        api,
        client: client.clone(),
        table: table.to_string(),
        next: AtomicUsize::new(1),
    });
    let mut rows = Vec::new();
    // Scenario by scenario: the unchanged applies come before anything
    // changes the objects, the merge patches after the applies they would
    // otherwise take fields from.
    for scenario in SCENARIOS {
        for concurrency in [1, 32] {
            eprintln!("{scenario}, concurrency {concurrency}…");
            let b = bench.clone();
            let sample = measure(ops, concurrency, move || {
                let b = b.clone();
                async move { b.op(scenario).await }
            })
            .await?;
            rows.push((scenario, concurrency, Stats::of(sample)));
        }
    }
    Ok(rows)
}

const SCENARIOS: [&str; 4] = [
    "apply, unchanged",
    "apply, one field changed",
    "merge patch, one field changed",
    "raw GetItem + PutItem",
];

impl Bench {
    async fn op(&self, scenario: &'static str) -> anyhow::Result<()> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let name = format!("cm-{}", n % OBJECTS);
        let uri = format!("{}/{name}", configmaps());
        match scenario {
            "apply, unchanged" => {
                let body = configmap(&name, 0);
                self.api
                    .apply(&format!("{uri}?fieldManager=bench"), &body, 200)
                    .await?;
            }
            "apply, one field changed" => {
                let body = configmap(&name, n);
                self.api
                    .apply(&format!("{uri}?fieldManager=bench"), &body, 200)
                    .await?;
            }
            "merge patch, one field changed" => {
                let patch = json!({"data": {"counter": n.to_string()}});
                self.api
                    .call("PATCH", &format!("{uri}?fieldManager=patcher"), &patch, 200)
                    .await?;
            }
            _ => self.raw_update(n).await?,
        }
        Ok(())
    }

    /// What an update costs DynamoDB at least: the item read, then put
    /// back under a condition on what was read.
    async fn raw_update(&self, n: usize) -> anyhow::Result<()> {
        let key = raw_key();
        let item = raw::get_item(&self.client, &self.table, &key)
            .await?
            .ok_or_else(|| anyhow!("the raw item is gone"))?;
        let body = match item.get("obj") {
            Some(AttributeValue::S(body)) => body.clone(),
            _ => String::new(),
        };
        let mut next = raw_item(&body);
        next.insert("n".into(), AttributeValue::N(n.to_string()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(next))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .map_err(|e| anyhow!("raw PutItem: {}", DisplayErrorContext(e)))?;
        Ok(())
    }
}

fn raw_key() -> ItemKey {
    ItemKey {
        pk: "bench#raw".into(),
        sk: "item".into(),
    }
}

fn raw_item(body: &str) -> std::collections::HashMap<String, AttributeValue> {
    let mut item = key_item(&raw_key());
    item.insert("obj".into(), s(body));
    item
}

fn print_report(ops: usize, rows: &[(&'static str, usize, Stats)]) {
    println!("{ops} operations per row, 2 KB ConfigMaps, DynamoDB Local:\n");
    println!("| operation | concurrency | p50 ms | p99 ms | ops/s | raw p50 / p50 |");
    println!("|---|--:|--:|--:|--:|--:|");
    for (scenario, concurrency, stats) in rows {
        let raw = rows
            .iter()
            .find(|(s, c, _)| s.starts_with("raw") && c == concurrency)
            .map(|(_, _, raw)| raw.p50.as_secs_f64())
            .unwrap_or_default();
        println!(
            "| {scenario} | {concurrency} | {} | {} | {:.0} | {:.2} |",
            ms(stats.p50),
            ms(stats.p99),
            stats.ops_per_sec,
            raw / stats.p50.as_secs_f64().max(f64::MIN_POSITIVE)
        );
    }
}
