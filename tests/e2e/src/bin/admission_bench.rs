//! The admission-policy benchmark (issue 4): what 0, 5 and 20 matching
//! ValidatingAdmissionPolicies add to a Project create.
//!
//! 1. The admission step alone, in-process, no I/O: `Admission::validate`
//!    of one Project-create request against a compiled set of N matching
//!    policies (each a match condition and three validations, Deny), on the
//!    server's default budget (a worker thread per policy evaluation). This
//!    is the overhead a request pays; its p99 is the target (< 1 ms
//!    for 20).
//! 2. The same through `ApiServer::handle` against DynamoDB Local: Project
//!    creates with N policies installed, concurrency 1. DynamoDB Local's
//!    milliseconds dominate and drift; read the step's figures for the
//!    overhead and these as a check that nothing else moved.
//!
//! docs/benchmarks.md has the command, the figures and how to read them.
//! Environment: `DYNAMODB_ENDPOINT` (required), `BENCH_OPS` (creates per
//! policy count; default 2000). With `ADMISSION_PROFILE=N` it only runs the
//! evaluation of 20 policies N times (`domain::admission::validate`, no
//! store, no stack): the workload to profile, e.g. under
//! `valgrind --tool=callgrind`, which counts instructions deterministically.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use apiserver::admission::Admission;
use domain::admission::{self, AdmissionRequest, Budget, Operation, PolicySet, UserInfo};
use domain::catalog::Catalog;
use e2e::measure::{measure, ms, ops_from_env, Sample, Stats};
use e2e::pipeline::InProcess;
use e2e::raw;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const G: &str = "/apis/resourcemanager.miloapis.com/v1alpha1";
const ADM: &str = "/apis/admissionregistration.k8s.io/v1";
const ORG: &str = "bench-org";
const COUNTS: [usize; 3] = [0, 5, 20];
const EVALUATIONS: usize = 20_000;
const EVALUATION_WARMUP: usize = 2_000;
const WARMUP_CREATES: usize = 100;
/// Evaluations denied because a policy ran past the budget's deadline.
static OVERRUNS: AtomicUsize = AtomicUsize::new(0);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if let Ok(n) = std::env::var("ADMISSION_PROFILE") {
        return profile(n.parse().context("ADMISSION_PROFILE: a number")?);
    }
    let ops = ops_from_env()?;
    eprintln!("admission step alone…");
    let client = store::Store::client_from_env().await;
    let table = format!("admission-bench-{}", uuid::Uuid::new_v4().simple());
    raw::create_table(&client, &table).await?;
    let result = run(&client, &table, ops).await;
    raw::drop_table(&client, &table).await;
    let (steps, creates) = result?;
    print_report(ops, &steps, &creates);
    Ok(())
}

async fn run(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    ops: usize,
) -> anyhow::Result<(Vec<Stats>, Vec<Stats>)> {
    let store = store::Store::new(client.clone(), table);
    let mut steps = Vec::new();
    for with_regex in [true, false] {
        for n in COUNTS {
            steps.push(step_alone(&store, n, with_regex).await?);
        }
    }
    eprintln!("project creates through the pipeline…");
    let api = Arc::new(InProcess::new(client.clone(), table)?);
    api.call("POST", &format!("{G}/organizations"), &organization(), 201)
        .await
        .context("creating the organization")?;
    let counter = Arc::new(AtomicUsize::new(0));
    let mut creates = Vec::new();
    let mut installed = 0;
    for n in COUNTS {
        while installed < n {
            let (policy, binding) = policy_docs(installed);
            api.call(
                "POST",
                &format!("{ADM}/validatingadmissionpolicies"),
                &policy,
                201,
            )
            .await?;
            api.call(
                "POST",
                &format!("{ADM}/validatingadmissionpolicybindings"),
                &binding,
                201,
            )
            .await?;
            installed += 1;
        }
        let create = {
            let (api, counter) = (api.clone(), counter.clone());
            move || {
                let (api, counter) = (api.clone(), counter.clone());
                async move {
                    let i = counter.fetch_add(1, Ordering::Relaxed);
                    api.call("POST", &format!("{G}/projects"), &project(i), 201)
                        .await
                        .map(drop)
                }
            }
        };
        measure(WARMUP_CREATES, 1, create.clone()).await?;
        creates.push(Stats::of(measure(ops, 1, create).await?));
    }
    Ok((steps, creates))
}

/// Policy `i`: matches Project creates, one match condition, three
/// validations of the kinds the platform's examples use (a naming pattern,
/// a length bound, a label rule), bound with Deny.
fn policy_docs(i: usize) -> (Value, Value) {
    policy_docs_shaped(i, true)
}

/// `with_regex: false` replaces the naming pattern by string functions:
/// the `cel` crate compiles a `matches()` regex on every call, the largest
/// single cost of such a policy, and the report shows both.
fn policy_docs_shaped(i: usize, with_regex: bool) -> (Value, Value) {
    let name = format!("bench-policy-{i:02}");
    let naming = if with_regex {
        "object.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')"
    } else {
        "!object.metadata.name.startsWith('-') && !object.metadata.name.endsWith('-') && object.metadata.name.lowerAscii() == object.metadata.name"
    };
    let policy = json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{"apiGroups": ["resourcemanager.miloapis.com"],
                "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": ["projects"]}]},
            "matchConditions": [{"name": "not-system", "expression": "!object.metadata.name.startsWith('system-')"}],
            "validations": [
                {"expression": naming, "message": "bad name"},
                {"expression": "object.metadata.name.size() <= 55", "message": "name too long"},
                {"expression": "object.metadata.?labels[?'tier'].orValue('') != 'forbidden'", "messageExpression": "'tier ' + object.metadata.labels['tier'] + ' is not allowed'"}
            ]
        }
    });
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": ["Deny"]}
    });
    (policy, binding)
}

