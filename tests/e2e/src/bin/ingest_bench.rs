//! The ingestion and graph benchmark (issue 6), in one run against DynamoDB
//! Local and nats-server:
//!
//! 1. Ingestion throughput: `BENCH_EVENTS` lifecycle events (load balancer
//!    creates, updates that move it to another tenant, and deletes; each
//!    naming two relationships, `tenant_urn` and `location_urn`, whose
//!    RelationshipTypes are defined first through the API) are published to
//!    JetStream, then consumed by the real `ingest::Consumer`, drained in
//!    batches as the events function drains them, by 1 and by 4 replicas,
//!    until every event is acked. Beside it, on the same DynamoDB Local, the
//!    raw writes of the same items, worked out with the same pure core
//!    (`domain::ingest::plan`): one TransactWriteItems per event (as the
//!    consumer writes them; also with the consumer's GetItem of the record
//!    before it), and BatchWriteItem of the same items, 25 per call, at
//!    concurrency 1 and 4.
//! 2. Traversal latency: 100 000 relationships (forward and inverse items,
//!    graph.rs's layout, seeded with BatchWriteItem) in 90 trees of fan-out
//!    10 and some small stars; depth-3 walks from the trees' roots through
//!    `ApiServer::handle` in-process (`GET …/traversals?urn=…&depth=3`),
//!    beside the raw Queries of the same walk, level by level, at the API's
//!    concurrency per level.
//!
//! docs/benchmarks.md has the command, the figures and how to read them.
//! Environment: `DYNAMODB_ENDPOINT` and `NATS_URL` (required; `make bench`
//! sets both), `BENCH_EVENTS` (events per consumer run; default 5000),
//! `BENCH_WALKS` (walks per side and concurrency; default 200).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use async_nats::jetstream::{
    self,
    consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer},
};
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, Put, PutRequest, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, SecondsFormat};
use domain::ingest::{self as core, IngestConfig, ObjectIdentity, Plan, ResourceRecord, Urn};
use e2e::measure::{measure, ms, Sample, Stats};
use e2e::pipeline::InProcess;
use e2e::raw::{self, key_item, s};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use ingest::{streams, Consumer, ConsumerConfig, DrainReport, Graph};
use serde_json::{json, Value};
use store::keys::{inverse_relationship_key, relationship_key, type_index_of};
use store::ItemKey;

const GRAPH_API: &str = "/apis/graph.miloapis.com/v1alpha1";
/// As functions/events drains: messages per fetch, and a fetch's wait.
const BATCH: usize = 100;
const FETCH_WAIT: Duration = Duration::from_secs(2);
/// Consumer replicas, and the raw sides' concurrency beside them.
const CONCURRENCIES: [usize; 2] = [1, 4];
/// Unmeasured events before the measured runs.
const WARMUP_EVENTS: usize = 1000;
/// A consumer run that has not acked everything by then has failed.
const CONSUME_DEADLINE: Duration = Duration::from_secs(600);
const TENANTS: u128 = 100;
const LOCATIONS: u128 = 20;
/// First event time (2026-01-01T00:00:00Z); event i is i seconds later.
const EPOCH: i64 = 1_767_225_600;
/// DynamoDB's BatchWriteItem limit.
const BATCH_WRITE: usize = 25;

/// The graph: `TREES` trees of `FANOUT`³ edges (tenant ← load balancers ←
/// pools ← origins), the rest of `EDGES` in small stars.
const EDGES: usize = 100_000;
const TREES: usize = 90;
const FANOUT: usize = 10;
const WALK_DEPTH: usize = 3;
/// The most nodes a walk may return: above a tree's 1 111.
const WALK_LIMIT: usize = 2000;
/// apiserver::graph's Queries in flight per level of a walk.
const WALK_READS: usize = 16;
const WALK_CONCURRENCIES: [usize; 2] = [1, 4];
const WALK_WARMUP: usize = 20;
const SEED_CONCURRENCY: usize = 8;
/// Each walk measurement alternates the two sides in this many rounds.
const ROUNDS: usize = 2;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (events, walks) = settings()?;
    let client = store::Store::client_from_env().await;
    let nats_url = std::env::var("NATS_URL").context("NATS_URL")?;
    let mut tables = Vec::new();
    let result = run(&client, &nats_url, events, walks, &mut tables).await;
    for table in &tables {
        raw::drop_table(&client, table).await;
    }
    let (ingestion, graph) = result?;
    print_ingestion(&ingestion);
    print_graph(&graph);
    Ok(())
}

fn settings() -> anyhow::Result<(usize, usize)> {
    for var in ["DYNAMODB_ENDPOINT", "NATS_URL"] {
        if std::env::var(var).is_err() {
            bail!(
                "{var} is not set: run `make bench`, which starts DynamoDB Local and nats-server"
            );
        }
    }
    let number = |name: &str, default: usize| -> anyhow::Result<usize> {
        match std::env::var(name) {
            Ok(v) => v
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| anyhow!("{name} must be a positive whole number, not {v:?}")),
            Err(_) => Ok(default),
        }
    };
    Ok((number("BENCH_EVENTS", 5000)?, number("BENCH_WALKS", 200)?))
}

async fn run(
    client: &Client,
    nats_url: &str,
    events: usize,
    walks: usize,
    tables: &mut Vec<String>,
) -> anyhow::Result<(Ingestion, GraphFigures)> {
    let ingestion = ingestion(client, nats_url, events, tables).await?;
    let graph = traversal(client, walks, tables).await?;
    Ok((ingestion, graph))
}

/// A fresh table (stream off, see e2e::raw), dropped at the end.
async fn new_table(
    client: &Client,
    tables: &mut Vec<String>,
    what: &str,
) -> anyhow::Result<String> {
    let table = format!("{what}-{}", uuid::Uuid::new_v4().simple());
    raw::create_table(client, &table).await?;
    tables.push(table.clone());
    Ok(table)
}

