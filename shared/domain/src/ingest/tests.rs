//! Decoding the samples and the known bad inputs, end-to-end runs of
//! decode → relationships → plan, and property tests; plus the helpers the
//! other modules' tests share.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

const PREFIX: &str = "com.infratographer.events";
const PREFIXES: &str = "loadbal=infratographer:loadbalancer,tnntten=infratographer:tenant";
const LB: &str = "urn:infratographer:loadbalancer:0e919c70-6d04-4050-a474-073ab8b58ffe";
const SAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/events/samples"
);

// ---- helpers shared with the other modules' tests ----

pub(crate) fn lb() -> Urn {
    Urn::parse(LB).unwrap()
}

/// A URN of `resource_type` whose UUID ends in `n`.
pub(crate) fn urn(resource_type: &str, n: u128) -> Urn {
    Urn::parse(&format!(
        "urn:infratographer:{resource_type}:00000000-0000-4000-8000-{n:012x}"
    ))
    .unwrap()
}

pub(crate) fn rel(resource: &Urn, relation: &str, subject: &Urn) -> Relationship {
    Relationship {
        resource: resource.clone(),
        relation: relation.into(),
        subject: subject.clone(),
    }
}

/// A snake-form event for the sample load balancer at 17:`minute` UTC.
pub(crate) fn event(event_type: EventType, minute: u32) -> LifecycleEvent {
    LifecycleEvent {
        form: MessageForm::Snake,
        subject: lb(),
        event_type,
        additional_subjects: vec![],
        unresolved_subjects: vec![],
        actor: Some(Actor::Urn(urn("user", 1))),
        source: "loadbalancer-api".into(),
        timestamp: Utc.with_ymd_and_hms(2023, 5, 6, 17, minute, 0).unwrap(),
        fields: BTreeMap::from([("name".to_string(), "edge-lb-01".to_string())]),
        related: vec![],
        unresolved_related: vec![],
        field_changes: vec![],
        trace_context: BTreeMap::new(),
        additional_data: serde_json::Map::new(),
    }
}

/// Load balancers have one tenant, one owner (a tenant) and many ports;
/// tenants are known as subjects only; locations are not defined at all.
pub(crate) fn defined() -> Vec<RelationshipType> {
    let one = |relation: &str, subject: &str, cardinality| RelationshipType {
        resource_type: "loadbalancer".into(),
        relation: relation.into(),
        subject_types: vec![subject.into()],
        cardinality,
    };
    vec![
        one("tenant", "tenant", Cardinality::One),
        one("owner", "tenant", Cardinality::One),
        one("port", "loadbalancerport", Cardinality::Many),
    ]
}

fn config() -> IngestConfig {
    IngestConfig::from_env_values(PREFIX, PREFIXES).unwrap()
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!("{SAMPLES}/{name}")).unwrap()
}

fn subject(resource_type: &str, event: &str) -> String {
    format!("{PREFIX}.{resource_type}.{event}")
}

fn decode_json(subject: &str, message: &Value) -> Result<LifecycleEvent, DeadLetter> {
    decode(subject, message.to_string().as_bytes(), &config())
}

fn reason(subject: &str, message: &Value) -> DeadLetterReason {
    match decode_json(subject, message) {
        Ok(e) => panic!("expected a dead letter, decoded {e:?}"),
        Err(dead) => dead.reason,
    }
}

/// Sample 01 as JSON, to alter one thing at a time.
fn create_message() -> Value {
    serde_json::from_slice(&sample("01-loadbalancer-create.json")).unwrap()
}

fn camel_message() -> Value {
    serde_json::from_slice(&sample("04-changemessage-create.json")).unwrap()
}

// ---- the samples ----

/// Every file in samples/ with the subject it is published on and what
/// decoding it must give.
const EXPECTED: [(&str, &str, Option<DeadLetterReason>); 7] = [
    ("01-loadbalancer-create.json", "loadbalancer.create", None),
    ("02-loadbalancer-update.json", "loadbalancer.update", None),
    ("03-loadbalancer-delete.json", "loadbalancer.delete", None),
    ("04-changemessage-create.json", "loadbalancer.create", None),
    (
        "10-bad-urn.json",
        "loadbalancer.create",
        Some(DeadLetterReason::InvalidUrn),
    ),
    (
        "11-unknown-event-type.json",
        "loadbalancer.create",
        Some(DeadLetterReason::UnknownEventType),
    ),
    (
        "12-truncated.json",
        "loadbalancer.create",
        Some(DeadLetterReason::Truncated),
    ),
];

