//! `conformance`: runs every Chainsaw suite under the suites directory
//! against the local stack (started by localstack/with-stack.sh with a
//! lambda port), prints one line per suite and fails unless every result is
//! as manifest.yaml lists it.
//!
//!   conformance [--suites DIR] [--manifest FILE] [--jobs N] [--port N]
//!               [--log-dir DIR] [--only SUITE]...

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use conformance::engine::{self, Env};
use conformance::manifest::{self, Outcome, Verdict};
use conformance::model::{self, ConfigSpec};
use conformance::proxy::{self, Upstream};
use tokio::sync::Semaphore;

/// Bounds one suite; past it the suite fails (a hang, not a verdict).
const SUITE_BUDGET: Duration = Duration::from_secs(600);

struct Args {
    suites: PathBuf,
    manifest: PathBuf,
    jobs: usize,
    port: u16,
    log_dir: PathBuf,
    only: Vec<String>,
}

fn parse_args() -> anyhow::Result<Args> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut args = Args {
        suites: root.join("../../../shared/milo/suites"),
        manifest: root.join("manifest.yaml"),
        jobs: 3,
        port: 30443,
        log_dir: root.join("../../target/conformance"),
        only: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow!("{a} needs a value"));
        match a.as_str() {
            "--suites" => args.suites = value()?.into(),
            "--manifest" => args.manifest = value()?.into(),
            "--jobs" => args.jobs = value()?.parse().context("--jobs")?,
            "--port" => args.port = value()?.parse().context("--port")?,
            "--log-dir" => args.log_dir = value()?.into(),
            "--only" => args.only.push(value()?),
            other => {
                bail!("unknown argument {other} (see the top of tests/conformance/src/main.rs)")
            }
        }
    }
    Ok(args)
}

fn stack_env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).map_err(|_| {
        anyhow!("{name} is not set: run through localstack/with-stack.sh with --lambda-port (make conformance)")
    })
}

/// Every directory holding a chainsaw-test.yaml, by path under `root`.
fn discover(root: &Path, dir: &Path, out: &mut BTreeMap<String, PathBuf>) -> anyhow::Result<()> {
    if dir.join("chainsaw-test.yaml").is_file() {
        let rel = dir.strip_prefix(root)?.to_string_lossy().into_owned();
        out.insert(rel, dir.to_path_buf());
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        if e.file_type()?.is_dir() {
            discover(root, &e.path(), out)?;
        }
    }
    Ok(())
}

/// The nearest `.chainsaw.yaml` from the suite up to the suites' root.
fn config_for(root: &Path, dir: &Path) -> anyhow::Result<ConfigSpec> {
    let mut cur = Some(dir);
    while let Some(d) = cur {
        let f = d.join(".chainsaw.yaml");
        if f.is_file() {
            let text = std::fs::read_to_string(&f)?;
            return model::parse_config(&text).map_err(|e| anyhow!("{}: {e}", f.display()));
        }
        if d == root {
            break;
        }
        cur = d.parent();
    }
    Ok(ConfigSpec::default())
}