fn organization() -> Value {
    json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Organization",
           "metadata": {"name": ORG}, "spec": {"type": "Standard"}})
}

fn project(i: usize) -> Value {
    json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "Project",
           "metadata": {"name": format!("bench-project-{i:06}"), "labels": {"tier": "standard"}},
           "spec": {"ownerRef": {"kind": "Organization", "name": ORG}}})
}

fn request(i: usize) -> AdmissionRequest {
    let object = project(i);
    AdmissionRequest {
        uid: format!("bench-{i}"),
        operation: Operation::Create,
        group: "resourcemanager.miloapis.com".into(),
        version: "v1alpha1".into(),
        resource: "projects".into(),
        subresource: String::new(),
        kind: "Project".into(),
        namespace: None,
        name: object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .into(),
        object: Some(object),
        old_object: None,
        namespace_object: None,
        context_labels: None,
        user_info: UserInfo {
            username: "bench".into(),
            ..UserInfo::default()
        },
        dry_run: false,
    }
}

/// The evaluation alone, `runs` times against 20 policies (the regex
/// shape): what to profile.
fn profile(runs: usize) -> anyhow::Result<()> {
    let set = policy_set(20, true)?;
    let pairs: Vec<admission::ValidatingPair> = set
        .validating_candidates(&request(0))
        .into_iter()
        .map(|(policy, binding)| admission::ValidatingPair {
            policy: Arc::clone(policy),
            binding: Arc::clone(binding),
            params: admission::Params::Unused,
        })
        .collect();
    let budget = Budget::default();
    let requests: Vec<AdmissionRequest> = (0..64).map(request).collect();
    let mut denied = 0;
    for i in 0..runs {
        if !admission::validate(&pairs, &requests[i % 64], &budget).allowed() {
            denied += 1;
        }
    }
    println!("{runs} evaluations of 20 policies, {denied} denied");
    Ok(())
}

/// `n` policies of the given shape, compiled and paired.
fn policy_set(n: usize, with_regex: bool) -> anyhow::Result<PolicySet> {
    let (mut policies, mut bindings) = (Vec::new(), Vec::new());
    for i in 0..n {
        let (p, b) = policy_docs_shaped(i, with_regex);
        policies
            .push(admission::parse_validating_policy(&p).map_err(|c| anyhow::anyhow!("{c:?}"))?);
        bindings
            .push(admission::parse_validating_binding(&b).map_err(|c| anyhow::anyhow!("{c:?}"))?);
    }
    Ok(PolicySet::build(policies, bindings, Vec::new(), Vec::new()))
}

/// `Admission::validate` against `n` compiled policies: no params, so no
/// I/O; the store is never read.
async fn step_alone(store: &store::Store, n: usize, with_regex: bool) -> anyhow::Result<Stats> {
    let set = policy_set(n, with_regex)?;
    let catalog = Catalog::builtin().map_err(anyhow::Error::msg)?;
    let admission = Admission::new(Duration::from_millis(500), Budget::default());
    let requests: Vec<AdmissionRequest> = (0..64).map(request).collect();
    for i in 0..EVALUATION_WARMUP {
        admission
            .validate(store, &catalog, &set, &requests[i % 64])
            .await?;
    }
    let mut latencies = Vec::with_capacity(EVALUATIONS);
    let start = Instant::now();
    for i in 0..EVALUATIONS {
        let at = Instant::now();
        let decision = admission
            .validate(store, &catalog, &set, &requests[i % 64])
            .await?;
        latencies.push(at.elapsed());
        // Every request passes every policy, so a denial is a budget
        // overrun (the worker did not answer within the deadline): counted
        // and reported, not fatal; it says how the machine behaved.
        if !decision.allowed() {
            OVERRUNS.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(Stats::of(Sample {
        latencies,
        wall: start.elapsed(),
        ..Sample::default()
    }))
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn print_report(ops: usize, steps: &[Stats], creates: &[Stats]) {
    println!(
        "| naming rule | matching policies | admission step p50 µs | p99 µs | per s (one task) |"
    );
    println!("|---|--:|--:|--:|--:|");
    let shapes = ["matches() regex", "string functions"];
    for (i, s) in steps.iter().enumerate() {
        println!(
            "| {} | {} | {} | {} | {:.0} |",
            shapes[i / COUNTS.len()],
            COUNTS[i % COUNTS.len()],
            us(s.p50),
            us(s.p99),
            s.ops_per_sec
        );
    }
    println!(
        "\nevaluations over the 100 ms budget (denied): {}",
        OVERRUNS.load(Ordering::Relaxed)
    );
    println!(
        "\n{ops} Project creates per row through ApiServer::handle, concurrency 1, DynamoDB Local:\n"
    );
    println!("| matching policies | create p50 ms | p99 ms | ops/s | p50 − p50 with 0 ms |");
    println!("|--:|--:|--:|--:|--:|");
    let base = creates.first().map(|s| s.p50).unwrap_or_default();
    for (n, s) in COUNTS.iter().zip(creates) {
        let delta = s.p50.as_secs_f64() - base.as_secs_f64();
        println!(
            "| {n} | {} | {} | {:.0} | {:+.2} |",
            ms(s.p50),
            ms(s.p99),
            s.ops_per_sec,
            delta * 1000.0
        );
    }
}