#[test]
fn every_sample_decodes_or_dead_letters_as_expected() {
    let mut files: Vec<String> = std::fs::read_dir(SAMPLES)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let listed: Vec<&str> = EXPECTED.iter().map(|(file, _, _)| *file).collect();
    assert_eq!(
        files, listed,
        "a sample was added or removed: classify it here"
    );
    for (file, tail, expected) in EXPECTED {
        let result = decode(&format!("{PREFIX}.{tail}"), &sample(file), &config());
        assert_eq!(
            result.as_ref().err().map(|d| d.reason),
            expected,
            "{file}: {result:?}"
        );
    }
}

#[test]
fn sample_01_create_decodes_whole() {
    let e = decode(
        &subject("loadbalancer", "create"),
        &sample("01-loadbalancer-create.json"),
        &config(),
    )
    .unwrap();
    assert_eq!(e.form, MessageForm::Snake);
    assert_eq!(e.subject, lb());
    assert_eq!(e.event_type, EventType::Create);
    assert_eq!(e.additional_subjects.len(), 3);
    assert_eq!(e.additional_subjects[1].resource_type(), "loadbalancerport");
    assert_eq!(
        e.actor,
        Some(Actor::Urn(
            Urn::parse("urn:infratographer:user:35464f0b-a7b4-47db-b446-01e61987db6c").unwrap()
        ))
    );
    assert_eq!(e.source, "loadbalancer-api");
    assert_eq!(
        e.timestamp,
        Utc.with_ymd_and_hms(2023, 5, 6, 17, 30, 0).unwrap()
    );
    let tenant =
        Urn::parse("urn:infratographer:tenant:42f0e8f2-4b81-4e5a-86f2-62d78ed35dca").unwrap();
    assert_eq!(
        e.fields.get("tenant_urn"),
        Some(&tenant.to_string()),
        "reference fields stay facts"
    );
    assert_eq!(e.related, vec![("tenant".to_string(), tenant)]);
    assert!(
        e.field_changes.is_empty() && e.trace_context.is_empty() && e.additional_data.is_empty()
    );
}

#[test]
fn sample_02_update_names_two_relations_and_a_plain_field() {
    let e = decode(
        &subject("loadbalancer", "update"),
        &sample("02-loadbalancer-update.json"),
        &config(),
    )
    .unwrap();
    assert_eq!(e.event_type, EventType::Update);
    let relations: Vec<&str> = e.related.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(relations, ["location", "tenant"]);
    assert_eq!(e.fields.get("name").map(String::as_str), Some("edge-lb-01"));
    assert_eq!(
        e.additional_data.get("reason"),
        Some(&json!("moved to a new tenant"))
    );
}

#[test]
fn sample_03_delete_decodes_with_nothing_related() {
    let e = decode(
        &subject("loadbalancer", "delete"),
        &sample("03-loadbalancer-delete.json"),
        &config(),
    )
    .unwrap();
    assert_eq!(e.event_type, EventType::Delete);
    assert!(e.related.is_empty() && e.fields.is_empty());
}

#[test]
fn sample_04_camel_form_resolves_configured_prefixes_and_keeps_the_rest() {
    let e = decode(
        &subject("loadbalancer", "create"),
        &sample("04-changemessage-create.json"),
        &config(),
    )
    .unwrap();
    assert_eq!(e.form, MessageForm::Camel);
    assert_eq!(
        e.subject.to_string(),
        "urn:infratographer:loadbalancer:loadbal-UCN7pxJO57BV_5pNiV95B"
    );
    let tenant =
        Urn::parse_stored("urn:infratographer:tenant:tnntten-2Tc8hXn3M3bo1dJcTn2bq").unwrap();
    assert_eq!(e.additional_subjects, vec![tenant.clone()]);
    assert_eq!(
        e.unresolved_subjects,
        vec![PrefixedId::parse("loadprt-1qLq5hQGZxvJXoXGn7G0m").unwrap()]
    );
    assert_eq!(
        e.actor,
        Some(Actor::Unresolved(
            PrefixedId::parse("idntusr-9bKfN2cY8tWm3QpR6sVxZ").unwrap()
        ))
    );
    assert_eq!(e.source, "load-balancer-api");
    assert_eq!(e.related, vec![("owner".to_string(), tenant)]);
    assert_eq!(e.fields.get("name").map(String::as_str), Some("api-lb"));
    assert_eq!(
        e.field_changes,
        vec![FieldChange {
            field: "name".into(),
            previous_value: String::new(),
            current_value: "api-lb".into()
        }]
    );
    assert_eq!(
        e.trace_context.get("traceparent").map(String::as_str),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    );
}

