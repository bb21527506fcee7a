//! Compiling, defaulting, pruning and schema validation (CEL rules are in
//! `tests_cel`, Milo's CRDs in `tests_milo`).

use serde_json::{json, Value};

use super::Schema;
use crate::Cause;

const BASE: &str = "spec.versions[0].schema.openAPIV3Schema";

/// A root schema whose `spec` is `spec_schema`.
fn root_with(spec_schema: Value) -> Value {
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema,
        },
    })
}

fn schema(spec_schema: Value) -> Schema {
    Schema::compile(&root_with(spec_schema), BASE).unwrap_or_else(|causes| panic!("{causes:#?}"))
}

fn refusals(spec_schema: Value) -> Vec<Cause> {
    match Schema::compile(&root_with(spec_schema), BASE) {
        Ok(_) => panic!("compiled"),
        Err(causes) => causes,
    }
}

fn object(spec: Value) -> Value {
    json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "n"}, "spec": spec})
}

fn fields(causes: &[Cause]) -> Vec<&str> {
    causes.iter().map(|c| c.field.as_str()).collect()
}

/// The causes of validating `spec` (on create).
fn check(s: &Schema, spec: Value) -> Vec<Cause> {
    s.validate(&object(spec), None)
}

fn spec_path(rest: &str) -> String {
    format!("{BASE}.properties[spec]{rest}")
}

fn obj(props: Value) -> Value {
    json!({"type": "object", "properties": props})
}

// ---------------------------------------------------------------------------
// compile: accepted
// ---------------------------------------------------------------------------

#[test]
fn compiles_every_keyword() {
    let s = schema(json!({
        "type": "object",
        "description": "d", "title": "t", "example": {"any": "thing"},
        "required": ["name", "notDeclared"],
        "minProperties": 1, "maxProperties": 20,
        "x-kubernetes-map-type": "granular",
        "x-kubernetes-validations": [{
            "rule": "self.name != 'x'", "message": "m", "messageExpression": "'name ' + self.name",
            "reason": "FieldValueForbidden", "fieldPath": ".name",
        }],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 10, "pattern": "^[a-z]+$", "default": "abc"},
            "size": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 10,
                     "exclusiveMinimum": false, "exclusiveMaximum": true, "multipleOf": 1},
            "ratio": {"type": "number", "format": "double", "nullable": true},
            "flag": {"type": "boolean", "default": false},
            "color": {"type": "string", "enum": ["red", "blue"]},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 0, "maxItems": 5,
                     "uniqueItems": false, "x-kubernetes-list-type": "set"},
            "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object", "required": ["name"],
                                "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}},
            "atomic": {"type": "array", "x-kubernetes-list-type": "atomic", "items": {"type": "string"}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "anything": {"type": "object", "additionalProperties": true},
            "port": {"x-kubernetes-int-or-string": true,
                     "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "port2": {"x-kubernetes-int-or-string": true,
                      "allOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]}, {"pattern": "^[0-9a-z]+$"}]},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "untyped": {"x-kubernetes-preserve-unknown-fields": true},
            "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                         "x-kubernetes-preserve-unknown-fields": true},
            "choice": {"type": "string", "oneOf": [{"enum": ["a"]}, {"enum": ["b"]}], "not": {"enum": ["c"]}},
            "both": {"type": "object", "properties": {"a": {"type": "string"}},
                     "allOf": [{"properties": {"a": {"minLength": 1}}}], "anyOf": [{"required": ["a"]}]},
            "when": {"type": "string", "format": "date-time"},
            "custom": {"type": "string", "format": "a-format-nobody-knows"},
        },
    }));
    assert_eq!(s.raw()["properties"]["spec"]["title"], "t");
    assert_eq!(s, s.clone());
}

#[test]
fn root_metadata_schema_is_not_enforced() {
    let doc = json!({
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 3}}},
        },
    });
    let s = Schema::compile(&doc, BASE).unwrap();
    let long_name =
        json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "much-too-long"}});
    assert!(s.validate(&long_name, None).is_empty());
}

#[test]
fn schema_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Schema>();
}

// ---------------------------------------------------------------------------
// compile: refused, one cause per problem, at its path
// ---------------------------------------------------------------------------

/// A spec with one map list `x` keyed by `keys`, of items with `props` and
/// `required`.
fn map_list(keys: Value, props: Value, required: Value) -> Value {
    obj(json!({"x": {
        "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": keys,
        "items": {"type": "object", "properties": props, "required": required},
    }}))
}

