use std::path::Path;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// A valid CRD using every feature parse understands.
fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": "widgets.example.com",
            "annotations": { "discovery.miloapis.com/parent-contexts": "Organization" }
        },
        "spec": {
            "group": "example.com",
            "names": {
                "plural": "widgets",
                "kind": "Widget",
                "shortNames": ["wd"],
                "categories": ["all"]
            },
            "scope": "Namespaced",
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "properties": {
                                "color": { "type": "string" },
                                "size": { "type": "integer" },
                                "round": { "type": "boolean" },
                                "weight": { "type": "number" },
                                "tags": { "type": "array", "items": { "type": "string" } },
                                "labels": {
                                    "type": "object",
                                    "additionalProperties": { "type": "string" }
                                }
                            }
                        },
                        "status": {
                            "type": "object",
                            "properties": { "phase": { "type": "string" } }
                        }
                    }
                }},
                "subresources": { "status": {} },
                "additionalPrinterColumns": [
                    { "name": "Color", "type": "string", "jsonPath": ".spec.color" },
                    { "name": "Size", "type": "integer", "format": "int32",
                      "jsonPath": ".spec.size", "description": "How big", "priority": 1 }
                ],
                "selectableFields": [{ "jsonPath": ".spec.color" }]
            }]
        }
    })
}

/// `doc` with the value at `pointer` replaced (`Some`) or removed (`None`).
fn edit(doc: &Value, pointer: &str, value: Option<Value>) -> Value {
    let mut doc = doc.clone();
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    let key = key.replace("~1", "/").replace("~0", "~");
    let target = doc.pointer_mut(parent).expect("parent exists");
    match (target, value) {
        (Value::Object(map), Some(v)) => {
            map.insert(key, v);
        }
        (Value::Object(map), None) => {
            map.remove(&key);
        }
        (Value::Array(items), Some(v)) => {
            let i: usize = key.parse().expect("index");
            if i == items.len() {
                items.push(v);
            } else {
                items[i] = v;
            }
        }
        (Value::Array(items), None) => {
            items.remove(key.parse::<usize>().expect("index"));
        }
        _ => panic!("{parent} is not a container"),
    }
    doc
}

fn set(doc: &Value, pointer: &str, value: Value) -> Value {
    edit(doc, pointer, Some(value))
}

fn causes_of(doc: &Value) -> Vec<Cause> {
    match parse(doc) {
        Ok(rt) => panic!("expected causes, parsed {}", rt.name),
        Err(causes) => causes,
    }
}

fn fields_of(causes: &[Cause]) -> Vec<&str> {
    causes.iter().map(|c| c.field.as_str()).collect()
}

fn parsed(doc: &Value) -> ResourceType {
    parse(doc).unwrap_or_else(|causes| panic!("expected a type, got {causes:#?}"))
}

/// A second version `name` of the widget CRD, served, not storage.
fn with_version(doc: &Value, name: &str) -> Value {
    let mut version = doc["spec"]["versions"][0].clone();
    version["name"] = json!(name);
    version["storage"] = json!(false);
    let i = doc["spec"]["versions"].as_array().map_or(0, Vec::len);
    set(doc, &format!("/spec/versions/{i}"), version)
}

fn resource_type(name: &str, plural: &str, kind: &str, short_names: &[&str]) -> ResourceType {
    let group = name.split_once('.').map_or("", |(_, g)| g);
    let mut doc = widget_crd();
    doc["metadata"]["name"] = json!(name);
    doc["spec"]["group"] = json!(group);
    doc["spec"]["names"] = json!({ "plural": plural, "kind": kind, "shortNames": short_names });
    parsed(&doc)
}

// ---------------------------------------------------------------------------
// parse: a valid CRD
// ---------------------------------------------------------------------------

#[test]
fn a_valid_crd_parses_into_its_type() {
    let rt = parsed(&widget_crd());
    assert_eq!(rt.name, "widgets.example.com");
    assert_eq!(rt.group, "example.com");
    assert_eq!(rt.plural, "widgets");
    assert_eq!(rt.kind, "Widget");
    assert_eq!(rt.short_names, ["wd"]);
    assert_eq!(rt.categories, ["all"]);
    assert_eq!(rt.scope, Scope::Namespaced);
    assert_eq!(rt.contexts, [ContextKind::Organization]);
    let v1 = rt.version("v1").expect("v1");
    assert!(v1.served && v1.storage && !v1.deprecated);
    assert_eq!(v1.deprecation_warning, None);
    assert!(v1.status_subresource);
    assert_eq!(
        v1.schema.raw(),
        &widget_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    );
    assert_eq!(rt.storage_version().map(|v| v.name.as_str()), Some("v1"));
}