// ---- the bad inputs the issue lists ----

#[test]
fn a_urn_with_five_parts_is_dead_lettered() {
    let mut m = create_message();
    m["subject_urn"] = json!(format!("{LB}:extra"));
    let dead = decode_json(&subject("loadbalancer", "create"), &m).unwrap_err();
    assert_eq!(dead.reason, DeadLetterReason::InvalidUrn);
    assert!(
        dead.message.contains("`subject_urn`") && dead.message.contains("exactly four"),
        "{dead}"
    );
}

#[test]
fn a_non_uuid_id_is_dead_lettered_wherever_a_urn_goes() {
    let bad = "urn:infratographer:tenant:42f0e8f2";
    for pointer in [
        "/subject_urn",
        "/additional_subjects/0",
        "/actor_urn",
        "/fields/tenant_urn",
    ] {
        let mut m = create_message();
        *m.pointer_mut(pointer).unwrap() = json!(bad);
        let dead = decode_json(&subject("loadbalancer", "create"), &m).unwrap_err();
        // The subject's own URN is checked before anything else names it.
        assert_eq!(
            dead.reason,
            DeadLetterReason::InvalidUrn,
            "{pointer}: {dead}"
        );
        assert!(dead.message.contains("not a UUID"), "{pointer}: {dead}");
    }
}

#[test]
fn an_empty_nats_subject_is_dead_lettered() {
    let dead = decode("", &sample("01-loadbalancer-create.json"), &config()).unwrap_err();
    assert_eq!(dead.reason, DeadLetterReason::InvalidSubject);
    assert!(dead.message.contains("empty"));
}

#[test]
fn an_empty_subject_urn_is_dead_lettered() {
    let mut m = create_message();
    m["subject_urn"] = json!("");
    let dead = decode_json(&subject("loadbalancer", "create"), &m).unwrap_err();
    assert_eq!(dead.reason, DeadLetterReason::InvalidUrn);
    assert!(dead.message.contains("empty"), "{dead}");
}

#[test]
fn a_urn_field_that_is_not_a_urn_is_dead_lettered() {
    let mut m = create_message();
    m["fields"]["tenant_urn"] = json!("tenant 42");
    let dead = decode_json(&subject("loadbalancer", "create"), &m).unwrap_err();
    assert_eq!(dead.reason, DeadLetterReason::InvalidUrn);
    assert!(dead.message.contains("`fields.tenant_urn`"), "{dead}");
}

#[test]
fn a_message_over_one_mebibyte_is_dead_lettered_before_anything_else() {
    let mut big = sample("01-loadbalancer-create.json");
    big.resize(DEFAULT_MAX_MESSAGE_BYTES + 1, b' ');
    // Even the empty subject is not looked at: size is the first check.
    let dead = decode("", &big, &config()).unwrap_err();
    assert_eq!(dead.reason, DeadLetterReason::TooLarge);
    assert!(dead.message.contains("1048577 bytes"), "{dead}");
}

#[test]
fn a_message_of_exactly_the_limit_is_accepted() {
    let mut padded = sample("01-loadbalancer-create.json");
    padded.resize(DEFAULT_MAX_MESSAGE_BYTES, b' ');
    assert!(decode(&subject("loadbalancer", "create"), &padded, &config()).is_ok());
}

#[test]
fn a_resource_type_nothing_defines_is_dead_lettered() {
    let mut m = create_message();
    m["subject_urn"] = json!("urn:infratographer:widget:0e919c70-6d04-4050-a474-073ab8b58ffe");
    let e = decode_json(&subject("widget", "create"), &m).unwrap();
    let dead = relationships(&e, &defined()).unwrap_err();
    assert_eq!(dead.reason, DeadLetterReason::UndefinedResourceType);
}

