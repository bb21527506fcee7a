//! The resource-types benchmark, in one run against DynamoDB Local:
//!
//! 1. Schema validation of a 2 KB `Subscription` against a realistic schema
//!    with three CEL rules (compile once; then clone, default, prune and
//!    validate per object, on create and on update), beside the raw PutItem
//!    of the same document, so validation is read against the write it
//!    guards.
//! 2. Create throughput of that registered type (namespaced, in a project's
//!    `default` namespace) against the built-in Project kind, both through
//!    `ApiServer::handle` in-process, and against the raw TransactWriteItems
//!    of the items the API writes for a registered-type create.
//!
//! docs/benchmarks.md has the command, the figures and how to read them.
//! Environment: `DYNAMODB_ENDPOINT` (required), `BENCH_OPS` (DynamoDB
//! operations per side and concurrency; default 2000).

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use domain::schema::Schema;
use e2e::measure::{measure, ms, ops_from_env, percentile, Sample, Stats};
use e2e::pipeline::InProcess;
use e2e::raw::{self, key_item, s};
use serde_json::{json, Value};
use store::{Context, ObjectRef};

const G: &str = "/apis/resourcemanager.miloapis.com/v1alpha1";
const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const ORG: &str = "bench-org";
/// The project whose `default` namespace receives the registered objects.
const PROJECT: &str = "bench-types";
const TYPE_GROUP: &str = "billing.example.com";
const TYPE_VERSION: &str = "v1";
const TYPE_KIND: &str = "Subscription";
const TYPE_PLURAL: &str = "subscriptions";
/// The document size the validation fixture is padded to.
const DOC_BYTES: usize = 2048;
const VALIDATIONS: usize = 20_000;
const VALIDATION_WARMUP: usize = 2_000;
const COMPILES: usize = 100;
const CONCURRENCIES: [usize; 2] = [1, 32];
const WARMUP_OPS: usize = 200;
const WARMUP_CONCURRENCY: usize = 8;
/// Each measurement rotates the sides' order over this many rounds.
const ROUNDS: usize = 3;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let ops = ops_from_env()?;
    eprintln!("validation…");
    let validation = validation_bench()?;
    let bench = Arc::new(Bench::setup().await?);
    eprintln!("table {}", bench.table);
    let result = dynamo_bench(&bench, ops).await;
    raw::drop_table(&bench.client, &bench.table).await;
    let (put, rows) = result?;
    print_report(&bench, ops, &validation, &put, &rows);
    Ok(())
}

// ---------------------------------------------------------------------------
// The fixture: a Subscription type and a 2 KB object of it

/// A billing subscription: enum, bounded integers, a contact with an email
/// format, a list-map of line items, a string map, date-times,
/// int-or-string, defaults, and three CEL rules (one a transition rule).
fn subscription_schema() -> Value {
    let line_item = json!({
        "type": "object",
        "required": ["sku", "quantity"],
        "properties": {
            "sku": {"type": "string", "pattern": "^[A-Z]{3,5}-[A-Z0-9]{2,8}$"},
            "description": {"type": "string", "maxLength": 200},
            "quantity": {"type": "integer", "minimum": 0, "maximum": 100000},
            "unitPrice": {"x-kubernetes-int-or-string": true},
            "taxCode": {"type": "string", "enum": ["standard", "reduced", "exempt"], "default": "standard"}
        }
    });
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["plan", "seats", "billingContact", "items", "startDate"],
                "x-kubernetes-validations": [
                    {"rule": "self.seats <= self.maxSeats", "message": "seats must not exceed maxSeats"},
                    {"rule": "self.items.all(i, i.quantity > 0)", "message": "every line item needs a positive quantity"},
                    {"rule": "self.plan == oldSelf.plan || oldSelf.plan != 'enterprise'", "message": "an enterprise plan cannot be changed"}
                ],
                "properties": {
                    "plan": {"type": "string", "enum": ["free", "team", "business", "enterprise"]},
                    "currency": {"type": "string", "enum": ["USD", "EUR", "GBP"], "default": "USD"},
                    "seats": {"type": "integer", "minimum": 1, "maximum": 10000},
                    "maxSeats": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100},
                    "autoRenew": {"type": "boolean", "default": true},
                    "startDate": {"type": "string", "format": "date-time"},
                    "renewalDate": {"type": "string", "format": "date-time"},
                    "discount": {"x-kubernetes-int-or-string": true},
                    "billingContact": {
                        "type": "object",
                        "required": ["name", "email"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1, "maxLength": 128},
                            "email": {"type": "string", "format": "email"},
                            "phone": {"type": "string", "pattern": "^\\+[0-9 ]{6,20}$"},
                            "address": {
                                "type": "object",
                                "properties": {
                                    "line1": {"type": "string", "maxLength": 128},
                                    "line2": {"type": "string", "maxLength": 128},
                                    "city": {"type": "string", "maxLength": 64},
                                    "postalCode": {"type": "string", "maxLength": 16},
                                    "country": {"type": "string", "pattern": "^[A-Z]{2}$"}
                                }
                            }
                        }
                    },
                    "items": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 20,
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["sku"],
                        "items": line_item
                    },
                    "labels": {
                        "type": "object",
                        "maxProperties": 16,
                        "additionalProperties": {"type": "string", "maxLength": 63}
                    },
                    "notes": {"type": "string", "maxLength": 4096}
                }
            },
            "status": {
                "type": "object",
                "properties": {
                    "phase": {"type": "string", "enum": ["Pending", "Active", "Suspended", "Cancelled"]},
                    "seatsInUse": {"type": "integer", "minimum": 0}
                }
            }
        }
    })
}

