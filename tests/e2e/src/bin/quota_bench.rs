//! The quota benchmark (#5), in one run against DynamoDB Local: project
//! creates through `ApiServer::handle` in-process, in an organization a
//! ClaimCreationPolicy matches (claim + bucket increments in the create's
//! transaction) against one it does not match (the policy is read and its
//! constraint evaluated, nothing claimed), at concurrency 1 and 32, the
//! sides alternating over rounds. Every quota create lands on the same
//! organization bucket: at 32 that is the contended case.
//!
//! Beside them, in the same rounds, the raw TransactWriteItems of the
//! same shapes (9 items, and 11 with a claim and a bucket update): the
//! floor DynamoDB Local itself sets for the ratio. Last, the quota
//! function's reading of all the run wrote, through the type index and
//! through every context.
//!
//! The run writes to a table of its own, stream off, dropped at the end.
//! docs/benchmarks.md has the figures. Environment: `DYNAMODB_ENDPOINT`
//! (required), `BENCH_OPS` (creates per side and concurrency; default 2000).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use e2e::measure::{measure, ms, ops_from_env, percentile, Sample, Stats};
use e2e::pipeline::InProcess;
use e2e::quota_docs;
use e2e::raw;
use serde_json::json;

const G: &str = "/apis/resourcemanager.miloapis.com/v1alpha1";
const Q: &str = "/apis/quota.miloapis.com/v1alpha1";
const FREE: &str = "bench-free";
const LIMITED: &str = "bench-quota";
const TYPE: &str = "bench.quota.miloapis.com/projects";
const CONCURRENCIES: [usize; 2] = [1, 32];
const ROUNDS: usize = 4;
const WARMUP: usize = 40;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let ops = ops_from_env()?;
    let client = store::Store::client_from_env().await;
    // A table of its own with the stream off, as every benchmark has (see
    // e2e::raw::create_table): the stack's table keeps the template's stream on.
    let table = format!("quota-bench-{}", uuid::Uuid::new_v4().simple());
    raw::create_table(&client, &table).await?;
    let result = bench(client.clone(), &table, ops).await;
    raw::drop_table(&client, &table).await;
    result
}

async fn bench(client: aws_sdk_dynamodb::Client, table: &str, ops: usize) -> anyhow::Result<()> {
    let raw = Raw::new(client.clone(), table).await?;
    let audit_store = store::Store::new(client.clone(), table.to_string());
    let api = Arc::new(InProcess::new(client, table)?);
    setup(&api, ops).await.context("setup")?;
    let counter = Arc::new(AtomicUsize::new(0));
    println!(
        "| concurrency | side | p50 ms | p99 ms | creates/s | CPU ms/create: bench process | DynamoDB Local |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for concurrency in CONCURRENCIES {
        let mut free = Sample::default();
        let mut limited = Sample::default();
        let (mut raw_free, mut raw_limited) = (Sample::default(), Sample::default());
        // Unmeasured, at this concurrency: connections, caches and the
        // bucket item warm on every side before any is timed.
        let warmup = WARMUP.max(concurrency * 4);
        for org in [FREE, LIMITED] {
            run(&api, &counter, org, warmup, concurrency).await?;
        }
        for claim in [false, true] {
            raw.run(&counter, claim, warmup, concurrency).await?;
        }
        let mut round_ratios = Vec::new();
        for round in 0..ROUNDS {
            let per_round = ops.div_ceil(ROUNDS);
            // ABBA: over the four rounds each side runs as often first as
            // second, so DynamoDB Local slowing as the table grows weighs on
            // both alike.
            let order = if matches!(round % 4, 0 | 3) {
                [FREE, LIMITED]
            } else {
                [LIMITED, FREE]
            };
            let mut p50 = [Duration::ZERO; 2];
            for org in order {
                let sample = run(&api, &counter, org, per_round, concurrency).await?;
                let side = usize::from(org == LIMITED);
                p50[side] = median(&sample);
                if org == FREE {
                    free.add(sample);
                } else {
                    limited.add(sample);
                }
                let claim = org == LIMITED;
                let sample = raw.run(&counter, claim, per_round, concurrency).await?;
                if claim {
                    raw_limited.add(sample);
                } else {
                    raw_free.add(sample);
                }
            }
            round_ratios.push(p50[1].as_secs_f64() / p50[0].as_secs_f64());
        }
        let (f, l) = (Stats::of(free), Stats::of(limited));
        let (rf, rl) = (Stats::of(raw_free), Stats::of(raw_limited));
        for (side, s) in [
            ("without quota", &f),
            ("with quota", &l),
            ("raw: 9 items", &rf),
            ("raw: 11 items", &rl),
        ] {
            println!(
                "| {concurrency} | {side} | {} | {} | {:.0} | {} | {} |",
                ms(s.p50),
                ms(s.p99),
                s.ops_per_sec,
                ms(s.own_cpu),
                ms(s.dynamodb_cpu)
            );
        }
        let ratio = |a: &Stats, b: &Stats| {
            (
                a.p50.as_secs_f64() / b.p50.as_secs_f64(),
                a.p99.as_secs_f64() / b.p99.as_secs_f64(),
            )
        };
        ratios.push((concurrency, ratio(&l, &f), ratio(&rl, &rf), round_ratios));
    }
    println!();
    for (c, (p50, p99), (raw50, raw99), rounds) in ratios {
        let rounds: Vec<String> = rounds.iter().map(|r| format!("×{r:.2}")).collect();
        println!(
            "concurrency {c}: with/without quota p50 ×{p50:.2}, p99 ×{p99:.2} (p50 by round: {}); raw 11/9 items p50 ×{raw50:.2}, p99 ×{raw99:.2}",
            rounds.join(" ")
        );
    }
    println!();
    audit_figures(&audit_store).await?;
    Ok(())
}

