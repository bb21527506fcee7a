//! The benchmark: create, get, list-by-label and update of a project through
//! the API pipeline, each beside the raw aws-sdk-dynamodb calls of the same
//! item shape, at concurrency 1 and 32, in one run against DynamoDB Local.
//!
//! The API side calls `ApiServer::handle` in-process, as the pipeline tests
//! do: auth (JWT verify), routing, decoding, validation, hierarchy reads and
//! persistence are measured; Lambda and HTTP transport are not. The raw side
//! is what a hand-written client would send DynamoDB for the same items.
//! docs/benchmarks.md has the command, the figures and how to read them.
//!
//! Environment: `DYNAMODB_ENDPOINT` (required), `BENCH_OPS` (operations per
//! scenario, side and concurrency; default 2000).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _};
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use e2e::measure::{measure, ms, ops_from_env, Sample, Stats};
use e2e::pipeline::InProcess;
use e2e::raw::{self, key_item, s};
use serde_json::{json, Value};
use store::{keys, Context, ItemKey, ObjectRef};

const G: &str = "/apis/resourcemanager.miloapis.com/v1alpha1";
const GROUP: &str = "resourcemanager.miloapis.com";
const ORG: &str = "bench-org";
const TEAMS: usize = 10;
/// The list scenario: a selective label (about one project in ten), one page.
const LIST_TEAM: &str = "t3";
const LIST_LIMIT: usize = 50;
const CONCURRENCIES: [usize; 2] = [1, 32];
/// Unmeasured operations per scenario and side before the measured runs, so
/// DynamoDB Local's JIT and both connection pools are warm.
const WARMUP_OPS: usize = 200;
const WARMUP_CONCURRENCY: usize = 8;
/// Each measurement alternates the two sides in this many rounds.
const ROUNDS: usize = 4;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let ops = ops_from_env()?;
    let bench = Arc::new(Bench::setup().await?);
    eprintln!("table {}", bench.table);
    let result = benchmark(&bench, ops).await;
    raw::drop_table(&bench.client, &bench.table).await;
    let (page, rows) = result?;
    print_report(&bench, ops, page, &rows);
    Ok(())
}

/// Warms up, then measures every scenario at each concurrency, the API
/// beside the raw calls. Returns the list page size and the rows.
async fn benchmark(bench: &Arc<Bench>, ops: usize) -> anyhow::Result<(usize, Vec<Row>)> {
    eprintln!("warming up…");
    for scenario in Scenario::ALL {
        for side in [Side::Api, Side::Raw] {
            run(
                bench,
                scenario,
                side,
                WARMUP_OPS.min(ops),
                WARMUP_CONCURRENCY,
            )
            .await?;
        }
    }
    let mut rows = Vec::new();
    let mut page = 0;
    for scenario in Scenario::ALL {
        if scenario == Scenario::ListByLabel {
            page = bench.check_lists_agree().await?;
        }
        for concurrency in CONCURRENCIES {
            eprintln!("{} at concurrency {concurrency}…", scenario.name());
            let (api, raw) = compare(bench, scenario, ops, concurrency).await?;
            rows.push(Row {
                scenario,
                concurrency,
                api: Stats::of(api),
                raw: Stats::of(raw),
            });
        }
    }
    Ok((page, rows))
}

// ---------------------------------------------------------------------------
// Scenarios and sides

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Create,
    Get,
    ListByLabel,
    Update,
}