/// A URN whose UUID encodes `set` and `n`, so runs never share a resource.
fn urn_of(kind: &str, set: u128, n: u128) -> String {
    format!(
        "urn:infratographer:{kind}:{}",
        uuid::Uuid::from_u128((set << 64) | n)
    )
}

// ---------------------------------------------------------------------------
// 1. Ingestion

/// One published event: its subject after the prefix, and its payload.
struct Event {
    /// Which load balancer of its set it is about.
    resource: usize,
    suffix: &'static str,
    payload: Vec<u8>,
}

#[derive(Default)]
struct Mix {
    creates: usize,
    updates: usize,
    deletes: usize,
}

/// `n` events about load balancers of `set`, in blocks of ten: five
/// creates, four updates (each moving a load balancer created 50 blocks
/// before to another tenant) and one delete (of one created 100 blocks
/// before and never updated); creates fill the slots that have no target
/// yet. So every event applies (none is older than what it follows), and
/// the events of one resource are 500 or more apart in the stream: even 4
/// replicas fetching 100 at a time do not handle them at once.
fn events(n: usize, set: u128) -> anyhow::Result<(Vec<Event>, Mix)> {
    let mut created: Vec<Vec<usize>> = Vec::new();
    let mut resources = 0;
    let mut mix = Mix::default();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (block, slot) = (i / 10, i % 10);
        if created.len() <= block {
            created.push(Vec::new());
        }
        let target = match slot {
            5..=8 if block >= 50 => Some(("update", created[block - 50][slot - 5])),
            9 if block >= 100 => Some(("delete", created[block - 100][4])),
            _ => None,
        };
        let (kind, resource) = match target {
            Some(t) => t,
            None => {
                let r = resources;
                resources += 1;
                if slot < 5 {
                    created[block].push(r);
                }
                ("create", r)
            }
        };
        let r = resource as u128;
        // An update moves the load balancer to another tenant.
        let tenant = match kind {
            "update" => (r + 7) % TENANTS,
            _ => r % TENANTS,
        };
        let timestamp = DateTime::from_timestamp(EPOCH + i as i64, 0)
            .ok_or_else(|| anyhow!("event time {i}"))?
            .to_rfc3339_opts(SecondsFormat::Secs, true);
        let (tenant, location) = (
            urn_of("tenant", 0, tenant),
            urn_of("location", 0, r % LOCATIONS),
        );
        let payload = json!({
            "subject_urn": urn_of("loadbalancer", set, r),
            "event_type": kind,
            "additional_subjects": [tenant, location],
            "actor_urn": urn_of("user", 0, r % 7),
            "source": "loadbalancer-api",
            "timestamp": timestamp,
            "fields": {
                "name": format!("edge-lb-{r:05}"),
                "description": format!("edge load balancer {r}, {kind}d by the bench"),
                "tenant_urn": tenant,
                "location_urn": location,
            },
            "additional_data": {"request_id": format!("req-{set}-{i}")}
        });
        let suffix = match kind {
            "create" => {
                mix.creates += 1;
                "loadbalancer.create"
            }
            "update" => {
                mix.updates += 1;
                "loadbalancer.update"
            }
            _ => {
                mix.deletes += 1;
                "loadbalancer.delete"
            }
        };
        out.push(Event {
            resource,
            suffix,
            payload: serde_json::to_vec(&payload)?,
        });
    }
    Ok((out, mix))
}

/// One item write as a hand-written client sends it.
enum RawWrite {
    Put {
        item: HashMap<String, AttributeValue>,
        condition: Option<(String, Option<HashMap<String, AttributeValue>>)>,
    },
    Delete {
        key: ItemKey,
    },
}

impl RawWrite {
    fn key(&self) -> (String, String) {
        match self {
            RawWrite::Put { item, .. } => {
                let text = |name: &str| match item.get(name) {
                    Some(AttributeValue::S(v)) => v.clone(),
                    _ => String::new(),
                };
                (text("pk"), text("sk"))
            }
            RawWrite::Delete { key } => (key.pk.clone(), key.sk.clone()),
        }
    }
}

/// One event's writes, and the record the consumer reads before them.
struct RawEvent {
    resource: usize,
    record: ItemKey,
    writes: Vec<RawWrite>,
}

