//! The authorization benchmark (#20): what deciding every request costs.
//!
//! In one run against DynamoDB Local, create, get and list-by-label of
//! projects in an organization's control plane, at concurrency 1 and 32,
//! through two in-process servers over the same table:
//!
//! - open: built with `ApiServer::without_authorization()`, the baseline;
//! - gated: an authorizing server, the requests a user who is not a
//!   platform administrator (no `system:masters`), granted
//!   `projects.{create,get,list}` by a Milo PolicyBinding on the
//!   organization;
//!
//! with the raw DynamoDB calls of get and list beside them (as bench.rs
//! makes them), and `domain::iam::Policy::decide` alone over 100 bindings
//! for a project ten folders deep. docs/benchmarks.md has the command and
//! the figures.
//!
//! Environment: `DYNAMODB_ENDPOINT` (required), `BENCH_OPS` (operations per
//! scenario, side and concurrency; default 2000).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;
use domain::iam::{BindingDef, Membership, Node, Permission, Policy, RoleDef, Target};
use e2e::measure::{measure, ms, ops_from_env, Sample, Stats};
use e2e::pipeline::{Authorization, InProcess};
use e2e::raw::{self, key_item, s};
use serde_json::{json, Value};
use store::{Context, ItemKey, ObjectRef};

const G: &str = "/apis/resourcemanager.miloapis.com/v1alpha1";
const IAM: &str = "/apis/iam.miloapis.com/v1alpha1";
const GROUP: &str = "resourcemanager.miloapis.com";
const ORG: &str = "iam-bench-org";
/// The user the gated server's requests are made as.
const USER: &str = "bench-user";
const TEAMS: usize = 10;
const LIST_TEAM: &str = "t3";
const LIST_LIMIT: usize = 50;
const CONCURRENCIES: [usize; 2] = [1, 32];
const WARMUP_OPS: usize = 200;
const WARMUP_CONCURRENCY: usize = 8;
/// Each measurement alternates the sides in this many rounds.
const ROUNDS: usize = 4;
/// Decisions measured in the pure benchmark.
const DECISIONS: usize = 200_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let ops = ops_from_env()?;
    let decisions = decide_benchmark()?;
    let bench = Arc::new(Bench::setup().await?);
    eprintln!("table {}", bench.table);
    let result = benchmark(&bench, ops).await;
    raw::drop_table(&bench.client, &bench.table).await;
    let (page, rows) = result?;
    print_report(&bench, ops, page, &rows, &decisions);
    Ok(())
}