#[test]
fn an_unknown_event_type_is_dead_lettered_in_the_message_or_the_subject() {
    let mut m = create_message();
    m["event_type"] = json!("explode");
    assert_eq!(
        reason(&subject("loadbalancer", "create"), &m),
        DeadLetterReason::UnknownEventType
    );
    assert_eq!(
        reason(&subject("loadbalancer", "explode"), &create_message()),
        DeadLetterReason::UnknownEventType
    );
    // Case matters: publishers write lower case.
    m["event_type"] = json!("Create");
    assert_eq!(
        reason(&subject("loadbalancer", "create"), &m),
        DeadLetterReason::UnknownEventType
    );
}

#[test]
fn every_cut_of_a_valid_message_is_truncated() {
    let whole = sample("01-loadbalancer-create.json");
    let end = whole.trim_ascii_end().len();
    for cut in 0..end {
        let dead =
            decode(&subject("loadbalancer", "create"), &whole[..cut], &config()).unwrap_err();
        assert_eq!(
            dead.reason,
            DeadLetterReason::Truncated,
            "cut at {cut}: {dead}"
        );
    }
}

#[test]
fn subject_and_message_must_agree_on_the_event_type() {
    let dead = decode(
        &subject("loadbalancer", "update"),
        &sample("01-loadbalancer-create.json"),
        &config(),
    )
    .unwrap_err();
    assert_eq!(dead.reason, DeadLetterReason::EventTypeMismatch);
    assert!(
        dead.message.contains("`update`") && dead.message.contains("`create`"),
        "{dead}"
    );
}

#[test]
fn subject_and_message_must_agree_on_the_resource_type() {
    let dead = decode(
        &subject("tenant", "create"),
        &sample("01-loadbalancer-create.json"),
        &config(),
    )
    .unwrap_err();
    assert_eq!(dead.reason, DeadLetterReason::ResourceTypeMismatch);
    // The camel form is checked through its resolved prefix.
    let dead = decode(
        &subject("tenant", "create"),
        &sample("04-changemessage-create.json"),
        &config(),
    )
    .unwrap_err();
    assert_eq!(dead.reason, DeadLetterReason::ResourceTypeMismatch);
}

#[test]
fn the_subject_type_is_compared_in_canonical_case() {
    assert!(decode(
        &subject("LoadBalancer", "create"),
        &sample("01-loadbalancer-create.json"),
        &config()
    )
    .is_ok());
}

// ---- other malformed messages ----

#[test]
fn malformed_json_and_non_objects_are_dead_lettered() {
    for payload in [
        &b"not json"[..],
        b"{\"a\":1}}",
        b"[1,2]",
        b"\"text\"",
        b"\xff\xfe",
    ] {
        let dead = decode(&subject("loadbalancer", "create"), payload, &config()).unwrap_err();
        assert_eq!(
            dead.reason,
            DeadLetterReason::MalformedJson,
            "{payload:?}: {dead}"
        );
    }
}

#[test]
fn a_message_of_neither_or_both_forms_is_dead_lettered() {
    let s = subject("loadbalancer", "create");
    assert_eq!(
        reason(&s, &json!({"event_type": "create"})),
        DeadLetterReason::UnknownForm
    );
    let mut both = create_message();
    both["subjectID"] = json!("loadbal-UCN7pxJO57BV_5pNiV95B");
    assert_eq!(reason(&s, &both), DeadLetterReason::UnknownForm);
}

#[test]
fn a_missing_or_null_required_field_is_named() {
    let s = subject("loadbalancer", "create");
    for field in ["event_type", "timestamp"] {
        for absent in [None, Some(Value::Null)] {
            let mut m = create_message();
            match &absent {
                None => m.as_object_mut().unwrap().remove(field),
                Some(null) => m
                    .as_object_mut()
                    .unwrap()
                    .insert(field.into(), null.clone()),
            };
            let dead = decode_json(&s, &m).unwrap_err();
            assert_eq!(dead.reason, DeadLetterReason::MissingField);
            assert!(dead.message.contains(&format!("`{field}`")), "{dead}");
        }
    }
    let mut m = create_message();
    m["subject_urn"] = Value::Null;
    assert_eq!(reason(&s, &m), DeadLetterReason::MissingField);
}

#[test]
fn a_bad_timestamp_is_dead_lettered() {
    let mut m = create_message();
    m["timestamp"] = json!("2023-05-06 17:30");
    assert_eq!(
        reason(&subject("loadbalancer", "create"), &m),
        DeadLetterReason::InvalidTimestamp
    );
}