/// The items the consumer writes for `events`, event by event, worked out
/// with the same pure core (decode, relationships, plan) and laid out as
/// ingest::graph::Graph::apply lays them out: the record object (put on
/// absence or on the version read), its label index items, and a forward
/// and an inverse item per relationship added or removed.
fn simulate(
    events: &[Event],
    config: &IngestConfig,
    definitions: &[core::RelationshipType],
) -> anyhow::Result<Vec<RawEvent>> {
    let mut records: HashMap<Urn, (ResourceRecord, ObjectIdentity, u64)> = HashMap::new();
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let subject = format!("{}.{}", config.prefix, e.suffix);
        let event = core::decode(&subject, &e.payload, config).map_err(|d| anyhow!("{d}"))?;
        let related = core::relationships(&event, definitions).map_err(|d| anyhow!("{d}"))?;
        let current = records.get(&event.subject);
        let Plan::Apply {
            record,
            add,
            remove,
        } = core::plan(current.map(|c| &c.0), &event, &related)
        else {
            bail!("the bench's event about {} would be skipped", event.subject);
        };
        let (identity, version, condition) = match current {
            Some((_, identity, version)) => (
                identity.clone(),
                version + 1,
                (
                    "rv = :rv".to_string(),
                    Some(HashMap::from([(
                        ":rv".to_string(),
                        AttributeValue::N(version.to_string()),
                    )])),
                ),
            ),
            None => (
                ObjectIdentity {
                    uid: uuid::Uuid::new_v4().to_string(),
                    creation_timestamp: chrono::Utc::now()
                        .to_rfc3339_opts(SecondsFormat::Secs, true),
                },
                1,
                ("attribute_not_exists(pk)".to_string(), None),
            ),
        };
        let object = ingest::graph::record_ref(&record.urn);
        let key = object.key();
        let mut item = key_item(&key);
        if let Some((type_pk, type_sk)) = type_index_of(&key) {
            item.insert("gsi1pk".into(), s(&type_pk));
            item.insert("gsi1sk".into(), s(&type_sk));
        }
        item.insert(
            "obj".into(),
            s(&core::to_document(&record, &identity, version).to_string()),
        );
        item.insert("rv".into(), AttributeValue::N(version.to_string()));
        let mut writes = vec![RawWrite::Put {
            item,
            condition: Some(condition),
        }];
        let old: BTreeSet<(String, String)> = current
            .map(|c| core::labels(&c.0).into_iter().collect())
            .unwrap_or_default();
        let new: BTreeSet<(String, String)> = core::labels(&record).into_iter().collect();
        for (k, v) in new.difference(&old) {
            let mut item = key_item(&object.label_index_key(k, v));
            item.insert("opk".into(), s(&key.pk));
            item.insert("osk".into(), s(&key.sk));
            writes.push(RawWrite::Put {
                item,
                condition: None,
            });
        }
        for (k, v) in old.difference(&new) {
            writes.push(RawWrite::Delete {
                key: object.label_index_key(k, v),
            });
        }
        for r in &add {
            for key in relationship_items(r) {
                writes.push(RawWrite::Put {
                    item: key_item(&key),
                    condition: None,
                });
            }
        }
        for r in &remove {
            for key in relationship_items(r) {
                writes.push(RawWrite::Delete { key });
            }
        }
        records.insert(event.subject.clone(), (*record, identity, version));
        out.push(RawEvent {
            resource: e.resource,
            record: key,
            writes,
        });
    }
    Ok(out)
}

fn relationship_items(r: &core::Relationship) -> [ItemKey; 2] {
    let (resource, subject) = (r.resource.to_string(), r.subject.to_string());
    [
        relationship_key(&resource, &r.relation, &subject),
        inverse_relationship_key(&resource, &r.relation, &subject),
    ]
}

fn transact_items(table: &str, writes: &[RawWrite]) -> anyhow::Result<Vec<TransactWriteItem>> {
    writes
        .iter()
        .map(|w| {
            Ok(match w {
                RawWrite::Put { item, condition } => {
                    let (expression, values) = condition.clone().unzip();
                    TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .table_name(table)
                                .set_item(Some(item.clone()))
                                .set_condition_expression(expression)
                                .set_expression_attribute_values(values.flatten())
                                // As store::operation: on the object's Put
                                // (the conditional one) and on Deletes.
                                .set_return_values_on_condition_check_failure(
                                    condition
                                        .is_some()
                                        .then_some(ReturnValuesOnConditionCheckFailure::AllOld),
                                )
                                .build()?,
                        )
                        .build()
                }
                RawWrite::Delete { key } => TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(table)
                            .set_key(Some(key_item(key)))
                            .return_values_on_condition_check_failure(
                                ReturnValuesOnConditionCheckFailure::AllOld,
                            )
                            .build()?,
                    )
                    .build(),
            })
        })
        .collect()
}

fn write_request(w: &RawWrite) -> anyhow::Result<WriteRequest> {
    Ok(match w {
        RawWrite::Put { item, .. } => WriteRequest::builder()
            .put_request(PutRequest::builder().set_item(Some(item.clone())).build()?)
            .build(),
        RawWrite::Delete { key } => WriteRequest::builder()
            .delete_request(
                DeleteRequest::builder()
                    .set_key(Some(key_item(key)))
                    .build()?,
            )
            .build(),
    })
}

/// Splits events into `lanes` by resource, each lane in stream order, so
/// one resource's events are written one after the other, as a
/// partitioned consumer would.
fn lanes<T>(items: Vec<(usize, T)>, lanes: usize) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = (0..lanes).map(|_| Vec::new()).collect();
    for (resource, item) in items {
        out[resource % lanes].push(item);
    }
    out
}