impl Scenario {
    /// In this order: gets and updates need the projects the creates made.
    const ALL: [Scenario; 4] = [
        Scenario::Create,
        Scenario::Get,
        Scenario::ListByLabel,
        Scenario::Update,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::Create => "create",
            Scenario::Get => "get",
            Scenario::ListByLabel => "list by label",
            Scenario::Update => "update (label change)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Api,
    Raw,
}

/// The projects one side made: `{prefix}-{n:06}` for n in 0..created, each
/// labelled team=t{n % 10}. Gets and updates walk them with `cursor`, so
/// concurrent updates touch distinct items (while created ≥ concurrency).
struct Projects {
    prefix: &'static str,
    created: AtomicUsize,
    cursor: AtomicUsize,
}

impl Projects {
    fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            created: AtomicUsize::new(0),
            cursor: AtomicUsize::new(0),
        }
    }

    fn name(&self, n: usize) -> String {
        format!("{}-{n:06}", self.prefix)
    }

    /// The number and name of a project not created yet.
    fn fresh(&self) -> (usize, String) {
        let n = self.created.fetch_add(1, Ordering::Relaxed);
        (n, self.name(n))
    }

    /// The name of the next existing project, round-robin.
    fn existing(&self) -> String {
        let created = self.created.load(Ordering::Relaxed).max(1);
        self.name(self.cursor.fetch_add(1, Ordering::Relaxed) % created)
    }
}

fn team(n: usize) -> String {
    format!("t{}", n % TEAMS)
}

// ---------------------------------------------------------------------------
// The fixture: one table, one organization, the pipeline and a raw client

struct Bench {
    api_server: InProcess,
    client: Client,
    table: String,
    org: ObjectRef,
    /// A project as the API stores it; raw creates store copies of it, so
    /// both sides write documents of the same shape and size.
    template: Value,
    api: Projects,
    raw: Projects,
    /// Distinct label values for updates, so every update changes something.
    revision: AtomicUsize,
    /// Raw transactions retried after a TransactionConflict.
    raw_retries: AtomicUsize,
}

impl Bench {
    async fn setup() -> anyhow::Result<Self> {
        let client = store::Store::client_from_env().await;
        let table = format!("bench-{}", uuid::Uuid::new_v4().simple());
        raw::create_table(&client, &table).await?;
        let api_server = InProcess::new(client.clone(), &table)?;
        let mut bench = Self {
            api_server,
            client,
            table,
            org: object_ref("Organization", ORG),
            template: Value::Null,
            api: Projects::new("bench-a"),
            raw: Projects::new("bench-r"),
            revision: AtomicUsize::new(0),
            raw_retries: AtomicUsize::new(0),
        };
        let org = json!({
            "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
            "kind": "Organization",
            "metadata": {"name": ORG},
            "spec": {"type": "Standard"}
        });
        bench
            .call("POST", &format!("{G}/organizations"), &org, 201)
            .await?;
        let created = bench
            .call(
                "POST",
                &format!("{G}/projects"),
                &project_body("bench-template", "t0"),
                201,
            )
            .await?;
        bench.template = serde_json::from_slice(&created)?;
        Ok(bench)
    }

    async fn op(&self, scenario: Scenario, side: Side) -> anyhow::Result<()> {
        match (scenario, side) {
            (Scenario::Create, Side::Api) => self.api_create().await,
            (Scenario::Create, Side::Raw) => self.raw_create().await,
            (Scenario::Get, Side::Api) => self.api_get().await,
            (Scenario::Get, Side::Raw) => self.raw_get().await,
            (Scenario::ListByLabel, Side::Api) => self.api_list().await.map(drop),
            (Scenario::ListByLabel, Side::Raw) => self.raw_list().await.map(drop),
            (Scenario::Update, Side::Api) => self.api_update().await,
            (Scenario::Update, Side::Raw) => self.raw_update().await,
        }
    }

    /// Both sides' list must read the same page, or the comparison is void.
    /// Returns the page's size.
    async fn check_lists_agree(&self) -> anyhow::Result<usize> {
        let list: Value = serde_json::from_slice(&self.api_list().await?)?;
        let api: Vec<&str> = list["items"]
            .as_array()
            .ok_or_else(|| anyhow!("the API list has no items: {list}"))?
            .iter()
            .filter_map(|i| i["metadata"]["name"].as_str())
            .collect();
        let raw = self.raw_list().await?;
        if api.is_empty() || api != raw {
            bail!(
                "the API and raw lists differ: {} items {:?}… vs {} items {:?}…",
                api.len(),
                api.first(),
                raw.len(),
                raw.first()
            );
        }
        Ok(api.len())
    }

    // --- the API side -------------------------------------------------------