/// `(spec schema, field suffix after properties[spec], reason)`.
fn refusal_cases() -> Vec<(Value, &'static str, &'static str)> {
    vec![
        (json!({"type": "strng"}), ".type", "FieldValueNotSupported"),
        (
            obj(json!({"size": {"minimum": 1}})),
            ".properties[size].type",
            "FieldValueRequired",
        ),
        (
            obj(json!({"size": {"type": "integer", "minLength": -1}})),
            ".properties[size].minLength",
            "FieldValueInvalid",
        ),
        (
            obj(json!({"size": {"type": "integer", "maxItems": "x"}})),
            ".properties[size].maxItems",
            "FieldValueInvalid",
        ),
        (
            obj(json!({"size": {"type": "integer", "multipleOf": 0}})),
            ".properties[size].multipleOf",
            "FieldValueInvalid",
        ),
        (
            obj(json!({"size": {"type": "integer", "exclusiveMinimum": true}})),
            ".properties[size].exclusiveMinimum",
            "FieldValueInvalid",
        ),
        (
            obj(json!({"name": {"type": "string", "pattern": "(?=lookahead)"}})),
            ".properties[name].pattern",
            "FieldValueInvalid",
        ),
        (
            obj(json!({"name": {"type": "string", "pattern": "[unclosed"}})),
            ".properties[name].pattern",
            "FieldValueInvalid",
        ),
        (
            obj(json!({"list": {"type": "array"}})),
            ".properties[list].items",
            "FieldValueRequired",
        ),
        (
            obj(json!({"list": {"type": "array", "items": [{"type": "string"}]}})),
            ".properties[list].items",
            "FieldValueForbidden",
        ),
        (
            obj(
                json!({"list": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}}),
            ),
            ".properties[list].uniqueItems",
            "FieldValueForbidden",
        ),
        (
            json!({"type": "object", "additionalProperties": false}),
            ".additionalProperties",
            "FieldValueForbidden",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}}),
            ".additionalProperties",
            "FieldValueForbidden",
        ),
        (
            json!({"type": "object", "additionalProperties": {"type": "bogus"}}),
            ".additionalProperties.type",
            "FieldValueNotSupported",
        ),
        (
            obj(json!({"port": {"type": "string", "x-kubernetes-int-or-string": true}})),
            ".properties[port].type",
            "FieldValueInvalid",
        ),
        (
            obj(json!({"x": {"type": "object", "x-kubernetes-preserve-unknown-fields": false}})),
            ".properties[x].x-kubernetes-preserve-unknown-fields",
            "FieldValueInvalid",
        ),
        (
            obj(
                json!({"x": {"type": "string", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}}),
            ),
            ".properties[x].type",
            "FieldValueInvalid",
        ),
        (
            obj(
                json!({"x": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "bag"}}),
            ),
            ".properties[x].x-kubernetes-list-type",
            "FieldValueNotSupported",
        ),
        (
            obj(json!({"x": {"type": "string", "x-kubernetes-list-type": "set"}})),
            ".properties[x].x-kubernetes-list-type",
            "FieldValueInvalid",
        ),
        (
            obj(
                json!({"x": {"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "object", "properties": {"k": {"type": "string"}}}}}),
            ),
            ".properties[x].x-kubernetes-list-map-keys",
            "FieldValueRequired",
        ),
        (
            map_list(
                json!(["nope"]),
                json!({"k": {"type": "string"}}),
                json!(["k"]),
            ),
            ".properties[x].x-kubernetes-list-map-keys",
            "FieldValueInvalid",
        ),
        (
            map_list(json!(["k"]), json!({"k": {"type": "string"}}), json!([])),
            ".properties[x].items.properties[k].default",
            "FieldValueRequired",
        ),
        (
            map_list(json!(["k"]), json!({"k": {"type": "object"}}), json!(["k"])),
            ".properties[x].items.properties[k].type",
            "FieldValueInvalid",
        ),
        (
            map_list(
                json!(["k", "k"]),
                json!({"k": {"type": "string"}}),
                json!(["k"]),
            ),
            ".properties[x].x-kubernetes-list-map-keys",
            "FieldValueInvalid",
        ),
        (
            obj(
                json!({"x": {"type": "array", "x-kubernetes-list-map-keys": ["k"], "items": {"type": "string"}}}),
            ),
            ".properties[x].x-kubernetes-list-map-keys",
            "FieldValueForbidden",
        ),
        (
            obj(json!({"x": {"type": "object", "x-kubernetes-map-type": "weird"}})),
            ".properties[x].x-kubernetes-map-type",
            "FieldValueNotSupported",
        ),
        (
            obj(json!({"x": {"type": "string", "allOf": [{"type": "string"}]}})),
            ".properties[x].allOf[0].type",
            "FieldValueForbidden",
        ),
        (
            obj(json!({"x": {"type": "string", "anyOf": [{"default": "a"}]}})),
            ".properties[x].anyOf[0].default",
            "FieldValueForbidden",
        ),
        (
            obj(json!({"x": {"type": "string", "oneOf": [{"nullable": true}]}})),
            ".properties[x].oneOf[0].nullable",
            "FieldValueForbidden",
        ),
        (
            obj(
                json!({"x": {"type": "string", "not": {"x-kubernetes-validations": [{"rule": "true"}]}}}),
            ),
            ".properties[x].not.x-kubernetes-validations",
            "FieldValueForbidden",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "allOf": [{"properties": {"b": {"minLength": 1}}}]}),
            ".properties[b]",
            "FieldValueRequired",
        ),
        (
            json!({"type": "object", "$ref": "#/definitions/x"}),
            ".$ref",
            "FieldValueForbidden",
        ),
        (
            json!({"type": "object", "patternProperties": {}}),
            ".patternProperties",
            "FieldValueForbidden",
        ),
        (
            obj(json!({"n": {"type": "integer", "default": "three"}})),
            ".properties[n].default",
            "FieldValueTypeInvalid",
        ),
        (
            obj(json!({"n": {"type": "integer", "minimum": 5, "default": 1}})),
            ".properties[n].default",
            "FieldValueInvalid",
        ),
        (
            obj(json!({"s": {"type": "string", "enum": ["a"], "default": "b"}})),
            ".properties[s].default",
            "FieldValueNotSupported",
        ),
        (
            obj(
                json!({"o": {"type": "object", "properties": {"a": {"type": "string"}}, "default": {"b": 1}}}),
            ),
            ".properties[o].default",
            "FieldValueInvalid",
        ),
        (
            obj(
                json!({"o": {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}, "default": {}}}),
            ),
            ".properties[o].default.a",
            "FieldValueRequired",
        ),
        (
            obj(
                json!({"s": {"type": "string", "x-kubernetes-validations": [{"rule": "self != 'x'"}], "default": "x"}}),
            ),
            ".properties[s].default",
            "FieldValueInvalid",
        ),
        (
            obj(json!({"n": {"type": "string", "default": null}})),
            ".properties[n].default",
            "FieldValueTypeInvalid",
        ),
    ]
}