fn subscription_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{TYPE_PLURAL}.{TYPE_GROUP}")},
        "spec": {
            "group": TYPE_GROUP,
            "names": {"kind": TYPE_KIND, "plural": TYPE_PLURAL, "singular": "subscription"},
            "scope": "Namespaced",
            "versions": [{
                "name": TYPE_VERSION,
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": subscription_schema()}
            }]
        }
    })
}

/// A valid subscription of `plan` with `seats`, its JSON padded (in
/// `spec.notes`) to exactly [`DOC_BYTES`] for the name `sub-000000`.
/// `autoRenew` and the line items' `taxCode` are left to their defaults.
fn subscription(name: &str, plan: &str, seats: u64) -> Value {
    let items: Vec<Value> = [
        ("SEAT-STD", "Standard seat, billed monthly per active user", 40, json!(1250)),
        ("SEAT-ADM", "Administrator seat with audit log access", 2, json!("18.00")),
        ("SUP-GOLD", "Gold support: 4h response, named engineer", 1, json!(49900)),
        ("STOR-1TB", "Additional object storage, per TB per month", 3, json!("21.50")),
        ("NET-EGR", "Egress bundle, 10 TB per month, pooled", 2, json!(8000)),
        ("SSO-SAML", "SAML single sign-on and SCIM provisioning", 1, json!("99.00")),
    ]
    .into_iter()
    .map(|(sku, description, quantity, price)| {
        json!({"sku": sku, "description": description, "quantity": quantity, "unitPrice": price})
    })
    .collect();
    let mut doc = json!({
        "apiVersion": format!("{TYPE_GROUP}/{TYPE_VERSION}"),
        "kind": TYPE_KIND,
        "metadata": {"name": name},
        "spec": {
            "plan": plan,
            "currency": "EUR",
            "seats": seats,
            "maxSeats": 50,
            "startDate": "2026-01-01T00:00:00Z",
            "renewalDate": "2027-01-01T00:00:00Z",
            "discount": "15%",
            "billingContact": {
                "name": "Ada Lovelace",
                "email": "billing@analytical-engines.example.com",
                "phone": "+44 20 7946 0000",
                "address": {
                    "line1": "12 Analytical Row",
                    "line2": "Floor 3",
                    "city": "London",
                    "postalCode": "EC1A 1BB",
                    "country": "GB"
                }
            },
            "items": items,
            "labels": {"costCenter": "cc-4711", "team": "platform", "region": "eu-west", "tier": "gold"},
            "notes": ""
        }
    });
    let unpadded = doc.to_string().len() - name.len() + "sub-000000".len();
    let sentence = "Renewal negotiated with procurement; invoice quarterly in arrears. ";
    let notes: String = sentence
        .chars()
        .cycle()
        .take(DOC_BYTES.saturating_sub(unpadded))
        .collect();
    doc["spec"]["notes"] = json!(notes);
    doc
}