#[test]
fn printer_columns_are_read_with_their_defaults() {
    let rt = parsed(&widget_crd());
    let columns = &rt.versions[0].columns;
    assert_eq!(
        columns[0],
        PrinterColumn {
            name: "Color".into(),
            type_: "string".into(),
            format: String::new(),
            json_path: ".spec.color".into(),
            description: String::new(),
            priority: 0,
        }
    );
    assert_eq!(columns[1].format, "int32");
    assert_eq!(columns[1].description, "How big");
    assert_eq!(columns[1].priority, 1);
}

#[test]
fn selectable_fields_are_stored_without_the_leading_dot() {
    let doc = set(
        &widget_crd(),
        "/spec/versions/0/selectableFields",
        json!([
            { "jsonPath": ".spec.color" },
            { "jsonPath": ".spec.size" },
            { "jsonPath": ".spec.round" },
            { "jsonPath": ".spec.labels.team" },
            { "jsonPath": ".status.phase" }
        ]),
    );
    assert_eq!(
        parsed(&doc).versions[0].selectable_fields,
        [
            "spec.color",
            "spec.size",
            "spec.round",
            "spec.labels.team",
            "status.phase"
        ]
    );
}

#[test]
fn status_subresource_is_off_without_subresources_and_scale_is_ignored() {
    let doc = edit(&widget_crd(), "/spec/versions/0/subresources", None);
    assert!(!parsed(&doc).versions[0].status_subresource);
    let doc = set(
        &widget_crd(),
        "/spec/versions/0/subresources",
        json!({ "scale": { "specReplicasPath": ".spec.replicas" } }),
    );
    assert!(!parsed(&doc).versions[0].status_subresource);
}

#[test]
fn with_status_the_root_may_hold_unset_and_allowed_keywords() {
    let root = "/spec/versions/0/schema/openAPIV3Schema";
    let doc = set(&widget_crd(), &format!("{root}/nullable"), json!(false));
    let doc = set(&doc, &format!("{root}/description"), json!("A widget"));
    let doc = set(&doc, &format!("{root}/x-kubernetes-validations"), json!([]));
    parsed(&doc);
}

#[test]
fn all_versions_may_be_unserved_as_in_kubernetes() {
    let doc = set(&widget_crd(), "/spec/versions/0/served", json!(false));
    assert!(!parsed(&doc).versions[0].served);
}

#[test]
fn conversion_none_is_accepted() {
    let doc = set(
        &widget_crd(),
        "/spec/conversion",
        json!({ "strategy": "None" }),
    );
    parsed(&doc);
}

// ---------------------------------------------------------------------------
// parse: defaults
// ---------------------------------------------------------------------------

#[test]
fn list_kind_and_singular_default_from_kind() {
    let rt = parsed(&widget_crd());
    assert_eq!(rt.list_kind, "WidgetList");
    assert_eq!(rt.singular, "widget");
    let doc = set(&widget_crd(), "/spec/names/listKind", json!("Widgets"));
    let doc = set(&doc, "/spec/names/singular", json!("wdgt"));
    let rt = parsed(&doc);
    assert_eq!(rt.list_kind, "Widgets");
    assert_eq!(rt.singular, "wdgt");
}

#[test]
fn contexts_come_from_the_annotation_in_canonical_order() {
    let annotation = "/metadata/annotations/discovery.miloapis.com~1parent-contexts";
    let cases: [(&str, &[ContextKind]); 7] = [
        ("Platform", &[ContextKind::Platform]),
        (
            " Project , Organization",
            &[ContextKind::Organization, ContextKind::Project],
        ),
        (
            "Organization,Platform,Project",
            &[
                ContextKind::Platform,
                ContextKind::Organization,
                ContextKind::Project,
            ],
        ),
        ("User,Platform", &[ContextKind::Platform, ContextKind::User]),
        ("User", &[ContextKind::User]),
        ("Cluster", &[ContextKind::Project]),
        ("", &[ContextKind::Project]),
    ];
    for (value, expected) in cases {
        let doc = set(&widget_crd(), annotation, json!(value));
        assert_eq!(parsed(&doc).contexts, expected, "annotation {value:?}");
    }
}

#[test]
fn contexts_default_to_project_without_the_annotation() {
    let doc = edit(&widget_crd(), "/metadata/annotations", None);
    assert_eq!(parsed(&doc).contexts, [ContextKind::Project]);
}

#[test]
fn a_deprecated_version_without_a_warning_gets_the_kubernetes_text() {
    let doc = with_version(&widget_crd(), "v1beta1");
    let doc = set(&doc, "/spec/versions/1/deprecated", json!(true));
    let rt = parsed(&doc);
    let old = rt.version("v1beta1").expect("v1beta1");
    assert!(old.deprecated);
    assert_eq!(
        old.deprecation_warning.as_deref(),
        Some("example.com/v1beta1 Widget is deprecated")
    );
    assert_eq!(
        rt.version("v1").and_then(|v| v.deprecation_warning.clone()),
        None
    );
}