#[test]
fn refuses_each_problem_at_its_path() {
    for (spec_schema, suffix, reason) in refusal_cases() {
        let causes = refusals(spec_schema.clone());
        let expected = spec_path(suffix);
        assert!(
            causes
                .iter()
                .any(|c| c.field == expected && c.reason == reason),
            "{spec_schema}: expected {reason} at {expected}, got {causes:#?}"
        );
        assert_eq!(
            causes.len(),
            1,
            "{spec_schema}: one cause per problem, got {causes:#?}"
        );
    }
}

#[test]
fn refusal_messages_say_what_is_wrong() {
    let causes = refusals(json!({"type": "strng"}));
    assert_eq!(
        causes[0].message,
        "Unsupported value: \"strng\": supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\""
    );
    let causes = refusals(obj(
        json!({"n": {"type": "integer", "minimum": 5, "default": 1}}),
    ));
    // The default is validated as a value on its own: "body" is the default.
    assert_eq!(
        causes[0].message,
        "Invalid value: 1: body should be greater than or equal to 5"
    );
    let causes = refusals(obj(json!({"name": {"type": "string", "pattern": "(?=x)"}})));
    assert!(causes[0]
        .message
        .starts_with("Invalid value: \"(?=x)\": must be a valid regular expression, but isn't: "));
}

#[test]
fn reports_every_problem_not_just_the_first() {
    let causes = refusals(obj(json!({
        "a": {"type": "strng"},
        "b": {"type": "string", "pattern": "("},
        "c": {"type": "array"},
    })));
    assert_eq!(
        fields(&causes),
        [
            spec_path(".properties[a].type"),
            spec_path(".properties[b].pattern"),
            spec_path(".properties[c].items")
        ]
    );
}

#[test]
fn refuses_a_root_that_is_not_an_object() {
    let causes = Schema::compile(&json!({"type": "string"}), BASE).unwrap_err();
    assert_eq!(fields(&causes), [format!("{BASE}.type")]);
    let causes = Schema::compile(&json!({"properties": {}}), BASE).unwrap_err();
    assert_eq!(causes[0].reason, "FieldValueRequired");
    let causes = Schema::compile(&json!({"type": "strng"}), BASE).unwrap_err();
    assert_eq!(causes.len(), 1, "{causes:?}");
    assert_eq!(causes[0].reason, "FieldValueNotSupported");
    let causes = Schema::compile(&json!("not a schema"), BASE).unwrap_err();
    assert_eq!(fields(&causes), [BASE]);
}

#[test]
fn refuses_an_untyped_node_unless_kubernetes_allows_it() {
    // Untyped is fine with int-or-string, preserve-unknown-fields and for
    // embedded resources (which must then be objects anyway).
    schema(obj(json!({
        "a": {"x-kubernetes-int-or-string": true},
        "b": {"x-kubernetes-preserve-unknown-fields": true},
    })));
    // Not at the root, even with preserve-unknown-fields.
    let doc = json!({"x-kubernetes-preserve-unknown-fields": true});
    assert!(Schema::compile(&doc, BASE).is_err());
    // Not for items.
    let causes = refusals(obj(
        json!({"l": {"type": "array", "items": {"properties": {}}}}),
    ));
    assert_eq!(fields(&causes), [spec_path(".properties[l].items.type")]);
}