// ---------------------------------------------------------------------------
// 1. Validation

struct Validation {
    doc_bytes: usize,
    compile_first: Duration,
    compile_p50: Duration,
    create: PathStats,
    update: PathStats,
    /// The create path against the same schema without its CEL rules.
    create_no_cel: PathStats,
}

/// One path's per-object figures: the whole admission (clone, defaults,
/// prune, validate) and `validate` alone.
struct PathStats {
    total: Stats,
    validate_p50: Duration,
}

fn validation_bench() -> anyhow::Result<Validation> {
    let raw = subscription_schema();
    let base = "spec.versions[0].schema.openAPIV3Schema";
    let began = Instant::now();
    let schema = compile(&raw, base)?;
    let compile_first = began.elapsed();
    let mut compiles = Vec::with_capacity(COMPILES);
    for _ in 0..COMPILES {
        let began = Instant::now();
        black_box(compile(&raw, base)?);
        compiles.push(began.elapsed());
    }
    compiles.sort_unstable();

    let new = subscription("sub-000000", "business", 42);
    let doc_bytes = new.to_string().len();
    let mut old = subscription("sub-000000", "business", 40);
    schema.apply_defaults(&mut old);
    schema.prune(&mut old);
    check_rules(&schema, &new, &old)?;

    for _ in 0..VALIDATION_WARMUP {
        admit(&schema, &new, None)?;
        admit(&schema, &new, Some(&old))?;
    }
    Ok(Validation {
        doc_bytes,
        compile_first,
        compile_p50: percentile(&compiles, 50.0),
        create: validate_path(&schema, &new, None)?,
        update: validate_path(&schema, &new, Some(&old))?,
        create_no_cel: validate_path(&compile(&without_rules(raw), base)?, &new, None)?,
    })
}

/// The schema with every `x-kubernetes-validations` removed.
fn without_rules(mut schema: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.remove("x-kubernetes-validations");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut schema);
    schema
}

fn compile(raw: &Value, base: &str) -> anyhow::Result<Schema> {
    Schema::compile(raw, base).map_err(|causes| anyhow!("the schema does not compile: {causes:?}"))
}

/// What the server does to a body before it writes it: a copy defaulted,
/// pruned and validated. Returns the time `validate` alone took.
fn admit(schema: &Schema, doc: &Value, old: Option<&Value>) -> anyhow::Result<Duration> {
    let mut object = black_box(doc).clone();
    schema.apply_defaults(&mut object);
    let pruned = schema.prune(&mut object);
    let began = Instant::now();
    let causes = schema.validate(&object, old);
    let validate = began.elapsed();
    if !pruned.is_empty() || !causes.is_empty() {
        bail!("the fixture is not clean: pruned {pruned:?}, causes {causes:?}");
    }
    black_box(object);
    Ok(validate)
}

fn validate_path(schema: &Schema, doc: &Value, old: Option<&Value>) -> anyhow::Result<PathStats> {
    let mut totals = Vec::with_capacity(VALIDATIONS);
    let mut validates = Vec::with_capacity(VALIDATIONS);
    let start = Instant::now();
    for _ in 0..VALIDATIONS {
        let began = Instant::now();
        let validate = admit(schema, doc, old)?;
        totals.push(began.elapsed());
        validates.push(validate);
    }
    let wall = start.elapsed();
    validates.sort_unstable();
    Ok(PathStats {
        total: Stats::of(Sample {
            latencies: totals,
            wall,
            ..Sample::default()
        }),
        validate_p50: percentile(&validates, 50.0),
    })
}

