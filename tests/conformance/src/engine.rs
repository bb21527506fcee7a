//! Runs one Chainsaw test against live clusters, as Chainsaw does:
//!
//! - a test namespace (`chainsaw-<random>`, or the test's `namespace`) is
//!   made in the test's cluster and bound as `$namespace`; namespaced
//!   objects written without one go there;
//! - steps run in order; an operation that fails fails the test and stops
//!   it unless it `continueOnError`s; a failed test runs the `catch`
//!   operations of the step (and the test), every step its `finally`;
//! - objects that apply and create made are deleted afterwards, last step
//!   first, each waited for until gone (unless `skipDelete`), and the test
//!   namespace last; a failing cleanup fails the test;
//! - timeouts come from Chainsaw's defaults, then the directory's
//!   `.chainsaw.yaml`, the test, the step and the operation.
//!
//! Conditions are polled every [`POLL`]; `wait` does what `kubectl wait`
//! does (Chainsaw runs it), polling instead of watching.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::assertion::{self, Mismatch};
use crate::client::{read_kubeconfig, ClientError, ClusterClient, ObjectRef};
use crate::jmespath::Bindings;
use crate::manifest::Outcome;
use crate::model::{
    self, parse_duration, Action, Binding, CheckAction, ClusterRef, Command, ConfigSpec,
    Expectation, Operation, Output, ResourceAction, Script, Step, TestDoc, Timeouts, Wait,
};
use crate::resources::{
    self, describe, label_selector, merge_patch_body, mutate, template, template_reference,
};

/// How often conditions are read again (Chainsaw: 50 ms, kubectl wait
/// watches). Only how soon a state is seen depends on it.
pub const POLL: Duration = Duration::from_millis(500);

/// Shared by every suite of a run.
pub struct Env {
    pub http: reqwest::Client,
    /// The cluster a test uses when it names none: Chainsaw's own
    /// kubeconfig, here the platform with the administrator's token.
    pub default_kubeconfig: PathBuf,
    clients: Mutex<HashMap<KubeconfigKey, Arc<ClusterClient>>>,
    /// Per suite directory, where its scripts and commands run when this
    /// run's proxy is not the suites' address (see `process_dir`).
    process_dirs: Mutex<HashMap<PathBuf, PathBuf>>,
}

/// A kubeconfig file and the context chosen in it.
type KubeconfigKey = (PathBuf, Option<String>);

impl Env {
    pub fn new(http: reqwest::Client, default_kubeconfig: PathBuf) -> Self {
        Self {
            http,
            default_kubeconfig,
            clients: Mutex::new(HashMap::new()),
            process_dirs: Mutex::new(HashMap::new()),
        }
    }

    /// This run's proxy address, or `None` when it is the suites' own.
    fn own_address(&self) -> Result<Option<String>, String> {
        let ours = read_kubeconfig(&self.default_kubeconfig, None)?.server;
        Ok((ours != SUITES_ADDRESS).then_some(ours))
    }

    /// Where a suite's processes run. Scripts name the suite's kubeconfig
    /// files (`kubectl --kubeconfig kubeconfig-main`), which point at the
    /// suites' address; on another `--port` they run in a mirror of the
    /// suite directory (entries linked, the top-level files that name the
    /// suites' address copied with it replaced by this run's), so that
    /// runs side by side each reach their own proxy.
    fn process_dir(&self, base: &Path) -> Result<PathBuf, String> {
        let Some(ours) = self.own_address()? else {
            return Ok(base.to_path_buf());
        };
        let mut dirs = self.process_dirs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dir) = dirs.get(base) {
            return Ok(dir.clone());
        }
        let root = self
            .default_kubeconfig
            .parent()
            .unwrap_or(Path::new("."))
            .join("process-dirs");
        let dir = root.join(format!("suite-{}", dirs.len()));
        let failed = |e: std::io::Error| format!("mirroring {}: {e}", base.display());
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(failed)?;
        }
        std::fs::create_dir_all(&dir).map_err(failed)?;
        for entry in std::fs::read_dir(base).map_err(failed)? {
            let entry = entry.map_err(failed)?;
            let target = dir.join(entry.file_name());
            let text = entry
                .file_type()
                .map_err(failed)?
                .is_file()
                .then(|| std::fs::read_to_string(entry.path()).ok())
                .flatten()
                .filter(|t| t.contains(SUITES_ADDRESS));
            match text {
                Some(text) => std::fs::write(&target, text.replace(SUITES_ADDRESS, &ours)),
                None => std::os::unix::fs::symlink(entry.path(), &target),
            }
            .map_err(failed)?;
        }
        dirs.insert(base.to_path_buf(), dir.clone());
        Ok(dir)
    }

    /// A script's text with the suites' address replaced by this run's
    /// (scripts `curl` the suites' address directly).
    fn script_on_proxy(&self, content: &str) -> Result<String, String> {
        Ok(match self.own_address()? {
            Some(ours) => content.replace(SUITES_ADDRESS, &ours),
            None => content.to_string(),
        })
    }

    fn client(&self, path: &Path, context: Option<&str>) -> Result<Arc<ClusterClient>, String> {
        let key = (path.to_path_buf(), context.map(str::to_owned));
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let mut config = read_kubeconfig(path, context)?;
        config.server = self.on_proxy(&config.server)?;
        let client = Arc::new(ClusterClient::new(self.http.clone(), config));
        clients.insert(key, client.clone());
        Ok(client)
    }
}

impl Env {
    /// A suite kubeconfig's server on the proxy this run started: the
    /// suites name `https://localhost:30443`, which is another run's when
    /// this one was given another `--port` (runs side by side).
    fn on_proxy(&self, server: &str) -> Result<String, String> {
        let Some(rest) = server.strip_prefix(SUITES_ADDRESS) else {
            return Ok(server.to_string());
        };
        let ours = read_kubeconfig(&self.default_kubeconfig, None)?.server;
        Ok(format!("{ours}{rest}"))
    }
}

/// Where Milo's suite kubeconfigs point.
const SUITES_ADDRESS: &str = "https://localhost:30443";

#[derive(Debug, Clone)]
struct Limits {
    apply: Duration,
    assert: Duration,
    cleanup: Duration,
    delete: Duration,
    error: Duration,
    exec: Duration,
}

impl Default for Limits {
    /// Chainsaw's defaults.
    fn default() -> Self {
        Self {
            apply: Duration::from_secs(5),
            assert: Duration::from_secs(30),
            cleanup: Duration::from_secs(30),
            delete: Duration::from_secs(15),
            error: Duration::from_secs(30),
            exec: Duration::from_secs(5),
        }
    }
}

