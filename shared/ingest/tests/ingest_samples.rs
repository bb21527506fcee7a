//! The samples of ../shared/events/samples through the real consumer: a real
//! nats-server (JetStream) and DynamoDB Local, each test with its own table,
//! subject prefix, streams and durable consumer.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn create_update_delete_keep_the_record_and_exactly_the_named_relationships() {
    let w = World::new().await;

    w.publish("loadbalancer.create", sample("01-loadbalancer-create.json"))
        .await;
    let report = w.drain_all().await;
    assert_eq!((report.acked, report.dead_lettered), (1, 0), "{report:?}");
    assert_eq!(w.outgoing(LB).await, vec![rel(LB, "tenant", TENANT_1)]);
    assert_eq!(
        w.incoming(TENANT_1).await,
        vec![rel(LB, "tenant", TENANT_1)]
    );
    let record = w
        .graph
        .load(&urn(LB))
        .await
        .unwrap()
        .expect("recorded")
        .record;
    assert!(!record.deleted);
    assert_eq!(record.source, "loadbalancer-api");

    // The update moves it to another tenant; location is not a defined
    // relation, so it is recorded as a field but not as a relationship.
    w.publish("loadbalancer.update", sample("02-loadbalancer-update.json"))
        .await;
    w.drain_all().await;
    assert_eq!(w.outgoing(LB).await, vec![rel(LB, "tenant", TENANT_2)]);
    assert_eq!(
        w.incoming(TENANT_1).await,
        vec![],
        "the old tenant's inverse side is empty"
    );
    assert_eq!(
        w.incoming(TENANT_2).await,
        vec![rel(LB, "tenant", TENANT_2)]
    );
    let loaded = w.graph.load(&urn(LB)).await.unwrap().expect("recorded");
    assert_eq!(loaded.record.fields["name"], "edge-lb-01");
    assert!(loaded.record.fields.contains_key("location_urn"));
    assert_eq!(loaded.version, 2);

    w.publish("loadbalancer.delete", sample("03-loadbalancer-delete.json"))
        .await;
    w.drain_all().await;
    assert_eq!(w.outgoing(LB).await, vec![]);
    assert_eq!(w.incoming(TENANT_2).await, vec![]);
    let record = w.graph.load(&urn(LB)).await.unwrap().expect("kept").record;
    assert!(record.deleted);
    assert_eq!(
        record.fields["name"], "edge-lb-01",
        "a delete keeps the last fields"
    );
}

#[tokio::test]
async fn the_camel_case_form_is_ingested_through_the_prefix_map() {
    let w = World::new().await;
    w.publish(
        "loadbalancer.create",
        sample("04-changemessage-create.json"),
    )
    .await;
    let report = w.drain_all().await;
    assert_eq!((report.acked, report.dead_lettered), (1, 0), "{report:?}");
    let lb = "urn:infratographer:loadbalancer:loadbal-UCN7pxJO57BV_5pNiV95B";
    let tenant = "urn:infratographer:tenant:tnntten-2Tc8hXn3M3bo1dJcTn2bq";
    assert_eq!(w.outgoing(lb).await, vec![rel(lb, "owner", tenant)]);
    assert_eq!(w.incoming(tenant).await, vec![rel(lb, "owner", tenant)]);
    let record = w
        .graph
        .load(&urn(lb))
        .await
        .unwrap()
        .expect("recorded")
        .record;
    assert_eq!(record.source, "load-balancer-api");
}

#[tokio::test]
async fn broken_samples_arrive_on_the_dead_letter_subject_with_their_reasons() {
    let w = World::new().await;
    let mut dead = w.dead_letters().await;
    let broken = [
        ("10-bad-urn.json", "InvalidUrn"),
        ("11-unknown-event-type.json", "UnknownEventType"),
        ("12-truncated.json", "Truncated"),
    ];
    for (file, _) in broken {
        w.publish("loadbalancer.create", sample(file)).await;
    }
    // A resource type no RelationshipType names, and a URN with five parts.
    let widget = json!({
        "subject_urn": "urn:infratographer:widget:0e919c70-6d04-4050-a474-073ab8b58ffe",
        "event_type": "create",
        "timestamp": "2023-05-06T17:30:00Z",
        "fields": {}
    });
    w.publish("widget.create", widget.to_string().into_bytes())
        .await;
    let five = json!({
        "subject_urn": format!("{LB}:extra"),
        "event_type": "create",
        "timestamp": "2023-05-06T17:30:00Z",
    });
    w.publish("loadbalancer.create", five.to_string().into_bytes())
        .await;

    let report = w.drain_all().await;
    assert_eq!((report.acked, report.dead_lettered), (0, 5), "{report:?}");
    let letters = next_messages(&mut dead, 5).await;
    let reasons: Vec<String> = letters
        .iter()
        .map(|m| header(m, "Milo-Dead-Letter-Reason"))
        .collect();
    assert_eq!(
        reasons,
        [
            "InvalidUrn",
            "UnknownEventType",
            "Truncated",
            "UndefinedResourceType",
            "InvalidUrn"
        ]
    );
    for (letter, (file, _)) in letters.iter().zip(broken) {
        assert_eq!(
            letter.payload.as_ref(),
            sample(file).as_slice(),
            "the original payload"
        );
        assert_eq!(
            header(letter, "Milo-Original-Subject"),
            format!("{}.loadbalancer.create", w.prefix)
        );
        assert!(!header(letter, "Milo-Dead-Letter-Message").is_empty());
    }
    assert!(header(&letters[3], "Milo-Dead-Letter-Message").contains("widget"));
    assert!(
        w.graph.load(&urn(LB)).await.unwrap().is_none(),
        "nothing recorded"
    );
    // Dead letters are kept on their own stream, not consumed again.
    let kept =
        w.js.get_stream(ingest::streams::dead_letter_stream(&w.config))
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .state
            .messages;
    assert_eq!(kept, 5);
}