/// The quota function's reading of everything the run wrote (#5): grants
/// and claims through the type index, as every audit reads them, and from
/// every context's own collection, as it reads them again to confirm a
/// drift; beside them the raw type-index Queries alone (the pages of
/// grants and claims, nothing parsed or counted).
async fn audit_figures(store: &store::Store) -> anyhow::Result<()> {
    use apiserver::quota_audit::{survey, Source};
    let projects = store
        .count_of_type("resourcemanager.miloapis.com", "Project")
        .await?;
    let started = std::time::Instant::now();
    for kind in ["ResourceGrant", "ResourceClaim"] {
        let mut start = None;
        loop {
            let page = store
                .query_type("quota.miloapis.com", kind, 500, start)
                .await?;
            start = page.next;
            if start.is_none() {
                break;
            }
        }
    }
    let raw = started.elapsed();
    let mut timed = Vec::new();
    for source in [Source::TypeIndex, Source::EveryContext] {
        let started = std::time::Instant::now();
        let reading = survey(store, source)
            .await
            .map_err(|e| anyhow::anyhow!("audit: {e}"))?;
        anyhow::ensure!(
            reading.drifts.is_empty(),
            "drift: {:?}",
            reading.drifts.len()
        );
        timed.push((source, started.elapsed(), reading.claims, reading.grants));
    }
    for (source, took, claims, grants) in timed {
        println!(
            "audit ({source:?}) of {claims} claims and {grants} grants, {projects} projects: {} ms (×{:.1} the raw type-index Queries, {} ms)",
            ms(took),
            took.as_secs_f64() / raw.as_secs_f64(),
            ms(raw)
        );
    }
    Ok(())
}

/// A run's median latency.
fn median(sample: &Sample) -> Duration {
    let mut sorted = sample.latencies.clone();
    sorted.sort_unstable();
    percentile(&sorted, 50.0)
}

async fn run(
    api: &Arc<InProcess>,
    counter: &Arc<AtomicUsize>,
    org: &'static str,
    ops: usize,
    concurrency: usize,
) -> anyhow::Result<Sample> {
    let (api, counter) = (api.clone(), counter.clone());
    measure(ops, concurrency, move || {
        let (api, counter) = (api.clone(), counter.clone());
        async move {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let body = json!({
                "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
                "kind": "Project",
                "metadata": {"name": format!("p-{n}")},
                "spec": {"ownerRef": {"kind": "Organization", "name": org}}
            });
            api.call("POST", &format!("{G}/projects"), &body, 201)
                .await?;
            Ok(())
        }
    })
    .await
}

