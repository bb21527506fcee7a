//! Kubernetes' server-side apply semantics, case by case.

use serde_json::{json, Value};

use super::*;
use crate::schema::Schema;

fn schema() -> Schema {
    Schema::compile(
        &json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "replicas": {"type": "integer"},
                "image": {"type": "string"},
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "args": {"type": "array", "items": {"type": "string"}},
                "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                             "additionalProperties": {"type": "string"}},
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "required": ["name"], "properties": {
                              "name": {"type": "string"}, "port": {"type": "integer"},
                              "protocol": {"type": "string"}}}}}}}}),
        "",
    )
    .expect("schema")
}

fn writer(manager: &str) -> Writer<'_> {
    Writer {
        manager,
        api_version: "example.com/v1",
        time: "2026-12-07T00:00:00Z",
        subresource: "",
    }
}

fn skeleton() -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
}

fn config(spec: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec})
}

fn apply_as(live: &Value, manager: &str, spec: Value, force: bool) -> Result<Value, ApplyError> {
    let schema = schema();
    apply(schema.shape(), live, &config(spec), &writer(manager), force)
}

/// Each manager's fieldsV1, by name.
fn fields(object: &Value) -> Vec<(String, String, Value)> {
    object["metadata"]["managedFields"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|m| {
            (
                m["manager"].as_str().unwrap().to_string(),
                m["operation"].as_str().unwrap().to_string(),
                m["fieldsV1"].clone(),
            )
        })
        .collect()
}

#[test]
fn an_apply_creates_the_object_and_owns_exactly_what_it_applied() {
    let created = apply_as(
        &skeleton(),
        "ci",
        json!({"replicas": 2, "ports": [{"name": "http", "port": 80}], "tags": ["a"]}),
        false,
    )
    .unwrap();
    assert_eq!(created["spec"]["replicas"], 2);
    assert_eq!(created["metadata"]["name"], "w");
    assert_eq!(
        fields(&created),
        vec![(
            "ci".into(),
            "Apply".into(),
            json!({"f:spec": {
                "f:ports": {"k:{\"name\":\"http\"}": {".": {}, "f:name": {}, "f:port": {}}},
                "f:replicas": {},
                "f:tags": {"v:\"a\"": {}}}})
        )]
    );
    assert_eq!(
        created["metadata"]["managedFields"][0]["fieldsType"],
        "FieldsV1"
    );
}

#[test]
fn two_managers_share_a_keyed_list_each_owning_its_entries() {
    let live = apply_as(
        &skeleton(),
        "a",
        json!({"ports": [{"name": "http", "port": 80}]}),
        false,
    )
    .unwrap();
    let live = apply_as(
        &live,
        "b",
        json!({"ports": [{"name": "metrics", "port": 9090}]}),
        false,
    )
    .unwrap();
    assert_eq!(
        live["spec"]["ports"],
        json!([{"name": "http", "port": 80}, {"name": "metrics", "port": 9090}])
    );
    // a stops applying its entry: it goes, b's stays.
    let live = apply_as(&live, "a", json!({}), false).unwrap();
    assert_eq!(
        live["spec"]["ports"],
        json!([{"name": "metrics", "port": 9090}])
    );
    let managers: Vec<String> = fields(&live).into_iter().map(|(m, ..)| m).collect();
    assert_eq!(
        managers,
        vec!["b"],
        "a manager left with no field is dropped"
    );
}

#[test]
fn a_keyed_item_two_managers_fill_loses_only_the_fields_of_the_one_that_drops_it() {
    let live = apply_as(
        &skeleton(),
        "a",
        json!({"ports": [{"name": "http", "port": 80}]}),
        false,
    )
    .unwrap();
    let live = apply_as(
        &live,
        "b",
        json!({"ports": [{"name": "http", "protocol": "TCP"}]}),
        false,
    )
    .unwrap();
    assert_eq!(
        live["spec"]["ports"],
        json!([{"name": "http", "port": 80, "protocol": "TCP"}])
    );
    let live = apply_as(&live, "a", json!({}), false).unwrap();
    assert_eq!(
        live["spec"]["ports"],
        json!([{"name": "http", "protocol": "TCP"}])
    );
}

