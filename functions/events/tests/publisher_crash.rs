//! The change feed's publisher (`events --publish`) killed with SIGKILL in
//! the middle of a batch, then nats-server stopped while more changes are
//! committed, and started again: every change is published exactly once
//! (counted by message id), each object's in its order. DynamoDB Local
//! (localstack/with-stack.sh) with the test's own table; a nats-server of
//! the test's own, so that stopping it disturbs no other test.

#[path = "../../../shared/feed/tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use feed::FeedConfig;
use serde_json::json;
use store::{Context, Expect, ObjectRef, Store, Write};

/// Objects and the versions each is written at before the kill: 2 000
/// changes, two pages of the table's stream, so the kill lands while the
/// first batch is being published.
const OBJECTS: usize = 400;
const VERSIONS: u64 = 5;
/// Objects created and changed again, and objects deleted, while NATS is down.
const LATE_OBJECTS: usize = 100;
const DELETED: usize = 50;
/// How long NATS stays down with the publisher waiting for it.
const NATS_DOWN: Duration = Duration::from_secs(8);
/// Not a speed figure: the bound after which a message that never arrives
/// is called lost.
const PATIENCE: Duration = Duration::from_secs(180);

/// A nats-server with JetStream on `port`, its store in `dir`; stopped
/// (SIGTERM, so it writes its store out as an operator's stop does) when
/// dropped.
struct Nats(Child);

impl Nats {
    fn start(port: u16, dir: &Path) -> Nats {
        let child = Command::new(nats_server())
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Nats(child)
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The nats-server localstack/install.sh put in .local/, or one on PATH.
fn nats_server() -> PathBuf {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.local/venv/bin/nats-server");
    if local.exists() {
        local
    } else {
        PathBuf::from("nats-server")
    }
}

/// The `events --publish` process; killed (SIGKILL) when dropped.
struct Publisher(Child);

impl Publisher {
    fn start(config: &FeedConfig, table: &str, log: &Path) -> Publisher {
        let log = std::fs::File::create(log).expect("the publisher's log file");
        let child = Command::new(env!("CARGO_BIN_EXE_events"))
            .arg("--publish")
            .env("TABLE_NAME", table)
            .env("NATS_URL", &config.nats_url)
            .env("FEED_STREAM", &config.stream)
            .env("FEED_SUBJECT_PREFIX", &config.prefix)
            .env("FEED_CHECKPOINTS", &config.checkpoints)
            .env("FEED_WATCH_STREAM", &config.watch_stream)
            .env("FEED_WATCH_PREFIX", &config.watch_prefix)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start events --publish");
        Publisher(child)
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn configmap(name: &str) -> ObjectRef {
    ObjectRef {
        context: Context::Platform,
        group: String::new(),
        kind: "ConfigMap".into(),
        namespace: "default".into(),
        name: name.into(),
    }
}

/// Writes `object` at `version` (its document saying so), and returns
/// the message id its change is published under.
async fn write(store: &Store, object: &ObjectRef, uid: &str, version: u64) -> String {
    let doc = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": object.name, "namespace": "default", "uid": uid,
                     "resourceVersion": version.to_string()},
        "data": {"version": version.to_string()},
    });
    let expect = match version {
        1 => Expect::Absent,
        _ => Expect::Version(version - 1),
    };
    store
        .write(vec![Write::PutObject {
            key: object.key(),
            object: doc,
            version,
            expect,
        }])
        .await
        .expect("write");
    format!("{uid}:{version}")
}

async fn delete(store: &Store, object: &ObjectRef, uid: &str, version: u64) -> String {
    store
        .write(vec![Write::Delete {
            key: object.key(),
            expect: Expect::Version(version),
        }])
        .await
        .expect("delete");
    format!("{uid}:delete")
}

async fn stored(js: &async_nats::jetstream::Context, stream: &str) -> u64 {
    match js.get_stream(stream).await {
        Ok(stream) => stream.get_info().await.map_or(0, |i| i.state.messages),
        Err(_) => 0,
    }
}

fn logs(dir: &Path) -> String {
    let mut out = String::new();
    for name in ["first.log", "second.log"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(60)..];
        out.push_str(&format!("\n--- {name} ---\n{}", tail.join("\n")));
    }
    out
}