async fn benchmark(bench: &Arc<Bench>, ops: usize) -> anyhow::Result<(usize, Vec<Row>)> {
    eprintln!("warming up…");
    for scenario in Scenario::ALL {
        for side in scenario.sides() {
            run(
                bench,
                scenario,
                *side,
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
            let mut samples = compare(bench, scenario, ops, concurrency).await?;
            let mut take = |side| samples.remove(&side).map(Stats::of);
            rows.push(Row {
                scenario,
                concurrency,
                open: take(Side::Open).ok_or_else(|| anyhow!("no open sample"))?,
                gated: take(Side::Gated).ok_or_else(|| anyhow!("no gated sample"))?,
                raw: take(Side::Raw),
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
}

impl Scenario {
    /// In this order: gets need the projects the creates made.
    const ALL: [Scenario; 3] = [Scenario::Create, Scenario::Get, Scenario::ListByLabel];

    fn name(self) -> &'static str {
        match self {
            Scenario::Create => "create",
            Scenario::Get => "get",
            Scenario::ListByLabel => "list by label",
        }
    }

    /// The raw side of a create (bench.rs measures it) is left out here:
    /// this benchmark compares the two servers.
    fn sides(self) -> &'static [Side] {
        match self {
            Scenario::Create => &[Side::Open, Side::Gated],
            Scenario::Get | Scenario::ListByLabel => &[Side::Open, Side::Gated, Side::Raw],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    /// The server without authorization.
    Open,
    /// The authorizing server, as the granted user.
    Gated,
    /// The raw DynamoDB calls.
    Raw,
}

/// The projects one server made: `{prefix}-{n:06}`, labelled team=t{n % 10}.
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

    fn fresh(&self) -> (usize, String) {
        let n = self.created.fetch_add(1, Ordering::Relaxed);
        (n, self.name(n))
    }

    fn existing(&self) -> String {
        let created = self.created.load(Ordering::Relaxed).max(1);
        self.name(self.cursor.fetch_add(1, Ordering::Relaxed) % created)
    }
}

// ---------------------------------------------------------------------------
// The fixture

struct Bench {
    open: InProcess,
    gated: InProcess,
    client: Client,
    table: String,
    open_projects: Projects,
    gated_projects: Projects,
    /// The raw gets read the gated server's projects.
    raw_cursor: AtomicUsize,
}

impl Bench {
    async fn setup() -> anyhow::Result<Self> {
        let client = store::Store::client_from_env().await;
        let table = format!("iam-bench-{}", uuid::Uuid::new_v4().simple());
        raw::create_table(&client, &table).await?;
        let admin = InProcess::new(client.clone(), &table)?;
        let org = json!({
            "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
            "kind": "Organization",
            "metadata": {"name": ORG},
            "spec": {"type": "Standard"}
        });
        admin
            .call("POST", &format!("{G}/organizations"), &org, 201)
            .await?;
        grant(&admin).await?;
        let open = InProcess::as_principal(client.clone(), &table, USER, &[], Authorization::Off)?;
        let gated = InProcess::as_principal(client.clone(), &table, USER, &[], Authorization::On)?;
        // The grant is what lets the gated server's user in: without it,
        // the comparison would measure refusals.
        gated
            .call(
                "GET",
                &format!("{}/projects", org_plane()),
                &Value::Null,
                200,
            )
            .await
            .context("the user's grant")?;
        Ok(Self {
            open,
            gated,
            client,
            table,
            open_projects: Projects::new("iam-o"),
            gated_projects: Projects::new("iam-g"),
            raw_cursor: AtomicUsize::new(0),
        })
    }

    fn server(&self, side: Side) -> (&InProcess, &Projects) {
        match side {
            Side::Gated => (&self.gated, &self.gated_projects),
            _ => (&self.open, &self.open_projects),
        }
    }

    async fn op(&self, scenario: Scenario, side: Side) -> anyhow::Result<()> {
        match (scenario, side) {
            (Scenario::Get, Side::Raw) => self.raw_get().await,
            (Scenario::ListByLabel, Side::Raw) => self.raw_list().await.map(drop),
            (Scenario::Create, Side::Raw) => bail!("no raw create here"),
            (Scenario::Create, _) => self.api_create(side).await,
            (Scenario::Get, _) => self.api_get(side).await,
            (Scenario::ListByLabel, _) => self.api_list(side).await.map(drop),
        }
    }

    /// The two servers and the raw calls must read the same page, or the
    /// comparison is void. Returns the page's size.
    async fn check_lists_agree(&self) -> anyhow::Result<usize> {
        let mut pages = Vec::new();
        for side in [Side::Open, Side::Gated] {
            let list: Value = serde_json::from_slice(&self.api_list(side).await?)?;
            let names: Vec<String> = list["items"]
                .as_array()
                .ok_or_else(|| anyhow!("the {side:?} list has no items: {list}"))?
                .iter()
                .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_string))
                .collect();
            pages.push(names);
        }
        pages.push(self.raw_list().await?);
        if pages[0].is_empty() || pages.iter().any(|p| p != &pages[0]) {
            bail!(
                "the lists differ: {:?}",
                pages
                    .iter()
                    .map(|p| (p.len(), p.first().cloned()))
                    .collect::<Vec<_>>()
            );
        }
        Ok(pages[0].len())
    }

    async fn api_create(&self, side: Side) -> anyhow::Result<()> {
        let (server, projects) = self.server(side);
        let (n, name) = projects.fresh();
        let body = project_body(&name, &format!("t{}", n % TEAMS));
        server
            .call("POST", &format!("{}/projects", org_plane()), &body, 201)
            .await
            .map(drop)
    }

    async fn api_get(&self, side: Side) -> anyhow::Result<()> {
        let (server, projects) = self.server(side);
        let uri = format!("{}/projects/{}", org_plane(), projects.existing());
        server.call("GET", &uri, &Value::Null, 200).await.map(drop)
    }

    async fn api_list(&self, side: Side) -> anyhow::Result<Vec<u8>> {
        let (server, _) = self.server(side);
        let uri = format!(
            "{}/projects?labelSelector=team%3D{LIST_TEAM}&limit={LIST_LIMIT}",
            org_plane()
        );
        server.call("GET", &uri, &Value::Null, 200).await
    }

    async fn raw_get(&self) -> anyhow::Result<()> {
        let created = self.gated_projects.created.load(Ordering::Relaxed).max(1);
        let n = self.raw_cursor.fetch_add(1, Ordering::Relaxed) % created;
        let key = project_ref(&self.gated_projects.name(n)).key();
        raw::get_item(&self.client, &self.table, &key)
            .await?
            .map(drop)
            .ok_or_else(|| anyhow!("raw get: {} not found", key.sk))
    }

    /// A Query of the team label's index items (one page), then a
    /// BatchGetItem of the objects; returns the names read, in index order.
    async fn raw_list(&self) -> anyhow::Result<Vec<String>> {
        let pk = project_ref("").collection().label_pk("team");
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
        let mut found = Vec::new();
        let mut pending: Vec<_> = targets.iter().map(key_item).collect();
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
        let mut by_key: HashMap<(String, String), String> = found
            .iter()
            .map(|i| ((text(i, "pk"), text(i, "sk")), name_of(i)))
            .collect();
        Ok(targets
            .iter()
            .filter_map(|k| by_key.remove(&(k.pk.clone(), k.sk.clone())))
            .collect())
    }
}

/// The user, a Milo Role granting what the scenarios do (in the platform's
/// `milo-system` namespace, which the server bootstraps), and a
/// PolicyBinding of it to the user on the organization.
async fn grant(admin: &InProcess) -> anyhow::Result<()> {
    admin
        .call(
            "POST",
            &format!("{IAM}/users"),
            &json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "User",
                    "metadata": {"name": USER}, "spec": {"email": "bench@example.com"}}),
            201,
        )
        .await?;
    let permissions: Vec<String> = ["create", "get", "list"]
        .iter()
        .map(|verb| format!("{GROUP}/projects.{verb}"))
        .collect();
    admin
        .call(
            "POST",
            &format!("{IAM}/namespaces/milo-system/roles"),
            &json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "Role",
                    "metadata": {"name": "project-editor", "namespace": "milo-system"},
                    "spec": {"launchStage": "Beta", "includedPermissions": permissions}}),
            201,
        )
        .await?;
    admin
        .call(
            "POST",
            &format!("{IAM}/namespaces/default/policybindings"),
            &json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "PolicyBinding",
                    "metadata": {"name": "bench-user-projects", "namespace": "default"},
                    "spec": {"roleRef": {"name": "project-editor", "namespace": "milo-system"},
                             "subjects": [{"kind": "User", "name": USER}],
                             "resourceSelector": {"resourceRef": {
                                 "apiGroup": GROUP, "kind": "Organization", "name": ORG}}}}),
            201,
        )
        .await?;
    Ok(())
}