#[test]
fn a_field_of_the_wrong_json_type_is_named() {
    let s = subject("loadbalancer", "create");
    for (pointer, value, named) in [
        ("/fields/count", json!(3), "`fields.count` is a number"),
        (
            "/additional_subjects",
            json!("urn"),
            "`additional_subjects` is a string",
        ),
        (
            "/additional_subjects/0",
            json!(1),
            "`additional_subjects[0]` is a number",
        ),
        ("/source", json!(["a"]), "`source` is an array"),
        (
            "/additional_data",
            json!([]),
            "`additional_data` is an array",
        ),
    ] {
        let mut m = create_message();
        match m.pointer_mut(pointer) {
            Some(slot) => *slot = value,
            None => {
                m["fields"]["count"] = value;
            }
        }
        let dead = decode_json(&s, &m).unwrap_err();
        assert_eq!(
            dead.reason,
            DeadLetterReason::InvalidField,
            "{pointer}: {dead}"
        );
        assert!(dead.message.contains(named), "{pointer}: {dead}");
    }
}

#[test]
fn go_zero_values_read_as_absent() {
    let mut m = create_message();
    m["additional_subjects"] = Value::Null;
    m["fields"] = Value::Null;
    m["additional_data"] = Value::Null;
    m["actor_urn"] = json!("");
    m.as_object_mut().unwrap().remove("source");
    let e = decode_json(&subject("loadbalancer", "create"), &m).unwrap();
    assert!(e.additional_subjects.is_empty() && e.fields.is_empty() && e.related.is_empty());
    assert_eq!(e.actor, None);
    assert_eq!(e.source, "");
}

#[test]
fn a_bare_urn_suffix_is_a_plain_field() {
    let mut m = create_message();
    m["fields"]["_urn"] = json!("not a urn");
    let e = decode_json(&subject("loadbalancer", "create"), &m).unwrap();
    assert_eq!(e.related.len(), 1);
}

#[test]
fn camel_subject_with_an_unknown_prefix_is_dead_lettered() {
    let mut m = camel_message();
    m["subjectID"] = json!("loadprt-1qLq5hQGZxvJXoXGn7G0m");
    let dead = decode_json(&subject("loadbalancerport", "create"), &m).unwrap_err();
    assert_eq!(dead.reason, DeadLetterReason::UnknownPrefix);
    assert!(
        dead.message.contains("loadprt=namespace:resource_type"),
        "{dead}"
    );
}

#[test]
fn camel_ids_that_are_not_prefixed_ids_are_dead_lettered() {
    for pointer in ["/subjectID", "/additionalSubjects/0", "/actorID"] {
        let mut m = camel_message();
        *m.pointer_mut(pointer).unwrap() = json!("lb-123");
        let dead = decode_json(&subject("loadbalancer", "create"), &m).unwrap_err();
        assert_eq!(
            dead.reason,
            DeadLetterReason::InvalidPrefixedId,
            "{pointer}: {dead}"
        );
    }
}

#[test]
fn camel_id_fields_are_relations_only_when_they_hold_prefixed_ids() {
    let mut m = camel_message();
    m["subjectFields"]["external_id"] = json!("12345");
    m["subjectFields"]["port_id"] = json!("loadprt-1qLq5hQGZxvJXoXGn7G0m");
    let e = decode_json(&subject("loadbalancer", "create"), &m).unwrap();
    let relations: Vec<&str> = e.related.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(relations, ["owner"], "external_id is a plain field");
    assert_eq!(e.unresolved_related.len(), 1);
    assert_eq!(e.unresolved_related[0].0, "port");
    // port is defined for load balancers, so its unresolvable subject refuses the event.
    assert_eq!(
        relationships(&e, &defined()).unwrap_err().reason,
        DeadLetterReason::UnknownPrefix
    );
}

#[test]
fn a_field_change_without_its_field_is_dead_lettered() {
    let mut m = camel_message();
    m["fieldChanges"] = json!([{"currentValue": "x"}]);
    assert_eq!(
        reason(&subject("loadbalancer", "create"), &m),
        DeadLetterReason::MissingField
    );
}

#[test]
fn dead_letters_read_as_reason_then_message() {
    let dead = decode("", b"{}", &config()).unwrap_err();
    assert_eq!(
        dead.to_string(),
        format!("InvalidSubject: {}", dead.message)
    );
}

