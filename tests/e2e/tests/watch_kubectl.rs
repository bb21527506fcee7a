//! Watch (#22) through kubectl and the official Python client against the
//! running stack: the resources
//! function streams each watch (Lambda response streaming, as
//! tools/lambda-local passes it on) from the change feed that the stack's
//! publisher (`events --publish`) keeps.

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use e2e::{unique, Kubeconfig, Stack};

/// Not a speed figure: how long a line may take before it is called lost.
const PATIENCE: Duration = Duration::from_secs(90);

/// A project's control plane, with a fresh organization and project.
fn project(stack: &Stack) -> Kubeconfig {
    let platform = stack.kubeconfig(&stack.kube_server, &stack.token);
    let (org, project) = (unique("watch"), unique("watchp"));
    let org_yaml = format!("apiVersion: resourcemanager.miloapis.com/v1alpha1\nkind: Organization\nmetadata:\n  name: {org}\nspec:\n  type: Standard\n");
    let project_yaml = format!("apiVersion: resourcemanager.miloapis.com/v1alpha1\nkind: Project\nmetadata:\n  name: {project}\nspec:\n  ownerRef:\n    kind: Organization\n    name: {org}\n");
    platform.ok(&["create", "-f", "-"], Some(&org_yaml));
    platform.ok(&["create", "-f", "-"], Some(&project_yaml));
    stack.kubeconfig(&stack.project_url(&project), &stack.token)
}

fn configmap(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  k: \"{value}\"\n")
}

/// A background kubectl's output lines as they come; killed when dropped.
struct Lines {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    fn of(mut child: Child) -> Lines {
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line that contains every one of `words`.
    fn until(&mut self, words: &[&str]) {
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    let found = words.iter().all(|w| line.contains(w));
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let _ = self.child.kill();
        let stderr = self
            .child
            .stderr
            .take()
            .map(|mut e| {
                let mut text = String::new();
                let _ = std::io::Read::read_to_string(&mut e, &mut text);
                text
            })
            .unwrap_or_default();
        panic!(
            "no line with {words:?}; seen: {:?}; stderr: {stderr}",
            self.seen
        );
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates ConfigMap `name`, changes it and deletes it, waiting after each
/// step for the watch's line of it.
fn create_change_delete(kube: &Kubeconfig, watch: &mut Lines, name: &str) {
    kube.ok(&["create", "-f", "-"], Some(&configmap(name, "1")));
    watch.until(&["ADDED", name, "1"]);
    let patch = [
        "patch",
        "configmap",
        name,
        "-n",
        "default",
        "-p",
        r#"{"data":{"k":"2"}}"#,
    ];
    kube.ok(&patch, None);
    watch.until(&["MODIFIED", name, "2"]);
    kube.ok(&["delete", "configmap", name, "-n", "default"], None);
    watch.until(&["DELETED", name]);
}

#[test]
fn kubectl_get_w_shows_each_change_as_it_is_made() {
    let stack = Stack::from_env();
    let kube = project(&stack);
    kube.ok(&["create", "-f", "-"], Some(&configmap("before", "1")));
    let mut watch = Lines::of(kube.spawn(&[
        "get",
        "configmaps",
        "-n",
        "default",
        "--watch",
        // Each line: the event's type, then the object's name and value.
        "--output-watch-events",
        "-o",
        "custom-columns=EVENT:.type,NAME:.object.metadata.name,K:.object.data.k",
    ]));
    // What was there first, then what happens while it watches.
    watch.until(&["ADDED", "before", "1"]);
    create_change_delete(&kube, &mut watch, "during");
}

#[test]
fn kubectl_wait_for_delete_returns_once_the_object_is_gone() {
    let stack = Stack::from_env();
    let kube = project(&stack);
    kube.ok(&["create", "-f", "-"], Some(&configmap("going", "1")));
    let mut wait = kube.spawn(&[
        "wait",
        "--for=delete",
        "configmap/going",
        "-n",
        "default",
        "--timeout=90s",
    ]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        wait.try_wait().unwrap().is_none(),
        "kubectl wait returned while the object exists"
    );
    kube.ok(
        &[
            "delete",
            "configmap",
            "going",
            "-n",
            "default",
            "--wait=false",
        ],
        None,
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = wait.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "kubectl wait --for=delete did not return"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = wait.wait_with_output().unwrap();
    assert!(
        status.success(),
        "kubectl wait failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_python_clients_watch_stream_sees_each_change() {
    let stack = Stack::from_env();
    let kube = project(&stack);
    let python =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.local/venv/bin/python");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/python_watch.py");
    let child = std::process::Command::new(python)
        .arg(script)
        .arg(&kube.path)
        .arg("60")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the venv's python (localstack/install.sh installs the kubernetes client)");
    let mut watch = Lines::of(child);
    watch.until(&["READY", "0."]);
    create_change_delete(&kube, &mut watch, "py");
}