fn print_line(v: &Verdict, secs: f64) {
    let detail = if v.detail.is_empty() {
        String::new()
    } else {
        format!("  {}", v.detail)
    };
    println!("{:<10} {:<58} {:>6.1}s{detail}", v.label, v.suite, secs);
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let started = Instant::now();
    let suites_root = args
        .suites
        .canonicalize()
        .with_context(|| format!("the suites directory {}", args.suites.display()))?;
    let manifest_text = std::fs::read_to_string(&args.manifest)
        .with_context(|| format!("reading {}", args.manifest.display()))?;
    let mut manifest =
        manifest::parse(&manifest_text).map_err(|e| anyhow!("{}: {e}", args.manifest.display()))?;

    let mut suites = BTreeMap::new();
    discover(&suites_root, &suites_root, &mut suites)?;
    if !args.only.is_empty() {
        suites.retain(|k, _| args.only.contains(k));
        manifest.suites.retain(|k, _| args.only.contains(k));
        if suites.is_empty() {
            bail!("no suite named {:?}", args.only);
        }
    }

    let upstream = Upstream::from_stack(
        &stack_env("E2E_BASE_URL")?,
        &stack_env("E2E_HS256_SECRET")?,
        &stack_env("E2E_ISSUER")?,
        &stack_env("E2E_AUDIENCE")?,
    )?;
    std::fs::create_dir_all(&args.log_dir)?;
    let log_dir = args.log_dir.canonicalize()?;
    let tls_dir = format!("{}/tls", stack_env("STACK_DIR")?);
    proxy::start(
        args.port,
        upstream,
        &format!("{tls_dir}/server.pem"),
        &format!("{tls_dir}/server.key"),
    )
    .await?;

    // Chainsaw's own cluster: the platform, as the administrator.
    let default_kubeconfig = log_dir.join("kubeconfig-default");
    std::fs::write(
        &default_kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: platform\n  cluster:\n    server: https://localhost:{}\n    insecure-skip-tls-verify: true\nusers:\n- name: admin\n  user:\n    token: {}\ncontexts:\n- name: platform\n  context:\n    cluster: platform\n    user: admin\ncurrent-context: platform\n",
            args.port, proxy::STATIC_TOKENS[0].0
        ),
    )?;
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(60))
        .build()?;
    let env = Arc::new(Env::new(http, default_kubeconfig));

    println!(
        "conformance: {} suites from {} ({} at a time), logs in {}",
        suites.len(),
        suites_root.display(),
        args.jobs,
        log_dir.display()
    );
    // As Chainsaw: tests that are not concurrent run first, one by one; the rest together,
    // those with the longest apply timeout first (their failures last longest), so the
    // slow ones overlap rather than trail.
    let (serial, mut parallel): (Vec<_>, Vec<_>) = suites
        .iter()
        .map(|(k, d)| (k.clone(), d.clone()))
        .partition(|(_, d)| !engine::is_concurrent(d));
    let apply_timeout = |dir: &Path| {
        config_for(&suites_root, dir)
            .ok()
            .and_then(|c| c.timeouts)
            .and_then(|t| t.apply)
            .and_then(|t| model::parse_duration(&t).ok())
            .unwrap_or(Duration::from_secs(5))
    };
    parallel.sort_by_key(|(_, d)| std::cmp::Reverse(apply_timeout(d)));
    let results = Arc::new(tokio::sync::Mutex::new(BTreeMap::<String, Outcome>::new()));
    let manifest = Arc::new(manifest);
    let run_one = {
        let env = env.clone();
        let results = results.clone();
        let manifest = manifest.clone();
        let root = suites_root.clone();
        let log_dir = log_dir.clone();
        move |name: String, dir: PathBuf| {
            let (env, results, manifest, root, log_dir) = (
                env.clone(),
                results.clone(),
                manifest.clone(),
                root.clone(),
                log_dir.clone(),
            );
            async move {
                let t0 = Instant::now();
                let (outcome, log) = match config_for(&root, &dir) {
                    Err(e) => (
                        Outcome::Failed {
                            step: "@setup".into(),
                            error: e.to_string(),
                        },
                        vec![e.to_string()],
                    ),
                    Ok(config) => match tokio::time::timeout(
                        SUITE_BUDGET,
                        engine::run_suite(&env, &dir, &config),
                    )
                    .await
                    {
                        Ok(run) => (run.outcome, run.log),
                        Err(_) => (
                            Outcome::Failed {
                                step: "@timeout".into(),
                                error: format!("the suite ran past {}s", SUITE_BUDGET.as_secs()),
                            },
                            vec!["suite budget exceeded".into()],
                        ),
                    },
                };
                let secs = t0.elapsed().as_secs_f64();
                let file = log_dir.join(format!("{}.log", name.replace('/', "__")));
                let mut text = log.join("\n");
                text.push('\n');
                let _ = std::fs::write(&file, text);
                let single = BTreeMap::from([(name.clone(), outcome.clone())]);
                let mut only_this = (*manifest).clone();
                only_this.suites.retain(|k, _| *k == name);
                for v in manifest::judge(&only_this, &single) {
                    print_line(&v, secs);
                }
                results.lock().await.insert(name, outcome);
            }
        }
    };
    for (name, dir) in serial {
        run_one(name, dir).await;
    }
    let permits = Arc::new(Semaphore::new(args.jobs.max(1)));
    let mut handles = Vec::new();
    for (name, dir) in parallel {
        let permit = permits.clone().acquire_owned().await?;
        let fut = run_one(name, dir);
        handles.push(tokio::spawn(async move {
            fut.await;
            drop(permit);
        }));
    }
    for h in handles {
        h.await?;
    }

    let results = results.lock().await.clone();
    let verdicts = manifest::judge(&manifest, &results);
    let unexpected: Vec<&Verdict> = verdicts.iter().filter(|v| !v.as_listed).collect();
    let passing = verdicts
        .iter()
        .filter(|v| v.as_listed && v.label == "pass")
        .count();
    let waiting = verdicts
        .iter()
        .filter(|v| v.as_listed && v.label == "waits")
        .count();
    println!(
        "conformance: {} suites in {:.0}s: {passing} pass and {waiting} wait, as listed; {} not as listed",
        results.len(),
        started.elapsed().as_secs_f64(),
        unexpected.len()
    );
    if !unexpected.is_empty() {
        for v in &unexpected {
            println!("  {}: {}", v.suite, v.detail);
        }
        bail!(
            "{} suite(s) not as {} lists them (logs in {})",
            unexpected.len(),
            args.manifest.display(),
            log_dir.display()
        );
    }
    Ok(())
}