// ---- digests ----

#[test]
fn the_digest_ignores_formatting_and_trace_context() {
    let s = subject("loadbalancer", "create");
    let compact = decode_json(&s, &camel_message()).unwrap();
    let pretty = serde_json::to_vec_pretty(&camel_message()).unwrap();
    assert_eq!(
        decode(&s, &pretty, &config()).unwrap().digest(),
        compact.digest()
    );
    let mut retraced = camel_message();
    retraced["traceContext"]["traceparent"] =
        json!("00-00000000000000000000000000000001-0000000000000001-01");
    assert_eq!(
        decode_json(&s, &retraced).unwrap().digest(),
        compact.digest()
    );
}

#[test]
fn the_digest_changes_with_what_is_applied() {
    let s = subject("loadbalancer", "create");
    let base = decode_json(&s, &create_message()).unwrap().digest();
    for (pointer, value) in [
        (
            "/fields/tenant_urn",
            json!("urn:infratographer:tenant:00000000-0000-4000-8000-000000000001"),
        ),
        ("/timestamp", json!("2023-05-06T17:30:00.000000001Z")),
        (
            "/actor_urn",
            json!("urn:infratographer:user:00000000-0000-4000-8000-000000000001"),
        ),
        ("/source", json!("other-api")),
    ] {
        let mut m = create_message();
        *m.pointer_mut(pointer).unwrap() = value;
        assert_ne!(decode_json(&s, &m).unwrap().digest(), base, "{pointer}");
    }
    assert!(EventDigest::parse(base.as_str()).is_some());
}

// ---- end to end ----

/// Decodes, derives relationships and plans, then "writes" the plan into
/// `records` and the relationship `index` (forward and inverse keys) as
/// the store adapter will. Returns whether the event was applied.
fn ingest(
    records: &mut BTreeMap<Urn, ResourceRecord>,
    index: &mut std::collections::BTreeSet<RelationshipKey>,
    nats_subject: &str,
    payload: &[u8],
) -> Result<bool, DeadLetter> {
    let e = decode(nats_subject, payload, &config())?;
    let named = relationships(&e, &defined())?;
    match plan(records.get(&e.subject), &e, &named) {
        Plan::Skip(_) => Ok(false),
        Plan::Apply {
            record,
            add,
            remove,
        } => {
            for r in &remove {
                assert!(index.remove(&r.key()) && index.remove(&r.inverse_key()));
            }
            for r in &add {
                assert!(index.insert(r.key()) && index.insert(r.inverse_key()));
            }
            records.insert(record.urn.clone(), *record);
            Ok(true)
        }
    }
}

#[test]
fn samples_01_to_03_in_order_and_redelivered() {
    let mut records = BTreeMap::new();
    let mut index = std::collections::BTreeSet::new();
    let create = (
        subject("loadbalancer", "create"),
        sample("01-loadbalancer-create.json"),
    );
    let update = (
        subject("loadbalancer", "update"),
        sample("02-loadbalancer-update.json"),
    );
    let delete = (
        subject("loadbalancer", "delete"),
        sample("03-loadbalancer-delete.json"),
    );
    let tenant = |id: &str| urn_of(&format!("urn:infratographer:tenant:{id}"));

    assert!(ingest(&mut records, &mut index, &create.0, &create.1).unwrap());
    assert!(
        !ingest(&mut records, &mut index, &create.0, &create.1).unwrap(),
        "redelivery"
    );
    assert_eq!(
        records[&lb()]
            .relationships
            .iter()
            .cloned()
            .collect::<Vec<_>>(),
        vec![rel(
            &lb(),
            "tenant",
            &tenant("42f0e8f2-4b81-4e5a-86f2-62d78ed35dca")
        )]
    );

    // The move: only the new tenant remains; location is not defined, so not kept.
    assert!(ingest(&mut records, &mut index, &update.0, &update.1).unwrap());
    let moved = rel(
        &lb(),
        "tenant",
        &tenant("7c1a8a0e-2b6f-4d0e-9a55-0f0d1c2b3a44"),
    );
    assert_eq!(
        records[&lb()]
            .relationships
            .iter()
            .cloned()
            .collect::<Vec<_>>(),
        vec![moved.clone()]
    );
    assert_eq!(index.len(), 2);
    assert!(index.contains(&moved.inverse_key()));
    assert_eq!(records[&lb()].fields["name"], "edge-lb-01");

    assert!(
        !ingest(&mut records, &mut index, &create.0, &create.1).unwrap(),
        "late create"
    );
    assert!(ingest(&mut records, &mut index, &delete.0, &delete.1).unwrap());
    assert!(records[&lb()].deleted);
    assert!(index.is_empty());
    assert!(
        !ingest(&mut records, &mut index, &update.0, &update.1).unwrap(),
        "late update"
    );
    assert!(
        !ingest(&mut records, &mut index, &delete.0, &delete.1).unwrap(),
        "redelivered delete"
    );
    assert!(index.is_empty() && records[&lb()].deleted);
}