impl Limits {
    fn overlay(&mut self, t: &Timeouts) -> Result<(), String> {
        let set = |slot: &mut Duration, v: &Option<String>| -> Result<(), String> {
            if let Some(v) = v {
                *slot = parse_duration(v)?;
            }
            Ok(())
        };
        set(&mut self.apply, &t.apply)?;
        set(&mut self.assert, &t.assert)?;
        set(&mut self.cleanup, &t.cleanup)?;
        set(&mut self.delete, &t.delete)?;
        set(&mut self.error, &t.error)?;
        set(&mut self.exec, &t.exec)?;
        Ok(())
    }
}

/// What an operation runs with: Chainsaw's test context.
#[derive(Clone)]
struct Ctx {
    base: PathBuf,
    clusters: BTreeMap<String, (PathBuf, Option<String>)>,
    current: Option<String>,
    bindings: Bindings,
    namespace: Option<String>,
    limits: Limits,
    skip_delete: bool,
    template: bool,
    catch: Vec<Operation>,
    delay_before_cleanup: Option<Duration>,
}

impl Ctx {
    fn add_clusters(&mut self, clusters: &BTreeMap<String, ClusterRef>) {
        for (name, c) in clusters {
            self.clusters.insert(
                name.clone(),
                (self.base.join(&c.kubeconfig), c.context.clone()),
            );
        }
    }

    fn select_cluster(&mut self, name: &Option<String>) -> Result<(), String> {
        if let Some(name) = name {
            let name = string_expression(name, &self.bindings)?;
            if !self.clusters.contains_key(&name) {
                return Err(format!("cluster {name:?} is not declared"));
            }
            self.current = Some(name);
        }
        Ok(())
    }

    fn bind(&mut self, bindings: &[Binding]) -> Result<(), String> {
        for b in bindings {
            let value = mutate(&b.value, &Value::Null, &self.bindings, &b.name)?;
            self.bindings.insert(b.name.clone(), value);
        }
        Ok(())
    }

    fn kubeconfig(&self, env: &Env) -> Result<(PathBuf, Option<String>), String> {
        match &self.current {
            None => Ok((env.default_kubeconfig.clone(), None)),
            Some(name) => self
                .clusters
                .get(name)
                .cloned()
                .ok_or_else(|| format!("cluster {name:?} is not declared")),
        }
    }

    fn client(&self, env: &Env) -> Result<Arc<ClusterClient>, String> {
        let (path, context) = self.kubeconfig(env)?;
        env.client(&path, context.as_deref())
    }

    /// The context of one operation: its own cluster, bindings, templating.
    fn for_operation(
        &self,
        cluster: &Option<String>,
        clusters: &BTreeMap<String, ClusterRef>,
        bindings: &[Binding],
        template: Option<bool>,
    ) -> Result<Ctx, String> {
        let mut ctx = self.clone();
        ctx.add_clusters(clusters);
        ctx.select_cluster(cluster)?;
        ctx.bind(bindings)?;
        if let Some(t) = template {
            ctx.template = t;
        }
        Ok(ctx)
    }
}

/// A string that may be an expression (a cluster's name, a file name).
fn string_expression(text: &str, bindings: &Bindings) -> Result<String, String> {
    let expr = assertion::parse_expression(text);
    if expr.compiler.is_none() {
        return Ok(text.to_string());
    }
    match assertion::eval_statement(&expr, &Value::Null, bindings)? {
        Value::String(s) => Ok(s),
        _ => Err(format!("expression didn't evaluate to a string ({text})")),
    }
}

/// The suite's log: what ran, with seconds since the suite started.
#[derive(Clone)]
pub struct Log {
    start: Instant,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Log {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            lines: Arc::new(Mutex::new(Vec::new())),
        }
    }
    fn line(&self, text: impl AsRef<str>) {
        let t = self.start.elapsed().as_secs_f64();
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{t:7.1}s  {}", text.as_ref()));
    }
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Objects to delete after the test, last made first.
struct Cleaner {
    entries: Vec<(Arc<ClusterClient>, ObjectRef)>,
    timeout: Duration,
    delay: Option<Duration>,
}

impl Cleaner {
    fn new(timeout: Duration, delay: Option<Duration>) -> Self {
        Self {
            entries: Vec::new(),
            timeout,
            delay,
        }
    }