fn org_plane() -> String {
    format!("{G}/organizations/{ORG}/control-plane{G}")
}

fn project_body(name: &str, team: &str) -> Value {
    json!({
        "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name, "labels": {"env": "bench", "team": team}},
        "spec": {"ownerRef": {"kind": "Organization", "name": ORG}}
    })
}

/// Projects live in the platform context, whichever control plane serves them.
fn project_ref(name: &str) -> ObjectRef {
    ObjectRef {
        context: Context::Platform,
        group: GROUP.into(),
        kind: "Project".into(),
        namespace: String::new(),
        name: name.into(),
    }
}

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

// ---------------------------------------------------------------------------
// The pure decision

/// Latencies of `Policy::decide` alone, allowed and refused.
struct Decisions {
    bindings: usize,
    depth: usize,
    allowed: Stats,
    refused: Stats,
}

/// 100 PolicyBindings of ten users and five groups (some through
/// GroupMemberships) on the organization, its ten nested folders and a
/// project below them; decisions for a get of that project by a user
/// granted through a group on the deepest folder (allowed) and by one
/// holding other permissions only (refused: every binding of theirs read).
fn decide_benchmark() -> anyhow::Result<Decisions> {
    const DEPTH: usize = 10;
    const BINDINGS: usize = 100;
    let platform = Node::Platform;
    let role = |name: &str, permissions: &[&str]| {
        RoleDef::parse(
            &platform,
            &json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "Role",
                    "metadata": {"name": name, "namespace": "milo-system"},
                    "spec": {"launchStage": "Beta", "includedPermissions": permissions}}),
        )
        .map_err(|e| anyhow!(e))
    };
    let roles = vec![
        role(
            "viewer",
            &[
                &format!("{GROUP}/projects.get"),
                &format!("{GROUP}/projects.list"),
            ],
        )?,
        role("folder-editor", &[&format!("{GROUP}/folders.update")])?,
        role("config", &["core/configmaps.get", "core/configmaps.list"])?,
        role("secrets", &["core/secrets.get"])?,
    ];
    let role_of = |i: usize| ["folder-editor", "config", "secrets"][i % 3];
    let mut nodes = vec![("Organization", "org".to_string())];
    nodes.extend((1..=DEPTH).map(|d| ("Folder", format!("f{d}"))));
    nodes.push(("Project", "p".to_string()));
    let mut bindings = Vec::with_capacity(BINDINGS);
    for i in 0..BINDINGS {
        let (kind, name) = &nodes[i % nodes.len()];
        // The last binding is the one that allows: a group's, on the
        // deepest folder; the others grant other permissions.
        let (subject, role) = if i == BINDINGS - 1 {
            (
                json!({"kind": "Group", "name": "g4", "namespace": "default"}),
                "viewer",
            )
        } else if i % 2 == 0 {
            (
                json!({"kind": "User", "name": format!("u{}", i % 10)}),
                role_of(i),
            )
        } else {
            (
                json!({"kind": "Group", "name": format!("g{}", i % 5), "namespace": "default"}),
                role_of(i),
            )
        };
        let (kind, name) = if i == BINDINGS - 1 {
            ("Folder", format!("f{DEPTH}"))
        } else {
            (*kind, name.clone())
        };
        bindings.push(
            BindingDef::parse(
                &platform,
                &json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "PolicyBinding",
                        "metadata": {"name": format!("b{i}"), "namespace": "default"},
                        "spec": {"roleRef": {"name": role, "namespace": "milo-system"},
                                 "subjects": [subject],
                                 "resourceSelector": {"resourceRef": {
                                     "apiGroup": GROUP, "kind": kind, "name": name}}}}),
            )
            .map_err(|e| anyhow!(e))?,
        );
    }
    let memberships = (0..10)
        .map(|u| {
            Membership::parse(
                &platform,
                &json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "GroupMembership",
                        "metadata": {"name": format!("m{u}"), "namespace": "default"},
                        "spec": {"userRef": {"name": format!("u{u}")},
                                 "groupRef": {"name": format!("g{}", u % 5), "namespace": "default"}}}),
            )
            .map_err(|e| anyhow!(e))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let policy = Policy::new(roles, bindings, memberships);
    let mut chain = vec![Node::Platform, Node::Organization("org".into())];
    chain.extend((1..=DEPTH).map(|d| Node::Folder(format!("f{d}"))));
    chain.push(Node::Project("p".into()));
    let target = Target {
        chain,
        context: Node::Platform,
        group: GROUP.into(),
        kind: "Project".into(),
        namespace: None,
        name: Some("p".into()),
    };
    let get = Permission::new(GROUP, "projects", "get");
    // u4 and u9 are in g4; u3 is not.
    let granted = policy.subject("u4", &[]);
    let other = policy.subject("u3", &[]);
    let sample = |subject, expect: bool| -> anyhow::Result<Stats> {
        let decision = policy.decide(subject, &get, &target);
        if decision.allowed != expect {
            bail!(
                "{} expected allowed={expect}: {}",
                subject.user,
                decision.reason
            );
        }
        let mut latencies = Vec::with_capacity(DECISIONS);
        let start = Instant::now();
        for _ in 0..DECISIONS {
            let began = Instant::now();
            let decision = std::hint::black_box(policy.decide(subject, &get, &target));
            latencies.push(began.elapsed());
            drop(decision);
        }
        Ok(Stats::of(Sample {
            latencies,
            wall: start.elapsed(),
            cpu: Default::default(),
        }))
    };
    Ok(Decisions {
        bindings: BINDINGS,
        depth: DEPTH,
        allowed: sample(&granted, true)?,
        refused: sample(&other, false)?,
    })
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

