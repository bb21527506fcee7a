//! Issue 6's bad input, end to end: each message is published to a real
//! nats-server (JetStream), handled by the real consumer over DynamoDB Local,
//! and must land on the dead-letter subject with its reason, while the
//! consumer carries on: a good event published after it is ingested by the
//! same consumer, and the drain report counts both. (The pure decoding of
//! each case has its unit tests in domain::ingest.)

mod common;

use common::*;
use serde_json::{json, Value};

/// Another load balancer than the good sample's, so that a bad message
/// wrongly ingested would leave a record of its own.
const LB_2: &str = "urn:infratographer:loadbalancer:5b1f4a52-9e0c-4c7e-8a43-2f6d1e0b7c11";

/// The create sample, about `subject` instead, with `change` applied.
fn create_of(subject: &str, change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut event: Value = serde_json::from_slice(&sample("01-loadbalancer-create.json")).unwrap();
    event["subject_urn"] = json!(subject);
    change(&mut event);
    serde_json::to_vec(&event).unwrap()
}

/// A bad message: where it is published (after the prefix), its payload,
/// the reason code and words its dead-letter message must hold.
struct Bad {
    suffix: &'static str,
    payload: Vec<u8>,
    reason: &'static str,
    says: Vec<String>,
}

/// Publishes `bad` in order, then the good create sample; drains with the
/// one consumer; checks that each bad message is on the dead-letter subject,
/// in order, with its reason, message, original subject and payload, and
/// that the good one was ingested after them.
async fn dead_lettered_and_consumer_goes_on(w: &World, bad: Vec<Bad>) {
    let mut dead = w.dead_letters().await;
    for b in &bad {
        w.publish(b.suffix, b.payload.clone()).await;
    }
    w.publish("loadbalancer.create", sample("01-loadbalancer-create.json"))
        .await;

    let report = w.drain_all().await;
    assert_eq!(
        (
            report.acked,
            report.dead_lettered,
            report.retried,
            report.unsettled
        ),
        (1, bad.len(), 0, 0),
        "{report:?}"
    );
    let letters = next_messages(&mut dead, bad.len()).await;
    assert_eq!(letters.len(), bad.len(), "one dead letter per bad message");
    for (letter, b) in letters.iter().zip(&bad) {
        assert_eq!(header(letter, "Milo-Dead-Letter-Reason"), b.reason);
        let message = header(letter, "Milo-Dead-Letter-Message");
        for words in &b.says {
            assert!(message.contains(words.as_str()), "{words:?} in {message:?}");
        }
        assert_eq!(
            header(letter, "Milo-Original-Subject"),
            format!("{}.{}", w.prefix, b.suffix)
        );
        assert!(
            letter.payload.as_ref() == b.payload.as_slice(),
            "the dead letter carries the original payload ({} bytes, sent {})",
            letter.payload.len(),
            b.payload.len()
        );
    }
    // The consumer went on: the good event after them is in the graph.
    assert_eq!(w.outgoing(LB).await, vec![rel(LB, "tenant", TENANT_1)]);
    assert!(w.graph.load(&urn(LB)).await.unwrap().is_some());
    assert!(
        w.graph.load(&urn(LB_2)).await.unwrap().is_none(),
        "nothing recorded of a bad message"
    );
}

#[tokio::test]
async fn a_urn_with_five_parts_is_dead_lettered() {
    let w = World::new().await;
    dead_lettered_and_consumer_goes_on(
        &w,
        vec![Bad {
            suffix: "loadbalancer.create",
            payload: create_of(&format!("{LB_2}:extra"), |_| {}),
            reason: "InvalidUrn",
            says: vec![
                "`subject_urn`".into(),
                "has 5".into(),
                "exactly four".into(),
            ],
        }],
    )
    .await;
}

#[tokio::test]
async fn a_urn_whose_id_is_not_a_uuid_is_dead_lettered() {
    let w = World::new().await;
    dead_lettered_and_consumer_goes_on(
        &w,
        vec![Bad {
            suffix: "loadbalancer.create",
            payload: create_of("urn:infratographer:loadbalancer:lb-edge-01", |_| {}),
            reason: "InvalidUrn",
            says: vec!["`lb-edge-01`".into(), "is not a UUID".into()],
        }],
    )
    .await;
}