    /// One request through the pipeline; anything but `expect` aborts the run.
    async fn call(
        &self,
        method: &str,
        uri: &str,
        body: &Value,
        expect: u16,
    ) -> anyhow::Result<Vec<u8>> {
        self.api_server.call(method, uri, body, expect).await
    }

    async fn api_create(&self) -> anyhow::Result<()> {
        let (n, name) = self.api.fresh();
        let body = project_body(&name, &team(n));
        self.call("POST", &format!("{G}/projects"), &body, 201)
            .await
            .map(drop)
    }

    async fn api_get(&self) -> anyhow::Result<()> {
        let uri = format!("{G}/projects/{}", self.api.existing());
        self.call("GET", &uri, &Value::Null, 200).await.map(drop)
    }

    async fn api_list(&self) -> anyhow::Result<Vec<u8>> {
        let uri = format!("{G}/projects?labelSelector=team%3D{LIST_TEAM}&limit={LIST_LIMIT}");
        self.call("GET", &uri, &Value::Null, 200).await
    }

    /// A merge patch changing the `env` label: the API reads the object,
    /// then writes it (rv condition) with one label index item put and one
    /// deleted, in one transaction.
    async fn api_update(&self) -> anyhow::Result<()> {
        let uri = format!("{G}/projects/{}", self.api.existing());
        let patch = json!({"metadata": {"labels": {"env": self.next_revision()}}});
        self.call("PATCH", &uri, &patch, 200).await.map(drop)
    }

    fn next_revision(&self) -> String {
        format!("u{}", self.revision.fetch_add(1, Ordering::Relaxed))
    }

    // --- the raw side -------------------------------------------------------