#[test]
fn refuses_schemas_nested_too_deep() {
    let mut doc = json!({"type": "string"});
    for _ in 0..70 {
        doc = json!({"type": "object", "properties": {"x": doc}});
    }
    let causes = Schema::compile(&doc, "").unwrap_err();
    assert_eq!(causes.len(), 1);
    assert!(
        causes[0]
            .message
            .contains("must not nest more than 64 levels deep"),
        "{causes:?}"
    );
    assert!(causes[0].field.starts_with("properties[x].properties[x]"));
}

#[test]
fn an_empty_base_gives_paths_without_a_leading_dot() {
    let causes = Schema::compile(&root_with(json!({"type": "nope"})), "").unwrap_err();
    assert_eq!(fields(&causes), ["properties[spec].type"]);
}

// ---------------------------------------------------------------------------
// defaults
// ---------------------------------------------------------------------------

#[test]
fn applies_defaults_nested_and_in_defaulted_values() {
    let s = schema(json!({
        "type": "object",
        "default": {},
        "properties": {
            "replicas": {"type": "integer", "default": 1},
            "strategy": {
                "type": "object", "default": {},
                "properties": {"kind": {"type": "string", "default": "Rolling"}, "max": {"type": "integer"}},
            },
        },
    }));
    let mut o = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "n"}});
    s.apply_defaults(&mut o);
    assert_eq!(
        o["spec"],
        json!({"replicas": 1, "strategy": {"kind": "Rolling"}})
    );

    // Present values are kept.
    let mut o = object(json!({"replicas": 3, "strategy": {"kind": "Recreate"}}));
    s.apply_defaults(&mut o);
    assert_eq!(
        o["spec"],
        json!({"replicas": 3, "strategy": {"kind": "Recreate"}})
    );
}

#[test]
fn applies_defaults_in_array_items_and_map_values() {
    let s = schema(obj(json!({
        "ports": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "protocol": {"type": "string", "default": "TCP"}}}},
        "limits": {"type": "object", "additionalProperties": {"type": "object", "properties": {
            "unit": {"type": "string", "default": "m"}}}},
    })));
    let mut o = object(json!({
        "ports": [{"name": "a"}, {"name": "b", "protocol": "UDP"}],
        "limits": {"cpu": {}, "mem": {"unit": "Mi"}},
    }));
    s.apply_defaults(&mut o);
    assert_eq!(
        o["spec"]["ports"],
        json!([{"name": "a", "protocol": "TCP"}, {"name": "b", "protocol": "UDP"}])
    );
    assert_eq!(
        o["spec"]["limits"],
        json!({"cpu": {"unit": "m"}, "mem": {"unit": "Mi"}})
    );
}

#[test]
fn defaults_replace_nulls_of_non_nullable_fields_only() {
    let s = schema(obj(json!({
        "a": {"type": "string", "default": "x"},
        "b": {"type": "string", "default": "y", "nullable": true},
        "list": {"type": "array", "items": {"type": "string", "default": "item"}},
    })));
    let mut o = object(json!({"a": null, "b": null, "list": ["v", null]}));
    s.apply_defaults(&mut o);
    assert_eq!(
        o["spec"],
        json!({"a": "x", "b": null, "list": ["v", "item"]})
    );
}

#[test]
fn defaults_are_deep_copies() {
    let s = schema(obj(json!({
        "a": {"type": "object", "default": {"k": "v"}, "properties": {"k": {"type": "string"}}},
    })));
    let mut one = object(json!({}));
    s.apply_defaults(&mut one);
    one["spec"]["a"]["k"] = json!("changed");
    let mut two = object(json!({}));
    s.apply_defaults(&mut two);
    assert_eq!(two["spec"]["a"], json!({"k": "v"}));
}

// ---------------------------------------------------------------------------
// prune
// ---------------------------------------------------------------------------

#[test]
fn prunes_unknown_fields_and_reports_their_paths() {
    let s = schema(obj(json!({
        "name": {"type": "string"},
        "items": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}},
        "labels": {"type": "object", "additionalProperties": {"type": "object", "properties": {"v": {"type": "string"}}}},
    })));
    let mut o = object(json!({
        "name": "n", "foo": 1,
        "items": [{"a": "x"}, {"a": "y"}, {"a": "z", "bar": true}],
        "labels": {"key": {"v": "1", "x": 2}},
    }));
    o["status"] = json!({"phase": "Ready"});
    o["metadata"]["anything"] = json!("kept");
    let removed = s.prune(&mut o);
    assert_eq!(
        removed,
        [
            "spec.foo",
            "spec.items[2].bar",
            "spec.labels[key].x",
            "status"
        ]
    );
    assert_eq!(
        o,
        json!({
            "apiVersion": "g/v1", "kind": "K", "metadata": {"name": "n", "anything": "kept"},
            "spec": {"name": "n", "items": [{"a": "x"}, {"a": "y"}, {"a": "z"}], "labels": {"key": {"v": "1"}}},
        })
    );
}

#[test]
fn root_keeps_api_version_kind_and_metadata_even_if_undeclared() {
    let s = Schema::compile(&json!({"type": "object"}), BASE).unwrap();
    let mut o = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "n"}, "extra": 1});
    assert_eq!(s.prune(&mut o), ["extra"]);
    assert_eq!(
        o,
        json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "n"}})
    );
}