/// The three rules are live: each refuses what it should, with its message.
fn check_rules(schema: &Schema, valid: &Value, old: &Value) -> anyhow::Result<()> {
    let mut over = valid.clone();
    over["spec"]["seats"] = json!(51);
    let mut zero = valid.clone();
    zero["spec"]["items"][2]["quantity"] = json!(0);
    let mut enterprise = old.clone();
    enterprise["spec"]["plan"] = json!("enterprise");
    let cases = [
        (over, None, "seats must not exceed maxSeats"),
        (zero, None, "every line item needs a positive quantity"),
        (
            valid.clone(),
            Some(&enterprise),
            "an enterprise plan cannot be changed",
        ),
    ];
    for (mut doc, old, message) in cases {
        schema.apply_defaults(&mut doc);
        let causes = schema.validate(&doc, old);
        if !causes.iter().any(|c| c.message.contains(message)) {
            bail!("the rule {message:?} did not fire: {causes:?}");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// 2. Creates through DynamoDB

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// The raw PutItem of the validation fixture (concurrency 1 only).
    RawPut,
    ApiRegistered,
    ApiBuiltin,
    RawRegistered,
}

impl Side {
    const CREATES: [Side; 3] = [Side::ApiRegistered, Side::ApiBuiltin, Side::RawRegistered];

    fn name(self) -> &'static str {
        match self {
            Side::RawPut => "raw PutItem of the document",
            Side::ApiRegistered => "API create, registered Subscription",
            Side::ApiBuiltin => "API create, built-in Project",
            Side::RawRegistered => "raw TransactWriteItems, Subscription",
        }
    }
}

struct Bench {
    api_server: InProcess,
    client: Client,
    table: String,
    /// The project's `default` namespace, the registered objects' container.
    namespace: ObjectRef,
    /// The validation fixture, the body of the API's registered creates.
    body: Value,
    /// A Subscription as the API stored it; raw creates store copies.
    template: Value,
    /// Names handed out so far, per side.
    counters: [AtomicUsize; 4],
    raw_retries: AtomicUsize,
}

impl Bench {
    async fn setup() -> anyhow::Result<Self> {
        let client = store::Store::client_from_env().await;
        let table = format!("types-bench-{}", uuid::Uuid::new_v4().simple());
        raw::create_table(&client, &table).await?;
        let api_server = InProcess::new(client.clone(), &table)?;
        let namespace = ObjectRef {
            context: Context::Project(PROJECT.into()),
            group: String::new(),
            kind: "Namespace".into(),
            namespace: String::new(),
            name: "default".into(),
        };
        let mut bench = Self {
            api_server,
            client,
            table,
            namespace,
            body: subscription("sub-000000", "business", 42),
            template: Value::Null,
            counters: Default::default(),
            raw_retries: AtomicUsize::new(0),
        };
        let org = json!({
            "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
            "kind": "Organization",
            "metadata": {"name": ORG},
            "spec": {"type": "Standard"}
        });
        bench
            .call(&format!("{G}/organizations"), &org)
            .await
            .context("creating the organization")?;
        let crd: Value = serde_json::from_slice(&bench.call(CRDS, &subscription_crd()).await?)?;
        let established = crd["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Established" && c["status"] == "True");
        if !established {
            bail!("the Subscription CRD is not established: {crd}");
        }
        bench
            .call(&format!("{G}/projects"), &project_body(PROJECT))
            .await
            .context("creating the project")?;
        if raw::get_item(&bench.client, &bench.table, &bench.namespace.key())
            .await?
            .is_none()
        {
            bail!(
                "the project's default namespace is not at {:?}",
                bench.namespace.key()
            );
        }
        let created = bench
            .call(&bench.subscriptions(), &bench.body)
            .await
            .context("creating the template Subscription")?;
        bench.template = serde_json::from_slice(&created)?;
        Ok(bench)
    }

    fn subscriptions(&self) -> String {
        format!(
            "{G}/projects/{PROJECT}/control-plane/apis/{TYPE_GROUP}/{TYPE_VERSION}/namespaces/default/{TYPE_PLURAL}"
        )
    }

    /// A name not used yet by `side`.
    fn fresh(&self, side: Side) -> String {
        let n = self.counters[side as usize].fetch_add(1, Ordering::Relaxed);
        let prefix = match side {
            Side::RawPut => "put",
            Side::ApiRegistered => "sub-a",
            Side::ApiBuiltin => "proj-a",
            Side::RawRegistered => "sub-r",
        };
        format!("{prefix}-{n:06}")
    }

    fn created(&self, side: Side) -> usize {
        self.counters[side as usize].load(Ordering::Relaxed)
    }

    async fn op(&self, side: Side) -> anyhow::Result<()> {
        let name = self.fresh(side);
        match side {
            Side::RawPut => self.raw_put(&name).await,
            Side::ApiRegistered => {
                let mut body = self.body.clone();
                body["metadata"]["name"] = json!(name);
                self.call(&self.subscriptions(), &body).await.map(drop)
            }
            Side::ApiBuiltin => self
                .call(&format!("{G}/projects"), &project_body(&name))
                .await
                .map(drop),
            Side::RawRegistered => self.raw_create(&name).await,
        }
    }

    /// One POST through the pipeline; anything but 201 aborts the run.
    async fn call(&self, uri: &str, body: &Value) -> anyhow::Result<Vec<u8>> {
        self.api_server.call("POST", uri, body, 201).await
    }

    /// The validation fixture as one item (pk, sk, obj), absent before.
    async fn raw_put(&self, name: &str) -> anyhow::Result<()> {
        let key = self.subscription_ref(name).key();
        let mut item = key_item(&key);
        item.insert("obj".into(), s(&self.body.to_string()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| anyhow!("raw PutItem: {}", DisplayErrorContext(e)))?;
        Ok(())
    }

    /// The registered-type create transaction, item for item as the API
    /// writes it: the object (absent; with its type-index attributes), the
    /// check that the namespace is live, and the namespace's child index
    /// item. (The API also reads the project first, to check the context.)
    async fn raw_create(&self, name: &str) -> anyhow::Result<()> {
        let object = self.subscription_ref(name);
        let mut doc = self.template.clone();
        doc["metadata"]["name"] = json!(name);
        doc["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
        let key = object.key();
        let mut item = key_item(&key);
        if let Some((type_pk, type_sk)) = store::keys::type_index_of(&key) {
            item.insert("gsi1pk".into(), s(&type_pk));
            item.insert("gsi1sk".into(), s(&type_sk));
        }
        item.insert("obj".into(), s(&doc.to_string()));
        item.insert("rv".into(), AttributeValue::N("1".into()));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()?;
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(&self.namespace.key())))
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(deleting)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()?;
        let mut child = key_item(&self.namespace.child_index_key(&object));
        child.insert("opk".into(), s(&key.pk));
        child.insert("osk".into(), s(&key.sk));
        let child = Put::builder()
            .table_name(&self.table)
            .set_item(Some(child))
            .build()?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().condition_check(check).build(),
            TransactWriteItem::builder().put(child).build(),
        ];
        raw::transact(&self.client, items, &self.raw_retries).await
    }

    fn subscription_ref(&self, name: &str) -> ObjectRef {
        ObjectRef {
            context: Context::Project(PROJECT.into()),
            group: TYPE_GROUP.into(),
            kind: TYPE_KIND.into(),
            namespace: "default".into(),
            name: name.into(),
        }
    }
}