    /// The project create transaction, item for item as the API writes it:
    /// the object (absent), one index item per label (env, team and the
    /// organization label), the check that the organization is live, the
    /// organization's child index item, and the project's `parent` edge in
    /// the graph (forward and inverse item).
    async fn raw_create(&self) -> anyhow::Result<()> {
        let (n, name) = self.raw.fresh();
        let mut doc = self.template.clone();
        doc["metadata"]["name"] = json!(name);
        doc["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
        doc["metadata"]["labels"]["team"] = json!(team(n));
        let project = object_ref("Project", &name);
        let mut items = vec![put_object(&self.table, &project, &doc, 1, None)?];
        for (key, value) in labels(&doc) {
            items.push(put_index(
                &self.table,
                &project.label_index_key(&key, &value),
                &project,
            )?);
        }
        items.push(
            TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_item(&self.org.key())))
                        .condition_expression(
                            "attribute_exists(pk) AND attribute_not_exists(deleting)",
                        )
                        .build()?,
                )
                .build(),
        );
        items.push(put_index(
            &self.table,
            &self.org.child_index_key(&project),
            &project,
        )?);
        let object = domain::object::Object::from_value(doc).map_err(|e| anyhow!(e))?;
        for r in domain::ingest::platform_relationships("Project", &object) {
            let (resource, subject) = (r.resource.to_string(), r.subject.to_string());
            for key in [
                keys::relationship_key(&resource, &r.relation, &subject),
                keys::inverse_relationship_key(&resource, &r.relation, &subject),
            ] {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(key_item(&key)))
                    .build()?;
                items.push(TransactWriteItem::builder().put(put).build());
            }
        }
        raw::transact(&self.client, items, &self.raw_retries).await
    }

    async fn raw_get(&self) -> anyhow::Result<()> {
        let key = object_ref("Project", &self.raw.existing()).key();
        raw::get_item(&self.client, &self.table, &key)
            .await?
            .map(drop)
            .ok_or_else(|| anyhow!("raw get: {} not found", key.sk))
    }

    /// A Query of the team label's index items (one page), then a
    /// BatchGetItem of the objects they point at; returns the names read.
    async fn raw_list(&self) -> anyhow::Result<Vec<String>> {
        let pk = object_ref("Project", "").collection().label_pk("team");
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":prefix", s(&format!("{LIST_TEAM}#")))
            .limit(LIST_LIMIT as i32)
            .send()
            .await
            .map_err(|e| anyhow!("raw list query: {}", DisplayErrorContext(e)))?;
        let targets: Vec<ItemKey> = page
            .items()
            .iter()
            .map(|i| ItemKey {
                pk: text(i, "opk"),
                sk: text(i, "osk"),
            })
            .collect();
        let found = self.batch_get(&targets).await?;
        if found.len() != targets.len() || found.is_empty() {
            bail!(
                "raw list: {} index items, {} objects",
                targets.len(),
                found.len()
            );
        }
        // In index order, as the API returns them.
        let mut by_key: HashMap<(String, String), String> = found
            .iter()
            .map(|i| ((text(i, "pk"), text(i, "sk")), name_of(i)))
            .collect();
        Ok(targets
            .iter()
            .filter_map(|k| by_key.remove(&(k.pk.clone(), k.sk.clone())))
            .collect())
    }

    /// What a client must do to change a label of a stored document: read
    /// it (consistent), change it, and write it back conditional on the
    /// version read, with the label's index item moved, in one transaction
    /// — the calls and items of the API's PATCH.
    async fn raw_update(&self) -> anyhow::Result<()> {
        let project = object_ref("Project", &self.raw.existing());
        let key = project.key();
        let item = raw::get_item(&self.client, &self.table, &key)
            .await?
            .ok_or_else(|| anyhow!("raw update: {} not found", key.sk))?;
        let version: u64 = match item.get("rv") {
            Some(AttributeValue::N(n)) => n.parse()?,
            _ => bail!("raw update: {} has no rv", key.sk),
        };
        let mut doc: Value = serde_json::from_str(&text(&item, "obj"))?;
        let old_env = doc["metadata"]["labels"]["env"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let new_env = self.next_revision();
        doc["metadata"]["labels"]["env"] = json!(new_env);
        doc["metadata"]["resourceVersion"] = json!((version + 1).to_string());
        let items = vec![
            put_object(&self.table, &project, &doc, version + 1, Some(version))?,
            put_index(
                &self.table,
                &project.label_index_key("env", &new_env),
                &project,
            )?,
            TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_item(&project.label_index_key("env", &old_env))))
                        .build()?,
                )
                .build(),
        ];
        raw::transact(&self.client, items, &self.raw_retries).await
    }

    async fn batch_get(
        &self,
        keys: &[ItemKey],
    ) -> anyhow::Result<Vec<HashMap<String, AttributeValue>>> {
        let mut found = Vec::new();
        let mut pending: Vec<_> = keys.iter().map(key_item).collect();
        while !pending.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()?;
            let mut out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| anyhow!("raw BatchGetItem: {}", DisplayErrorContext(e)))?;
            if let Some(items) = out.responses.as_mut().and_then(|r| r.remove(&self.table)) {
                found.extend(items);
            }
            if let Some(rest) = out
                .unprocessed_keys
                .as_mut()
                .and_then(|u| u.remove(&self.table))
            {
                pending = rest.keys;
            }
        }
        Ok(found)
    }
}

fn project_body(name: &str, team: &str) -> Value {
    json!({
        "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name, "labels": {"env": "bench", "team": team}},
        "spec": {"ownerRef": {"kind": "Organization", "name": ORG}}
    })
}

/// Hierarchy objects live in the platform context (objects::object_ref).
fn object_ref(kind: &str, name: &str) -> ObjectRef {
    ObjectRef {
        context: Context::Platform,
        group: GROUP.into(),
        kind: kind.into(),
        namespace: String::new(),
        name: name.into(),
    }
}