/// Measures a scenario's sides in alternating rounds (the order rotated
/// each round), so no side always runs on the larger table or the warmer
/// DynamoDB Local.
async fn compare(
    bench: &Arc<Bench>,
    scenario: Scenario,
    ops: usize,
    concurrency: usize,
) -> anyhow::Result<HashMap<Side, Sample>> {
    let mut samples: HashMap<Side, Sample> = HashMap::new();
    let sides = scenario.sides();
    for round in 0..ROUNDS {
        let share = ops / ROUNDS + usize::from(round < ops % ROUNDS);
        for i in 0..sides.len() {
            let side = sides[(i + round) % sides.len()];
            let sample = run(bench, scenario, side, share, concurrency).await?;
            samples.entry(side).or_default().add(sample);
        }
    }
    Ok(samples)
}

// ---------------------------------------------------------------------------
// Reporting

struct Row {
    scenario: Scenario,
    concurrency: usize,
    open: Stats,
    gated: Stats,
    raw: Option<Stats>,
}

fn micros(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e6)
}

fn print_report(bench: &Bench, ops: usize, page: usize, rows: &[Row], decisions: &Decisions) {
    println!(
        "{ops} operations per scenario, side and concurrency; list page {page} items; \
         {} projects at the end\n",
        bench.open_projects.created.load(Ordering::Relaxed)
            + bench.gated_projects.created.load(Ordering::Relaxed)
    );
    println!(
        "| scenario | concurrency | open p50 ms | open p99 ms | gated p50 ms | gated p99 ms | p50 gated/open | p99 gated/open | ops/s open | ops/s gated | raw p50 ms | raw p99 ms |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for r in rows {
        let (raw_p50, raw_p99) = match &r.raw {
            Some(raw) => (ms(raw.p50), ms(raw.p99)),
            None => ("–".to_string(), "–".to_string()),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.0} | {:.0} | {raw_p50} | {raw_p99} |",
            r.scenario.name(),
            r.concurrency,
            ms(r.open.p50),
            ms(r.open.p99),
            ms(r.gated.p50),
            ms(r.gated.p99),
            r.gated.p50.as_secs_f64() / r.open.p50.as_secs_f64(),
            r.gated.p99.as_secs_f64() / r.open.p99.as_secs_f64(),
            r.open.ops_per_sec,
            r.gated.ops_per_sec,
        );
    }
    println!(
        "\nPolicy::decide, {} bindings, a project {} folders deep, {DECISIONS} decisions each:\n",
        decisions.bindings, decisions.depth
    );
    println!("| decision | p50 µs | p99 µs | decisions/s |");
    println!("|---|--:|--:|--:|");
    for (name, stats) in [
        (
            "allowed (group binding on the deepest folder)",
            &decisions.allowed,
        ),
        (
            "refused (every binding of the user read)",
            &decisions.refused,
        ),
    ] {
        println!(
            "| {name} | {} | {} | {:.0} |",
            micros(stats.p50),
            micros(stats.p99),
            stats.ops_per_sec
        );
    }
}