#[tokio::test]
async fn killed_mid_batch_and_nats_stopped_every_change_is_published_exactly_once() {
    let dir = std::env::temp_dir().join(format!("publisher-crash-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("nats")).unwrap();
    let port = free_port();
    let mut nats = Nats::start(port, &dir.join("nats"));
    let (config, _) = feed_config(&format!("nats://127.0.0.1:{port}")).await;
    let client = Store::client_from_env().await;
    let table = format!("publisher-crash-{}", uuid::Uuid::new_v4().simple());
    store::table::create_table(&client, &table).await.unwrap();
    let store = Store::new(client, table.clone());

    // Before the publisher starts: OBJECTS x VERSIONS changes.
    let uids: Vec<String> = (0..OBJECTS)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let mut expected = BTreeSet::new();
    for version in 1..=VERSIONS {
        let writes = uids.iter().enumerate().map(|(i, uid)| {
            let store = &store;
            async move { write(store, &configmap(&format!("c{i}")), uid, version).await }
        });
        expected.extend(futures_util::future::join_all(writes).await);
    }
    let total_before = expected.len() as u64;

    let mut first = Publisher::start(&config, &table, &dir.join("first.log"));
    let client = async_nats::connect(&config.nats_url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let started = Instant::now();
    let at_kill = loop {
        let count = stored(&js, &config.stream).await;
        if count >= 100 {
            break count;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "nothing published{}",
            logs(&dir)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    first.kill();
    let after_kill = stored(&js, &config.stream).await;
    assert!(
        after_kill < total_before,
        "the kill came after the whole burst ({after_kill} of {total_before}): it must cut a batch"
    );

    // NATS stopped; more changes committed meanwhile; the publisher started
    // again while NATS is still down.
    nats.stop();
    for (i, uid) in uids.iter().enumerate().take(DELETED) {
        expected.insert(delete(&store, &configmap(&format!("c{i}")), uid, VERSIONS).await);
    }
    for i in 0..LATE_OBJECTS {
        let uid = uuid::Uuid::new_v4().to_string();
        for version in 1..=2 {
            expected.insert(write(&store, &configmap(&format!("late{i}")), &uid, version).await);
        }
    }
    let _second = Publisher::start(&config, &table, &dir.join("second.log"));
    tokio::time::sleep(NATS_DOWN).await;
    let _nats = Nats::start(port, &dir.join("nats"));

    let client = async_nats::connect(&config.nats_url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let started = Instant::now();
    while stored(&js, &config.stream).await < expected.len() as u64 {
        assert!(
            started.elapsed() < PATIENCE,
            "{} of {} changes published (killed at {at_kill}){}",
            stored(&js, &config.stream).await,
            expected.len(),
            logs(&dir)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Time for a duplicate to show, were one to get through.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let messages = messages(&js, &config.stream).await;
    let ids: Vec<&str> = messages.iter().map(|m| m.id.as_str()).collect();
    let distinct: BTreeSet<String> = ids.iter().map(|id| id.to_string()).collect();
    assert_eq!(ids.len(), distinct.len(), "a change was published twice");
    assert_eq!(distinct, expected, "published is not what was committed");
    let mut order: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for id in &ids {
        let (uid, version) = id.split_once(':').unwrap();
        order.entry(uid).or_default().push(version);
    }
    for (uid, versions) in order {
        let numbers: Vec<u64> = versions.iter().filter_map(|v| v.parse().ok()).collect();
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "{uid}: published out of order: {versions:?}"
        );
        if let Some(at) = versions.iter().position(|v| *v == "delete") {
            assert_eq!(at, versions.len() - 1, "{uid}: a change after its delete");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