/// What kubectl's migration from client-side apply leaves: the manager
/// owns a map itself (`.`) and its keys. Applying fewer keys drops those
/// keys, not the map.
#[test]
fn a_map_owned_whole_then_applied_in_part_keeps_the_keys_still_applied() {
    let schema = schema();
    let mut live = skeleton();
    live["data"] = json!({"a": "1", "b": "2"});
    live["metadata"]["managedFields"] = json!([{"manager": "kubectl", "operation": "Apply",
        "apiVersion": "example.com/v1", "time": "2026-12-07T00:00:00Z", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {".": {}, "f:a": {}, "f:b": {}}}}]);
    let mut applied_config = skeleton();
    applied_config["data"] = json!({"a": "1"});
    let after = apply(
        schema.shape(),
        &live,
        &applied_config,
        &writer("kubectl"),
        false,
    )
    .unwrap();
    assert_eq!(after["data"], json!({"a": "1"}));
    assert_eq!(fields(&after)[0].2, json!({"f:data": {"f:a": {}}}));
}

#[test]
fn a_changed_field_another_manager_owns_is_a_conflict_unless_forced() {
    let live = apply_as(
        &skeleton(),
        "a",
        json!({"replicas": 1, "image": "x"}),
        false,
    )
    .unwrap();
    let refused = apply_as(&live, "b", json!({"replicas": 3, "image": "x"}), false).unwrap_err();
    assert_eq!(
        refused,
        ApplyError::Conflicts(vec![Conflict {
            manager: "a".into(),
            api_version: "example.com/v1".into(),
            field: ".spec.replicas".into(),
        }])
    );
    let status = refused.to_api_error("example.com", "widgets", "w").status();
    assert_eq!(status["code"], 409);
    assert_eq!(
        status["message"],
        "Apply failed with 1 conflict: conflict with \"a\" using example.com/v1: .spec.replicas"
    );
    assert_eq!(
        status["details"]["causes"][0]["reason"],
        "FieldManagerConflict"
    );
    assert_eq!(status["details"]["causes"][0]["field"], ".spec.replicas");

    // Forced: b takes replicas; the same image is shared, no conflict.
    let forced = apply_as(&live, "b", json!({"replicas": 3, "image": "x"}), true).unwrap();
    assert_eq!(forced["spec"]["replicas"], 3);
    assert_eq!(
        fields(&forced),
        vec![
            (
                "a".into(),
                "Apply".into(),
                json!({"f:spec": {"f:image": {}}})
            ),
            (
                "b".into(),
                "Apply".into(),
                json!({"f:spec": {"f:image": {}, "f:replicas": {}}})
            ),
        ]
    );
}

#[test]
fn a_field_dropped_by_its_only_manager_is_removed_and_a_shared_one_kept() {
    let live = apply_as(
        &skeleton(),
        "a",
        json!({"replicas": 1, "image": "x", "tags": ["t"]}),
        false,
    )
    .unwrap();
    let live = apply_as(&live, "b", json!({"image": "x"}), false).unwrap();
    let after = apply_as(&live, "a", json!({"tags": ["t"]}), false).unwrap();
    assert_eq!(after["spec"], json!({"image": "x", "tags": ["t"]}));
}

#[test]
fn an_update_takes_the_fields_it_changes_and_the_applier_then_conflicts() {
    let schema = schema();
    let live = apply_as(
        &skeleton(),
        "ci",
        json!({"replicas": 1, "image": "x"}),
        false,
    )
    .unwrap();
    let mut edited = live.clone();
    edited["spec"]["replicas"] = json!(5);
    edited["metadata"]["labels"] = json!({"team": "a"});
    record_update(
        schema.shape(),
        Some(&live),
        &mut edited,
        &writer("kubectl-edit"),
    )
    .unwrap();
    assert_eq!(
        fields(&edited),
        vec![
            (
                "ci".into(),
                "Apply".into(),
                json!({"f:spec": {"f:image": {}}})
            ),
            (
                "kubectl-edit".into(),
                "Update".into(),
                json!({"f:metadata": {"f:labels": {".": {}, "f:team": {}}}, "f:spec": {"f:replicas": {}}})
            ),
        ]
    );
    let refused = apply_as(&edited, "ci", json!({"replicas": 1, "image": "x"}), false).unwrap_err();
    let ApplyError::Conflicts(conflicts) = refused else {
        panic!("a conflict")
    };
    assert_eq!(conflicts[0].manager, "kubectl-edit");
    // Applying the updater's value is no conflict: both own it.
    let agreed = apply_as(&edited, "ci", json!({"replicas": 5, "image": "x"}), false).unwrap();
    assert_eq!(agreed["spec"]["replicas"], 5);
}