#[test]
fn preserve_unknown_fields_keeps_unknown_but_prunes_known_children() {
    let s = schema(json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}},
    }));
    let mut o = object(json!({"free": {"deep": [1, {"x": 2}]}, "known": {"a": "1", "b": 2}}));
    assert_eq!(s.prune(&mut o), ["spec.known.b"]);
    assert_eq!(
        o["spec"],
        json!({"free": {"deep": [1, {"x": 2}]}, "known": {"a": "1"}})
    );
}

#[test]
fn additional_properties_true_keeps_values_whole() {
    let s = schema(json!({"type": "object", "additionalProperties": true}));
    let mut o = object(json!({"a": {"b": {"c": 1}}, "d": [1]}));
    assert!(s.prune(&mut o).is_empty());
    assert_eq!(o["spec"], json!({"a": {"b": {"c": 1}}, "d": [1]}));
}

#[test]
fn embedded_resources_keep_their_type_and_metadata() {
    let s = schema(obj(json!({
        "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                     "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}}}}},
    })));
    let mut o = object(json!({"template": {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
        "spec": {"a": "x", "b": "y"}, "other": 1,
    }}));
    assert_eq!(
        s.prune(&mut o),
        ["spec.template.spec.b", "spec.template.other"]
    );
    assert_eq!(
        o["spec"]["template"]["metadata"],
        json!({"name": "p", "labels": {"a": "b"}})
    );
    assert_eq!(o["spec"]["template"]["kind"], "Pod");
}

// ---------------------------------------------------------------------------
// validate: value validations
// ---------------------------------------------------------------------------

#[test]
fn type_errors_are_phrased_as_kubernetes() {
    let s = schema(obj(json!({"replicas": {"type": "integer"}})));
    let causes = check(&s, json!({"replicas": "string"}));
    assert_eq!(
        causes,
        [Cause {
            reason: "FieldValueTypeInvalid".into(),
            message: "Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"".into(),
            field: "spec.replicas".into(),
        }]
    );
}

#[test]
fn integers_must_be_integral_and_numbers_accept_integers() {
    let s = schema(obj(
        json!({"i": {"type": "integer"}, "n": {"type": "number"}, "b": {"type": "boolean"}}),
    ));
    assert!(check(&s, json!({"i": 3, "n": 3})).is_empty());
    assert!(check(&s, json!({"i": 3.0, "n": 2.5, "b": false})).is_empty());
    let causes = check(&s, json!({"i": 3.5, "n": "x", "b": "true"}));
    assert_eq!(fields(&causes), ["spec.i", "spec.n", "spec.b"]);
    assert!(causes[0]
        .message
        .contains("must be of type integer: \"number\""));
    assert!(causes[2].message.contains("must be of type boolean"));
}

#[test]
fn null_is_only_allowed_where_nullable() {
    let s = schema(obj(
        json!({"a": {"type": "string"}, "b": {"type": "string", "nullable": true, "minLength": 3}}),
    ));
    assert!(check(&s, json!({"b": null})).is_empty());
    let causes = check(&s, json!({"a": null}));
    assert_eq!(causes[0].reason, "FieldValueTypeInvalid");
    assert_eq!(
        causes[0].message,
        "Invalid value: \"null\": spec.a in body must be of type string: \"null\""
    );
}

#[test]
fn int_or_string_accepts_integers_and_strings_only() {
    let s = schema(obj(json!({
        "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
        "bare": {"x-kubernetes-int-or-string": true},
    })));
    assert!(check(&s, json!({"port": 80, "bare": "http"})).is_empty());
    assert!(check(&s, json!({"port": "http", "bare": 8080})).is_empty());
    let causes = check(&s, json!({"port": true, "bare": 1.5}));
    assert_eq!(fields(&causes), ["spec.port", "spec.bare"]);
    assert!(
        causes[0]
            .message
            .contains("must be of type integer-or-string"),
        "{causes:?}"
    );
}

#[test]
fn numeric_bounds() {
    let s = schema(obj(json!({
        "min": {"type": "integer", "minimum": 1},
        "xmin": {"type": "number", "minimum": 1, "exclusiveMinimum": true},
        "max": {"type": "integer", "maximum": 10},
        "xmax": {"type": "integer", "maximum": 10, "exclusiveMaximum": true},
        "mult": {"type": "number", "multipleOf": 0.5},
    })));
    assert!(check(
        &s,
        json!({"min": 1, "xmin": 1.5, "max": 10, "xmax": 9, "mult": 2.5})
    )
    .is_empty());
    let causes = check(
        &s,
        json!({"min": 0, "xmin": 1, "max": 11, "xmax": 10, "mult": 0.3}),
    );
    let messages: Vec<&str> = causes.iter().map(|c| c.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "Invalid value: 0: spec.min in body should be greater than or equal to 1",
            "Invalid value: 1: spec.xmin in body should be greater than 1",
            "Invalid value: 11: spec.max in body should be less than or equal to 10",
            "Invalid value: 10: spec.xmax in body should be less than 10",
            "Invalid value: 0.3: spec.mult in body should be a multiple of 0.5",
        ]
    );
}