    async fn run(&mut self, log: &Log) -> Vec<String> {
        if self.entries.is_empty() {
            return Vec::new();
        }
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
        let mut errors = Vec::new();
        while let Some((client, r)) = self.entries.pop() {
            log.line(format!("cleanup: delete {}", r.describe()));
            let deadline = Instant::now() + self.timeout;
            match client.delete(&r, "Background").await {
                Ok(()) => {
                    if let Err(e) = wait_gone(&client, &r, deadline).await {
                        errors.push(format!("cleanup of {}: {e}", r.describe()));
                    }
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => errors.push(format!("cleanup of {}: {e}", r.describe())),
            }
        }
        errors
    }
}

/// Polls until the object is gone.
async fn wait_gone(client: &ClusterClient, r: &ObjectRef, deadline: Instant) -> Result<(), String> {
    loop {
        match client.get(r).await {
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e.to_string()),
            Ok(_) => {}
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} still exists: timed out waiting for its deletion",
                r.describe()
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The first failure of a test.
#[derive(Default)]
struct Failure {
    first: Option<(String, String)>,
}

impl Failure {
    fn record(&mut self, step: &str, error: &str) {
        if self.first.is_none() {
            self.first = Some((step.to_string(), error.to_string()));
        }
    }
    fn failed(&self) -> bool {
        self.first.is_some()
    }
}

/// The result of running one suite directory.
pub struct SuiteRun {
    pub outcome: Outcome,
    pub log: Vec<String>,
    pub concurrent: bool,
}

/// Whether a suite may run beside others (`concurrent: false` says no).
pub fn is_concurrent(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("chainsaw-test.yaml"))
        .ok()
        .and_then(|t| model::parse_tests(&t).ok())
        .map(|tests| tests.iter().all(|t| t.spec.concurrent != Some(false)))
        .unwrap_or(true)
}

pub async fn run_suite(env: &Env, dir: &Path, config: &ConfigSpec) -> SuiteRun {
    let log = Log::new();
    let text = match std::fs::read_to_string(dir.join("chainsaw-test.yaml")) {
        Ok(t) => t,
        Err(e) => return setup_failure(&log, format!("reading chainsaw-test.yaml: {e}")),
    };
    let tests = match model::parse_tests(&text) {
        Ok(t) => t,
        Err(e) => return setup_failure(&log, format!("chainsaw-test.yaml: {e}")),
    };
    let concurrent = tests.iter().all(|t| t.spec.concurrent != Some(false));
    let mut outcome = Outcome::Passed;
    for test in &tests {
        let result = run_test(env, dir, config, test, &log).await;
        if outcome == Outcome::Passed {
            outcome = result;
        }
    }
    SuiteRun {
        outcome,
        log: log.lines(),
        concurrent,
    }
}

fn setup_failure(log: &Log, error: String) -> SuiteRun {
    log.line(&error);
    SuiteRun {
        outcome: Outcome::Failed {
            step: "@setup".into(),
            error,
        },
        log: log.lines(),
        concurrent: true,
    }
}

fn step_name(step: &Step, i: usize) -> String {
    step.name
        .clone()
        .unwrap_or_else(|| format!("step-{}", i + 1))
}

async fn run_test(
    env: &Env,
    dir: &Path,
    config: &ConfigSpec,
    test: &TestDoc,
    log: &Log,
) -> Outcome {
    let spec = &test.spec;
    let mut failure = Failure::default();
    log.line(format!("test {}", test.metadata.name));
    let mut ctx = Ctx {
        base: dir.to_path_buf(),
        clusters: BTreeMap::new(),
        current: None,
        bindings: Bindings::new(),
        namespace: None,
        limits: Limits::default(),
        skip_delete: config.skip_delete.unwrap_or(false),
        template: true,
        catch: Vec::new(),
        delay_before_cleanup: None,
    };
    let setup = (|| -> Result<(), String> {
        if let Some(t) = &config.timeouts {
            ctx.limits.overlay(t)?;
        }
        if let Some(d) = &config.delay_before_cleanup {
            ctx.delay_before_cleanup = Some(parse_duration(d)?);
        }
        if let Some(t) = &spec.timeouts {
            ctx.limits.overlay(t)?;
        }
        if let Some(d) = &spec.delay_before_cleanup {
            ctx.delay_before_cleanup = Some(parse_duration(d)?);
        }
        if let Some(s) = spec.skip_delete {
            ctx.skip_delete = s;
        }
        if let Some(t) = spec.template {
            ctx.template = t;
        }
        ctx.catch = spec.catch.clone();
        ctx.bindings.insert("values".into(), json!({}));
        ctx.bindings.insert(
            "test".into(),
            json!({"id": 1, "metadata": {"name": test.metadata.name}}),
        );
        ctx.add_clusters(&spec.clusters);
        ctx.select_cluster(&spec.cluster)?;
        Ok(())
    })();
    if let Err(e) = setup {
        log.line(format!("setup failed: {e}"));
        return Outcome::Failed {
            step: "@setup".into(),
            error: e,
        };
    }

    // The test namespace, made in the test's cluster and deleted last.
    let mut namespace_cleaner = Cleaner::new(ctx.limits.cleanup, None);
    let ns_name = spec.namespace.clone().unwrap_or_else(|| {
        let id = uuid::Uuid::new_v4().simple().to_string();
        format!("chainsaw-{}", &id[..12])
    });
    match setup_namespace(env, &ctx, &ns_name, &mut namespace_cleaner, log).await {
        Ok(()) => {
            ctx.bindings.insert("namespace".into(), json!(ns_name));
            ctx.namespace = Some(ns_name.clone());
        }
        Err(e) => {
            log.line(format!("namespace {ns_name}: {e}"));
            failure.record(
                "@setup",
                &format!("creating the test namespace {ns_name}: {e}"),
            );
        }
    }
    if !failure.failed() {
        if let Err(e) = ctx.bind(&spec.bindings) {
            failure.record("@setup", &e);
        }
    }

    let mut step_cleanups: Vec<(String, Cleaner, Ctx, Vec<Operation>)> = Vec::new();
    if !failure.failed() {
        for (i, step) in spec.steps.iter().enumerate() {
            let name = step_name(step, i);
            log.line(format!("step {name}"));
            let mut sctx = ctx.clone();
            sctx.bindings.insert("step".into(), json!({"id": i + 1}));
            let prepared = (|| -> Result<(), String> {
                if let Some(t) = &step.timeouts {
                    sctx.limits.overlay(t)?;
                }
                if let Some(s) = step.skip_delete {
                    sctx.skip_delete = s;
                }
                if let Some(t) = step.template {
                    sctx.template = t;
                }
                sctx.catch.extend(step.catch.iter().cloned());
                sctx.add_clusters(&step.clusters);
                sctx.select_cluster(&step.cluster)?;
                sctx.bind(&step.bindings)?;
                Ok(())
            })();
            if let Err(e) = prepared {
                log.line(format!("  step setup failed: {e}"));
                failure.record(&name, &e);
                break;
            }
            let mut cleaner = Cleaner::new(sctx.limits.cleanup, sctx.delay_before_cleanup);
            let mut stop = false;
            let mut tctx = sctx.clone();
            for (j, op) in step.try_ops.iter().enumerate() {
                tctx.bindings
                    .insert("operation".into(), json!({"id": j + 1}));
                match run_operation(env, &tctx, op, Some(&mut cleaner), log).await {
                    Ok(outputs) => tctx.bindings.extend(outputs),
                    Err(e) => {
                        failure.record(&name, &e);
                        if op.continue_on_error != Some(true) {
                            stop = true;
                            break;
                        }
                    }
                }
            }
            if failure.failed() && !sctx.catch.is_empty() {
                log.line("  catch");
                let mut cctx = tctx.clone();
                for op in &sctx.catch {
                    if let Ok(outputs) = run_operation(env, &cctx, op, None, log).await {
                        cctx.bindings.extend(outputs);
                    }
                }
            }
            if !step.finally.is_empty() {
                log.line("  finally");
                let mut fctx = tctx.clone();
                for op in &step.finally {
                    match run_operation(env, &fctx, op, None, log).await {
                        Ok(outputs) => fctx.bindings.extend(outputs),
                        Err(e) => failure.record(&name, &e),
                    }
                }
            }
            step_cleanups.push((name, cleaner, tctx, step.cleanup.clone()));
            if stop {
                break;
            }
        }
    }

    // Cleanup, last step first, then the namespace.
    for (name, mut cleaner, cctx, ops) in step_cleanups.into_iter().rev() {
        if cctx.skip_delete {
            continue;
        }
        for e in cleaner.run(log).await {
            log.line(format!("  {e}"));
            failure.record("@cleanup", &format!("after step {name}: {e}"));
        }
        for op in &ops {
            if let Err(e) = run_operation(env, &cctx, op, None, log).await {
                failure.record("@cleanup", &e);
            }
        }
    }
    if !ctx.skip_delete {
        for e in namespace_cleaner.run(log).await {
            log.line(format!("  {e}"));
            failure.record("@cleanup", &e);
        }
    }
    match failure.first {
        None => {
            log.line("passed");
            Outcome::Passed
        }
        Some((step, error)) => {
            log.line(format!("failed at step {step}"));
            Outcome::Failed { step, error }
        }
    }
}

async fn setup_namespace(
    env: &Env,
    ctx: &Ctx,
    name: &str,
    cleaner: &mut Cleaner,
    log: &Log,
) -> Result<(), String> {
    let client = ctx.client(env)?;
    let r = ObjectRef {
        api_version: "v1".into(),
        kind: "Namespace".into(),
        namespace: String::new(),
        name: name.to_string(),
    };
    match client.get(&r).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => {
            log.line(format!("create test namespace {name}"));
            let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            client.create(&ns).await.map_err(|e| e.to_string())?;
            cleaner.entries.push((client, r));
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Runs one operation (one action over each of its documents); the
/// outputs it binds, or every error joined.
async fn run_operation(
    env: &Env,
    ctx: &Ctx,
    op: &Operation,
    cleaner: Option<&mut Cleaner>,
    log: &Log,
) -> Result<Bindings, String> {
    let action = op.action()?;
    let label = match &op.description {
        Some(d) => format!("{} ({})", action.name(), d.lines().next().unwrap_or("")),
        None => action.name().to_string(),
    };
    let started = Instant::now();
    let result = match action {
        Action::Apply(a) => resource_action(env, ctx, Kind::Apply, a, cleaner, log).await,
        Action::Create(a) => resource_action(env, ctx, Kind::Create, a, cleaner, log).await,
        Action::Patch(a) => resource_action(env, ctx, Kind::Patch, a, None, log).await,
        Action::Update(a) => resource_action(env, ctx, Kind::Update, a, None, log).await,
        Action::Delete(a) => delete_action(env, ctx, a, log).await,
        Action::Assert(a) => check_action(env, ctx, a, false, log)
            .await
            .map(|_| Bindings::new()),
        Action::Error(a) => check_action(env, ctx, a, true, log)
            .await
            .map(|_| Bindings::new()),
        Action::Wait(w) => wait_action(env, ctx, w, log).await.map(|_| Bindings::new()),
        Action::Script(s) => script_action(env, ctx, s, log).await,
        Action::Command(c) => command_action(env, ctx, c, log).await,
        Action::Sleep(s) => match parse_duration(&s.duration) {
            Ok(d) => {
                tokio::time::sleep(d).await;
                Ok(Bindings::new())
            }
            Err(e) => Err(e),
        },
    };
    let secs = started.elapsed().as_secs_f64();
    match &result {
        Ok(_) => log.line(format!("  ok    {label} ({secs:.1}s)")),
        Err(e) => log.line(format!("  FAIL  {label} ({secs:.1}s): {e}")),
    }
    result
}

/// The documents an action works on: its file (relative to the test) or
/// its inline resource.
fn documents(
    ctx: &Ctx,
    file: &Option<String>,
    resource: &Option<Value>,
) -> Result<Vec<Value>, String> {
    if let Some(r) = resource {
        return Ok(vec![r.clone()]);
    }
    let Some(file) = file else {
        return Err("file or resource must be set".into());
    };
    let file = string_expression(file, &ctx.bindings)?;
    let path = ctx.base.join(&file);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{file}: {e}"))?;
    let docs = resources::parse_documents(&text).map_err(|e| format!("{file}: {e}"))?;
    if docs.is_empty() {
        return Err(format!("found no resource in {file}"));
    }
    Ok(docs)
}

/// Sets the test namespace on a namespaced object written without one.
async fn apply_namespacer(
    ctx: &Ctx,
    client: &ClusterClient,
    obj: &mut Value,
) -> Result<(), String> {
    if !resources::namespace(obj).is_empty() {
        return Ok(());
    }
    let Some(ns) = &ctx.namespace else {
        return Ok(());
    };
    if client
        .is_namespaced(resources::api_version(obj), resources::kind(obj))
        .await
        .map_err(|e| e.to_string())?
    {
        resources::set_namespace(obj, ns);
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Apply,
    Create,
    Patch,
    Update,
}

async fn resource_action(
    env: &Env,
    ctx: &Ctx,
    kind: Kind,
    a: &ResourceAction,
    mut cleaner: Option<&mut Cleaner>,
    log: &Log,
) -> Result<Bindings, String> {
    let mut ctx = ctx.for_operation(&a.cluster, &a.clusters, &a.bindings, a.template)?;
    let limit = match &a.timeout {
        Some(t) => parse_duration(t)?,
        None => ctx.limits.apply,
    };
    let dry_run = a.dry_run == Some(true);
    let docs = documents(&ctx, &a.file, &a.resource)?;
    let client = ctx.client(env)?;
    let mut errors = Vec::new();
    let mut outputs = Bindings::new();
    for doc in docs {
        let mut obj = if ctx.template {
            template(&doc, &ctx.bindings)?
        } else {
            doc
        };
        if let Err(e) = apply_namespacer(&ctx, &client, &mut obj).await {
            errors.push(e);
            continue;
        }
        log.line(format!("  {} {}", kind_name(kind), describe(&obj)));
        let deadline = Instant::now() + limit;
        let mut last: Result<Bindings, String>;
        loop {
            let attempt = resource_attempt(&client, &ctx, kind, a, &obj, dry_run).await;
            let retry = match attempt {
                Attempt::Done { created, result } => {
                    if let Some(made) = created {
                        if !(dry_run || ctx.skip_delete) {
                            if let Some(c) = cleaner.as_deref_mut() {
                                c.entries.push((client.clone(), ObjectRef::of(&made)));
                            }
                        }
                    }
                    last = result;
                    // apply retries whatever failed; the others only what the API calls transient.
                    kind == Kind::Apply && last.is_err()
                }
                Attempt::Retry(e) => {
                    last = Err(e);
                    true
                }
            };
            if !retry || Instant::now() + POLL >= deadline {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        match last {
            Ok(o) => {
                ctx.bindings.extend(o.clone());
                outputs.extend(o);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(outputs)
    } else {
        Err(errors.join("; "))
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Apply => "apply",
        Kind::Create => "create",
        Kind::Patch => "patch",
        Kind::Update => "update",
    }
}

enum Attempt {
    /// `created`: the object as the server stored it, when this attempt made it.
    Done {
        created: Option<Value>,
        result: Result<Bindings, String>,
    },
    Retry(String),
}

async fn resource_attempt(
    client: &ClusterClient,
    ctx: &Ctx,
    kind: Kind,
    a: &ResourceAction,
    obj: &Value,
    dry_run: bool,
) -> Attempt {
    let r = ObjectRef::of(obj);
    let existing = client.get(&r).await;
    let done = |created: Option<Value>, input: &Value, err: Option<ClientError>| Attempt::Done {
        created,
        result: handle_check(
            ctx,
            &a.expect,
            &a.outputs,
            input,
            err.map(|e| e.to_string()),
        ),
    };
    match (kind, existing) {
        (_, Err(e)) if !e.is_not_found() => {
            if e.is_retryable() {
                Attempt::Retry(e.to_string())
            } else {
                Attempt::Done {
                    created: None,
                    result: Err(e.to_string()),
                }
            }
        }
        (Kind::Create, Ok(_)) => Attempt::Done {
            created: None,
            result: Err("the resource already exists in the cluster".into()),
        },
        (Kind::Update, Err(_)) => Attempt::Done {
            created: None,
            result: Err("the resource does not exist in the cluster".into()),
        },
        (Kind::Patch, Err(e)) => Attempt::Done {
            created: None,
            result: Err(e.to_string()),
        },
        (Kind::Apply | Kind::Create, Err(_)) => {
            if dry_run {
                return done(None, obj, None);
            }
            match client.create(obj).await {
                Ok(stored) => done(Some(stored.clone()), &stored, None),
                Err(e) if kind == Kind::Create && a.expect.is_empty() && e.is_retryable() => {
                    Attempt::Retry(e.to_string())
                }
                Err(e) => done(None, obj, Some(e)),
            }
        }
        (Kind::Apply | Kind::Patch, Ok(actual)) => {
            let rv = actual
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let patch = merge_patch_body(obj, rv);
            if dry_run {
                return done(None, obj, None);
            }
            match client.merge_patch(&r, &patch).await {
                Ok(_) => done(None, obj, None),
                Err(e) if kind == Kind::Patch && e.is_retryable() => Attempt::Retry(e.to_string()),
                Err(e) => done(None, obj, Some(e)),
            }
        }
        (Kind::Update, Ok(actual)) => {
            let mut desired = obj.clone();
            if let Some(rv) = actual.pointer("/metadata/resourceVersion").cloned() {
                desired["metadata"]["resourceVersion"] = rv;
            }
            if dry_run {
                return done(None, obj, None);
            }
            match client.update(&desired).await {
                Ok(_) => done(None, obj, None),
                Err(e) if e.is_retryable() => Attempt::Retry(e.to_string()),
                Err(e) => done(None, obj, Some(e)),
            }
        }
    }
}

/// `$error` bound, then the expectations: the first whose `match` fits
/// decides with its `check`; with none, the error stands. Outputs follow a
/// success.
fn handle_check(
    ctx: &Ctx,
    expect: &[Expectation],
    outputs: &[Output],
    input: &Value,
    error: Option<String>,
) -> Result<Bindings, String> {
    let mut bindings = ctx.bindings.clone();
    bindings.insert(
        "error".into(),
        error.clone().map(Value::String).unwrap_or(Value::Null),
    );
    let mut matched = false;
    let mut mismatches: Vec<Mismatch> = Vec::new();
    for e in expect {
        if let Some(m) = &e.match_ {
            if !assertion::check(m, input, &Bindings::new())?.is_empty() {
                continue;
            }
        }
        matched = true;
        mismatches.extend(assertion::check(&e.check, input, &bindings)?);
    }
    if matched {
        if !mismatches.is_empty() {
            let what = match &error {
                Some(err) => format!("the call failed with: {err}"),
                None => "the call succeeded".to_string(),
            };
            return Err(format!(
                "expectation not met ({what}): {}",
                join_mismatches(&mismatches)
            ));
        }
    } else if let Some(err) = error {
        return Err(err);
    }
    process_outputs(outputs, input, &bindings)
}

fn process_outputs(
    outputs: &[Output],
    input: &Value,
    bindings: &Bindings,
) -> Result<Bindings, String> {
    let mut bindings = bindings.clone();
    let mut out = Bindings::new();
    for o in outputs {
        if let Some(m) = &o.match_ {
            if !assertion::check(m, input, &bindings)?.is_empty() {
                continue;
            }
        }
        let value = mutate(&o.value, input, &bindings, &o.name)?;
        bindings.insert(o.name.clone(), value.clone());
        out.insert(o.name.clone(), value);
    }
    Ok(out)
}

fn join_mismatches(m: &[Mismatch]) -> String {
    m.iter()
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The object a delete names: its `ref`, or its file or resource.
async fn delete_action(
    env: &Env,
    ctx: &Ctx,
    a: &ResourceAction,
    log: &Log,
) -> Result<Bindings, String> {
    let ctx = ctx.for_operation(&a.cluster, &a.clusters, &a.bindings, a.template)?;
    let limit = match &a.timeout {
        Some(t) => parse_duration(t)?,
        None => ctx.limits.delete,
    };
    let propagation = a
        .deletion_propagation_policy
        .clone()
        .unwrap_or_else(|| "Background".into());
    let docs = match &a.reference {
        Some(r) => {
            let mut obj = json!({
                "apiVersion": r.get("apiVersion").cloned().unwrap_or(Value::Null),
                "kind": r.get("kind").cloned().unwrap_or(Value::Null),
                "metadata": {},
            });
            for key in ["name", "namespace", "labels"] {
                if let Some(v) = r.get(key) {
                    obj["metadata"][key] = v.clone();
                }
            }
            vec![obj]
        }
        None => documents(&ctx, &a.file, &a.resource)?,
    };
    let client = ctx.client(env)?;
    let deadline = Instant::now() + limit;
    let mut errors = Vec::new();
    for doc in docs {
        let mut obj = if ctx.template {
            template(&doc, &ctx.bindings)?
        } else {
            doc
        };
        apply_namespacer(&ctx, &client, &mut obj).await?;
        let candidates = match read(&client, &obj).await {
            Ok(c) => c,
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(e.to_string()),
        };
        log.line(format!(
            "  delete {} ({} found)",
            describe(&obj),
            candidates.len()
        ));
        let mut deleted = Vec::new();
        for candidate in candidates {
            let r = ObjectRef::of(&candidate);
            let err = match client.delete(&r, &propagation).await {
                Ok(()) => {
                    deleted.push(r);
                    None
                }
                Err(e) if e.is_not_found() => None,
                Err(e) => Some(e.to_string()),
            };
            if let Err(e) = handle_check(&ctx, &a.expect, &[], &candidate, err) {
                errors.push(e);
            }
        }
        for r in deleted {
            if let Err(e) = wait_gone(&client, &r, deadline).await {
                errors.push(e);
            }
        }
    }
    if errors.is_empty() {
        Ok(Bindings::new())
    } else {
        Err(errors.join("; "))
    }
}

/// The objects an expected document designates: by name, or listed by
/// namespace and labels.
async fn read(client: &ClusterClient, expected: &Value) -> Result<Vec<Value>, ClientError> {
    let r = ObjectRef::of(expected);
    if !r.name.is_empty() {
        Ok(vec![client.get(&r).await?])
    } else {
        client.list(&r, label_selector(expected).as_deref()).await
    }
}

/// assert (`negate` false): some object matches before the timeout.
/// error (`negate` true): no object matches before the timeout.
async fn check_action(
    env: &Env,
    ctx: &Ctx,
    a: &CheckAction,
    negate: bool,
    log: &Log,
) -> Result<(), String> {
    let ctx = ctx.for_operation(&a.cluster, &a.clusters, &a.bindings, a.template)?;
    let limit = match &a.timeout {
        Some(t) => parse_duration(t)?,
        None if negate => ctx.limits.error,
        None => ctx.limits.assert,
    };
    let docs = documents(&ctx, &a.file, &a.resource)?;
    let mut errors = Vec::new();
    for doc in docs {
        let mut obj = if ctx.template {
            template_reference(&doc, &ctx.bindings)?
        } else {
            doc
        };
        let client = if resources::kind(&obj).is_empty() {
            None
        } else {
            let client = ctx.client(env)?;
            apply_namespacer(&ctx, &client, &mut obj).await?;
            Some(client)
        };
        log.line(format!(
            "  {} {}",
            if negate { "error" } else { "assert" },
            describe(&obj)
        ));
        let deadline = Instant::now() + limit;
        let mut last: Vec<String>;
        loop {
            tokio::time::sleep(POLL).await;
            last = Vec::new();
            let satisfied =
                if resources::api_version(&obj).is_empty() || resources::kind(&obj).is_empty() {
                    let m = assertion::check(&obj, &Value::Null, &ctx.bindings)?;
                    if negate {
                        if m.is_empty() {
                            last.push("expectation matched".into());
                        }
                        !m.is_empty()
                    } else {
                        last.push(join_mismatches(&m));
                        m.is_empty()
                    }
                } else {
                    let client = client.as_ref().ok_or("no cluster")?;
                    match read(client, &obj).await {
                        Err(e) if e.is_not_found() => {
                            if !negate {
                                last.push("actual resource not found".into());
                            }
                            negate
                        }
                        Err(e) => return Err(e.to_string()),
                        Ok(candidates) if candidates.is_empty() => {
                            if !negate {
                                last.push("no actual resource found".into());
                            }
                            negate
                        }
                        Ok(candidates) => {
                            let mut any = false;
                            for c in &candidates {
                                let m = assertion::check(&obj, c, &ctx.bindings)?;
                                if m.is_empty() {
                                    any = true;
                                    if negate {
                                        last.push(format!(
                                            "{} - resource matches expectation",
                                            describe(c)
                                        ));
                                    } else {
                                        break;
                                    }
                                } else if !negate {
                                    last.push(format!("{}: {}", describe(c), join_mismatches(&m)));
                                }
                            }
                            if negate {
                                !any
                            } else {
                                any
                            }
                        }
                    }
                };
            if satisfied {
                break;
            }
            if Instant::now() >= deadline {
                errors.push(last.join(" | "));
                break;
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// `kubectl wait`: the named object (or those the selector picks) must
/// exist; each is read until the condition holds or the timeout ends.
async fn wait_action(env: &Env, ctx: &Ctx, w: &Wait, log: &Log) -> Result<(), String> {
    let ctx = ctx.for_operation(&w.cluster, &w.clusters, &[], None)?;
    let limit = match &w.timeout {
        Some(t) => parse_duration(t)?,
        None => ctx.limits.exec,
    };
    let client = ctx.client(env)?;
    let b = &ctx.bindings;
    let name = w
        .name
        .as_deref()
        .map(|n| string_expression(n, b))
        .transpose()?
        .unwrap_or_default();
    let selector = w
        .selector
        .as_deref()
        .map(|s| string_expression(s, b))
        .transpose()?
        .filter(|s| !s.is_empty());
    if !name.is_empty() && selector.is_some() {
        return Err("name cannot be provided when a selector is specified".into());
    }
    let api_version = string_expression(&w.api_version, b)?;
    let kind = string_expression(&w.kind, b)?;
    let res = client
        .resolve(&api_version, &kind)
        .await
        .map_err(|e| e.to_string())?;
    let namespace = if res.namespaced {
        match w
            .namespace
            .as_deref()
            .map(|n| string_expression(n, b))
            .transpose()?
        {
            Some(n) if n == "*" => String::new(),
            Some(n) if !n.is_empty() => n,
            _ => ctx.namespace.clone().unwrap_or_default(),
        }
    } else {
        String::new()
    };
    let r = ObjectRef {
        api_version,
        kind,
        namespace,
        name,
    };
    let target = if r.name.is_empty() {
        format!(
            "{} {}",
            res.plural,
            selector
                .as_deref()
                .map(|s| format!("-l {s}"))
                .unwrap_or_else(|| "--all".into())
        )
    } else {
        format!("{}/{}", res.plural, r.name)
    };
    log.line(format!(
        "  wait {target}{}",
        if r.namespace.is_empty() {
            String::new()
        } else {
            format!(" -n {}", r.namespace)
        }
    ));
    let deadline = Instant::now() + limit;
    let fetch = || async {
        if r.name.is_empty() {
            client.list(&r, selector.as_deref()).await
        } else {
            client.get(&r).await.map(|o| vec![o])
        }
    };
    if w.wait_for.deletion.is_some() {
        loop {
            match fetch().await {
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(e.to_string()),
                Ok(objs) if objs.is_empty() => return Ok(()),
                Ok(_) => {}
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "timed out waiting for the condition on {target} (deletion)"
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
    let condition = |obj: &Value| -> Result<bool, String> {
        if let Some(c) = &w.wait_for.condition {
            let want = c.value.clone().unwrap_or_else(|| "true".into());
            Ok(condition_holds(obj, &c.name, &want))
        } else if let Some(j) = &w.wait_for.json_path {
            match resources::jsonpath(&j.path, obj)? {
                None => Ok(false),
                Some(v) => match &j.value {
                    None => Ok(true),
                    Some(want) => Ok(resources::jsonpath_text(&v)?.trim() == want.trim()),
                },
            }
        } else if w.wait_for.creation.is_some() {
            Ok(true)
        } else {
            Err("either a deletion or a condition must be specified".into())
        }
    };
    let mut first = true;
    loop {
        let objs = match fetch().await {
            Err(e) if e.is_not_found() && w.wait_for.creation.is_some() => Vec::new(),
            Err(e) => return Err(e.to_string()),
            Ok(o) => o,
        };
        if objs.is_empty() && first && w.wait_for.creation.is_none() {
            return Err("no matching resources found".into());
        }
        first = false;
        let mut all = !objs.is_empty();
        for o in &objs {
            if !condition(o)? {
                all = false;
            }
        }
        if all {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let shown: Vec<String> = objs.iter().map(|o| condition_summary(o, w)).collect();
            return Err(format!(
                "timed out waiting for the condition on {target}{}",
                if shown.is_empty() {
                    String::new()
                } else {
                    format!(" (now: {})", shown.join("; "))
                }
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// kubectl's condition check: the condition of that type (any case) has
/// that status (any case), observed at the object's generation.
pub fn condition_holds(obj: &Value, name: &str, want: &str) -> bool {
    let Some(conditions) = obj.pointer("/status/conditions").and_then(Value::as_array) else {
        return false;
    };
    for c in conditions {
        let Some(t) = c.get("type").and_then(Value::as_str) else {
            continue;
        };
        if !t.eq_ignore_ascii_case(name) {
            continue;
        }
        let Some(status) = c.get("status").and_then(Value::as_str) else {
            continue;
        };
        if let Some(generation) = obj.pointer("/metadata/generation").and_then(Value::as_i64) {
            let observed = c
                .get("observedGeneration")
                .and_then(Value::as_i64)
                .or_else(|| {
                    obj.pointer("/status/observedGeneration")
                        .and_then(Value::as_i64)
                });
            if observed.is_some_and(|o| o < generation) {
                return false;
            }
        }
        return status.eq_ignore_ascii_case(want);
    }
    false
}

fn condition_summary(obj: &Value, w: &Wait) -> String {
    if let Some(c) = &w.wait_for.condition {
        let found = obj
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter().find(|x| {
                    x.get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.eq_ignore_ascii_case(&c.name))
                })
            });
        match found {
            Some(x) => format!(
                "{} {}={} {}",
                resources::name(obj),
                c.name,
                x.get("status").and_then(Value::as_str).unwrap_or("?"),
                x.get("message").and_then(Value::as_str).unwrap_or("")
            ),
            None => format!("{} has no {} condition", resources::name(obj), c.name),
        }
    } else if let Some(j) = &w.wait_for.json_path {
        let v = resources::jsonpath(&j.path, obj).ok().flatten();
        format!(
            "{} {}={}",
            resources::name(obj),
            j.path,
            v.map(|v| v.to_string()).unwrap_or_else(|| "<none>".into())
        )
    } else {
        resources::name(obj).to_string()
    }
}

struct Ran {
    stdout: String,
    stderr: String,
    /// Go's rendering of the failure: `exit status N`, `signal: killed`.
    error: Option<String>,
}

async fn run_process(
    env: &Env,
    ctx: &Ctx,
    program: &str,
    args: &[String],
    extra_env: &[Binding],
    work_dir: &Option<String>,
    timeout: Duration,
) -> Result<Ran, String> {
    let (kubeconfig, _) = ctx.kubeconfig(env)?;
    let base = env.process_dir(&ctx.base)?;
    let kubeconfig = match kubeconfig.strip_prefix(&ctx.base) {
        Ok(inside) => base.join(inside),
        Err(_) => kubeconfig,
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args);
    let dir = match work_dir {
        Some(d) if Path::new(d).is_absolute() => PathBuf::from(d),
        Some(d) => base.join(d),
        None => base,
    };
    cmd.current_dir(dir);
    let mut has_namespace = false;
    for b in extra_env {
        let v = mutate(&b.value, &Value::Null, &ctx.bindings, &b.name)?;
        let Value::String(s) = v else {
            return Err(format!("value must be a string ({})", b.name));
        };
        has_namespace |= b.name == "NAMESPACE";
        cmd.env(&b.name, s);
    }
    if !has_namespace {
        cmd.env("NAMESPACE", ctx.namespace.clone().unwrap_or_default());
    }
    cmd.env("KUBECONFIG", &kubeconfig);
    cmd.stdin(std::process::Stdio::null());
    cmd.stdout(std::process::Stdio::piped());
    cmd.stderr(std::process::Stdio::piped());
    cmd.process_group(0);
    cmd.kill_on_drop(true);
    let child = cmd
        .spawn()
        .map_err(|e| format!("starting {program}: {e}"))?;
    let pid = child.id();
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => {
            let error = if out.status.success() {
                None
            } else {
                use std::os::unix::process::ExitStatusExt;
                Some(match (out.status.code(), out.status.signal()) {
                    (Some(c), _) => format!("exit status {c}"),
                    (None, Some(9)) => "signal: killed".to_string(),
                    (None, Some(s)) => format!("signal: {s}"),
                    _ => "the process failed".to_string(),
                })
            };
            Ok(Ran {
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                error,
            })
        }
        Ok(Err(e)) => Err(format!("running {program}: {e}")),
        Err(_) => {
            // Its children too (kubectl, sleep...): the whole process group.
            if let Some(pid) = pid {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .status();
            }
            Ok(Ran {
                stdout: String::new(),
                stderr: format!("timed out after {}s", timeout.as_secs_f64()),
                error: Some("signal: killed".into()),
            })
        }
    }
}

/// After a script or command: `$stdout`, `$stderr`, `$error`; its `check`
/// when it has one, else the exit status decides.
fn process_result(
    ctx: &Ctx,
    ran: Ran,
    check: &Option<Value>,
    outputs: &[Output],
    log: &Log,
) -> Result<Bindings, String> {
    let mut bindings = ctx.bindings.clone();
    bindings.insert("stdout".into(), Value::String(ran.stdout.clone()));
    bindings.insert("stderr".into(), Value::String(ran.stderr.clone()));
    bindings.insert(
        "error".into(),
        ran.error.clone().map(Value::String).unwrap_or(Value::Null),
    );
    for line in ran.stdout.lines().chain(ran.stderr.lines()).take(40) {
        log.line(format!("    | {line}"));
    }
    let verdict = match check {
        Some(c) => {
            let m = assertion::check(c, &Value::Null, &bindings)?;
            if m.is_empty() {
                Ok(())
            } else {
                Err(format!("check failed: {}", join_mismatches(&m)))
            }
        }
        None => match &ran.error {
            None => Ok(()),
            Some(e) => {
                let said: Vec<&str> = ran
                    .stdout
                    .lines()
                    .chain(ran.stderr.lines())
                    .filter(|l| !l.trim().is_empty())
                    .collect();
                let tail = said[said.len().saturating_sub(3)..].join(" / ");
                Err(if tail.is_empty() {
                    e.clone()
                } else {
                    format!("{e}: {tail}")
                })
            }
        },
    };
    verdict?;
    process_outputs(outputs, &Value::Null, &bindings)
}

async fn script_action(env: &Env, ctx: &Ctx, s: &Script, log: &Log) -> Result<Bindings, String> {
    let ctx = ctx.for_operation(&s.cluster, &s.clusters, &s.bindings, None)?;
    let timeout = match &s.timeout {
        Some(t) => parse_duration(t)?,
        None => ctx.limits.exec,
    };
    let shell = s.shell.clone().unwrap_or_else(|| "sh".into());
    let mut args = if s.shell_args.is_empty() {
        vec!["-c".to_string()]
    } else {
        s.shell_args.clone()
    };
    args.push(env.script_on_proxy(&s.content)?);
    log.line(format!(
        "  script: {}",
        s.content
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
    ));
    let ran = run_process(env, &ctx, &shell, &args, &s.env, &s.work_dir, timeout).await?;
    process_result(&ctx, ran, &s.check, &s.outputs, log)
}

async fn command_action(env: &Env, ctx: &Ctx, c: &Command, log: &Log) -> Result<Bindings, String> {
    let ctx = ctx.for_operation(&c.cluster, &c.clusters, &c.bindings, None)?;
    let timeout = match &c.timeout {
        Some(t) => parse_duration(t)?,
        None => ctx.limits.exec,
    };
    let namespace = ctx.namespace.clone().unwrap_or_default();
    let args: Vec<String> = c
        .args
        .iter()
        .map(|a| {
            a.replace("${NAMESPACE}", &namespace)
                .replace("$NAMESPACE", &namespace)
        })
        .collect();
    log.line(format!("  command: {} {}", c.entrypoint, args.join(" ")));
    let ran = run_process(
        env,
        &ctx,
        &c.entrypoint,
        &args,
        &c.env,
        &c.work_dir,
        timeout,
    )
    .await?;
    process_result(&ctx, ran, &c.check, &c.outputs, log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_as_kubectl_reads_them() {
        let obj = json!({"metadata": {"generation": 2}, "status": {"conditions": [
            {"type": "Ready", "status": "True", "observedGeneration": 2},
            {"type": "Active", "status": "False"}
        ]}});
        assert!(condition_holds(&obj, "Ready", "true"));
        assert!(condition_holds(&obj, "ready", "True"));
        assert!(!condition_holds(&obj, "Active", "True"));
        assert!(condition_holds(&obj, "Active", "False"));
        assert!(!condition_holds(&obj, "Missing", "True"));
        let stale = json!({"metadata": {"generation": 3}, "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(!condition_holds(&stale, "Ready", "True"));
    }

    #[test]
    fn suite_kubeconfigs_reach_this_runs_proxy() {
        let path = std::env::temp_dir().join(format!(
            "conformance-default-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: platform\n  cluster:\n    server: https://localhost:30543\nusers:\n- name: admin\n  user:\n    token: t\ncontexts:\n- name: platform\n  context:\n    cluster: platform\n    user: admin\ncurrent-context: platform\n",
        )
        .unwrap();
        let env = Env::new(reqwest::Client::new(), path.clone());
        let org = "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/o/control-plane";
        assert_eq!(
            env.on_proxy(&format!("https://localhost:30443{org}"))
                .unwrap(),
            format!("https://localhost:30543{org}")
        );
        assert_eq!(
            env.on_proxy("https://elsewhere:6443").unwrap(),
            "https://elsewhere:6443"
        );
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn suite_processes_reach_this_runs_proxy() {
        let root = std::env::temp_dir().join(format!(
            "conformance-mirror-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let (logs, suite) = (root.join("logs"), root.join("suite"));
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::create_dir_all(suite.join("assertions")).unwrap();
        let config = |server: &str| {
            format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n")
        };
        std::fs::write(
            logs.join("kubeconfig-default"),
            config("https://localhost:30543"),
        )
        .unwrap();
        std::fs::write(
            suite.join("kubeconfig-main"),
            config("https://localhost:30443/apis/x"),
        )
        .unwrap();
        std::fs::write(suite.join("01-object.yaml"), "kind: Namespace\n").unwrap();
        let env = Env::new(reqwest::Client::new(), logs.join("kubeconfig-default"));
        let dir = env.process_dir(&suite).unwrap();
        assert_ne!(dir, suite);
        assert_eq!(
            std::fs::read_to_string(dir.join("kubeconfig-main")).unwrap(),
            config("https://localhost:30543/apis/x")
        );
        assert!(std::fs::symlink_metadata(dir.join("01-object.yaml"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(dir.join("assertions").is_dir());
        assert_eq!(env.process_dir(&suite).unwrap(), dir);
        assert_eq!(
            env.script_on_proxy("curl https://localhost:30443/api")
                .unwrap(),
            "curl https://localhost:30543/api"
        );
        // On the suites' own address, processes run in the suite itself.
        std::fs::write(
            logs.join("kubeconfig-default"),
            config("https://localhost:30443"),
        )
        .unwrap();
        let same = Env::new(reqwest::Client::new(), logs.join("kubeconfig-default"));
        assert_eq!(same.process_dir(&suite).unwrap(), suite);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn limits_overlay() {
        let mut l = Limits::default();
        l.overlay(&Timeouts {
            apply: Some("120s".into()),
            exec: Some("45s".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(l.apply, Duration::from_secs(120));
        assert_eq!(l.exec, Duration::from_secs(45));
        assert_eq!(l.assert, Duration::from_secs(30));
    }
}