#[test]
fn a_deprecated_version_keeps_its_own_warning() {
    let doc = set(&widget_crd(), "/spec/versions/0/deprecated", json!(true));
    let doc = set(
        &doc,
        "/spec/versions/0/deprecationWarning",
        json!("use gadgets.example.com/v2"),
    );
    assert_eq!(
        parsed(&doc).versions[0].deprecation_warning.as_deref(),
        Some("use gadgets.example.com/v2")
    );
}

// ---------------------------------------------------------------------------
// parse: each rule refused with its path
// ---------------------------------------------------------------------------

const INVALID: &str = "FieldValueInvalid";
const REQUIRED: &str = "FieldValueRequired";
const NOT_SUPPORTED: &str = "FieldValueNotSupported";
const FORBIDDEN: &str = "FieldValueForbidden";
const DUPLICATE: &str = "FieldValueDuplicate";
const SCHEMA: &str = "spec.versions[0].schema.openAPIV3Schema";
const WARNING: &str = "spec.versions[0].deprecationWarning";
const SELECTABLE: &str = "spec.versions[0].selectableFields[0].jsonPath";

#[test]
fn each_rule_is_refused_with_its_path() {
    let base = widget_crd();
    let deprecated = set(&base, "/spec/versions/0/deprecated", json!(true));
    let selectable = |path: &str| {
        set(
            &base,
            "/spec/versions/0/selectableFields",
            json!([{ "jsonPath": path }]),
        )
    };
    let column = |key: &str, value: Value| {
        set(
            &base,
            &format!("/spec/versions/0/additionalPrinterColumns/0/{key}"),
            value,
        )
    };
    let nine_fields: Vec<Value> = ["color", "size", "round"]
        .iter()
        .flat_map(|f| {
            [
                json!({ "jsonPath": format!(".spec.{f}") }),
                json!({ "jsonPath": format!(".spec.labels.{f}") }),
                json!({ "jsonPath": format!(".spec.labels.{f}2") }),
            ]
        })
        .collect();

    // (what is wrong, the document, the path, the reason)
    #[rustfmt::skip]
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("not a CRD kind", set(&base, "/kind", json!("Widget")), "kind", NOT_SUPPORTED),
        ("v1beta1", set(&base, "/apiVersion", json!("apiextensions.k8s.io/v1beta1")), "apiVersion", NOT_SUPPORTED),
        ("no spec", edit(&base, "/spec", None), "spec", REQUIRED),
        ("name is not plural.group", set(&base, "/metadata/name", json!("gadgets.example.com")), "metadata.name", INVALID),
        ("no name", edit(&base, "/metadata/name", None), "metadata.name", REQUIRED),
        ("no group", edit(&base, "/spec/group", None), "spec.group", REQUIRED),
        ("group without a dot", set(&base, "/spec/group", json!("example")), "spec.group", INVALID),
        ("group not a subdomain", set(&base, "/spec/group", json!("Example.com")), "spec.group", INVALID),
        ("group of the wrong type", set(&base, "/spec/group", json!(5)), "spec.group", INVALID),
        ("no plural", edit(&base, "/spec/names/plural", None), "spec.names.plural", REQUIRED),
        ("uppercase plural", set(&base, "/spec/names/plural", json!("Widgets")), "spec.names.plural", INVALID),
        ("plural starting with a digit", set(&base, "/spec/names/plural", json!("3widgets")), "spec.names.plural", INVALID),
        ("bad singular", set(&base, "/spec/names/singular", json!("a_widget")), "spec.names.singular", INVALID),
        ("no kind", edit(&base, "/spec/names/kind", None), "spec.names.kind", REQUIRED),
        ("kind starting with a digit", set(&base, "/spec/names/kind", json!("9Widget")), "spec.names.kind", INVALID),
        ("kind with an underscore", set(&base, "/spec/names/kind", json!("Wid_get")), "spec.names.kind", INVALID),
        ("bad listKind", set(&base, "/spec/names/listKind", json!("Widget List")), "spec.names.listKind", INVALID),
        ("listKind equal to kind", set(&base, "/spec/names/listKind", json!("Widget")), "spec.names.listKind", INVALID),
        ("bad short name", set(&base, "/spec/names/shortNames", json!(["wd", "W D"])), "spec.names.shortNames[1]", INVALID),
        ("repeated short name", set(&base, "/spec/names/shortNames", json!(["wd", "wd"])), "spec.names.shortNames[1]", DUPLICATE),
        ("bad category", set(&base, "/spec/names/categories", json!(["All"])), "spec.names.categories[0]", INVALID),
        ("no scope", edit(&base, "/spec/scope", None), "spec.scope", REQUIRED),
        ("unknown scope", set(&base, "/spec/scope", json!("Global")), "spec.scope", NOT_SUPPORTED),
        ("no versions", edit(&base, "/spec/versions", None), "spec.versions", REQUIRED),
        ("empty versions", set(&base, "/spec/versions", json!([])), "spec.versions", REQUIRED),
        ("version not an object", set(&base, "/spec/versions/1", json!("v2")), "spec.versions[1]", INVALID),
        ("no version name", edit(&base, "/spec/versions/0/name", None), "spec.versions[0].name", REQUIRED),
        ("bad version name", set(&base, "/spec/versions/0/name", json!("V1")), "spec.versions[0].name", INVALID),
        ("repeated version name", with_version(&base, "v1"), "spec.versions[1].name", DUPLICATE),
        ("no storage version", set(&base, "/spec/versions/0/storage", json!(false)), "spec.versions", INVALID),
        ("two storage versions", set(&with_version(&base, "v2"), "/spec/versions/1/storage", json!(true)), "spec.versions", INVALID),
        ("no schema", edit(&base, "/spec/versions/0/schema", None), SCHEMA, REQUIRED),
        ("schema not an object", set(&base, "/spec/versions/0/schema/openAPIV3Schema", json!(true)), SCHEMA, INVALID),
        ("root type not object with status", set(&base, "/spec/versions/0/schema/openAPIV3Schema/type", json!("array")), "spec.versions[0].schema.openAPIV3Schema.type", INVALID),
        ("root keyword lost with status", set(&base, "/spec/versions/0/schema/openAPIV3Schema/anyOf", json!([{}])), "spec.versions[0].schema.openAPIV3Schema.anyOf", FORBIDDEN),
        ("warning on a current version", set(&base, "/spec/versions/0/deprecationWarning", json!("old")), WARNING, INVALID),
        ("warning too long", set(&deprecated, "/spec/versions/0/deprecationWarning", json!("w".repeat(257))), WARNING, INVALID),
        ("empty warning", set(&deprecated, "/spec/versions/0/deprecationWarning", json!("")), WARNING, INVALID),
        ("warning with a newline", set(&deprecated, "/spec/versions/0/deprecationWarning", json!("a\nb")), WARNING, INVALID),
        ("status subresource not an object", set(&base, "/spec/versions/0/subresources/status", json!("on")), "spec.versions[0].subresources.status", INVALID),
        ("column without a name", edit(&base, "/spec/versions/0/additionalPrinterColumns/0/name", None), "spec.versions[0].additionalPrinterColumns[0].name", REQUIRED),
        ("repeated column name", column("name", json!("Size")), "spec.versions[0].additionalPrinterColumns[1].name", DUPLICATE),
        ("column without a type", edit(&base, "/spec/versions/0/additionalPrinterColumns/0/type", None), "spec.versions[0].additionalPrinterColumns[0].type", REQUIRED),
        ("unknown column type", column("type", json!("float")), "spec.versions[0].additionalPrinterColumns[0].type", INVALID),
        ("unknown column format", column("format", json!("colour")), "spec.versions[0].additionalPrinterColumns[0].format", INVALID),
        ("column without a jsonPath", edit(&base, "/spec/versions/0/additionalPrinterColumns/0/jsonPath", None), "spec.versions[0].additionalPrinterColumns[0].jsonPath", REQUIRED),
        ("column jsonPath without the dot", column("jsonPath", json!("spec.color")), "spec.versions[0].additionalPrinterColumns[0].jsonPath", INVALID),
        ("negative priority", column("priority", json!(-1)), "spec.versions[0].additionalPrinterColumns[0].priority", INVALID),
        ("fractional priority", column("priority", json!(0.5)), "spec.versions[0].additionalPrinterColumns[0].priority", INVALID),
        ("selectable field without a jsonPath", set(&base, "/spec/versions/0/selectableFields", json!([{}])), SELECTABLE, REQUIRED),
        ("selectable field without the dot", selectable("spec.color"), SELECTABLE, INVALID),
        ("selectable field not in the schema", selectable(".spec.shade"), SELECTABLE, INVALID),
        ("selectable object", selectable(".spec"), SELECTABLE, INVALID),
        ("selectable array", selectable(".spec.tags"), SELECTABLE, INVALID),
        ("selectable number", selectable(".spec.weight"), SELECTABLE, INVALID),
        ("selectable array item", selectable(".spec.tags[0]"), SELECTABLE, INVALID),
        ("selectable metadata", selectable(".metadata.name"), SELECTABLE, INVALID),
        ("repeated selectable field", set(&base, "/spec/versions/0/selectableFields/1", json!({ "jsonPath": ".spec.color" })), "spec.versions[0].selectableFields[1].jsonPath", DUPLICATE),
        ("nine selectable fields", set(&base, "/spec/versions/0/selectableFields", json!(nine_fields)), "spec.versions[0].selectableFields", "FieldValueTooMany"),
        ("conversion webhook", set(&base, "/spec/conversion", json!({ "strategy": "Webhook" })), "spec.conversion.strategy", NOT_SUPPORTED),
        ("unknown conversion", set(&base, "/spec/conversion", json!({ "strategy": "Magic" })), "spec.conversion.strategy", NOT_SUPPORTED),
        ("conversion without a strategy", set(&base, "/spec/conversion", json!({})), "spec.conversion.strategy", REQUIRED),
        ("webhook settings with None", set(&base, "/spec/conversion", json!({ "strategy": "None", "webhook": {} })), "spec.conversion.webhook", FORBIDDEN),
        ("preserveUnknownFields", set(&base, "/spec/preserveUnknownFields", json!(true)), "spec.preserveUnknownFields", INVALID),
    ];

    for (what, doc, path, reason) in cases {
        let causes = causes_of(&doc);
        assert!(
            causes.iter().any(|c| c.field == path && c.reason == reason),
            "{what}: expected {reason} at {path}, got {causes:#?}"
        );
    }
}