#[tokio::test]
async fn a_duplicate_delivery_changes_nothing_the_second_time() {
    let w = World::new().await;
    w.publish("loadbalancer.create", sample("01-loadbalancer-create.json"))
        .await;
    w.drain_all().await;
    let first = w.graph.load(&urn(LB)).await.unwrap().expect("recorded");

    w.publish("loadbalancer.create", sample("01-loadbalancer-create.json"))
        .await;
    let report = w.drain_all().await;
    assert_eq!(report.acked, 1, "{report:?}");
    let second = w.graph.load(&urn(LB)).await.unwrap().expect("recorded");
    assert_eq!(second, first, "not even the version moved");
    assert_eq!(w.outgoing(LB).await, vec![rel(LB, "tenant", TENANT_1)]);
}

#[tokio::test]
async fn an_older_update_published_after_a_newer_one_is_skipped() {
    let w = World::new().await;
    w.publish("loadbalancer.create", sample("01-loadbalancer-create.json"))
        .await;
    w.publish("loadbalancer.update", sample("02-loadbalancer-update.json"))
        .await;
    // Older than the update above (17:45 < 18:02), back to the first tenant.
    let mut late: serde_json::Value =
        serde_json::from_slice(&sample("02-loadbalancer-update.json")).unwrap();
    late["timestamp"] = json!("2023-05-06T17:45:00Z");
    late["fields"]["tenant_urn"] = json!(TENANT_1);
    w.publish("loadbalancer.update", late.to_string().into_bytes())
        .await;
    let report = w.drain_all().await;
    assert_eq!(report.acked, 3, "{report:?}");
    assert_eq!(w.outgoing(LB).await, vec![rel(LB, "tenant", TENANT_2)]);
    assert_eq!(w.incoming(TENANT_1).await, vec![]);
    let record = w
        .graph
        .load(&urn(LB))
        .await
        .unwrap()
        .expect("recorded")
        .record;
    assert_eq!(
        record.last_event_time.to_rfc3339(),
        "2023-05-06T18:02:11+00:00"
    );
}

#[tokio::test]
async fn ingested_resources_are_listed_and_read_through_the_api_by_label() {
    let w = World::new().await;
    w.publish("loadbalancer.create", sample("01-loadbalancer-create.json"))
        .await;
    w.publish(
        "loadbalancer.create",
        sample("04-changemessage-create.json"),
    )
    .await;
    w.drain_all().await;
    let base = "/apis/graph.miloapis.com/v1alpha1/externalresources";
    let (status, list) = w
        .call(
            "GET",
            &format!("{base}?labelSelector=graph.miloapis.com/source%3Dloadbalancer-api"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["spec"]["urn"], LB);
    let name = items[0]["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    assert_eq!(
        name,
        "infratographer.loadbalancer.0e919c70-6d04-4050-a474-073ab8b58ffe"
    );

    let (_, by_type) = w
        .call(
            "GET",
            &format!("{base}?labelSelector=graph.miloapis.com/resource-type%3Dloadbalancer"),
            None,
        )
        .await;
    assert_eq!(
        by_type["items"].as_array().map(Vec::len),
        Some(2),
        "{by_type}"
    );

    let (status, one) = w.call("GET", &format!("{base}/{name}"), None).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["spec"]["resourceType"], "loadbalancer");
    assert_eq!(one["spec"]["deleted"], false);
    assert_eq!(one["metadata"]["resourceVersion"], "1");
    let (status, _) = w.call("DELETE", &format!("{base}/{name}"), None).await;
    assert_eq!(status, 405);
}

/// Resources' events are handled side by side (`RESOURCES_IN_FLIGHT`),
/// one resource's in the stream's order: published interleaved, every
/// event of every resource applies (an update overtaken by a later one
/// would be skipped as older, or meet the other's write and be retried).
#[tokio::test]
async fn many_resources_events_interleaved_each_apply_in_order() {
    const RESOURCES: usize = 12;
    const UPDATES: usize = 5;
    let w = World::new().await;
    let resource =
        |r: usize| format!("urn:infratographer:loadbalancer:00000000-0000-4000-8000-{r:012}");
    let tenant = |i: usize| [TENANT_1, TENANT_2][i % 2];
    for i in 0..=UPDATES {
        for r in 0..RESOURCES {
            let (name, event) = match i {
                0 => ("01-loadbalancer-create.json", "loadbalancer.create"),
                _ => ("02-loadbalancer-update.json", "loadbalancer.update"),
            };
            let mut message: serde_json::Value = serde_json::from_slice(&sample(name)).unwrap();
            message["subject_urn"] = json!(resource(r));
            message["timestamp"] = json!(format!("2023-05-06T18:00:{i:02}Z"));
            message["fields"] = json!({"tenant_urn": tenant(i)});
            w.publish(event, message.to_string().into_bytes()).await;
        }
    }
    let report = w.drain_all().await;
    assert_eq!(report.acked, RESOURCES * (UPDATES + 1), "{report:?}");
    assert_eq!(report.retried, 0, "{report:?}");
    for r in 0..RESOURCES {
        let loaded = w
            .graph
            .load(&urn(&resource(r)))
            .await
            .unwrap()
            .expect("recorded");
        assert_eq!(
            loaded.version,
            (UPDATES + 1) as u64,
            "every event of {r} applied"
        );
        assert_eq!(
            w.outgoing(&resource(r)).await,
            vec![rel(&resource(r), "tenant", tenant(UPDATES))]
        );
    }
}
