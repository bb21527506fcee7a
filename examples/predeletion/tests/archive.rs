//! The archive-hook binary, run as the platform would call it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::Duration;

use serde_json::{json, Value};

mod platform;

/// The running hook and its archive directory, both gone when the test ends
/// however it ends.
struct Hook {
    child: Child,
    dir: PathBuf,
    lines: Receiver<String>,
}

impl Drop for Hook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Hook {
    fn next_line(&self) -> String {
        match self.lines.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!("archive-hook printed no line within 10 s"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("archive-hook exited (see its stderr above)")
            }
        }
    }
}

/// Starts it on a free port (port 0; it prints the one it got).
fn start() -> (Hook, String) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("archive-hook-{}-{nanos}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_archive-hook"))
        .env("ARCHIVE_LISTEN", "127.0.0.1:0")
        .env("ARCHIVE_DIR", &dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start archive-hook");
    let stdout = child.stdout.take().unwrap();
    let (sender, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let hook = Hook { child, dir, lines };
    let first = hook.next_line();
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    (hook, format!("http://{addr}/archive"))
}

fn files(dir: &PathBuf) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn archives_the_object_and_refuses_what_is_not_a_request() {
    let (hook, url) = start();
    let http = reqwest::Client::new();
    let object = json!({
        "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
        "kind": "Project",
        "metadata": {"name": "p1", "uid": "0b6f7c1e-5a3d-4c2e-9f1a-2d3e4f5a6b7c", "labels": {"archive": "true"}},
        "spec": {"displayName": "One"},
    });
    let request = json!({
        "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
        "kind": "PreDeletionHookRequest",
        "hook": "archive-projects",
        "object": object,
    });

    let response = http.post(&url).json(&request).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    let path = hook.dir.join("0b6f7c1e-5a3d-4c2e-9f1a-2d3e4f5a6b7c.json");
    assert_eq!(answer, json!({"archived": path.display().to_string()}));
    let stored: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(stored, object);
    assert_eq!(hook.next_line(), format!("archived {}", path.display()));
    assert_eq!(
        files(&hook.dir),
        ["0b6f7c1e-5a3d-4c2e-9f1a-2d3e4f5a6b7c.json"]
    );

    // Not JSON, not the request kind, no uid, a uid that names another path:
    // each a 400 that writes nothing.
    let mut no_uid = request.clone();
    no_uid["object"]["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("uid");
    let mut escaping = request.clone();
    escaping["object"]["metadata"]["uid"] = json!("../escaped");
    let mut other_kind = request.clone();
    other_kind["kind"] = json!("AdmissionReview");
    for body in [
        "not json".to_string(),
        other_kind.to_string(),
        no_uid.to_string(),
        escaping.to_string(),
    ] {
        let response = http.post(&url).body(body.clone()).send().await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert!(answer["error"].is_string(), "{answer}");
    }
    assert_eq!(
        files(&hook.dir),
        ["0b6f7c1e-5a3d-4c2e-9f1a-2d3e4f5a6b7c.json"]
    );
    assert!(!hook.dir.parent().unwrap().join("escaped.json").exists());

    let response = http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
}

/// The shipped manifest, applied to the platform with this run's address:
/// a project labelled `archive: "true"` is archived before it goes, one
/// without the label goes without a call.
#[tokio::test]
async fn the_platform_archives_a_labelled_project_before_it_goes() {
    let (hook, url) = start();
    let platform = platform::Platform::start().await;
    platform
        .apply_hook(include_str!("../archive-hook.yaml"), |hook| {
            hook["spec"]["action"]["http"]["url"] = json!(url);
        })
        .await;
    let kept = platform.project("kept", json!({"archive": "true"})).await;
    platform.project("scratch", json!({})).await;

    assert!(platform.delete_project("scratch", 20).await, "not held");
    assert!(files(&hook.dir).is_empty(), "nothing archived for it");
    assert!(
        platform.delete_project("kept", 20).await,
        "gone once archived"
    );
    let uid = kept["metadata"]["uid"].as_str().unwrap();
    let archived: Value =
        serde_json::from_slice(&std::fs::read(hook.dir.join(format!("{uid}.json"))).unwrap())
            .unwrap();
    assert_eq!(archived["metadata"]["name"], "kept");
    assert_eq!(archived["metadata"]["uid"], uid);
    assert!(archived["metadata"]["deletionTimestamp"].is_string());
}