#[test]
fn schema_causes_are_collected_under_the_version_path() {
    let doc = with_version(&widget_crd(), "v2");
    let doc = set(
        &doc,
        "/spec/versions/1/schema/openAPIV3Schema/properties/spec/type",
        json!("colour"),
    );
    let causes = causes_of(&doc);
    assert!(!causes.is_empty());
    for cause in &causes {
        assert!(
            cause
                .field
                .starts_with("spec.versions[1].schema.openAPIV3Schema"),
            "{causes:#?}"
        );
    }
}

#[test]
fn the_main_messages_are_the_kubernetes_ones() {
    let cases = [
        (
            set(
                &widget_crd(),
                "/metadata/name",
                json!("gadgets.example.com"),
            ),
            r#"Invalid value: "gadgets.example.com": must be spec.names.plural+"."+spec.group"#,
        ),
        (
            set(&widget_crd(), "/spec/versions/0/storage", json!(false)),
            "must have exactly one version marked as storage version",
        ),
        (
            set(
                &widget_crd(),
                "/spec/conversion",
                json!({ "strategy": "Webhook" }),
            ),
            r#"Unsupported value: "Webhook": conversion webhooks are not supported; use None"#,
        ),
        (
            set(&widget_crd(), "/spec/group", json!("example")),
            r#"Invalid value: "example": should be a domain with at least one dot"#,
        ),
        (
            set(&widget_crd(), "/spec/names/listKind", json!("Widget")),
            r#"Invalid value: "Widget": kind and listKind may not be the same"#,
        ),
    ];
    for (doc, message) in cases {
        let causes = causes_of(&doc);
        assert!(
            causes.iter().any(|c| c.message == message),
            "expected {message:?} in {causes:#?}"
        );
    }
}