#[test]
fn string_lengths_and_patterns() {
    let s = schema(obj(json!({
        "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
    })));
    assert!(check(&s, json!({"name": "abc"})).is_empty());
    // Lengths count characters, not bytes.
    assert!(check(&s, json!({"name": "ééééé"})).len() == 1);
    let causes = check(&s, json!({"name": "abcdef"}));
    assert_eq!(
        causes,
        [Cause::too_long(
            "spec.name",
            "Too long: may not be longer than 5"
        )]
    );
    let causes = check(&s, json!({"name": "A"}));
    assert_eq!(
        causes
            .iter()
            .map(|c| c.message.as_str())
            .collect::<Vec<_>>(),
        [
            "Invalid value: \"A\": spec.name in body should be at least 2 chars long",
            "Invalid value: \"A\": spec.name in body should match '^[a-z]+$'",
        ]
    );
}

#[test]
fn enums_list_the_supported_values() {
    let s = schema(obj(
        json!({"color": {"type": "string", "enum": ["a", "b"]}, "n": {"type": "integer", "enum": [1, 2]}}),
    ));
    assert!(check(&s, json!({"color": "a", "n": 2})).is_empty());
    let causes = check(&s, json!({"color": "x", "n": 3}));
    assert_eq!(
        causes[0],
        Cause::not_supported(
            "spec.color",
            "Unsupported value: \"x\": supported values: \"a\", \"b\""
        )
    );
    assert_eq!(
        causes[1].message,
        "Unsupported value: 3: supported values: 1, 2"
    );
}

#[test]
fn required_properties() {
    let s = schema(
        json!({"type": "object", "required": ["name", "size"], "properties": {"name": {"type": "string"}}}),
    );
    assert_eq!(
        check(&s, json!({})),
        [Cause::required("spec.name"), Cause::required("spec.size")]
    );
    assert!(check(&s, json!({"name": "n", "size": 1})).is_empty());
}

#[test]
fn item_and_property_counts() {
    let s = schema(obj(json!({
        "l": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2},
        "m": {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 1, "maxProperties": 1},
    })));
    assert!(check(&s, json!({"l": [1], "m": {"a": "b"}})).is_empty());
    let causes = check(&s, json!({"l": [], "m": {}}));
    assert_eq!(
        causes[0].message,
        "Invalid value: 0: spec.l in body should have at least 1 items"
    );
    assert_eq!(
        causes[1].message,
        "Invalid value: 0: spec.m in body should have at least 1 properties"
    );
    let causes = check(&s, json!({"l": [1, 2, 3], "m": {"a": "1", "b": "2"}}));
    assert_eq!(causes[0].reason, "FieldValueTooMany");
    assert_eq!(causes[0].message, "Too many: 3: must have at most 2 items");
    assert_eq!(causes[1].reason, "FieldValueTooMany");
}

#[test]
fn nested_paths_use_brackets_for_indices_and_map_keys() {
    let s = schema(obj(json!({
        "ports": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 3}}}},
        "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 3}},
    })));
    let causes = check(
        &s,
        json!({"ports": [{"name": "ok"}, {"name": "toolong"}], "labels": {"foo": "toolong"}}),
    );
    assert_eq!(fields(&causes), ["spec.ports[1].name", "spec.labels[foo]"]);
}

#[test]
fn sets_and_map_lists_refuse_duplicates() {
    let s = schema(obj(json!({
        "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name", "proto"],
                  "items": {"type": "object", "required": ["name", "proto"],
                            "properties": {"name": {"type": "string"}, "proto": {"type": "string"}, "n": {"type": "integer"}}}},
        "free": {"type": "array", "items": {"type": "string"}},
    })));
    assert!(check(
        &s,
        json!({
            "tags": ["a", "b"],
            "ports": [{"name": "a", "proto": "TCP"}, {"name": "a", "proto": "UDP"}],
            "free": ["x", "x"],
        })
    )
    .is_empty());
    let causes = check(
        &s,
        json!({
            "tags": ["a", "b", "a"],
            "ports": [{"name": "a", "proto": "TCP", "n": 1}, {"name": "a", "proto": "TCP", "n": 2}],
        }),
    );
    assert_eq!(fields(&causes), ["spec.tags[2]", "spec.ports[1]"]);
    assert_eq!(causes[0].reason, "FieldValueDuplicate");
    assert_eq!(causes[0].message, "Duplicate value: \"a\"");
    assert_eq!(
        causes[1].message,
        "Duplicate value: {\"name\":\"a\",\"proto\":\"TCP\"}"
    );
}