#[tokio::test]
async fn an_empty_subject_urn_is_dead_lettered() {
    let w = World::new().await;
    dead_lettered_and_consumer_goes_on(
        &w,
        vec![Bad {
            suffix: "loadbalancer.create",
            payload: create_of("", |_| {}),
            reason: "InvalidUrn",
            says: vec!["`subject_urn`".into(), "the URN is empty".into()],
        }],
    )
    .await;
}

/// A NATS subject with an empty resource-type token (`{prefix}..create`)
/// cannot reach the consumer: the client sends it, but nats-server matches
/// no subscription or stream to a subject with an empty token, so JetStream
/// has no stream to store it in and the publish is refused (no stream
/// answers: StreamNotFound). (Were it delivered,
/// `parse_subject` would dead-letter it as InvalidSubject; unit-tested.)
#[tokio::test]
async fn a_subject_with_an_empty_resource_type_token_never_reaches_the_consumer() {
    let w = World::new().await;
    let subject = format!("{}..create", w.prefix);
    let ack =
        w.js.publish(subject.clone(), create_of(LB_2, |_| {}).into())
            .await
            .expect("the client sends it");
    let refused = ack.await.expect_err("JetStream must not store it");
    assert_eq!(
        refused.kind(),
        async_nats::jetstream::context::PublishErrorKind::StreamNotFound,
        "{subject}: {refused}"
    );
    // And the consumer, which never saw it, goes on with the next one.
    w.publish("loadbalancer.create", sample("01-loadbalancer-create.json"))
        .await;
    let report = w.drain_all().await;
    assert_eq!((report.acked, report.dead_lettered), (1, 0), "{report:?}");
    assert_eq!(w.outgoing(LB).await, vec![rel(LB, "tenant", TENANT_1)]);
}

/// The README: "a key `{foo}_urn` names a related resource". domain::ingest
/// reads the suffix as a promise that the value is a URN, so a value that
/// is not one is refused whether or not `foo` is a defined relation (an
/// undefined one would not become a relationship, but its value is still
/// wrong, and recording it would store a broken reference).
#[tokio::test]
async fn a_urn_field_whose_value_is_not_a_urn_is_dead_lettered_defined_relation_or_not() {
    let w = World::new().await;
    dead_lettered_and_consumer_goes_on(
        &w,
        vec![
            // `tenant` is a defined relation of loadbalancer.
            Bad {
                suffix: "loadbalancer.create",
                payload: create_of(LB_2, |e| e["fields"]["tenant_urn"] = json!("tenant-42")),
                reason: "InvalidUrn",
                says: vec!["`fields.tenant_urn`".into(), "`tenant-42`".into()],
            },
            // `location` is not.
            Bad {
                suffix: "loadbalancer.create",
                payload: create_of(LB_2, |e| {
                    e["fields"]["location_urn"] = json!("urn:infratographer:location")
                }),
                reason: "InvalidUrn",
                says: vec!["`fields.location_urn`".into(), "has 3".into()],
            },
        ],
    )
    .await;
}

#[tokio::test]
async fn a_message_over_one_mebibyte_is_dead_lettered_as_too_large() {
    let w = World::new().await;
    let limit = w.config.ingest.max_message_bytes;
    assert_eq!(limit, 1024 * 1024);
    assert!(
        w.nats.server_info().max_payload > limit,
        "nats-server's max_payload ({}) must exceed {limit} for this test: start it with localstack/nats.conf (localstack/start.sh does)",
        w.nats.server_info().max_payload
    );
    // A valid event in every other respect, one KiB over the limit.
    let payload = create_of(LB_2, |e| {
        e["additional_data"]["padding"] = json!("x".repeat(limit + 1024))
    });
    assert!(payload.len() > limit);
    dead_lettered_and_consumer_goes_on(
        &w,
        vec![Bad {
            suffix: "loadbalancer.create",
            reason: "TooLarge",
            says: vec![
                format!("the message is {} bytes", payload.len()),
                format!("the limit is {limit}"),
            ],
            payload,
        }],
    )
    .await;
}

#[tokio::test]
async fn a_resource_type_no_relationship_type_defines_is_dead_lettered() {
    let w = World::new().await;
    let widget = "urn:infratographer:widget:0e919c70-6d04-4050-a474-073ab8b58ffe";
    dead_lettered_and_consumer_goes_on(
        &w,
        vec![Bad {
            suffix: "widget.create",
            payload: create_of(widget, |_| {}),
            reason: "UndefinedResourceType",
            says: vec!["no RelationshipType names resource type `widget`".into()],
        }],
    )
    .await;
    assert!(w.graph.load(&urn(widget)).await.unwrap().is_none());
}