#[test]
fn every_valid_change_in_the_table_parses_alone() {
    // The table above edits a valid base: check the base and a version added
    // to it are valid, so each case fails for its own reason only.
    parsed(&widget_crd());
    parsed(&with_version(&widget_crd(), "v2"));
}

#[test]
fn several_problems_are_reported_together() {
    let doc = set(&widget_crd(), "/spec/group", json!("example"));
    let doc = set(&doc, "/spec/names/plural", json!("Widgets"));
    let doc = edit(&doc, "/spec/scope", None);
    let doc = set(
        &doc,
        "/spec/versions/0/additionalPrinterColumns/1/jsonPath",
        json!("size"),
    );
    let doc = edit(&doc, "/spec/versions/0/schema", None);
    let doc = set(&doc, "/spec/conversion", json!({ "strategy": "Webhook" }));
    let causes = causes_of(&doc);
    let fields = fields_of(&causes);
    for expected in [
        "metadata.name",
        "spec.group",
        "spec.names.plural",
        "spec.scope",
        "spec.versions[0].additionalPrinterColumns[1].jsonPath",
        "spec.versions[0].schema.openAPIV3Schema",
        "spec.conversion.strategy",
    ] {
        assert!(
            fields.contains(&expected),
            "{expected} missing from {fields:?}"
        );
    }
    assert_eq!(causes.len(), 7, "{causes:#?}");
}

#[test]
fn a_field_of_the_wrong_type_says_what_it_should_be() {
    let doc = set(&widget_crd(), "/spec/versions/0/served", json!("yes"));
    let causes = causes_of(&doc);
    assert_eq!(causes.len(), 1, "{causes:#?}");
    assert_eq!(causes[0].field, "spec.versions[0].served");
    assert_eq!(causes[0].message, "must be a boolean, not a string");
}

#[test]
fn defaulted_names_are_not_reported_for_a_bad_kind() {
    // singular and listKind default from the kind; only the kind is wrong.
    let doc = set(&widget_crd(), "/spec/names/kind", json!("Wid_get"));
    assert_eq!(fields_of(&causes_of(&doc)), ["spec.names.kind"]);
}