#[test]
fn formats_are_checked_and_unknown_ones_ignored() {
    let cases = [
        (
            "date-time",
            json!("2024-01-02T03:04:05Z"),
            json!("2024-01-02"),
        ),
        (
            "date-time",
            json!("2024-01-02T03:04:05.123+02:00"),
            json!("yesterday"),
        ),
        ("date", json!("2024-02-29"), json!("2023-02-29")),
        (
            "uuid",
            json!("c399429c-47c0-4181-9068-80670ac5a6c0"),
            json!("c399429c-47c0"),
        ),
        ("email", json!("a@example.com"), json!("not an email")),
        ("hostname", json!("api.example.com"), json!("-bad-.com")),
        ("ipv4", json!("10.0.0.1"), json!("10.0.0.256")),
        ("ipv6", json!("fe80::1"), json!("10.0.0.1")),
        ("cidr", json!("10.0.0.0/8"), json!("10.0.0.0/33")),
        ("uri", json!("https://example.com/x"), json!("no scheme")),
        ("byte", json!("aGVsbG8="), json!("not base64!")),
        ("duration", json!("1h30m"), json!("an hour")),
        ("duration", json!("3 days"), json!("5")),
        ("mac", json!("00:1a:2b:3c:4d:5e"), json!("00:1a:2b")),
    ];
    for (format, good, bad) in cases {
        let s = schema(obj(json!({"v": {"type": "string", "format": format}})));
        assert!(
            check(&s, json!({"v": good})).is_empty(),
            "{format}: {good} refused"
        );
        let causes = check(&s, json!({"v": bad.clone()}));
        assert_eq!(causes.len(), 1, "{format}: {bad} accepted");
        assert_eq!(causes[0].reason, "FieldValueTypeInvalid");
        assert_eq!(
            causes[0].message,
            format!("Invalid value: {bad}: spec.v in body must be of type {format}: {bad}")
        );
    }
    let s = schema(obj(
        json!({"v": {"type": "string", "format": "no-such-format"}}),
    ));
    assert!(check(&s, json!({"v": "anything"})).is_empty());
}

#[test]
fn integer_formats_check_ranges() {
    let s = schema(obj(
        json!({"a": {"type": "integer", "format": "int32"}, "b": {"type": "integer", "format": "int64"}}),
    ));
    assert!(check(&s, json!({"a": 2147483647, "b": 9223372036854775807i64})).is_empty());
    let causes = check(&s, json!({"a": 2147483648i64, "b": 9223372036854775808u64}));
    assert_eq!(fields(&causes), ["spec.a", "spec.b"]);
    assert!(causes[0].message.contains("must be of type int32"));
}

#[test]
fn junctors_validate_values() {
    let s = schema(obj(json!({
        "all": {"type": "string", "allOf": [{"minLength": 2}, {"pattern": "^a"}]},
        "any": {"type": "string", "anyOf": [{"enum": ["x"]}, {"pattern": "^y"}]},
        "one": {"type": "integer", "oneOf": [{"minimum": 5}, {"maximum": 10}]},
        "not": {"type": "string", "not": {"enum": ["forbidden"]}},
        "obj": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                "oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
    })));
    assert!(check(
        &s,
        json!({"all": "ab", "any": "yes", "one": 2, "not": "fine", "obj": {"a": "1"}})
    )
    .is_empty());
    let causes = check(
        &s,
        json!({"all": "b", "any": "z", "one": 7, "not": "forbidden", "obj": {"a": "1", "b": "2"}}),
    );
    let messages: Vec<&str> = causes.iter().map(|c| c.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "Invalid value: \"b\": spec.all in body should be at least 2 chars long",
            "Invalid value: \"b\": spec.all in body should match '^a'",
            "Invalid value: \"z\": spec.any in body must validate at least one schema (anyOf)",
            "Invalid value: 7: spec.one in body must validate one and only one schema (oneOf)",
            "Invalid value: \"forbidden\": spec.not in body must not validate the schema (not)",
            "Invalid value: \"object\": spec.obj in body must validate one and only one schema (oneOf)",
        ]
    );
}

#[test]
fn embedded_resources_need_api_version_and_kind() {
    let s = schema(obj(json!({
        "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true},
    })));
    assert!(check(
        &s,
        json!({"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": 3}}})
    )
    .is_empty());
    let causes = check(&s, json!({"template": {"kind": ""}}));
    assert_eq!(
        fields(&causes),
        ["spec.template.apiVersion", "spec.template.kind"]
    );
    assert_eq!(causes[0].reason, "FieldValueRequired");
}

#[test]
fn metadata_is_never_validated() {
    let s = Schema::compile(&json!({"type": "object", "required": ["metadata", "spec"], "properties": {"spec": {"type": "object"}}}), BASE).unwrap();
    let causes = s.validate(
        &json!({"apiVersion": "g/v1", "kind": "K", "metadata": "not even an object", "spec": {}}),
        None,
    );
    assert!(causes.is_empty(), "{causes:?}");
}

#[test]
fn unknown_fields_left_in_place_are_not_validated() {
    let s = schema(obj(json!({"a": {"type": "string"}})));
    assert!(check(&s, json!({"a": "x", "unknown": {"deep": true}})).is_empty());
}

