//! The store against a real DynamoDB Local (`DYNAMODB_ENDPOINT`, started by
//! `make test`). Each test works in a table of its own.

use std::collections::BTreeMap;

use serde_json::json;
use store::{
    Attribute, Context, CounterCondition, CounterWrite, Expect, ItemKey, ObjectItemFields,
    ObjectRef, Store, StoreError, Stored, Write,
};

async fn fresh_store() -> Store {
    assert!(
        std::env::var("DYNAMODB_ENDPOINT").is_ok(),
        "DYNAMODB_ENDPOINT is not set: run the tests with `make test`, which starts DynamoDB Local"
    );
    let client = Store::client_from_env().await;
    let table = format!("store-test-{}", uuid::Uuid::new_v4().simple());
    assert!(store::table::create_table(&client, &table)
        .await
        .expect("create table"));
    Store::new(client, table)
}

fn project(name: &str) -> ObjectRef {
    ObjectRef {
        context: Context::Platform,
        group: "resourcemanager.miloapis.com".into(),
        kind: "Project".into(),
        namespace: String::new(),
        name: name.into(),
    }
}

fn put(r: &ObjectRef, version: u64, expect: Expect) -> Write {
    Write::PutObject {
        key: r.key(),
        object: json!({"metadata": {"name": r.name}, "v": version}),
        version,
        expect,
    }
}

#[tokio::test]
async fn create_is_conditional_on_absence() {
    let store = fresh_store().await;
    let p = project("p1");
    store.write(vec![put(&p, 1, Expect::Absent)]).await.unwrap();
    let again = store.write(vec![put(&p, 1, Expect::Absent)]).await;
    assert_eq!(again, Err(StoreError::AlreadyExists { index: 0 }));
    let got = store.get(&p.key()).await.unwrap().expect("stored");
    assert_eq!((got.version, got.object["v"].clone()), (1, json!(1)));
}

#[tokio::test]
async fn update_and_delete_require_the_version_read() {
    let store = fresh_store().await;
    let p = project("p1");
    store.write(vec![put(&p, 1, Expect::Absent)]).await.unwrap();
    store
        .write(vec![put(&p, 2, Expect::Version(1))])
        .await
        .unwrap();
    let stale = store.write(vec![put(&p, 2, Expect::Version(1))]).await;
    assert_eq!(stale, Err(StoreError::Conflict { index: 0 }));
    let stale_delete = store
        .write(vec![Write::Delete {
            key: p.key(),
            expect: Expect::Version(1),
        }])
        .await;
    assert_eq!(stale_delete, Err(StoreError::Conflict { index: 0 }));
    store
        .write(vec![Write::Delete {
            key: p.key(),
            expect: Expect::Version(2),
        }])
        .await
        .unwrap();
    assert!(store.get(&p.key()).await.unwrap().is_none());
    // Gone: a write that expects it finds nothing, alone or in a transaction.
    let gone = store.write(vec![put(&p, 3, Expect::Version(2))]).await;
    assert_eq!(gone, Err(StoreError::NotFound { index: 0 }));
    let other = project("other");
    let gone = store
        .write(vec![
            put(&other, 1, Expect::Absent),
            put(&p, 3, Expect::Version(2)),
        ])
        .await;
    assert_eq!(gone, Err(StoreError::NotFound { index: 1 }));
}

#[tokio::test]
async fn a_transaction_writes_all_or_nothing() {
    let store = fresh_store().await;
    let p = project("p1");
    let missing_parent = project("nobody");
    let writes = vec![
        put(&p, 1, Expect::Absent),
        Write::PutIndex {
            key: p.label_index_key("env", "prod"),
            target: p.key(),
        },
        Write::Check {
            key: missing_parent.key(),
            expect: Expect::Live,
        },
    ];
    assert_eq!(
        store.write(writes).await,
        Err(StoreError::NotFound { index: 2 })
    );
    assert!(store.get(&p.key()).await.unwrap().is_none());
    let index = store
        .query_index(&p.collection().label_pk("env"), "", None, None)
        .await
        .unwrap();
    assert!(index.items.is_empty(), "no index item may be left behind");
}