#[test]
fn a_create_that_is_not_an_apply_owns_every_field_it_sets() {
    let schema = schema();
    let mut created = config(json!({"replicas": 1, "ports": [{"name": "http", "port": 80}]}));
    record_update(
        schema.shape(),
        None,
        &mut created,
        &writer("kubectl-create"),
    )
    .unwrap();
    assert_eq!(
        fields(&created),
        vec![(
            "kubectl-create".into(),
            "Update".into(),
            json!({"f:spec": {
                "f:ports": {"k:{\"name\":\"http\"}": {".": {}, "f:name": {}, "f:port": {}}},
                "f:replicas": {}}})
        )]
    );
}

#[test]
fn managed_fields_a_client_sends_are_kept_as_sent_or_cleared_by_one_empty_entry() {
    let schema = schema();
    let live = apply_as(&skeleton(), "ci", json!({"replicas": 1}), false).unwrap();
    let mut untouched = live.clone();
    untouched["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    untouched["metadata"]["labels"] = json!({"a": "b"});
    record_update(schema.shape(), Some(&live), &mut untouched, &writer("u")).unwrap();
    assert_eq!(fields(&untouched).len(), 2, "absent: the stored ones kept");

    let mut cleared = live.clone();
    cleared["metadata"]["managedFields"] = json!([{}]);
    record_update(schema.shape(), Some(&live), &mut cleared, &writer("u")).unwrap();
    assert_eq!(
        cleared["metadata"].get("managedFields"),
        None,
        "nothing changed, no one left"
    );

    let mut bad = live.clone();
    bad["metadata"]["managedFields"] = json!([{"manager": "x", "operation": "Merge"}]);
    let err = record_update(schema.shape(), Some(&live), &mut bad, &writer("u")).unwrap_err();
    assert_eq!(err.to_api_error("g", "k", "w").status()["code"], 422);
}

#[test]
fn lists_merge_by_their_type_sets_by_value_atomic_lists_and_maps_whole() {
    let live = apply_as(
        &skeleton(),
        "a",
        json!({"tags": ["x"], "args": ["1", "2"], "selector": {"app": "w", "tier": "db"}}),
        false,
    )
    .unwrap();
    let live = apply_as(&live, "b", json!({"tags": ["y"]}), false).unwrap();
    assert_eq!(live["spec"]["tags"], json!(["x", "y"]));
    let live = apply_as(
        &live,
        "a",
        json!({"tags": ["x"], "args": ["3"], "selector": {"app": "v"}}),
        false,
    )
    .unwrap();
    assert_eq!(live["spec"]["args"], json!(["3"]));
    assert_eq!(live["spec"]["selector"], json!({"app": "v"}));
    assert_eq!(
        fields(&live)[0].2,
        json!({"f:spec": {"f:args": {}, "f:selector": {}, "f:tags": {"v:\"x\"": {}}}})
    );
}

#[test]
fn a_keyed_item_without_its_key_is_refused_with_its_path() {
    let err = apply_as(&skeleton(), "a", json!({"ports": [{"port": 80}]}), false).unwrap_err();
    let status = err.to_api_error("g", "widgets", "w").status();
    assert_eq!(status["code"], 422);
    assert_eq!(
        status["details"]["causes"][0]["field"],
        "spec.ports[0].name"
    );
}

#[test]
fn an_apply_that_changes_nothing_leaves_the_object_as_it_was_time_included() {
    let schema = schema();
    let live = apply_as(&skeleton(), "a", json!({"replicas": 1}), false).unwrap();
    let later = Writer {
        time: "2026-12-08T00:00:00Z",
        ..writer("a")
    };
    let again = apply(
        schema.shape(),
        &live,
        &config(json!({"replicas": 1})),
        &later,
        false,
    )
    .unwrap();
    assert_eq!(again, live);
    let changed = apply(
        schema.shape(),
        &live,
        &config(json!({"replicas": 2})),
        &later,
        false,
    )
    .unwrap();
    assert_eq!(
        changed["metadata"]["managedFields"][0]["time"],
        "2026-12-08T00:00:00Z"
    );
}

#[test]
fn fields_v1_reads_back_what_it_wrote() {
    let text = json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {"f:ports": {"k:{\"name\":\"http\",\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}},
                   "f:tags": {"v:\"a\"": {}}}});
    let set = FieldSet::from_fields_v1(&text).unwrap();
    assert_eq!(set.to_fields_v1(), text);
    let paths: Vec<String> = set.paths().iter().map(|p| Path(p).to_string()).collect();
    assert!(
        paths.contains(&".spec.ports[name=\"http\",protocol=\"TCP\"].port".to_string()),
        "{paths:?}"
    );
    assert!(FieldSet::from_fields_v1(&json!({"x:spec": {}})).is_err());
}
