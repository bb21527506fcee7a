//! End-to-end helpers: the running stack's address and credentials (set by
//! `make test`), kubeconfigs and a kubectl runner. The tests are in tests/,
//! the benchmarks in src/bin/ (bench.rs, types_bench.rs, iam_bench.rs, …), with their
//! shared measuring in [`measure`] and raw DynamoDB calls in [`raw`].

pub mod measure;
pub mod pipeline;
pub mod quota_docs;
pub mod raw;

use std::path::PathBuf;
use std::process::Command;

/// The stack under test, from the environment `make test` sets.
pub struct Stack {
    /// Plain HTTP, e.g. `http://127.0.0.1:19001`: the resources function at
    /// the root (any function at `/lambda-url/{function}`).
    pub base_url: String,
    /// HTTPS for kubectl, which sends bearer tokens only over TLS, e.g.
    /// `https://127.0.0.1:19000`.
    pub kube_server: String,
    /// The local CA that signed the HTTPS server's certificate.
    pub kube_ca_file: String,
    pub token: String,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the end-to-end tests with `make test`, which starts the stack"
        )
    })
}

impl Stack {
    pub fn from_env() -> Self {
        let token = Self::token_for("e2e-admin", &["system:masters"]);
        Self {
            base_url: env("E2E_BASE_URL"),
            kube_server: env("E2E_KUBE_SERVER"),
            kube_ca_file: env("E2E_KUBE_CA_FILE"),
            token,
        }
    }

    /// A token the stack accepts for `subject`, a member of `groups` (the
    /// platform's administrators are `system:masters`).
    pub fn token_for(subject: &str, groups: &[&str]) -> String {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        auth::mint_hs256(
            &env("E2E_HS256_SECRET"),
            &env("E2E_ISSUER"),
            &env("E2E_AUDIENCE"),
            subject,
            &groups,
            3600,
        )
        .expect("mint token")
    }

    /// A kubeconfig pointing at `server` (the platform's [`Self::kube_server`]
    /// or an organization's context URL).
    pub fn kubeconfig(&self, server: &str, token: &str) -> Kubeconfig {
        let dir = std::env::temp_dir().join(format!("e2e-kube-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("config");
        let ca = &self.kube_ca_file;
        let config = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: milo\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: e2e\n  user:\n    token: {token}\ncontexts:\n- name: milo-local\n  context:\n    cluster: milo\n    user: e2e\ncurrent-context: milo-local\n"
        );
        std::fs::write(&path, config).expect("write kubeconfig");
        Kubeconfig { path, dir }
    }

    /// kubectl's server URL for an organization's control plane.
    pub fn organization_url(&self, org: &str) -> String {
        format!(
            "{}/apis/resourcemanager.miloapis.com/v1alpha1/organizations/{org}/control-plane",
            self.kube_server
        )
    }
}

impl Stack {
    /// kubectl's server URL for a project's control plane.
    pub fn project_url(&self, project: &str) -> String {
        format!(
            "{}/apis/resourcemanager.miloapis.com/v1alpha1/projects/{project}/control-plane",
            self.kube_server
        )
    }
}

/// A kubeconfig file in a directory of its own (kubectl's cache goes there too).
pub struct Kubeconfig {
    pub path: PathBuf,
    pub dir: PathBuf,
}

/// What one kubectl run printed.
#[derive(Debug)]
pub struct Output {
    pub ok: bool,
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Kubeconfig {
    /// Runs kubectl (the one on PATH) with this kubeconfig; `stdin` is fed to
    /// `-f -`.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.run_kubectl("kubectl", args, stdin)
    }

    /// Runs the kubectl binary `program` with this kubeconfig.
    pub fn kubectl_binary(&self, program: &str, args: &[&str]) -> Output {
        self.run_kubectl(program, args, None)
    }

    fn run_kubectl(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut cmd = Command::new(program);
        cmd.arg("--kubeconfig")
            .arg(&self.path)
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .arg("--request-timeout=120s")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{program} runs (make test installs kubectl): {e}"));
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("kubectl ran");
        Output {
            ok: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts kubectl in the background (a watch), its output piped.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.path)
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("kubectl runs (make test installs kubectl): {e}"))
    }

    /// Runs kubectl and insists it succeeded.
    pub fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl(args, stdin);
        assert!(
            out.ok,
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        );
        out.stdout
    }
}

/// A name unique to this run, since every e2e test shares the stack's table.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Waits (at most 120 s) until `kubectl get <what>` answers NotFound: what
/// the gc worker of the stack deletes in the background.
pub fn until_gone(kube: &Kubeconfig, what: &[&str]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let args: Vec<&str> = ["get"].iter().chain(what).copied().collect();
        let out = kube.kubectl(&args, None);
        if !out.ok && (out.stderr.contains("NotFound") || out.stderr.contains("not found")) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what:?} still there after 120 s: {} {}",
            out.stdout,
            out.stderr
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}