#[tokio::test]
async fn a_parent_marked_deleting_refuses_new_children() {
    let store = fresh_store().await;
    let parent = project("parent");
    store
        .write(vec![put(&parent, 1, Expect::Absent)])
        .await
        .unwrap();
    store
        .write(vec![Write::MarkDeleting {
            key: parent.key(),
            version: 1,
            deleting: true,
        }])
        .await
        .unwrap();
    let child = project("child");
    let writes = vec![
        put(&child, 1, Expect::Absent),
        Write::Check {
            key: parent.key(),
            expect: Expect::Live,
        },
    ];
    assert_eq!(
        store.write(writes.clone()).await,
        Err(StoreError::Conflict { index: 1 })
    );
    store
        .write(vec![Write::MarkDeleting {
            key: parent.key(),
            version: 1,
            deleting: false,
        }])
        .await
        .unwrap();
    store.write(writes).await.unwrap();
}

#[tokio::test]
async fn lists_page_through_a_collection_and_a_label_index() {
    let store = fresh_store().await;
    for i in 0..7 {
        let p = project(&format!("p{i}"));
        let value = if i % 2 == 0 { "even" } else { "odd" };
        let writes = vec![
            put(&p, 1, Expect::Absent),
            Write::PutIndex {
                key: p.label_index_key("parity", value),
                target: p.key(),
            },
        ];
        store.write(writes).await.unwrap();
    }
    let collection = project("").collection();
    let mut names = Vec::new();
    let mut start: Option<ItemKey> = None;
    loop {
        let page = store
            .query_objects(&collection.pk(), "", Some(3), start)
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        names.extend(
            page.items
                .iter()
                .map(|s| s.object["metadata"]["name"].as_str().unwrap().to_string()),
        );
        start = page.next;
        if start.is_none() {
            break;
        }
    }
    assert_eq!(names, ["p0", "p1", "p2", "p3", "p4", "p5", "p6"]);

    let even = store
        .query_index(
            &collection.label_pk("parity"),
            &store::Collection::label_value_prefix("even"),
            None,
            None,
        )
        .await
        .unwrap();
    let targets: Vec<ItemKey> = even.items.into_iter().map(|e| e.target).collect();
    let objects = store.batch_get(&targets).await.unwrap();
    let names: Vec<_> = objects
        .iter()
        .map(|s| s.object["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["p0", "p2", "p4", "p6"]);
}

#[tokio::test]
async fn of_concurrent_updates_from_one_version_exactly_one_wins() {
    let store = fresh_store().await;
    let p = project("raced");
    store.write(vec![put(&p, 1, Expect::Absent)]).await.unwrap();
    let attempts = (0..20).map(|_| {
        let store = store.clone();
        let p = p.clone();
        tokio::spawn(async move { store.write(vec![put(&p, 2, Expect::Version(1))]).await })
    });
    let mut wins = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => wins += 1,
            Err(StoreError::Conflict { index: 0 } | StoreError::TransactionConflict) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn an_object_over_the_item_limit_is_refused_before_writing() {
    let store = fresh_store().await;
    let p = project("big");
    let big = "x".repeat(store::MAX_OBJECT_BYTES + 1);
    let write = Write::PutObject {
        key: p.key(),
        object: json!({"blob": big}),
        version: 1,
        expect: Expect::Absent,
    };
    assert!(matches!(
        store.write(vec![write]).await,
        Err(StoreError::TooLarge(_))
    ));
    assert!(store.get(&p.key()).await.unwrap().is_none());
}

/// Writes on one item go as one, and a refusal still names the caller's
/// write by its place in the caller's list.
#[tokio::test]
async fn a_refusal_names_the_callers_write_when_items_were_merged() {
    let store = fresh_store().await;
    let p = project("p1");
    let index = Write::PutIndex {
        key: ItemKey {
            pk: "l#test".into(),
            sk: "p1".into(),
        },
        target: p.key(),
    };
    let missing = project("missing");
    let writes = vec![
        put(&p, 1, Expect::Absent),
        index.clone(),
        index,
        Write::Check {
            key: missing.key(),
            expect: Expect::Present,
        },
    ];
    let refused = store.write(writes).await;
    assert_eq!(refused, Err(StoreError::NotFound { index: 3 }));
    assert!(store.get(&p.key()).await.unwrap().is_none());
}

fn widget(name: &str) -> ObjectRef {
    ObjectRef {
        context: Context::Platform,
        group: "example.com".into(),
        kind: "Widget".into(),
        namespace: "ns".into(),
        name: name.into(),
    }
}

fn number(n: i64) -> Attribute {
    Attribute::Number(n)
}

/// A counter item's first write creates it from its document (indexed by
/// type); later writes add, set and remove without touching the document.
#[tokio::test]
async fn a_counter_write_adds_sets_and_removes_and_creates_the_document_once() {
    let store = fresh_store().await;
    let w = widget("w1");
    let first = CounterWrite {
        key: w.key(),
        document: Some(json!({"metadata": {"name": "w1"}, "v": 1})),
        add: vec![("n".into(), 3), ("m".into(), 0)],
        set: vec![("s".into(), "a".into()), ("x#1".into(), "gone".into())],
        remove: Vec::new(),
        condition: Some(CounterCondition::Missing),
    };
    store.write(vec![Write::Counters(first)]).await.unwrap();
    let read = store.get(&w.key()).await.unwrap().unwrap();
    assert_eq!(read.object, json!({"metadata": {"name": "w1"}, "v": 1}));
    assert_eq!(read.version, 1);
    assert_eq!(
        read.attributes,
        BTreeMap::from([
            ("n".to_string(), number(3)),
            ("m".to_string(), number(0)),
            ("s".to_string(), Attribute::Text("a".into())),
            ("x#1".to_string(), Attribute::Text("gone".into())),
        ])
    );
    assert_eq!(
        store.count_of_type("example.com", "Widget").await.unwrap(),
        1
    );

    let second = CounterWrite {
        key: w.key(),
        document: Some(json!({"metadata": {"name": "w1"}, "v": 2})),
        add: vec![("n".into(), -1), ("k".into(), 5)],
        set: vec![("s".into(), "b".into())],
        remove: vec!["x#1".into()],
        condition: Some(CounterCondition::All(vec![
            CounterCondition::Exists,
            CounterCondition::AtLeast("n".into(), 3),
            CounterCondition::Equals("m".into(), 0),
            CounterCondition::TextOrMissing("s".into(), "a".into()),
            CounterCondition::TextOrMissing("unset".into(), "z".into()),
        ])),
    };
    store.write(vec![Write::Counters(second)]).await.unwrap();
    let read = store.get(&w.key()).await.unwrap().unwrap();
    assert_eq!(read.object["v"], 1, "the document is written only when new");
    assert_eq!(read.version, 2);
    assert_eq!(
        read.attributes,
        BTreeMap::from([
            ("n".to_string(), number(2)),
            ("m".to_string(), number(0)),
            ("k".to_string(), number(5)),
            ("s".to_string(), Attribute::Text("b".into())),
        ])
    );
    // Listed as read alone.
    let page = store
        .query_objects(&w.collection().pk(), "", None, None)
        .await
        .unwrap();
    assert_eq!(page.items, vec![read]);
}

/// A counter condition that holds lets the transaction in; one that does
/// not refuses it whole, named by its write's position: Conflict when the
/// item is there, NotFound when it is missing.
#[tokio::test]
async fn a_failed_counter_condition_refuses_the_transaction_at_its_write() {
    let store = fresh_store().await;
    let w = widget("w1");
    let add = |n: i64, condition: CounterCondition| {
        Write::Counters(CounterWrite {
            key: w.key(),
            document: None,
            add: vec![("n".into(), n)],
            set: Vec::new(),
            remove: Vec::new(),
            condition: Some(condition),
        })
    };
    // Missing, and the condition requires the item: NotFound.
    let refused = store.write(vec![add(1, CounterCondition::Exists)]).await;
    assert_eq!(refused, Err(StoreError::NotFound { index: 0 }));
    assert!(store.get(&w.key()).await.unwrap().is_none());

    let create = Write::Counters(CounterWrite {
        key: w.key(),
        document: Some(json!({"metadata": {"name": "w1"}})),
        add: vec![("n".into(), 2)],
        set: vec![("p".into(), "x".into())],
        remove: Vec::new(),
        condition: None,
    });
    store.write(vec![create]).await.unwrap();

    // Holds: n >= 2, or p is "x".
    let holds = CounterCondition::Any(vec![
        CounterCondition::AtLeast("n".into(), 5),
        CounterCondition::TextOrMissing("p".into(), "x".into()),
    ]);
    let p = project("p1");
    store
        .write(vec![put(&p, 1, Expect::Absent), add(-2, holds)])
        .await
        .unwrap();
    let n = |stored: &Stored| stored.attributes.get("n").cloned();
    let read = store.get(&w.key()).await.unwrap().unwrap();
    assert_eq!(n(&read), Some(number(0)));

    // Fails: n >= 1 no longer; the project's write is not applied either.
    let q = project("p2");
    let refused = store
        .write(vec![
            put(&q, 1, Expect::Absent),
            add(-1, CounterCondition::AtLeast("n".into(), 1)),
        ])
        .await;
    assert_eq!(refused, Err(StoreError::Conflict { index: 1 }));
    assert!(store.get(&q.key()).await.unwrap().is_none());
    // Alone too, and for a string set otherwise.
    let refused = store
        .write(vec![add(
            1,
            CounterCondition::TextOrMissing("p".into(), "y".into()),
        )])
        .await;
    assert_eq!(refused, Err(StoreError::Conflict { index: 0 }));
    let read = store.get(&w.key()).await.unwrap().unwrap();
    assert_eq!((n(&read), read.version), (Some(number(0)), 2));
}

/// Reads every record the table's stream holds, shard by shard, parents
/// first as DynamoDB Local lists them.
async fn stream_records(store: &Store) -> Vec<store::stream::StreamRecord> {
    let stream = store::stream::TableStream::open(store).await.unwrap();
    let mut records = Vec::new();
    for shard in stream.shards().await.unwrap() {
        let mut at = stream.iterator(&shard.id, None).await.unwrap();
        while let Some(iterator) = at {
            let page = stream.records(&iterator).await.unwrap();
            if page.records.is_empty() {
                break;
            }
            records.extend(page.records);
            at = page.next;
        }
    }
    records
}

#[tokio::test]
async fn the_stream_reports_each_change_with_the_document_before_and_after() {
    let store = fresh_store().await;
    let p = project("p1");
    store.write(vec![put(&p, 1, Expect::Absent)]).await.unwrap();
    store
        .write(vec![put(&p, 2, Expect::Version(1))])
        .await
        .unwrap();
    store
        .write(vec![Write::Delete {
            key: p.key(),
            expect: Expect::Version(2),
        }])
        .await
        .unwrap();
    let changes: Vec<_> = stream_records(&store)
        .await
        .into_iter()
        .filter(|r| r.key == p.key())
        .map(|r| {
            let version = |doc: Option<String>| {
                doc.map(|d| serde_json::from_str::<serde_json::Value>(&d).unwrap()["v"].clone())
            };
            (version(r.old), version(r.new))
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            (None, Some(json!(1))),
            (Some(json!(1)), Some(json!(2))),
            (Some(json!(2)), None),
        ]
    );
}

/// The writer of each version rides on the stream's record of it, and is
/// not one of the object's own attributes; a delete's writer is read from
/// its note, which expires.
#[tokio::test]
async fn the_writer_of_a_change_is_on_its_record_and_a_deleters_on_its_note() {
    let store = fresh_store().await;
    let p = project("p1");
    let signed = |version: u64, expect: Expect, writer: &str| Write::PutObjectWith {
        key: p.key(),
        object: json!({"metadata": {"name": "p1"}, "v": version}),
        version,
        expect,
        fields: ObjectItemFields {
            writer: Some(writer.into()),
            expires_at: None,
        },
    };
    store
        .write(vec![signed(1, Expect::Absent, "alice")])
        .await
        .unwrap();
    store
        .write(vec![signed(2, Expect::Version(1), "bob")])
        .await
        .unwrap();
    let read = store.get(&p.key()).await.unwrap().unwrap();
    assert!(read.attributes.is_empty(), "{:?}", read.attributes);

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    store
        .write(vec![
            Write::Delete {
                key: p.key(),
                expect: Expect::Version(2),
            },
            Write::NoteDeletion {
                uid: "uid-1".into(),
                writer: "carol".into(),
                expires_at: now + 3600,
            },
            Write::NoteDeletion {
                uid: "uid-0".into(),
                writer: "dave".into(),
                expires_at: now - 1,
            },
        ])
        .await
        .unwrap();
    let writers: Vec<_> = stream_records(&store)
        .await
        .into_iter()
        .filter(|r| r.key == p.key())
        .map(|r| r.writer)
        .collect();
    assert_eq!(
        writers,
        vec![Some("alice".into()), Some("bob".into()), None]
    );
    assert_eq!(
        store.deleted_by("uid-1").await.unwrap().as_deref(),
        Some("carol")
    );
    assert_eq!(store.deleted_by("uid-0").await.unwrap(), None, "expired");
    assert_eq!(store.deleted_by("uid-2").await.unwrap(), None);
}

fn expiring(r: &ObjectRef, expires_at: i64, expect: Expect) -> Write {
    Write::PutObjectWith {
        key: r.key(),
        object: json!({"metadata": {"name": r.name}}),
        version: 1,
        expect,
        fields: ObjectItemFields {
            writer: None,
            expires_at: Some(expires_at),
        },
    }
}

/// DynamoDB deletes an expired item days later at best (DynamoDB Local
/// never): every read leaves it out from its time on, and a write may
/// replace it.
#[tokio::test]
async fn an_expired_item_is_gone_to_every_read() {
    let store = fresh_store().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (fresh, stale) = (widget("fresh"), widget("stale"));
    store
        .write(vec![
            expiring(&fresh, now + 3600, Expect::Absent),
            expiring(&stale, now - 1, Expect::Absent),
        ])
        .await
        .unwrap();

    let got = store.get(&fresh.key()).await.unwrap().expect("not expired");
    assert!(got.attributes.is_empty(), "{:?}", got.attributes);
    assert_eq!(store.get(&stale.key()).await.unwrap(), None);
    let both = store.batch_get(&[fresh.key(), stale.key()]).await.unwrap();
    assert_eq!(both.len(), 1);
    assert_eq!(both[0].key, fresh.key());
    let page = store
        .query_objects(&fresh.key().pk, "", None, None)
        .await
        .unwrap();
    let names: Vec<_> = page.items.iter().map(|s| s.key.sk.as_str()).collect();
    assert_eq!(names, ["ns#fresh"]);
    let typed = store
        .query_type("example.com", "Widget", 10, None)
        .await
        .unwrap();
    assert_eq!(typed.items.len(), 1, "{:?}", typed.items);

    // The item is still there: a write that expected none is refused, one
    // that takes whatever is there replaces it.
    let again = store
        .write(vec![expiring(&stale, now + 60, Expect::Absent)])
        .await;
    assert_eq!(again, Err(StoreError::AlreadyExists { index: 0 }));
    store
        .write(vec![expiring(&stale, now + 60, Expect::Anything)])
        .await
        .unwrap();
    assert!(store.get(&stale.key()).await.unwrap().is_some());
}