#[test]
fn non_objects_give_a_cause_not_a_panic() {
    for doc in [json!(null), json!(5), json!("crd"), json!([widget_crd()])] {
        let causes = causes_of(&doc);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "");
    }
}

// ---------------------------------------------------------------------------
// check_update and stored_versions
// ---------------------------------------------------------------------------

#[test]
fn group_plural_scope_and_kind_cannot_change() {
    let old = widget_crd();
    let cases = [
        (
            "/spec/group",
            json!("example.org"),
            "spec.group",
            "field is immutable",
        ),
        (
            "/spec/names/plural",
            json!("gizmos"),
            "spec.names.plural",
            "field is immutable",
        ),
        (
            "/spec/scope",
            json!("Cluster"),
            "spec.scope",
            "scope cannot change while the type exists",
        ),
        (
            "/spec/names/kind",
            json!("Gizmo"),
            "spec.names.kind",
            "objects are stored by kind",
        ),
    ];
    for (pointer, value, path, words) in cases {
        let new = set(&old, pointer, value);
        let causes = check_update(&old, &new, &[]);
        assert_eq!(fields_of(&causes), [path], "{causes:#?}");
        assert_eq!(causes[0].reason, "FieldValueInvalid");
        assert!(causes[0].message.contains(words), "{}", causes[0].message);
    }
}

#[test]
fn other_names_may_change() {
    let old = widget_crd();
    let new = set(&old, "/spec/names/listKind", json!("Widgets"));
    let new = set(&new, "/spec/names/shortNames", json!(["w"]));
    let new = set(&new, "/spec/names/singular", json!("wdgt"));
    assert_eq!(check_update(&old, &new, &["v1".to_string()]), vec![]);
}

#[test]
fn a_stored_version_must_stay_in_spec_versions() {
    let old = with_version(&widget_crd(), "v1alpha1");
    let new = widget_crd();
    let stored = ["v1alpha1".to_string(), "v1".to_string()];
    let causes = check_update(&old, &new, &stored);
    assert_eq!(
        causes,
        vec![Cause::invalid(
            "status.storedVersions[0]",
            r#"version "v1alpha1" may still be the stored version of existing objects: keep it in spec.versions (it may be served: false)"#,
        )]
    );
    // Unserved, it is kept and fine.
    let new = set(&old, "/spec/versions/1/served", json!(false));
    assert_eq!(check_update(&old, &new, &stored), vec![]);
}

#[test]
fn stored_versions_accumulate_in_order() {
    let rt = parsed(&widget_crd());
    assert_eq!(stored_versions(None, &rt), ["v1"]);
    let status = json!({ "storedVersions": ["v1alpha1", "v1beta1"] });
    assert_eq!(
        stored_versions(Some(&status), &rt),
        ["v1alpha1", "v1beta1", "v1"]
    );
    let status = json!({ "storedVersions": ["v1", "v1alpha1", "v1"] });
    assert_eq!(stored_versions(Some(&status), &rt), ["v1", "v1alpha1"]);
    let status = json!({ "storedVersions": "v1alpha1" });
    assert_eq!(stored_versions(Some(&status), &rt), ["v1"]);
}

// ---------------------------------------------------------------------------
// Name clashes and status
// ---------------------------------------------------------------------------

#[test]
fn names_clash_within_a_group() {
    let widgets = resource_type("widgets.example.com", "widgets", "Widget", &["wd"]);
    let mut same_kind = resource_type("gadgets.example.com", "gadgets", "Widget", &[]);
    same_kind.singular = "gadget".into();
    same_kind.list_kind = "Gadgets".into();
    let cases = [
        (
            same_kind,
            "KindConflict",
            r#""Widget" is already in use by crd widgets.example.com"#,
        ),
        (
            resource_type("gadgets.example.com", "gadgets", "Gadget", &["wd"]),
            "ShortNamesConflict",
            r#""wd" is already in use by crd widgets.example.com"#,
        ),
        (
            resource_type("wd.example.com", "wd", "Gadget", &[]),
            "PluralConflict",
            r#""wd" is already in use by crd widgets.example.com"#,
        ),
        (
            resource_type("gadgets.example.com", "gadgets", "WidgetList", &[]),
            "KindConflict",
            r#""WidgetList" is already in use by crd widgets.example.com"#,
        ),
    ];
    for (candidate, reason, message) in cases {
        let conflict = name_conflict(&candidate, &[&widgets]).expect("a conflict");
        assert_eq!(conflict.reason, reason);
        assert_eq!(conflict.message, message);
        assert_eq!(
            names_clash(&candidate, &[&widgets]).as_deref(),
            Some(message)
        );
    }
}

