//! The notify-hook binary against a real NATS server: `NATS_URL` must name
//! one (e.g. `make dev`'s nats://127.0.0.1:4222).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};

mod platform;

/// The running hook, killed when the test ends however it ends.
struct Hook {
    child: Child,
    lines: Receiver<String>,
}

impl Drop for Hook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Hook {
    fn next_line(&self) -> String {
        match self.lines.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!("notify-hook printed no line within 10 s"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("notify-hook exited (see its stderr above)")
            }
        }
    }
}

fn start(url: &str, subject: &str, forward: &str) -> Hook {
    let mut child = Command::new(env!("CARGO_BIN_EXE_notify-hook"))
        .env("NATS_URL", url)
        .env("NOTIFY_SUBJECT", subject)
        .env("NOTIFY_FORWARD_SUBJECT", forward)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start notify-hook");
    let stdout = child.stdout.take().unwrap();
    let (sender, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let hook = Hook { child, lines };
    assert_eq!(hook.next_line(), format!("subscribed to {subject}"));
    hook
}

#[tokio::test]
async fn announces_forwards_and_allows() {
    let url = std::env::var("NATS_URL")
        .expect("NATS_URL must name a NATS server for this test (e.g. nats://127.0.0.1:4222)");
    // Subjects of this run only, so parallel runs on one server do not mix.
    let subject = format!("test.hooks.deleting.{}", std::process::id());
    let forward = format!("{subject}.forwarded");
    let hook = start(&url, &subject, &forward);

    let client = async_nats::connect(&url).await.unwrap();
    let mut forwarded = client.subscribe(forward).await.unwrap();
    client.flush().await.unwrap();

    let request = json!({
        "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
        "kind": "PreDeletionHookRequest",
        "hook": "notify-projects",
        "object": {
            "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
            "kind": "Project",
            "metadata": {"name": "p1", "namespace": "org-a", "uid": "u-1"},
        },
    });
    let body = request.to_string();
    let reply = client
        .request(subject.clone(), body.clone().into())
        .await
        .unwrap();
    let reply: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(reply, json!({"allowed": true}));
    assert_eq!(
        hook.next_line(),
        "deleting Project org-a/p1 (uid u-1, hook notify-projects)"
    );
    let heard = tokio::time::timeout(Duration::from_secs(5), forwarded.next())
        .await
        .expect("nothing forwarded within 5 s")
        .unwrap();
    assert_eq!(heard.payload, body.as_bytes());

    // Cluster-scoped: the name alone.
    let mut cluster = request.clone();
    cluster["object"]["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("namespace");
    let reply = client
        .request(subject.clone(), cluster.to_string().into())
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&reply.payload).unwrap(),
        json!({"allowed": true})
    );
    assert_eq!(
        hook.next_line(),
        "deleting Project p1 (uid u-1, hook notify-projects)"
    );

    let reply = client.request(subject, "not json".into()).await.unwrap();
    let reply: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(reply["allowed"], false);
    assert!(
        reply["reason"].as_str().unwrap().contains("not JSON"),
        "{reply}"
    );
}

/// The shipped manifest, applied to the platform with this run's subject:
/// a project's deletion is announced and forwarded before it goes.
#[tokio::test]
async fn the_platform_announces_a_projects_deletion_before_it_goes() {
    let url = std::env::var("NATS_URL")
        .expect("NATS_URL must name a NATS server for this test (e.g. nats://127.0.0.1:4222)");
    let subject = format!("test.hooks.platform.{}", uuid::Uuid::new_v4().simple());
    let forward = format!("{subject}.forwarded");
    let hook = start(&url, &subject, &forward);
    let client = async_nats::connect(&url).await.unwrap();
    let mut forwarded = client.subscribe(forward).await.unwrap();
    client.flush().await.unwrap();

    let platform = platform::Platform::start().await;
    platform
        .apply_hook(include_str!("../notify-hook.yaml"), |hook| {
            hook["spec"]["action"]["nats"]["subject"] = json!(subject);
        })
        .await;
    let project = platform.project("announced", json!({})).await;
    assert!(platform.delete_project("announced", 20).await);

    let uid = project["metadata"]["uid"].as_str().unwrap();
    assert_eq!(
        hook.next_line(),
        format!("deleting Project announced (uid {uid}, hook notify-projects)")
    );
    let heard = tokio::time::timeout(Duration::from_secs(5), forwarded.next())
        .await
        .expect("nothing forwarded within 5 s")
        .unwrap();
    let heard: Value = serde_json::from_slice(&heard.payload).unwrap();
    assert_eq!(heard["object"]["metadata"]["uid"], uid);
}