#[test]
fn sample_04_stores_the_owner_relationship_with_its_inverse() {
    let mut records = BTreeMap::new();
    let mut index = std::collections::BTreeSet::new();
    let s = subject("loadbalancer", "create");
    assert!(ingest(
        &mut records,
        &mut index,
        &s,
        &sample("04-changemessage-create.json")
    )
    .unwrap());
    let lb = urn_of("urn:infratographer:loadbalancer:loadbal-UCN7pxJO57BV_5pNiV95B");
    let owner = rel(
        &lb,
        "owner",
        &urn_of("urn:infratographer:tenant:tnntten-2Tc8hXn3M3bo1dJcTn2bq"),
    );
    assert!(index.contains(&owner.key()) && index.contains(&owner.inverse_key()));
    assert_eq!(
        Relationship::from_inverse_key(&owner.inverse_key()).unwrap(),
        owner
    );
    assert_eq!(records[&lb].source, "load-balancer-api");
}

fn urn_of(value: &str) -> Urn {
    Urn::parse_stored(value).unwrap()
}

// ---- properties ----

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
        Just(json!(LB)),
        Just(json!("loadbal-UCN7pxJO57BV_5pNiV95B")),
        Just(json!("2023-05-06T17:30:00Z")),
        Just(json!("create")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{0,8}(_urn|_id)?", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const KEYS: [&str; 17] = [
    "subject_urn",
    "event_type",
    "additional_subjects",
    "actor_urn",
    "source",
    "timestamp",
    "fields",
    "additional_data",
    "subjectID",
    "eventType",
    "additionalSubjects",
    "actorID",
    "traceContext",
    "subjectFields",
    "fieldChanges",
    "additionalData",
    "other",
];

proptest! {
    #[test]
    fn decode_never_panics_on_arbitrary_bytes_and_subjects(
        subject in prop_oneof![".{0,40}", Just(format!("{PREFIX}.loadbalancer.create"))],
        payload in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = decode(&subject, &payload, &config());
    }

    #[test]
    fn decode_never_panics_on_any_values_under_the_known_keys(
        entries in proptest::collection::vec((0..KEYS.len(), json_value()), 0..10),
        event in prop_oneof![Just("create"), Just("update"), Just("delete")],
    ) {
        let message: serde_json::Map<String, Value> =
            entries.into_iter().map(|(k, v)| (KEYS[k].to_string(), v)).collect();
        let payload = Value::Object(message).to_string();
        if let Ok(e) = decode(&subject("loadbalancer", event), payload.as_bytes(), &config()) {
            if let Ok(named) = relationships(&e, &defined()) {
                let _ = plan(None, &e, &named);
            }
        }
    }

    #[test]
    fn a_mutated_sample_decodes_or_dead_letters_and_never_panics(
        file in 0..4usize,
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let (name, tail, _) = EXPECTED[file];
        let mut payload = sample(name);
        let i = at.index(payload.len());
        payload[i] = byte;
        let _ = decode(&format!("{PREFIX}.{tail}"), &payload, &config());
    }

    #[test]
    fn a_valid_urn_prints_as_it_parses(
        namespace in "[A-Za-z0-9-]{1,30}",
        resource_type in "[A-Za-z0-9-]{1,40}",
        id in "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    ) {
        let text = format!("urn:{namespace}:{resource_type}:{id}");
        let urn = Urn::parse(&text).unwrap();
        prop_assert_eq!(urn.to_string(), text.to_ascii_lowercase());
        prop_assert_eq!(Urn::parse(&urn.to_string()).unwrap(), urn.clone());
        prop_assert_eq!(Urn::parse_stored(&urn.to_string()).unwrap(), urn);
    }
}