#[test]
fn singular_and_list_kind_clashes_are_reported() {
    let widgets = resource_type("widgets.example.com", "widgets", "Widget", &[]);
    let mut gadgets = resource_type("gadgets.example.com", "gadgets", "Gadget", &[]);
    gadgets.singular = "widget".into();
    gadgets.list_kind = "Widget".into();
    let conflict = name_conflict(&gadgets, &[&widgets]).expect("a conflict");
    // Kubernetes reports the reason of the last clash; the message has all.
    assert_eq!(conflict.reason, "ListKindConflict");
    assert_eq!(
        conflict.message,
        r#""widget" is already in use by crd widgets.example.com, "Widget" is already in use by crd widgets.example.com"#
    );
}

#[test]
fn names_do_not_clash_across_groups_or_with_the_type_itself() {
    let widgets = resource_type("widgets.example.com", "widgets", "Widget", &["wd"]);
    let elsewhere = resource_type("widgets.other.io", "widgets", "Widget", &["wd"]);
    assert_eq!(names_clash(&elsewhere, &[&widgets]), None);
    let updated = resource_type("widgets.example.com", "widgets", "Widget", &["wd", "w"]);
    assert_eq!(names_clash(&updated, &[&widgets]), None);
    assert_eq!(names_clash(&widgets, &[]), None);
}

