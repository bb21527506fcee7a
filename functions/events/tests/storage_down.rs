//! DynamoDB Local frozen (SIGSTOP) while the consumer drains, then thawed
//! (SIGCONT): the consumer retries, dead-letters nothing and ingests every
//! event exactly once. Needs localstack/with-stack.sh's `STACK_DIR` (the
//! stack's directory, holding dynamodb.pid); its own file, so that no other
//! test runs while the store is frozen.

#[path = "../../../shared/ingest/tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use common::*;
use ingest::{Consumer, DrainReport};
use serde_json::{json, Value};

const N: usize = 20;

/// DynamoDB Local stopped with SIGSTOP (in-memory data kept, requests hang);
/// continued with SIGCONT when dropped, also on a failing assertion.
struct Frozen(String);

impl Frozen {
    fn new() -> Frozen {
        let dir = std::env::var("STACK_DIR")
            .expect("STACK_DIR is not set: run the test through localstack/with-stack.sh");
        let pid = std::fs::read_to_string(format!("{dir}/dynamodb.pid"))
            .expect("dynamodb.pid")
            .trim()
            .to_string();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
        assert!(
            String::from_utf8_lossy(&cmdline).contains("DynamoDBLocal"),
            "pid {pid} is not DynamoDB Local"
        );
        signal("STOP", &pid);
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal("CONT", &self.0);
    }
}

fn signal(name: &str, pid: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid)
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name} {pid}");
}

fn add(total: &mut DrainReport, report: &DrainReport) {
    total.acked += report.acked;
    total.dead_lettered += report.dead_lettered;
    total.retried += report.retried;
    total.unsettled += report.unsettled;
}

#[tokio::test]
async fn storage_down_for_a_while_retries_and_loses_nothing() {
    let w = World::new().await;

    // A consumer of its own: many deliveries, a short backoff, and a
    // DynamoDB client that gives up quickly instead of waiting for an
    // answer that does not come while the store is frozen.
    let mut config = w.config.clone();
    config.consumer = format!("{}-storage", w.config.consumer);
    config.max_deliver = 20;
    config.backoff = vec![Duration::from_secs(1)];
    let client_config = w
        .graph
        .store()
        .client()
        .config()
        .to_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_attempt_timeout(Duration::from_millis(500))
                .operation_timeout(Duration::from_secs(1))
                .build(),
        )
        .build();
    let store = store::Store::new(
        aws_sdk_dynamodb::Client::from_conf(client_config),
        w.graph.store().table(),
    );
    let consumer = Consumer::connect(
        config.clone(),
        apiserver::events_graph(store, apiserver::DEFAULT_CATALOG_REFRESH),
    )
    .await
    .expect("consumer");

    let tenant = format!("urn:infratographer:tenant:{}", uuid::Uuid::new_v4());
    let lbs: Vec<String> = (0..N)
        .map(|_| format!("urn:infratographer:loadbalancer:{}", uuid::Uuid::new_v4()))
        .collect();
    let mut event: Value = serde_json::from_slice(&sample("01-loadbalancer-create.json")).unwrap();
    event["additional_subjects"] = json!([tenant]);
    event["fields"]["tenant_urn"] = json!(tenant);
    for lb in &lbs {
        event["subject_urn"] = json!(lb);
        w.publish("loadbalancer.create", serde_json::to_vec(&event).unwrap())
            .await;
    }

    let started = Instant::now();
    let mut down = DrainReport::default();
    {
        let _frozen = Frozen::new();
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            let report = consumer
                .drain(50, Duration::from_millis(500))
                .await
                .expect("drain");
            add(&mut down, &report);
        }
    }
    assert_eq!(
        down.acked, 0,
        "nothing can be ingested while down: {down:?}"
    );
    assert_eq!(down.dead_lettered, 0, "{down:?}");
    assert!(down.retried >= N, "every message was retried: {down:?}");

    let mut up = DrainReport::default();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let report = consumer
            .drain(50, Duration::from_millis(500))
            .await
            .expect("drain");
        add(&mut up, &report);
        let info =
            w.js.get_stream(&config.stream)
                .await
                .expect("stream")
                .consumer_info(&config.consumer)
                .await
                .expect("consumer info");
        if report.messages() == 0 && info.num_pending == 0 && info.num_ack_pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not drained after the store came back: {up:?}, {info:?}"
        );
    }
    assert_eq!(up.dead_lettered, 0, "{up:?}");
    assert!(up.acked >= N, "{up:?}");

    assert_eq!(w.incoming(&tenant).await.len(), N);
    for lb in &lbs {
        assert_eq!(w.outgoing(lb).await, vec![rel(lb, "tenant", &tenant)]);
        let loaded = w.graph.load(&urn(lb)).await.unwrap().expect("recorded");
        assert_eq!(loaded.version, 1, "{lb} was written more than once");
    }
    let mut dead =
        w.js.get_stream(ingest::streams::dead_letter_stream(&config))
            .await
            .expect("dead-letter stream");
    assert_eq!(
        dead.info().await.unwrap().state.messages,
        0,
        "no dead letters"
    );
    eprintln!("down: {down:?}; up: {up:?}; {:?} in all", started.elapsed());
}