async fn setup(api: &InProcess, ops: usize) -> anyhow::Result<()> {
    let docs = [
        (
            format!("{Q}/resourceregistrations"),
            quota_docs::project_registration("bench-projects", TYPE),
        ),
        (
            format!("{Q}/claimcreationpolicies"),
            quota_docs::project_claim_policy("bench-projects", TYPE, LIMITED),
        ),
    ];
    for (uri, body) in docs {
        api.call("POST", &uri, &body, 201).await?;
    }
    for org in [FREE, LIMITED] {
        let body = json!({
            "apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Organization",
            "metadata": {"name": org}, "spec": {"type": "Standard"}
        });
        api.call("POST", &format!("{G}/organizations"), &body, 201)
            .await?;
    }
    let grant = quota_docs::organization_grant("bench", LIMITED, TYPE, ops * 4 + 100);
    api.call(
        "POST",
        &format!("{Q}/namespaces/organization-{LIMITED}/resourcegrants"),
        &grant,
        201,
    )
    .await?;
    Ok(())
}

/// The raw DynamoDB floor, in the same run: TransactWriteItems of the
/// shapes the two sides write, without the pipeline. Without quota, a
/// project create's 9 items (two object documents, seven small index and
/// relationship items); with quota, those and the claim's two (its
/// document, and the conditional counter update of one shared bucket item).
struct Raw {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

const RAW_BUCKET: &str = "raw-bucket";

impl Raw {
    async fn new(client: aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<Self> {
        use aws_sdk_dynamodb::types::AttributeValue as A;
        client
            .put_item()
            .table_name(table)
            .item("pk", A::S(RAW_BUCKET.into()))
            .item("sk", A::S("_".into()))
            .item("b_allocated", A::N("0".into()))
            .item("b_claims", A::N("0".into()))
            .item("b_headroom", A::N("1000000000".into()))
            .item("rv", A::N("1".into()))
            .send()
            .await?;
        Ok(Self {
            client,
            table: table.to_string(),
        })
    }

    async fn run(
        &self,
        counter: &Arc<AtomicUsize>,
        claim: bool,
        ops: usize,
        concurrency: usize,
    ) -> anyhow::Result<Sample> {
        let (client, table, counter) = (self.client.clone(), self.table.clone(), counter.clone());
        measure(ops, concurrency, move || {
            let (client, table) = (client.clone(), table.clone());
            let n = counter.fetch_add(1, Ordering::Relaxed);
            async move {
                client
                    .transact_write_items()
                    .set_transact_items(Some(raw_items(&table, n, claim)?))
                    .send()
                    .await?;
                Ok(())
            }
        })
        .await
    }
}

fn raw_items(
    table: &str,
    n: usize,
    claim: bool,
) -> anyhow::Result<Vec<aws_sdk_dynamodb::types::TransactWriteItem>> {
    use aws_sdk_dynamodb::types::{AttributeValue as A, Put, TransactWriteItem, Update};
    let document = |kind: &str| {
        json!({"apiVersion": "v1alpha1", "kind": kind, "metadata": {"name": format!("raw-{n}"),
            "uid": uuid::Uuid::new_v4().to_string(), "labels": {"a": "b"}},
            "spec": {"ownerRef": {"kind": "Organization", "name": "raw"}},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Raw"}]}})
        .to_string()
    };
    let put = |pk: String, obj: Option<String>| -> anyhow::Result<TransactWriteItem> {
        let mut put = Put::builder()
            .table_name(table)
            .item("pk", A::S(pk))
            .item("sk", A::S(format!("raw-{n}")))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(obj) = obj {
            put = put.item("obj", A::S(obj)).item("rv", A::N("1".into()));
        }
        Ok(TransactWriteItem::builder().put(put.build()?).build())
    };
    let mut items = vec![
        put("raw#project".into(), Some(document("Project")))?,
        put("raw#namespace".into(), Some(document("Namespace")))?,
    ];
    for i in 0..7 {
        items.push(put(format!("raw#index{i}"), None)?);
    }
    if claim {
        items.push(put("raw#claim".into(), Some(document("ResourceClaim")))?);
        let update = Update::builder()
            .table_name(table)
            .key("pk", A::S(RAW_BUCKET.into()))
            .key("sk", A::S("_".into()))
            .update_expression(
                "SET rv = rv + :one, b_allocated = b_allocated + :one, b_claims = b_claims + :one, b_headroom = b_headroom - :one",
            )
            .condition_expression("b_headroom >= :one")
            .expression_attribute_values(":one", A::N("1".into()))
            .build()?;
        items.push(TransactWriteItem::builder().update(update).build());
    }
    Ok(items)
}