#[test]
fn status_of_accepted_names_is_established() {
    let rt = parsed(&widget_crd());
    let status = status(&rt, None, &["v1".to_string()], "2024-01-01T00:00:00Z");
    assert_eq!(
        status,
        json!({
            "conditions": [
                { "type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                  "message": "no conflicts found", "lastTransitionTime": "2024-01-01T00:00:00Z" },
                { "type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                  "message": "the initial names have been accepted",
                  "lastTransitionTime": "2024-01-01T00:00:00Z" }
            ],
            "acceptedNames": {
                "plural": "widgets", "singular": "widget", "kind": "Widget",
                "listKind": "WidgetList", "shortNames": ["wd"], "categories": ["all"]
            },
            "storedVersions": ["v1"]
        })
    );
}

#[test]
fn status_of_clashing_names_is_not_established() {
    let rt = parsed(&widget_crd());
    let conflict = NameConflict {
        reason: "KindConflict",
        message: r#""Widget" is already in use by crd gadgets.example.com"#.into(),
    };
    let status = status(&rt, Some(&conflict), &["v1".to_string()], "now");
    assert_eq!(status["conditions"][0]["status"], "False");
    assert_eq!(status["conditions"][0]["reason"], "KindConflict");
    assert_eq!(status["conditions"][0]["message"], conflict.message);
    assert_eq!(status["conditions"][1]["type"], "Established");
    assert_eq!(status["conditions"][1]["status"], "False");
    assert_eq!(status["conditions"][1]["reason"], "NotAccepted");
    assert_eq!(status["acceptedNames"], json!({ "plural": "", "kind": "" }));
    assert_eq!(status["storedVersions"], json!(["v1"]));
}

// ---------------------------------------------------------------------------
// Milo conformance: Milo's own CRDs are valid Kubernetes CRDs
// ---------------------------------------------------------------------------

const MILO_CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/milo/crds");

#[test]
fn every_milo_crd_parses_with_its_contexts_and_scope() {
    use ContextKind::{Organization as Org, Platform, Project, User};
    use Scope::{Cluster, Namespaced};
    let expected: [(&str, &[ContextKind], Scope); 22] = [
        ("serviceaccounts.iam.miloapis.com", &[Project], Cluster),
        ("userdeactivations.iam.miloapis.com", &[Platform], Cluster),
        ("userinvitations.iam.miloapis.com", &[Org, User], Namespaced),
        ("clusternotes.notes.miloapis.com", &[Platform], Cluster),
        (
            "discoverycontextpolicies.discovery.miloapis.com",
            &[Platform],
            Cluster,
        ),
        ("groupmemberships.iam.miloapis.com", &[Org], Namespaced),
        ("groups.iam.miloapis.com", &[Org], Namespaced),
        (
            "policybindings.iam.miloapis.com",
            &[Platform, Org],
            Namespaced,
        ),
        ("protectedresources.iam.miloapis.com", &[Platform], Cluster),
        ("roles.iam.miloapis.com", &[Platform, Org], Namespaced),
        ("users.iam.miloapis.com", &[Platform, User], Cluster),
        ("notes.notes.miloapis.com", &[Platform], Namespaced),
        (
            "allowancebuckets.quota.miloapis.com",
            &[Org, Project],
            Namespaced,
        ),
        (
            "claimcreationpolicies.quota.miloapis.com",
            &[Platform],
            Cluster,
        ),
        (
            "grantcreationpolicies.quota.miloapis.com",
            &[Platform],
            Cluster,
        ),
        (
            "resourceclaims.quota.miloapis.com",
            &[Org, Project],
            Namespaced,
        ),
        (
            "resourcegrants.quota.miloapis.com",
            &[Org, Project],
            Namespaced,
        ),
        (
            "resourceregistrations.quota.miloapis.com",
            &[Platform],
            Cluster,
        ),
        (
            "organizationmemberships.resourcemanager.miloapis.com",
            &[Org, User],
            Namespaced,
        ),
        (
            "organizations.resourcemanager.miloapis.com",
            &[Platform],
            Cluster,
        ),
        ("projects.resourcemanager.miloapis.com", &[Org], Cluster),
        (
            "projectsuspensions.resourcemanager.miloapis.com",
            &[Project],
            Cluster,
        ),
    ];

    let mut seen = Vec::new();
    for path in milo_crd_files() {
        let text = std::fs::read_to_string(&path).expect("readable CRD");
        let doc: Value = serde_yaml::from_str(&text).expect("YAML");
        let rt = parse(&doc)
            .unwrap_or_else(|causes| panic!("{} is refused: {causes:#?}", path.display()));
        let (_, contexts, scope) = expected
            .iter()
            .find(|(name, _, _)| *name == rt.name)
            .unwrap_or_else(|| panic!("{} is not in the expected table", rt.name));
        assert_eq!(rt.contexts, *contexts, "{}", rt.name);
        assert_eq!(rt.scope, *scope, "{}", rt.name);
        assert!(rt.storage_version().is_some(), "{}", rt.name);
        seen.push(rt);
    }
    assert_eq!(seen.len(), expected.len(), "every expected CRD was found");

    // Registered together, none clashes with another.
    let all: Vec<&ResourceType> = seen.iter().collect();
    for rt in &seen {
        assert_eq!(names_clash(rt, &all), None, "{}", rt.name);
    }
}

#[test]
fn milo_selectable_fields_are_read() {
    let path = Path::new(MILO_CRDS).join("notes.miloapis.com_notes.yaml");
    let text = std::fs::read_to_string(path).expect("readable CRD");
    let doc: Value = serde_yaml::from_str(&text).expect("YAML");
    let rt = parsed(&doc);
    assert_eq!(
        rt.versions[0].selectable_fields,
        [
            "spec.creatorRef.name",
            "spec.subjectRef.name",
            "spec.subjectRef.namespace",
            "spec.subjectRef.kind",
            "spec.nextActionTime",
            "spec.followUp",
            "status.createdBy"
        ]
    );
}

fn milo_crd_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(MILO_CRDS)
        .expect("the Milo CRDs beside the repository")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

// ---------------------------------------------------------------------------
// No input panics
// ---------------------------------------------------------------------------

/// Keys and strings a CRD uses, so that generated documents reach deep.
const WORDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "annotations",
    "spec",
    "group",
    "names",
    "plural",
    "singular",
    "listKind",
    "shortNames",
    "categories",
    "scope",
    "versions",
    "served",
    "storage",
    "schema",
    "openAPIV3Schema",
    "type",
    "properties",
    "subresources",
    "status",
    "scale",
    "additionalPrinterColumns",
    "jsonPath",
    "format",
    "priority",
    "selectableFields",
    "deprecated",
    "deprecationWarning",
    "conversion",
    "strategy",
    "preserveUnknownFields",
    "None",
    "Webhook",
    "Cluster",
    "Namespaced",
    "object",
    "string",
    ".spec",
    ".spec.color",
    "v1",
    "widgets",
    "example.com",
    "Widget",
];

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let word = prop::sample::select(WORDS).prop_map(|w| json!(w));
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,6}".prop_map(Value::from),
        word,
    ];
    leaf.prop_recursive(5, 96, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::vec((prop::sample::select(WORDS), inner), 0..6).prop_map(|members| {
                Value::Object(
                    members
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                )
            }),
        ]
    })
}

/// Every place of the valid widget CRD, as JSON pointers.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        _ => {}
    }
}

proptest! {
    #[test]
    fn arbitrary_json_gives_causes_or_a_type(doc in arbitrary_json()) {
        if let Err(causes) = parse(&doc) {
            prop_assert!(!causes.is_empty());
        }
        let _ = check_update(&doc, &widget_crd(), &["v1".to_string()]);
        let _ = check_update(&widget_crd(), &doc, &["v1".to_string()]);
    }

    #[test]
    fn any_field_of_a_valid_crd_may_be_replaced_without_a_panic(
        index in any::<prop::sample::Index>(),
        value in arbitrary_json(),
    ) {
        let base = widget_crd();
        let mut all = Vec::new();
        pointers(&base, String::new(), &mut all);
        let pointer = &all[index.index(all.len())];
        let doc = set(&base, pointer, value);
        match parse(&doc) {
            Ok(rt) => {
                let stored = stored_versions(None, &rt);
                prop_assert_eq!(stored.len(), 1);
                let _ = status(&rt, None, &stored, "now");
            }
            Err(causes) => prop_assert!(!causes.is_empty()),
        }
    }
}