fn labels(doc: &Value) -> Vec<(String, String)> {
    doc["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

// --- item shapes, as store::operation builds them ----------------------------

fn text(item: &HashMap<String, AttributeValue>, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        _ => String::new(),
    }
}

fn name_of(item: &HashMap<String, AttributeValue>) -> String {
    serde_json::from_str::<Value>(&text(item, "obj"))
        .ok()
        .and_then(|d| d["metadata"]["name"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The object item: pk, sk, obj (the JSON document), rv; conditional on
/// absence (`expected: None`) or on the version read.
fn put_object(
    table: &str,
    object: &ObjectRef,
    doc: &Value,
    version: u64,
    expected: Option<u64>,
) -> anyhow::Result<TransactWriteItem> {
    let mut item = key_item(&object.key());
    item.insert("obj".into(), s(&doc.to_string()));
    item.insert("rv".into(), AttributeValue::N(version.to_string()));
    let put = Put::builder().table_name(table).set_item(Some(item));
    let put = match expected {
        None => put.condition_expression("attribute_not_exists(pk)"),
        Some(rv) => put
            .condition_expression("rv = :rv")
            .expression_attribute_values(":rv", AttributeValue::N(rv.to_string())),
    };
    Ok(TransactWriteItem::builder().put(put.build()?).build())
}

/// An index item: its key and opk/osk pointing at the object item.
fn put_index(table: &str, key: &ItemKey, target: &ObjectRef) -> anyhow::Result<TransactWriteItem> {
    let target = target.key();
    let mut item = key_item(key);
    item.insert("opk".into(), s(&target.pk));
    item.insert("osk".into(), s(&target.sk));
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .build()?;
    Ok(TransactWriteItem::builder().put(put).build())
}

// ---------------------------------------------------------------------------
// Measuring

async fn run(
    bench: &Arc<Bench>,
    scenario: Scenario,
    side: Side,
    ops: usize,
    concurrency: usize,
) -> anyhow::Result<Sample> {
    let bench = bench.clone();
    measure(ops, concurrency, move || {
        let bench = bench.clone();
        async move { bench.op(scenario, side).await }
    })
    .await
    .with_context(|| {
        format!(
            "{} ({side:?}) at concurrency {concurrency}",
            scenario.name()
        )
    })
}

/// Measures the API and the raw calls of one scenario in alternating
/// rounds (API first, then raw first, …), so neither side always runs on
/// the larger table or the warmer server.
async fn compare(
    bench: &Arc<Bench>,
    scenario: Scenario,
    ops: usize,
    concurrency: usize,
) -> anyhow::Result<(Sample, Sample)> {
    let mut api = Sample::default();
    let mut raw = Sample::default();
    for round in 0..ROUNDS {
        let share = ops / ROUNDS + usize::from(round < ops % ROUNDS);
        let order = if round % 2 == 0 {
            [Side::Api, Side::Raw]
        } else {
            [Side::Raw, Side::Api]
        };
        for side in order {
            let sample = run(bench, scenario, side, share, concurrency).await?;
            match side {
                Side::Api => api.add(sample),
                Side::Raw => raw.add(sample),
            }
        }
    }
    Ok((api, raw))
}

// ---------------------------------------------------------------------------
// Reporting

struct Row {
    scenario: Scenario,
    concurrency: usize,
    api: Stats,
    raw: Stats,
}

fn print_report(bench: &Bench, ops: usize, page: usize, rows: &[Row]) {
    println!(
        "{ops} operations per scenario, side and concurrency; project document {} bytes; \
         list page {page} items; {} projects at the end; raw transactions retried after a conflict: {}\n",
        bench.template.to_string().len(),
        bench.api.created.load(Ordering::Relaxed) + bench.raw.created.load(Ordering::Relaxed) + 1,
        bench.raw_retries.load(Ordering::Relaxed)
    );
    println!(
        "| scenario | concurrency | API p50 ms | API p99 ms | API ops/s | raw p50 ms | raw p99 ms | raw ops/s | p50 API/raw | ops/s raw/API |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {:.0} | {} | {} | {:.0} | {:.2} | {:.2} |",
            r.scenario.name(),
            r.concurrency,
            ms(r.api.p50),
            ms(r.api.p99),
            r.api.ops_per_sec,
            ms(r.raw.p50),
            ms(r.raw.p99),
            r.raw.ops_per_sec,
            r.api.p50.as_secs_f64() / r.raw.p50.as_secs_f64(),
            r.raw.ops_per_sec / r.api.ops_per_sec,
        );
    }
}