fn project_body(name: &str) -> Value {
    json!({
        "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name},
        "spec": {"ownerRef": {"kind": "Organization", "name": ORG}}
    })
}

/// Warms up, measures the raw PutItem at concurrency 1, then the three
/// create sides at each concurrency.
async fn dynamo_bench(bench: &Arc<Bench>, ops: usize) -> anyhow::Result<(Stats, Vec<Row>)> {
    eprintln!("warming up…");
    for side in [Side::RawPut].into_iter().chain(Side::CREATES) {
        run(bench, side, WARMUP_OPS.min(ops), WARMUP_CONCURRENCY).await?;
    }
    eprintln!("raw PutItem at concurrency 1…");
    let put = Stats::of(run(bench, Side::RawPut, ops, 1).await?);
    let mut rows = Vec::new();
    for concurrency in CONCURRENCIES {
        eprintln!("creates at concurrency {concurrency}…");
        let mut samples: [Sample; 3] = Default::default();
        for round in 0..ROUNDS {
            let share = ops / ROUNDS + usize::from(round < ops % ROUNDS);
            for i in 0..Side::CREATES.len() {
                let at = (i + round) % Side::CREATES.len();
                let sample = run(bench, Side::CREATES[at], share, concurrency).await?;
                samples[at].add(sample);
            }
        }
        let [api_registered, api_builtin, raw_registered] = samples.map(Stats::of);
        rows.push(Row {
            concurrency,
            api_registered,
            api_builtin,
            raw_registered,
        });
    }
    Ok((put, rows))
}

