#![allow(dead_code)] // each test binary uses a different part of this module
//! A private world per test: a fresh table in DynamoDB Local, a subject
//! prefix, streams and a durable consumer of its own on the real
//! nats-server (`NATS_URL`), an ApiServer over the same table, and the
//! RelationshipTypes of the samples defined through the API.

use std::time::Duration;

use apiserver::ApiServer;
use async_nats::jetstream;
use domain::ingest::{Relationship, Urn};
use futures_util::StreamExt;
use ingest::{streams, Consumer, ConsumerConfig, DrainReport, Graph};
use serde_json::{json, Value};

pub const SAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/events/samples"
);
pub const LB: &str = "urn:infratographer:loadbalancer:0e919c70-6d04-4050-a474-073ab8b58ffe";
pub const TENANT_1: &str = "urn:infratographer:tenant:42f0e8f2-4b81-4e5a-86f2-62d78ed35dca";
pub const TENANT_2: &str = "urn:infratographer:tenant:7c1a8a0e-2b6f-4d0e-9a55-0f0d1c2b3a44";
const SECRET: &str = "ingest-test-secret-with-at-least-32-bytes";

pub struct World {
    pub prefix: String,
    pub config: ConsumerConfig,
    pub graph: Graph,
    pub consumer: Consumer,
    pub nats: async_nats::Client,
    pub js: jetstream::Context,
    pub api: ApiServer,
    pub token: String,
}

pub fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!("{SAMPLES}/{name}")).expect("sample")
}

pub fn urn(value: &str) -> Urn {
    Urn::parse_stored(value).expect("urn")
}

impl World {
    pub async fn new() -> World {
        for var in ["DYNAMODB_ENDPOINT", "NATS_URL"] {
            assert!(
                std::env::var(var).is_ok(),
                "{var} is not set: run the tests with `make test` (localstack/with-stack.sh), which starts DynamoDB Local and nats-server"
            );
        }
        let client = store::Store::client_from_env().await;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let table = format!("ingest-test-{id}");
        store::table::create_table(&client, &table)
            .await
            .expect("create table");
        let store = store::Store::new(client, table);
        let prefix = format!("t{}.events", &id[..12]);
        let nats_url = std::env::var("NATS_URL").expect("NATS_URL");
        let config = ConsumerConfig::from_lookup(|name| match name {
            "NATS_URL" => Some(nats_url.clone()),
            "EVENTS_STREAM" => Some(format!("T{}", &id[..12])),
            "EVENTS_SUBJECT_PREFIX" => Some(prefix.clone()),
            "EVENTS_CONSUMER" => Some(format!("ingest-{}", &id[..12])),
            "EVENTS_PREFIX_MAP" => {
                Some("loadbal=infratographer:loadbalancer,tnntten=infratographer:tenant".into())
            }
            "EVENTS_MAX_DELIVER" => Some("3".into()),
            "EVENTS_BACKOFF_SECONDS" => Some("0".into()),
            _ => None,
        })
        .expect("config");
        let nats = async_nats::connect(&config.nats_url).await.expect("nats");
        let js = jetstream::new(nats.clone());
        streams::ensure_streams(&js, &config)
            .await
            .expect("streams");
        let graph = apiserver::events_graph(store.clone(), apiserver::DEFAULT_CATALOG_REFRESH);
        let consumer = Consumer::connect(config.clone(), graph.clone())
            .await
            .expect("consumer");
        let verifier = auth::Verifier::new(auth::AuthConfig::hs256("ingest-test", "milo", SECRET))
            .expect("verifier");
        let token = auth::mint_hs256(
            SECRET,
            "ingest-test",
            "milo",
            "tester",
            &["system:masters".to_string()],
            3600,
        )
        .expect("token");
        let api = ApiServer::new(
            store,
            verifier,
            b"continue-secret",
            apiserver::DEFAULT_CATALOG_REFRESH,
        )
        .expect("api");
        let world = World {
            prefix,
            config,
            graph,
            consumer,
            nats,
            js,
            api,
            token,
        };
        for (relation, subject) in [("tenant", "tenant"), ("owner", "tenant")] {
            let reply = world
                .call(
                    "POST",
                    "/apis/graph.miloapis.com/v1alpha1/relationshiptypes",
                    Some(json!({
                        "apiVersion": "graph.miloapis.com/v1alpha1",
                        "kind": "RelationshipType",
                        "metadata": {"name": format!("loadbalancer.{relation}")},
                        "spec": {
                            "resourceType": "loadbalancer",
                            "relation": relation,
                            "subjectTypes": [subject],
                            "cardinality": "One"
                        }
                    })),
                )
                .await;
            assert_eq!(reply.0, 201, "{}", reply.1);
        }
        world
    }

    /// A request to the API server over the same table.
    pub async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (u16, Value) {
        self.send(method, uri, "application/json", body).await
    }

    /// A JSON merge patch through the API server.
    pub async fn merge_patch(&self, uri: &str, patch: Value) -> (u16, Value) {
        self.send("PATCH", uri, "application/merge-patch+json", Some(patch))
            .await
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        content_type: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let request = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", content_type)
            .header("authorization", format!("Bearer {}", self.token))
            .body(bytes::Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            ))
            .expect("request");
        let response = self.api.handle(request).await;
        let status = response.status().as_u16();
        let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        (status, body)
    }

    /// Publishes `payload` on `{prefix}.{suffix}` and waits for the stream's ack.
    pub async fn publish(&self, suffix: &str, payload: Vec<u8>) {
        self.js
            .publish(format!("{}.{suffix}", self.prefix), payload.into())
            .await
            .expect("publish")
            .await
            .expect("stream ack");
    }

    /// Drains until a drain finds nothing; returns the sum of the reports.
    pub async fn drain_all(&self) -> DrainReport {
        let mut total = DrainReport::default();
        loop {
            let report = self
                .consumer
                .drain(50, Duration::from_millis(500))
                .await
                .expect("drain");
            if report.messages() == 0 {
                return total;
            }
            total.acked += report.acked;
            total.dead_lettered += report.dead_lettered;
            total.retried += report.retried;
            total.unsettled += report.unsettled;
        }
    }

    /// A subscription to the dead-letter subject (subscribe before publishing).
    pub async fn dead_letters(&self) -> async_nats::Subscriber {
        let subscriber = self
            .nats
            .subscribe(self.config.dead_letter_subject.clone())
            .await
            .expect("subscribe");
        self.nats.flush().await.expect("flush");
        subscriber
    }

    pub async fn outgoing(&self, resource: &str) -> Vec<Relationship> {
        self.graph
            .outgoing(&urn(resource), None)
            .await
            .expect("outgoing")
    }

    pub async fn incoming(&self, subject: &str) -> Vec<Relationship> {
        self.graph
            .incoming(&urn(subject), None)
            .await
            .expect("incoming")
    }
}

/// The next `n` messages of a subscription (bounded wait).
pub async fn next_messages(sub: &mut async_nats::Subscriber, n: usize) -> Vec<async_nats::Message> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), sub.next()).await {
            Ok(Some(message)) => out.push(message),
            _ => break,
        }
    }
    out
}

pub fn header(message: &async_nats::Message, name: &str) -> String {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str().to_string())
        .unwrap_or_default()
}

pub fn rel(resource: &str, relation: &str, subject: &str) -> Relationship {
    Relationship {
        resource: urn(resource),
        relation: relation.into(),
        subject: urn(subject),
    }
}