// ---------------------------------------------------------------------------
// ratcheting
// ---------------------------------------------------------------------------

fn ratchet_schema() -> Schema {
    schema(obj(json!({
        "name": {"type": "string", "maxLength": 3},
        "size": {"type": "integer", "minimum": 1},
        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "required": ["name"],
                            "properties": {"name": {"type": "string"}, "port": {"type": "integer", "maximum": 100}}}},
        "atomic": {"type": "array", "items": {"type": "integer", "maximum": 100}},
    })))
}

#[test]
fn an_unchanged_invalid_field_does_not_block_an_update() {
    let s = ratchet_schema();
    let old = object(json!({"name": "too-long", "size": 1}));
    // Invalid on create...
    assert_eq!(fields(&s.validate(&old, None)), ["spec.name"]);
    // ...but an update that leaves it alone passes.
    let new = object(json!({"name": "too-long", "size": 2}));
    assert!(s.validate(&new, Some(&old)).is_empty());
}

#[test]
fn a_changed_invalid_field_fails_an_update() {
    let s = ratchet_schema();
    let old = object(json!({"name": "too-long", "size": 1}));
    let new = object(json!({"name": "still-too-long", "size": 0}));
    assert_eq!(
        fields(&s.validate(&new, Some(&old))),
        ["spec.name", "spec.size"]
    );
    // A newly added invalid field is a change too.
    let new = object(json!({"name": "too-long", "size": 1, "ports": [{"name": "a", "port": 200}]}));
    assert_eq!(
        fields(&s.validate(&new, Some(&old))),
        ["spec.ports[0].port"]
    );
}

#[test]
fn map_list_items_are_ratcheted_by_key_atomic_lists_as_a_whole() {
    let s = ratchet_schema();
    let old = object(json!({
        "ports": [{"name": "a", "port": 200}, {"name": "b", "port": 1}],
        "atomic": [500, 1],
    }));
    // Reordered and added to: "a" is the same item, still ratcheted.
    let new = object(json!({
        "ports": [{"name": "c", "port": 2}, {"name": "a", "port": 200}, {"name": "b", "port": 1}],
        "atomic": [500, 1],
    }));
    assert!(s.validate(&new, Some(&old)).is_empty());
    // An atomic list that changed is validated whole: its items have no old
    // counterpart.
    let new = object(json!({"ports": old["spec"]["ports"].clone(), "atomic": [500, 2]}));
    assert_eq!(fields(&s.validate(&new, Some(&old))), ["spec.atomic[0]"]);
}

#[test]
fn required_errors_ratchet_only_with_their_unchanged_parent() {
    let s = schema(
        json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "x": {"type": "integer"}}}),
    );
    let old = object(json!({"x": 1}));
    assert!(s.validate(&old, Some(&old)).is_empty());
    let new = object(json!({"x": 2}));
    assert_eq!(s.validate(&new, Some(&old)), [Cause::required("spec.name")]);
}

#[test]
fn metadata_changes_do_not_defeat_ratcheting() {
    let s = ratchet_schema();
    let old = object(json!({"name": "too-long"}));
    let mut new = old.clone();
    new["metadata"]["resourceVersion"] = json!("42");
    new["metadata"]["labels"] = json!({"a": "b"});
    assert!(s.validate(&new, Some(&old)).is_empty());
}

// ---------------------------------------------------------------------------
// robustness
// ---------------------------------------------------------------------------

mod no_panics {
    use super::*;
    use proptest::prelude::*;

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[a-z0-9:/@.-]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("spec".to_string()),
                        Just("name".to_string()),
                        Just("ports".to_string()),
                        "[a-z]{1,4}"
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn rich_schema() -> Schema {
        schema(json!({
            "type": "object",
            "x-kubernetes-validations": [{"rule": "!has(self.name) || self.name != 'bad'"}],
            "properties": {
                "name": {"type": "string", "maxLength": 5, "pattern": "^[a-z]*$", "default": "n"},
                "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "required": ["name"], "properties": {
                              "name": {"type": "string"}, "port": {"x-kubernetes-int-or-string": true}},
                              "x-kubernetes-validations": [{"rule": "self == oldSelf || true"}]}},
                "labels": {"type": "object", "additionalProperties": {"type": "string", "format": "date-time"}},
                "free": {"x-kubernetes-preserve-unknown-fields": true},
            },
        }))
    }

    proptest! {
        #[test]
        fn any_object_goes_through_default_prune_validate(spec in arb_json(), old_spec in arb_json()) {
            let s = rich_schema();
            let mut o = object(spec);
            s.apply_defaults(&mut o);
            s.prune(&mut o);
            let old = object(old_spec);
            let _ = s.validate(&o, None);
            let _ = s.validate(&o, Some(&old));
        }

        #[test]
        fn any_document_compiles_or_is_refused(doc in arb_json()) {
            let _ = Schema::compile(&doc, BASE);
            let _ = Schema::compile(&json!({"type": "object", "properties": {"spec": doc}}), BASE);
        }
    }
}