async fn run(
    bench: &Arc<Bench>,
    side: Side,
    ops: usize,
    concurrency: usize,
) -> anyhow::Result<Sample> {
    let bench = bench.clone();
    measure(ops, concurrency, move || {
        let bench = bench.clone();
        async move { bench.op(side).await }
    })
    .await
    .with_context(|| format!("{} at concurrency {concurrency}", side.name()))
}

// ---------------------------------------------------------------------------
// Reporting

struct Row {
    concurrency: usize,
    api_registered: Stats,
    api_builtin: Stats,
    raw_registered: Stats,
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn print_report(bench: &Bench, ops: usize, v: &Validation, put: &Stats, rows: &[Row]) {
    println!(
        "Subscription document {} bytes (stored by the API: {} bytes); schema compile {} ms \
         the first time (with the CEL environment's one-time set-up), p50 {} ms over {COMPILES}\n",
        v.doc_bytes,
        bench.template.to_string().len(),
        ms(v.compile_first),
        ms(v.compile_p50),
    );
    println!(
        "| validation ({VALIDATIONS} per path, one core) | p50 µs | p99 µs | per s | validate() alone p50 µs | p50 / PutItem p50 |"
    );
    println!("|---|--:|--:|--:|--:|--:|");
    for (path, stats) in [
        ("create: clone, default, prune, validate", &v.create),
        ("update: the same, validate against old", &v.update),
        ("create, the schema without its CEL rules", &v.create_no_cel),
    ] {
        println!(
            "| {path} | {} | {} | {:.0} | {} | {:.3} |",
            us(stats.total.p50),
            us(stats.total.p99),
            stats.total.ops_per_sec,
            us(stats.validate_p50),
            ratio(stats.total.p50, put.p50),
        );
    }
    println!(
        "\nraw PutItem of the document, concurrency 1, {ops} operations: p50 {} ms, p99 {} ms, {:.0}/s\n",
        ms(put.p50),
        ms(put.p99),
        put.ops_per_sec
    );
    println!(
        "{ops} creates per side and concurrency; objects at the end: {} Subscriptions, {} Projects; \
         raw transactions retried after a conflict: {}\n",
        bench.created(Side::ApiRegistered) + bench.created(Side::RawRegistered) + 1,
        bench.created(Side::ApiBuiltin) + 1,
        bench.raw_retries.load(Ordering::Relaxed)
    );
    println!("| create | concurrency | p50 ms | p99 ms | ops/s |");
    println!("|---|--:|--:|--:|--:|");
    for r in rows {
        for (side, stats) in [
            (Side::ApiRegistered, &r.api_registered),
            (Side::ApiBuiltin, &r.api_builtin),
            (Side::RawRegistered, &r.raw_registered),
        ] {
            println!(
                "| {} | {} | {} | {} | {:.0} |",
                side.name(),
                r.concurrency,
                ms(stats.p50),
                ms(stats.p99),
                stats.ops_per_sec
            );
        }
    }
    println!();
    println!("| concurrency | p50 registered/built-in | ops/s registered/built-in | p50 API/raw (registered) | ops/s raw/API (registered) |");
    println!("|--:|--:|--:|--:|--:|");
    for r in rows {
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} |",
            r.concurrency,
            ratio(r.api_registered.p50, r.api_builtin.p50),
            r.api_registered.ops_per_sec / r.api_builtin.ops_per_sec,
            ratio(r.api_registered.p50, r.raw_registered.p50),
            r.raw_registered.ops_per_sec / r.api_registered.ops_per_sec,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_is_2kb_valid_and_its_rules_fire() {
        let new = subscription("sub-000000", "business", 42);
        assert_eq!(new.to_string().len(), DOC_BYTES);
        let schema = compile(&subscription_schema(), "").expect("schema");
        let mut old = subscription("sub-000000", "business", 40);
        schema.apply_defaults(&mut old);
        check_rules(&schema, &new, &old).expect("rules");
        admit(&schema, &new, None).expect("create");
        admit(&schema, &new, Some(&old)).expect("update");
    }
}