/// One TransactWriteItems per event (after a consistent GetItem of the
/// record if `with_get`), on `concurrency` lanes. Returns the wall time.
async fn raw_transactions(
    client: &Client,
    table: &str,
    events: &[RawEvent],
    concurrency: usize,
    with_get: bool,
    retries: &Arc<AtomicUsize>,
) -> anyhow::Result<Duration> {
    let prepared = events
        .iter()
        .map(|e| {
            Ok((
                e.resource,
                (e.record.clone(), transact_items(table, &e.writes)?),
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for lane in lanes(prepared, concurrency) {
        let (client, table, retries) = (client.clone(), table.to_string(), retries.clone());
        tasks.spawn(async move {
            for (record, items) in lane {
                if with_get {
                    raw::get_item(&client, &table, &record).await?;
                }
                raw::transact(&client, items, &retries).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(start.elapsed())
}

/// The same items with BatchWriteItem, 25 per call, in event order per
/// lane; a batch is cut early where an item would repeat in it (DynamoDB
/// refuses two writes of one item in one call). Returns the wall time and
/// the number of calls.
async fn raw_batches(
    client: &Client,
    table: &str,
    events: &[RawEvent],
    concurrency: usize,
) -> anyhow::Result<(Duration, usize)> {
    let per_lane = lanes(
        events.iter().map(|e| (e.resource, e)).collect(),
        concurrency,
    );
    let mut prepared = Vec::new();
    for lane in per_lane {
        let mut batches: Vec<Vec<WriteRequest>> = Vec::new();
        let mut batch = Vec::new();
        let mut keys = HashSet::new();
        for w in lane.iter().flat_map(|e| &e.writes) {
            if batch.len() == BATCH_WRITE || keys.contains(&w.key()) {
                batches.push(std::mem::take(&mut batch));
                keys.clear();
            }
            keys.insert(w.key());
            batch.push(write_request(w)?);
        }
        if !batch.is_empty() {
            batches.push(batch);
        }
        prepared.push(batches);
    }
    let calls = prepared.iter().map(Vec::len).sum();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for batches in prepared {
        let (client, table) = (client.clone(), table.to_string());
        tasks.spawn(async move {
            for batch in batches {
                batch_write(&client, &table, batch).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok((start.elapsed(), calls))
}

/// One BatchWriteItem, its unprocessed items sent again until none are left.
async fn batch_write(client: &Client, table: &str, batch: Vec<WriteRequest>) -> anyhow::Result<()> {
    let mut pending = batch;
    for attempt in 0..10u64 {
        let out = client
            .batch_write_item()
            .request_items(table, pending)
            .send()
            .await
            .map_err(|e| anyhow!("BatchWriteItem: {}", DisplayErrorContext(e)))?;
        match out
            .unprocessed_items
            .and_then(|mut m| m.remove(table))
            .filter(|rest| !rest.is_empty())
        {
            None => return Ok(()),
            Some(rest) => {
                pending = rest;
                tokio::time::sleep(Duration::from_millis(10 * (attempt + 1))).await;
            }
        }
    }
    bail!("BatchWriteItem left items unprocessed 10 times")
}

/// Publishes `events` on `{prefix}.{suffix}`, up to 256 acks outstanding.
async fn publish(
    js: &jetstream::Context,
    prefix: &str,
    events: &[Event],
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    for chunk in events.chunks(256) {
        let mut acks = Vec::with_capacity(chunk.len());
        for e in chunk {
            acks.push(
                js.publish(format!("{prefix}.{}", e.suffix), e.payload.clone().into())
                    .await?,
            );
        }
        for ack in acks {
            ack.await?;
        }
    }
    Ok(start.elapsed())
}

/// `replicas` consumers on the one durable consumer, each draining batches
/// as the events function does, until `n` messages are settled. Returns the
/// time until the last was acked, and the summed reports.
async fn consume(
    config: &ConsumerConfig,
    store: &store::Store,
    replicas: usize,
    n: usize,
) -> anyhow::Result<(Duration, DrainReport)> {
    let mut consumers = Vec::new();
    for _ in 0..replicas {
        consumers.push(Consumer::connect(config.clone(), events_graph(store.clone())).await?);
    }
    let settled = Arc::new(AtomicUsize::new(0));
    let total = Arc::new(Mutex::new(DrainReport::default()));
    let finished = Arc::new(Mutex::new(None));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for consumer in consumers {
        let (settled, total, finished) = (settled.clone(), total.clone(), finished.clone());
        tasks.spawn(async move {
            while settled.load(Ordering::Relaxed) < n {
                if start.elapsed() > CONSUME_DEADLINE {
                    bail!("not all {n} events were acked within {CONSUME_DEADLINE:?}");
                }
                let report = consumer.drain(BATCH, FETCH_WAIT).await?;
                let done = report.acked + report.dead_lettered;
                if let Ok(mut total) = total.lock() {
                    total.acked += report.acked;
                    total.dead_lettered += report.dead_lettered;
                    total.retried += report.retried;
                    total.unsettled += report.unsettled;
                }
                let before = settled.fetch_add(done, Ordering::Relaxed);
                if before < n && before + done >= n {
                    if let Ok(mut finished) = finished.lock() {
                        *finished = Some(start.elapsed());
                    }
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let wall = finished
        .lock()
        .ok()
        .and_then(|f| *f)
        .ok_or_else(|| anyhow!("the consumer run never finished"))?;
    let report = total
        .lock()
        .map_err(|_| anyhow!("a replica panicked"))?
        .clone();
    if report.acked != n || report.dead_lettered != 0 {
        bail!("expected {n} events acked and none dead-lettered: {report:?}");
    }
    Ok((wall, report))
}

/// The consumer's handler core without NATS: `ingest::handle` per event (on
/// a fresh table), in order per lane of resources. Returns the wall time.
async fn handler_alone(
    store: &store::Store,
    config: &IngestConfig,
    definitions: &[core::RelationshipType],
    events: &[Event],
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let (config, definitions) = (Arc::new(config.clone()), Arc::new(definitions.to_vec()));
    let prepared: Vec<(usize, (String, Vec<u8>))> = events
        .iter()
        .map(|e| {
            (
                e.resource,
                (format!("{}.{}", config.prefix, e.suffix), e.payload.clone()),
            )
        })
        .collect();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for lane in lanes(prepared, concurrency) {
        let graph = events_graph(store.clone());
        let (config, definitions) = (config.clone(), definitions.clone());
        tasks.spawn(async move {
            for (subject, payload) in lane {
                match ingest::handle(&graph, &config, &definitions, &subject, &payload).await {
                    ingest::Outcome::Ack(_) => {}
                    other => bail!("{subject}: {other:?}"),
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(start.elapsed())
}

/// A second durable consumer on the events stream, for new messages only.
async fn nats_only_consumer(
    js: &jetstream::Context,
    config: &ConsumerConfig,
    set: u128,
) -> anyhow::Result<PullConsumer> {
    let name = format!("{}-nats-only-{set}", config.consumer);
    Ok(js
        .get_stream(&config.stream)
        .await?
        .create_consumer(pull::Config {
            durable_name: Some(name),
            filter_subject: config.event_subjects(),
            ack_policy: AckPolicy::Explicit,
            deliver_policy: DeliverPolicy::New,
            ..Default::default()
        })
        .await?)
}

/// The NATS share of the consumer's work: the same messages fetched in the
/// same batches by `replicas` tasks and each acked as the consumer acks
/// (double_ack: the server confirms), with no handling in between. Returns
/// the time until `n` were acked.
async fn fetch_and_ack(
    consumer: &PullConsumer,
    replicas: usize,
    n: usize,
) -> anyhow::Result<Duration> {
    let acked = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(Mutex::new(None));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..replicas {
        let (consumer, acked, finished) = (consumer.clone(), acked.clone(), finished.clone());
        tasks.spawn(async move {
            while acked.load(Ordering::Relaxed) < n {
                if start.elapsed() > CONSUME_DEADLINE {
                    bail!("not all {n} messages were acked within {CONSUME_DEADLINE:?}");
                }
                let mut batch = consumer
                    .fetch()
                    .max_messages(BATCH)
                    .expires(FETCH_WAIT)
                    .messages()
                    .await
                    .map_err(|e| anyhow!("fetch: {e}"))?;
                let mut done = 0;
                while let Some(message) = batch.next().await {
                    message
                        .map_err(|e| anyhow!("fetch: {e}"))?
                        .double_ack()
                        .await
                        .map_err(|e| anyhow!("ack: {e}"))?;
                    done += 1;
                }
                let before = acked.fetch_add(done, Ordering::Relaxed);
                if before < n && before + done >= n {
                    if let Ok(mut finished) = finished.lock() {
                        *finished = Some(start.elapsed());
                    }
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    finished
        .lock()
        .ok()
        .and_then(|f| *f)
        .ok_or_else(|| anyhow!("the fetch-and-ack run never finished"))
}

#[derive(Clone, Copy)]
enum Side {
    Consumer,
    Raw,
}

struct Ingestion {
    events: usize,
    mix: Mix,
    items: usize,
    document_bytes: usize,
    publish: Vec<(usize, f64)>,
    consumer: Vec<(usize, f64, DrainReport)>,
    nats_only: Vec<(usize, f64)>,
    handler: Vec<(usize, f64)>,
    /// The pure core's work per event (`simulate`), one thread.
    core_per_event: Duration,
    transact: Vec<(usize, f64)>,
    get_transact: Vec<(usize, f64)>,
    batch: Vec<(usize, f64, usize)>,
    retries: usize,
    checked: usize,
}

async fn ingestion(
    client: &Client,
    nats_url: &str,
    n: usize,
    tables: &mut Vec<String>,
) -> anyhow::Result<Ingestion> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let table = new_table(client, tables, "ingest-bench").await?;
    let api = InProcess::new(client.clone(), &table)?;
    for (relation, subject) in [("tenant", "tenant"), ("location", "location")] {
        api.call(
            "POST",
            &format!("{GRAPH_API}/relationshiptypes"),
            &json!({
                "apiVersion": "graph.miloapis.com/v1alpha1",
                "kind": "RelationshipType",
                "metadata": {"name": format!("loadbalancer.{relation}")},
                "spec": {
                    "resourceType": "loadbalancer",
                    "relation": relation,
                    "subjectTypes": [subject],
                    "cardinality": "One"
                }
            }),
            201,
        )
        .await?;
    }
    let prefix = format!("bench{}.events", &id[..8]);
    let config = ConsumerConfig::from_lookup(|name| match name {
        "NATS_URL" => Some(nats_url.to_string()),
        "EVENTS_STREAM" => Some(format!("BENCH{}", &id[..8])),
        "EVENTS_SUBJECT_PREFIX" => Some(prefix.clone()),
        "EVENTS_CONSUMER" => Some(format!("bench-{}", &id[..8])),
        _ => None,
    })?;
    let js = jetstream::new(async_nats::connect(nats_url).await?);
    streams::ensure_streams(&js, &config).await?;
    let store = store::Store::new(client.clone(), table.clone());
    let definitions = Graph::new(store.clone()).definitions().await?;

    let mut result = Ingestion {
        events: n,
        mix: Mix::default(),
        items: 0,
        document_bytes: 0,
        publish: Vec::new(),
        consumer: Vec::new(),
        nats_only: Vec::new(),
        handler: Vec::new(),
        core_per_event: Duration::ZERO,
        transact: Vec::new(),
        get_transact: Vec::new(),
        batch: Vec::new(),
        retries: 0,
        checked: 0,
    };
    let retries = Arc::new(AtomicUsize::new(0));
    // Unmeasured: DynamoDB Local's JIT, both clients' connections and the
    // consumer's table get warm on events of their own (set 9).
    eprintln!("warming up…");
    let warm = n.min(WARMUP_EVENTS);
    let (warm_events, _) = events(warm, 9)?;
    let raw_events = simulate(&warm_events, &config.ingest, &definitions)?;
    publish(&js, &config.ingest.prefix, &warm_events).await?;
    consume(&config, &store, 1, warm).await?;
    let warm_table = new_table(client, tables, "ingest-warm").await?;
    raw_transactions(client, &warm_table, &raw_events, 4, true, &retries).await?;
    let warm_table = new_table(client, tables, "ingest-warm").await?;
    raw_batches(client, &warm_table, &raw_events, 4).await?;
    for (set, concurrency) in CONCURRENCIES.into_iter().enumerate() {
        let set = set as u128 + 1;
        let (events, mix) = events(n, set)?;
        let started = Instant::now();
        let raw_events = simulate(&events, &config.ingest, &definitions)?;
        if set == 1 {
            result.core_per_event = started.elapsed() / n as u32;
            result.mix = mix;
            result.items = raw_events.iter().map(|e| e.writes.len()).sum();
            result.document_bytes = raw_events
                .first()
                .and_then(|e| match e.writes.first() {
                    Some(RawWrite::Put { item, .. }) => match item.get("obj") {
                        Some(AttributeValue::S(doc)) => Some(doc.len()),
                        _ => None,
                    },
                    _ => None,
                })
                .unwrap_or(0);
        }

        // Sees only what is published from now on: this run's events.
        let nats_only = nats_only_consumer(&js, &config, set).await?;
        eprintln!("publishing {n} events…");
        let published = publish(&js, &config.ingest.prefix, &events).await?;
        result
            .publish
            .push((concurrency, n as f64 / published.as_secs_f64()));
        // The consumer first in the first run, last in the second, so that
        // neither side always meets the fresher DynamoDB Local.
        let mut raw_table = String::new();
        let order = if set == 1 {
            [Side::Consumer, Side::Raw]
        } else {
            [Side::Raw, Side::Consumer]
        };
        for side in order {
            match side {
                Side::Consumer => {
                    eprintln!("consuming with {concurrency} replica(s)…");
                    let (wall, report) = consume(&config, &store, concurrency, n).await?;
                    result
                        .consumer
                        .push((concurrency, n as f64 / wall.as_secs_f64(), report));
                    eprintln!("NATS alone (fetch and ack) with {concurrency} replica(s)…");
                    let wall = fetch_and_ack(&nats_only, concurrency, n).await?;
                    result
                        .nats_only
                        .push((concurrency, n as f64 / wall.as_secs_f64()));
                }
                Side::Raw => {
                    eprintln!("handler core without NATS at concurrency {concurrency}…");
                    let handler_table = new_table(client, tables, "ingest-handler").await?;
                    let wall = handler_alone(
                        &store::Store::new(client.clone(), handler_table),
                        &config.ingest,
                        &definitions,
                        &events,
                        concurrency,
                    )
                    .await?;
                    result
                        .handler
                        .push((concurrency, n as f64 / wall.as_secs_f64()));
                    eprintln!("raw TransactWriteItems at concurrency {concurrency}…");
                    raw_table = new_table(client, tables, "ingest-raw").await?;
                    let wall = raw_transactions(
                        client,
                        &raw_table,
                        &raw_events,
                        concurrency,
                        false,
                        &retries,
                    )
                    .await?;
                    result
                        .transact
                        .push((concurrency, n as f64 / wall.as_secs_f64()));
                    eprintln!("raw GetItem + TransactWriteItems at concurrency {concurrency}…");
                    let get_table = new_table(client, tables, "ingest-raw").await?;
                    let wall = raw_transactions(
                        client,
                        &get_table,
                        &raw_events,
                        concurrency,
                        true,
                        &retries,
                    )
                    .await?;
                    result
                        .get_transact
                        .push((concurrency, n as f64 / wall.as_secs_f64()));
                    eprintln!("raw BatchWriteItem at concurrency {concurrency}…");
                    let batch_table = new_table(client, tables, "ingest-raw").await?;
                    let (wall, calls) =
                        raw_batches(client, &batch_table, &raw_events, concurrency).await?;
                    result
                        .batch
                        .push((concurrency, n as f64 / wall.as_secs_f64(), calls));
                }
            }
        }
        result.checked += same_graph(&store, client, &raw_table, &events, &config).await?;
    }
    result.retries = retries.load(Ordering::Relaxed);
    Ok(result)
}

/// Checks that the raw side wrote what the consumer wrote: for a sample of
/// the resources, the same relationships and the same record version.
/// Returns how many resources were compared.
async fn same_graph(
    consumer_store: &store::Store,
    client: &Client,
    raw_table: &str,
    events: &[Event],
    config: &ConsumerConfig,
) -> anyhow::Result<usize> {
    let consumed = Graph::new(consumer_store.clone());
    let raw = Graph::new(store::Store::new(client.clone(), raw_table));
    let mut checked = 0;
    for e in events.iter().step_by(97) {
        let subject = format!("{}.{}", config.ingest.prefix, e.suffix);
        let urn = core::decode(&subject, &e.payload, &config.ingest)
            .map_err(|d| anyhow!("{d}"))?
            .subject;
        let a = (
            consumed.outgoing(&urn, None).await?,
            consumed.load(&urn).await?,
        );
        let b = (raw.outgoing(&urn, None).await?, raw.load(&urn).await?);
        let version =
            |l: &Option<ingest::Loaded>| l.as_ref().map(|l| (l.version, l.record.deleted));
        if a.0 != b.0 || version(&a.1) != version(&b.1) {
            bail!(
                "the raw side wrote another graph for {urn}: consumer {:?} {:?}, raw {:?} {:?}",
                a.0,
                version(&a.1),
                b.0,
                version(&b.1)
            );
        }
        checked += 1;
    }
    Ok(checked)
}

fn print_ingestion(r: &Ingestion) {
    println!(
        "## Ingestion\n\n{} events per run ({} creates, {} updates, {} deletes; two relationships each), \
         {} item writes, record document {} bytes; raw transactions retried after a conflict: {}; \
         consumer and raw graphs compared on {} resources: equal; \
         the pure core (decode, relationships, plan, document, items) {:.1} µs per event on one thread\n",
        r.events,
        r.mix.creates,
        r.mix.updates,
        r.mix.deletes,
        r.items,
        r.document_bytes,
        r.retries,
        r.checked,
        r.core_per_event.as_secs_f64() * 1e6
    );
    println!("| side | concurrency | events/s | raw events/s ÷ consumer's |");
    println!("|---|--:|--:|--:|");
    for (i, &(c, consumer, ref report)) in r.consumer.iter().enumerate() {
        let publish = r.publish.get(i).map(|p| p.1).unwrap_or(0.0);
        println!("| JetStream publish, 256 acks outstanding | 1 | {publish:.0} | |");
        println!(
            "| consumer, {c} replica(s) (acked {}, retried {}) | {c} | {consumer:.0} | 1.00 |",
            report.acked, report.retried
        );
        if let Some(&(_, t)) = r.nats_only.get(i) {
            println!(
                "| NATS alone: fetch and ack, no handling | {c} | {t:.0} | {:.2} |",
                t / consumer
            );
        }
        if let Some(&(_, t)) = r.handler.get(i) {
            println!(
                "| handler core alone (ingest::handle, no NATS) | {c} | {t:.0} | {:.2} |",
                t / consumer
            );
        }
        if let Some(&(_, t)) = r.transact.get(i) {
            println!(
                "| raw TransactWriteItems per event | {c} | {t:.0} | {:.2} |",
                t / consumer
            );
        }
        if let Some(&(_, t)) = r.get_transact.get(i) {
            println!(
                "| raw GetItem + TransactWriteItems per event | {c} | {t:.0} | {:.2} |",
                t / consumer
            );
        }
        if let Some(&(_, t, calls)) = r.batch.get(i) {
            println!(
                "| raw BatchWriteItem, 25 items per call ({calls} calls) | {c} | {t:.0} | {:.2} |",
                t / consumer
            );
        }
    }
    println!();
}

// ---------------------------------------------------------------------------
// 2. Traversal

/// The edges of tree `t`: load balancers point at its tenant, pools at a
/// load balancer, origins at a pool, `FANOUT` of each per parent.
fn tree(t: usize) -> Vec<(String, &'static str, String)> {
    let t = t as u128;
    let f = FANOUT as u128;
    let root = urn_of("tenant", 3, t);
    let mut edges = Vec::new();
    for l in 0..f {
        let lb_n = t * f + l;
        let lb = urn_of("loadbalancer", 4, lb_n);
        edges.push((lb.clone(), "tenant", root.clone()));
        for p in 0..f {
            let pool_n = lb_n * f + p;
            let pool = urn_of("pool", 5, pool_n);
            edges.push((pool.clone(), "loadbalancer", lb.clone()));
            for o in 0..f {
                edges.push((urn_of("origin", 6, pool_n * f + o), "pool", pool.clone()));
            }
        }
    }
    edges
}

fn tree_root(t: usize) -> String {
    urn_of("tenant", 3, t as u128)
}

struct GraphFigures {
    edges: usize,
    items: usize,
    seed: Duration,
    seed_calls: usize,
    nodes: usize,
    walk_edges: usize,
    queries: usize,
    walks: usize,
    rows: Vec<(usize, Stats, Stats)>,
}

async fn traversal(
    client: &Client,
    walks: usize,
    tables: &mut Vec<String>,
) -> anyhow::Result<GraphFigures> {
    let table = new_table(client, tables, "graph-bench").await?;
    let mut edges: Vec<(String, &'static str, String)> = (0..TREES).flat_map(tree).collect();
    // The rest: small stars of load balancers around locations.
    let mut i = 0u128;
    while edges.len() < EDGES {
        edges.push((
            urn_of("loadbalancer", 7, i),
            "location",
            urn_of("location", 7, i % 50),
        ));
        i += 1;
    }
    let items: Vec<WriteRequest> = edges
        .iter()
        .flat_map(|(resource, relation, subject)| {
            [
                relationship_key(resource, relation, subject),
                inverse_relationship_key(resource, relation, subject),
            ]
        })
        .map(|key| {
            write_request(&RawWrite::Put {
                item: key_item(&key),
                condition: None,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let item_count = items.len();
    eprintln!("seeding {} edges ({item_count} items)…", edges.len());
    let batches: Vec<Vec<WriteRequest>> = items.chunks(BATCH_WRITE).map(<[_]>::to_vec).collect();
    let seed_calls = batches.len();
    let queue = Arc::new(Mutex::new(batches));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..SEED_CONCURRENCY {
        let (client, table, queue) = (client.clone(), table.clone(), queue.clone());
        tasks.spawn(async move {
            loop {
                let next = queue.lock().map_err(|_| anyhow!("seed queue"))?.pop();
                let Some(batch) = next else {
                    return anyhow::Ok(());
                };
                batch_write(&client, &table, batch).await?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let seed = start.elapsed();

    let api = Arc::new(InProcess::new(client.clone(), &table)?);
    // Both sides must find the whole tree: 1 + 10 + 100 + 1000 nodes.
    let (nodes, walk_edges) = walk_size(&api_walk(&api, &tree_root(0)).await?)?;
    let (raw_nodes, queries) = raw_walk(client, &table, &tree_root(0)).await?;
    let expected = (0..=WALK_DEPTH)
        .map(|d| FANOUT.pow(d as u32))
        .sum::<usize>();
    if nodes != expected || raw_nodes != expected || walk_edges != expected - 1 {
        bail!("a walk found {nodes} nodes and {walk_edges} edges (raw: {raw_nodes} nodes); expected {expected}");
    }

    eprintln!("walking…");
    let next = Arc::new(AtomicUsize::new(0));
    let table = Arc::new(table);
    let api_op = || {
        let (api, next) = (api.clone(), next.clone());
        move || {
            let (api, next) = (api.clone(), next.clone());
            async move {
                let root = tree_root(next.fetch_add(1, Ordering::Relaxed) % TREES);
                api_walk(&api, &root).await.map(drop)
            }
        }
    };
    let raw_op = || {
        let (client, table, next) = (client.clone(), table.clone(), next.clone());
        move || {
            let (client, table, next) = (client.clone(), table.clone(), next.clone());
            async move {
                let root = tree_root(next.fetch_add(1, Ordering::Relaxed) % TREES);
                raw_walk(&client, &table, &root).await.map(drop)
            }
        }
    };
    measure(WALK_WARMUP, 4, api_op()).await?;
    measure(WALK_WARMUP, 4, raw_op()).await?;
    let mut rows = Vec::new();
    for concurrency in WALK_CONCURRENCIES {
        let (mut api_sample, mut raw_sample) = (Sample::default(), Sample::default());
        let per_round = walks.div_ceil(ROUNDS);
        for round in 0..ROUNDS {
            if round % 2 == 0 {
                api_sample.add(measure(per_round, concurrency, api_op()).await?);
                raw_sample.add(measure(per_round, concurrency, raw_op()).await?);
            } else {
                raw_sample.add(measure(per_round, concurrency, raw_op()).await?);
                api_sample.add(measure(per_round, concurrency, api_op()).await?);
            }
        }
        rows.push((concurrency, Stats::of(api_sample), Stats::of(raw_sample)));
    }
    Ok(GraphFigures {
        edges: edges.len(),
        items: item_count,
        seed,
        seed_calls,
        nodes,
        walk_edges,
        queries,
        walks: walks.div_ceil(ROUNDS) * ROUNDS,
        rows,
    })
}

/// A depth-3 walk through the API: its JSON body, which a client would
/// read (reading it is not timed: the raw side has no body to read).
async fn api_walk(api: &InProcess, root: &str) -> anyhow::Result<Vec<u8>> {
    api.call(
        "GET",
        &format!("{GRAPH_API}/traversals?urn={root}&depth={WALK_DEPTH}&limit={WALK_LIMIT}"),
        &Value::Null,
        200,
    )
    .await
}

/// The nodes and edges of a walk's body.
fn walk_size(body: &[u8]) -> anyhow::Result<(usize, usize)> {
    let view: Value = serde_json::from_slice(body)?;
    let count = |field: &str| view[field].as_array().map(Vec::len).unwrap_or(0);
    Ok((count("nodes"), count("edges")))
}

/// The same walk with raw Queries: per level, each pending node's forward
/// then inverse partition (as the API reads them), `WALK_READS` nodes at a
/// time. Returns the nodes found and the Queries made.
async fn raw_walk(client: &Client, table: &str, root: &str) -> anyhow::Result<(usize, usize)> {
    let mut seen = HashSet::from([root.to_string()]);
    let mut level = vec![root.to_string()];
    let mut queries = 0;
    for _ in 0..WALK_DEPTH {
        let found: Vec<(Vec<String>, usize)> = stream::iter(level)
            .map(|node| async move {
                let (mut ends, q1) = raw_ends(client, table, &format!("rel#{node}")).await?;
                let (inverse, q2) = raw_ends(client, table, &format!("relinv#{node}")).await?;
                ends.extend(inverse);
                anyhow::Ok((ends, q1 + q2))
            })
            .buffered(WALK_READS)
            .try_collect()
            .await?;
        level = Vec::new();
        for (ends, q) in found {
            queries += q;
            for end in ends {
                if seen.insert(end.clone()) {
                    level.push(end);
                }
            }
        }
    }
    Ok((seen.len(), queries))
}

/// The other ends of a partition's relationship items (`{relation}#{urn}`),
/// every page, consistent; and the Queries it took.
async fn raw_ends(client: &Client, table: &str, pk: &str) -> anyhow::Result<(Vec<String>, usize)> {
    let mut ends = Vec::new();
    let mut start = None;
    let mut queries = 0;
    loop {
        queries += 1;
        let out = client
            .query()
            .table_name(table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| anyhow!("raw Query: {}", DisplayErrorContext(e)))?;
        for item in out.items() {
            if let Some(AttributeValue::S(sk)) = item.get("sk") {
                if let Some((_, end)) = sk.split_once('#') {
                    ends.push(end.to_string());
                }
            }
        }
        match out.last_evaluated_key {
            Some(key) => start = Some(key),
            None => return Ok((ends, queries)),
        }
    }
}

fn print_graph(g: &GraphFigures) {
    println!(
        "## Traversal\n\n{} edges ({} items) seeded in {:.1} s with {} BatchWriteItem calls at concurrency {SEED_CONCURRENCY} ({:.0} items/s); \
         a depth-{WALK_DEPTH} walk from a tree's root finds {} nodes and {} edges with {} Queries; {} walks per side and concurrency\n",
        g.edges,
        g.items,
        g.seed.as_secs_f64(),
        g.seed_calls,
        g.items as f64 / g.seed.as_secs_f64(),
        g.nodes,
        g.walk_edges,
        g.queries,
        g.walks
    );
    println!("| concurrency | API p50 ms | API p99 ms | API walks/s | raw p50 ms | raw p99 ms | raw walks/s | p50 API/raw | walks/s raw/API |");
    println!("|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for (c, api, raw) in &g.rows {
        println!(
            "| {c} | {} | {} | {:.1} | {} | {} | {:.1} | {:.2} | {:.2} |",
            ms(api.p50),
            ms(api.p99),
            api.ops_per_sec,
            ms(raw.p50),
            ms(raw.p99),
            raw.ops_per_sec,
            api.p50.as_secs_f64() / raw.p50.as_secs_f64(),
            raw.ops_per_sec / api.ops_per_sec
        );
    }
}

/// A graph that writes as the events function does (as `system:events`).
fn events_graph(store: store::Store) -> Graph {
    apiserver::events_graph(store, apiserver::DEFAULT_CATALOG_REFRESH)
}
