//! The quota benchmark (#5), in one run against DynamoDB Local: project
//! creates through `ApiServer::handle` in-process, in an organization a
//! ClaimCreationPolicy matches (claim + bucket increments in the create's
//! transaction) against one it does not match (the policy is read and its
//! constraint evaluated, nothing claimed), at concurrency 1 and 32, the
//! sides alternating over rounds. Every quota create lands on the same
//! organization bucket: at 32 that is the contended case.
//!
//! docs/benchmarks.md has the figures. Environment: `DYNAMODB_ENDPOINT`
//! (required), `BENCH_OPS` (creates per side and concurrency; default 2000).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use e2e::measure::{measure, ms, ops_from_env, Sample, Stats};
use e2e::pipeline::InProcess;
use serde_json::{json, Value};

const G: &str = "/apis/resourcemanager.miloapis.com/v1alpha1";
const Q: &str = "/apis/quota.miloapis.com/v1alpha1";
const FREE: &str = "bench-free";
const LIMITED: &str = "bench-quota";
const TYPE: &str = "bench.quota.miloapis.com/projects";
const CONCURRENCIES: [usize; 2] = [1, 32];
const ROUNDS: usize = 3;
const WARMUP: usize = 40;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let ops = ops_from_env()?;
    let client = store::Store::client_from_env().await;
    let table = std::env::var("E2E_TABLE")
        .unwrap_or_else(|_| format!("quota-bench-{}", uuid::Uuid::new_v4().simple()));
    if std::env::var("E2E_TABLE").is_err() {
        store::table::create_table(&client, &table)
            .await
            .map_err(anyhow::Error::msg)?;
    }
    let api = Arc::new(InProcess::new(client, &table)?);
    setup(&api, ops).await.context("setup")?;
    let counter = Arc::new(AtomicUsize::new(0));
    // Unmeasured: connections, caches and the bucket item warm on both sides.
    for org in [FREE, LIMITED] {
        run(&api, &counter, org, WARMUP, 4).await?;
    }
    println!("| concurrency | side | p50 ms | p99 ms | creates/s |");
    println!("|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for concurrency in CONCURRENCIES {
        let mut free = Sample::default();
        let mut limited = Sample::default();
        for round in 0..ROUNDS {
            let per_round = ops.div_ceil(ROUNDS);
            let order = if round % 2 == 0 {
                [FREE, LIMITED]
            } else {
                [LIMITED, FREE]
            };
            for org in order {
                let sample = run(&api, &counter, org, per_round, concurrency).await?;
                if org == FREE {
                    free.add(sample);
                } else {
                    limited.add(sample);
                }
            }
        }
        let (f, l) = (Stats::of(free), Stats::of(limited));
        for (side, s) in [("without quota", &f), ("with quota", &l)] {
            println!(
                "| {concurrency} | {side} | {} | {} | {:.0} |",
                ms(s.p50),
                ms(s.p99),
                s.ops_per_sec
            );
        }
        ratios.push((
            concurrency,
            l.p50.as_secs_f64() / f.p50.as_secs_f64(),
            l.p99.as_secs_f64() / f.p99.as_secs_f64(),
        ));
    }
    println!();
    for (c, p50, p99) in ratios {
        println!("concurrency {c}: with/without quota p50 ×{p50:.2}, p99 ×{p99:.2}");
    }
    Ok(())
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
    let org_label = "trigger.metadata.labels['resourcemanager.miloapis.com/organization-name']";
    let docs: Vec<(String, Value)> = vec![
        (
            format!("{Q}/resourceregistrations"),
            json!({
                "apiVersion": "quota.miloapis.com/v1alpha1", "kind": "ResourceRegistration",
                "metadata": {"name": "bench-projects"},
                "spec": {
                    "consumerType": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization"},
                    "type": "Entity", "resourceType": TYPE, "baseUnit": "project", "displayUnit": "projects",
                    "unitConversionFactor": 1,
                    "claimingResources": [{"apiGroup": "resourcemanager.miloapis.com", "kind": "Project"}]
                }
            }),
        ),
        (
            format!("{Q}/claimcreationpolicies"),
            json!({
                "apiVersion": "quota.miloapis.com/v1alpha1", "kind": "ClaimCreationPolicy",
                "metadata": {"name": "bench-projects"},
                "spec": {
                    "trigger": {
                        "resource": {"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project"},
                        "constraints": [{"expression": format!("{org_label} == '{LIMITED}'")}]
                    },
                    "target": {"resourceClaimTemplate": {
                        "metadata": {"namespace": format!("organization-{{{{{org_label}}}}}")},
                        "spec": {
                            "consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "name": format!("{{{{{org_label}}}}}")},
                            "requests": [{"resourceType": TYPE, "amount": 1}]
                        }
                    }}
                }
            }),
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
    let grant = json!({
        "apiVersion": "quota.miloapis.com/v1alpha1", "kind": "ResourceGrant",
        "metadata": {"name": "bench", "namespace": format!("organization-{LIMITED}")},
        "spec": {
            "consumerRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "name": LIMITED},
            "allowances": [{"resourceType": TYPE, "buckets": [{"amount": ops * 4 + 100}]}]
        }
    });
    api.call(
        "POST",
        &format!("{Q}/namespaces/organization-{LIMITED}/resourcegrants"),
        &grant,
        201,
    )
    .await?;
    Ok(())
}
