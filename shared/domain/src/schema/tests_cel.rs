//! CEL rules (`x-kubernetes-validations`): compiling, evaluating, transition
//! rules, messages, ratcheting.

use serde_json::{json, Value};

use super::Schema;
use crate::Cause;

const BASE: &str = "spec.versions[0].schema.openAPIV3Schema";

fn schema(spec_schema: Value) -> Schema {
    let doc = json!({"type": "object", "properties": {"spec": spec_schema}});
    Schema::compile(&doc, BASE).unwrap_or_else(|causes| panic!("{causes:#?}"))
}

fn object(spec: Value) -> Value {
    json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "n"}, "spec": spec})
}

fn create(s: &Schema, spec: Value) -> Vec<Cause> {
    s.validate(&object(spec), None)
}

fn update(s: &Schema, old: Value, new: Value) -> Vec<Cause> {
    s.validate(&object(new), Some(&object(old)))
}

/// An object `spec` with the properties `props` and the rules `rules`.
fn with_rules(props: Value, rules: Value) -> Schema {
    schema(json!({"type": "object", "properties": props, "x-kubernetes-validations": rules}))
}

fn refusal(spec_schema: Value) -> Vec<Cause> {
    let doc = json!({"type": "object", "properties": {"spec": spec_schema}});
    Schema::compile(&doc, BASE).unwrap_err()
}

// ---------------------------------------------------------------------------
// compiling
// ---------------------------------------------------------------------------

#[test]
fn refuses_rules_that_do_not_parse() {
    let causes =
        refusal(json!({"type": "string", "x-kubernetes-validations": [{"rule": "self =="}]}));
    assert_eq!(causes.len(), 1);
    assert_eq!(
        causes[0].field,
        format!("{BASE}.properties[spec].x-kubernetes-validations[0].rule")
    );
    assert!(
        causes[0]
            .message
            .starts_with("Invalid value: \"self ==\": compilation failed: "),
        "{causes:?}"
    );
}

#[test]
fn refuses_rules_using_other_variables() {
    let causes = refusal(json!({"type": "object", "x-kubernetes-validations": [
        {"rule": "self.a == 1"},
        {"rule": "foo.bar == self.a"},
    ]}));
    assert_eq!(causes.len(), 1);
    assert_eq!(
        causes[0].field,
        format!("{BASE}.properties[spec].x-kubernetes-validations[1].rule")
    );
    assert!(
        causes[0].message.contains("undeclared reference to 'foo'"),
        "{causes:?}"
    );
    // Macro variables are fine inside their macro.
    schema(json!({"type": "array", "items": {"type": "integer"},
                  "x-kubernetes-validations": [{"rule": "self.all(x, x > 0) && self.exists(y, y == 1)"}]}));
}

#[test]
fn refuses_bad_message_expressions_reasons_field_paths_and_flags() {
    let entry = |extra: Value| {
        let mut rule = json!({"rule": "self.a > 0"});
        rule.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        refusal(
            json!({"type": "object", "properties": {"a": {"type": "integer"}},
                       "x-kubernetes-validations": [rule]}),
        )
    };
    let at = |suffix: &str| format!("{BASE}.properties[spec].x-kubernetes-validations[0].{suffix}");
    let cases = [
        (
            json!({"messageExpression": "'a' +"}),
            "messageExpression",
            "FieldValueInvalid",
        ),
        (
            json!({"messageExpression": "'old: ' + string(oldSelf.a)"}),
            "messageExpression",
            "FieldValueInvalid",
        ),
        (
            json!({"reason": "FieldValueWrong"}),
            "reason",
            "FieldValueNotSupported",
        ),
        (json!({"fieldPath": ".b"}), "fieldPath", "FieldValueInvalid"),
        (json!({"fieldPath": "a"}), "fieldPath", "FieldValueInvalid"),
        (
            json!({"optionalOldSelf": true}),
            "optionalOldSelf",
            "FieldValueInvalid",
        ),
        (
            json!({"message": "two\nlines"}),
            "message",
            "FieldValueInvalid",
        ),
        (json!({"rule": ""}), "rule", "FieldValueRequired"),
    ];
    for (extra, suffix, reason) in cases {
        let causes = entry(extra.clone());
        assert_eq!(causes.len(), 1, "{extra}: {causes:#?}");
        assert_eq!(
            (causes[0].field.as_str(), causes[0].reason.as_str()),
            (at(suffix).as_str(), reason),
            "{extra}"
        );
    }
}

#[test]
fn refuses_old_self_where_no_old_value_can_be_found() {
    // Items of an atomic list have no old counterpart...
    let causes = refusal(json!({"type": "array", "items": {"type": "string",
        "x-kubernetes-validations": [{"rule": "self == oldSelf"}]}}));
    assert_eq!(
        causes[0].field,
        format!("{BASE}.properties[spec].items.x-kubernetes-validations[0].rule")
    );
    assert!(causes[0]
        .message
        .contains("oldSelf cannot be used on the uncorrelatable portion of the schema"));
    // ...items of a map list do.
    schema(
        json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
        "items": {"type": "object", "required": ["k"], "properties": {"k": {"type": "string"}},
                  "x-kubernetes-validations": [{"rule": "self == oldSelf"}]}}),
    );
}

#[test]
fn refuses_rules_too_big_to_evaluate_safely() {
    let nested = format!("{}true{}", "[".repeat(40), "][0]".repeat(40));
    let causes = refusal(json!({"type": "string", "x-kubernetes-validations": [{"rule": nested}]}));
    assert!(
        causes[0]
            .message
            .contains("brackets may not nest more than 32 deep"),
        "{causes:?}"
    );
}

// ---------------------------------------------------------------------------
// evaluating
// ---------------------------------------------------------------------------

#[test]
fn a_failing_rule_reports_its_message_at_its_node() {
    let s = with_rules(
        json!({"min": {"type": "integer"}, "max": {"type": "integer"}}),
        json!([{"rule": "self.min <= self.max", "message": "min must not exceed max"}]),
    );
    assert!(create(&s, json!({"min": 1, "max": 2})).is_empty());
    assert_eq!(
        create(&s, json!({"min": 3, "max": 2})),
        [Cause::invalid(
            "spec",
            "Invalid value: \"object\": min must not exceed max"
        )]
    );
}

#[test]
fn without_a_message_the_rule_is_quoted() {
    let s = schema(json!({"type": "integer", "x-kubernetes-validations": [{"rule": "self > 0"}]}));
    assert_eq!(
        create(&s, json!(0)),
        [Cause::invalid(
            "spec",
            "Invalid value: \"integer\": failed rule: self > 0"
        )]
    );
}

#[test]
fn message_expressions_are_evaluated_with_a_fallback() {
    let s = with_rules(
        json!({"n": {"type": "integer"}}),
        json!([
            {"rule": "self.n < 10", "messageExpression": "'n is ' + string(self.n) + ', must be below 10'"},
            {"rule": "self.n < 5", "message": "static", "messageExpression": "self.n"},
        ]),
    );
    let causes = create(&s, json!({"n": 12}));
    assert_eq!(
        causes[0].message,
        "Invalid value: \"object\": n is 12, must be below 10"
    );
    // Not a string: the static message is used.
    assert_eq!(causes[1].message, "Invalid value: \"object\": static");
}

#[test]
fn reasons_and_field_paths_shape_the_cause() {
    let s = with_rules(
        json!({"a": {"type": "string"}, "labels": {"type": "object", "additionalProperties": {"type": "string"}}}),
        json!([
            {"rule": "has(self.a)", "reason": "FieldValueRequired", "fieldPath": ".a", "message": "a is needed"},
            {"rule": "!has(self.a) || self.a != 'x'", "reason": "FieldValueForbidden", "fieldPath": ".a", "message": "no x"},
            {"rule": "!('dup' in self.labels)", "reason": "FieldValueDuplicate", "fieldPath": ".labels['dup']", "message": "dup"},
        ]),
    );
    let causes = create(&s, json!({"labels": {}}));
    assert_eq!(causes.len(), 1, "{causes:?}");
    assert_eq!(
        causes[0],
        Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value: a is needed".into(),
            field: "spec.a".into()
        }
    );
    let causes = create(&s, json!({"a": "x", "labels": {"dup": "1"}}));
    assert_eq!(causes[0], Cause::forbidden("spec.a", "Forbidden: no x"));
    assert_eq!(causes[1].reason, "FieldValueDuplicate");
    assert_eq!(causes[1].field, "spec.labels[dup]");
}

#[test]
fn field_paths_from_the_root_have_no_leading_dot() {
    let doc = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"a": {"type": "integer"}}}},
                     "x-kubernetes-validations": [{"rule": "self.spec.a > 0", "fieldPath": ".spec.a"}]});
    let s = Schema::compile(&doc, BASE).unwrap();
    let causes = s.validate(&object(json!({"a": 0})), None);
    assert_eq!(causes[0].field, "spec.a");
}

#[test]
fn has_tests_presence_and_absent_fields_are_evaluation_errors() {
    let s = with_rules(
        json!({"a": {"type": "string"}, "b": {"type": "string"}}),
        json!([{"rule": "has(self.a) != has(self.b)", "message": "exactly one of a or b"}]),
    );
    assert!(create(&s, json!({"a": "1"})).is_empty());
    assert_eq!(create(&s, json!({})).len(), 1);
    assert_eq!(create(&s, json!({"a": "1", "b": "2"})).len(), 1);

    let s = with_rules(
        json!({"a": {"type": "string"}}),
        json!([{"rule": "self.a == 'x'"}]),
    );
    let causes = create(&s, json!({}));
    assert_eq!(causes[0].reason, "FieldValueInvalid");
    assert_eq!(
        causes[0].message,
        "Invalid value: \"object\": No such key: a evaluating rule: self.a == 'x'"
    );
}

#[test]
fn rules_do_not_run_on_null_or_absent_values() {
    let s = schema(json!({"type": "object", "properties": {
        "a": {"type": "string", "nullable": true, "x-kubernetes-validations": [{"rule": "self.size() > 3"}]},
    }}));
    assert!(create(&s, json!({"a": null})).is_empty());
    assert!(create(&s, json!({})).is_empty());
    assert_eq!(create(&s, json!({"a": "ab"})).len(), 1);
}

#[test]
fn type_and_enum_errors_block_the_rules() {
    let s = schema(json!({"type": "object",
        "properties": {"n": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": "self.n > 0"}]}));
    let causes = create(&s, json!({"n": "x"}));
    assert_eq!(causes.len(), 1);
    assert_eq!(causes[0].reason, "FieldValueTypeInvalid");
    // Fixed type, failing rule: now the rule reports.
    let causes = create(&s, json!({"n": -1}));
    assert_eq!(causes.len(), 1);
    assert!(causes[0].message.contains("self.n > 0"), "{causes:?}");
}

#[test]
fn values_have_kubernetes_cel_types() {
    let s = schema(json!({"type": "object", "properties": {
        "ratio": {"type": "number", "x-kubernetes-validations": [{"rule": "self > 0.5"}]},
        "count": {"type": "integer", "x-kubernetes-validations": [{"rule": "self + 1 == 3"}]},
        "when": {"type": "string", "format": "date-time",
                 "x-kubernetes-validations": [{"rule": "self < timestamp('2030-01-01T00:00:00Z')"}]},
        "ttl": {"type": "string", "format": "duration",
                "x-kubernetes-validations": [{"rule": "self > duration('1m')"}]},
        "data": {"type": "string", "format": "byte", "x-kubernetes-validations": [{"rule": "self == b'hi'"}]},
        "port": {"x-kubernetes-int-or-string": true,
                 "x-kubernetes-validations": [{"rule": "type(self) == string || self > 0"}]},
        "namespace": {"type": "string"},
    }, "x-kubernetes-validations": [{"rule": "!has(self.__namespace__) || self.__namespace__ != 'kube-system'"}]}));
    let good = json!({"ratio": 1, "count": 2, "when": "2024-01-01T00:00:00Z", "ttl": "1h",
                      "data": "aGk=", "port": "http", "namespace": "default"});
    assert_eq!(create(&s, good), []);
    let bad = json!({"ratio": 0.1, "count": 1, "when": "2031-01-01T00:00:00Z", "ttl": "30s",
                     "data": "aGo=", "port": 0, "namespace": "kube-system"});
    let causes = create(&s, bad);
    assert_eq!(
        causes.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(),
        [
            "spec",
            "spec.ratio",
            "spec.count",
            "spec.when",
            "spec.ttl",
            "spec.data",
            "spec.port"
        ]
    );
}

#[test]
fn the_root_sees_only_name_and_generate_name_of_metadata() {
    let doc = json!({"type": "object", "x-kubernetes-validations": [
        {"rule": "self.metadata.name.startsWith('n')"},
        {"rule": "!has(self.metadata.labels)"},
        {"rule": "self.kind == 'K'"},
    ]});
    let s = Schema::compile(&doc, BASE).unwrap();
    let mut o = object(json!({}));
    o["metadata"]["labels"] = json!({"a": "b"});
    assert_eq!(s.validate(&o, None), []);
    o["metadata"]["name"] = json!("other");
    assert_eq!(s.validate(&o, None).len(), 1);
}

#[test]
fn extensions_and_macros_are_available() {
    let s = schema(json!({"type": "object", "properties": {
        "name": {"type": "string", "x-kubernetes-validations": [
            {"rule": "self.lowerAscii() == self"},
            {"rule": "self.matches('^[a-z-]+$')"},
            {"rule": "self.split('-').size() <= 3"},
            {"rule": "cel.bind(parts, self.split('-'), parts.all(p, p.size() > 0))"},
        ]},
        "labels": {"type": "object", "additionalProperties": {"type": "string"},
                   "x-kubernetes-validations": [{"rule": "self.all(k, k.startsWith('x-'))"}]},
    }}));
    assert_eq!(
        create(&s, json!({"name": "a-b", "labels": {"x-a": "1"}})),
        []
    );
    let causes = create(&s, json!({"name": "A--b-c", "labels": {"y": "1"}}));
    assert_eq!(
        causes.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(),
        [
            "spec.name",
            "spec.name",
            "spec.name",
            "spec.name",
            "spec.labels"
        ]
    );
}

// ---------------------------------------------------------------------------
// transition rules
// ---------------------------------------------------------------------------

fn immutable() -> Schema {
    schema(json!({"type": "object", "properties": {
        "id": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "id is immutable"}]},
        "other": {"type": "string"},
    }}))
}

#[test]
fn transition_rules_only_run_on_update_with_an_old_value() {
    let s = immutable();
    assert!(create(&s, json!({"id": "a"})).is_empty());
    assert!(update(&s, json!({"id": "a"}), json!({"id": "a", "other": "x"})).is_empty());
    assert_eq!(
        update(&s, json!({"id": "a"}), json!({"id": "b"})),
        [Cause::invalid(
            "spec.id",
            "Invalid value: \"string\": id is immutable"
        )]
    );
    // No old value at that path: the rule does not run.
    assert!(update(&s, json!({}), json!({"id": "b"})).is_empty());
}

#[test]
fn milo_immutability_patterns_work() {
    let s = schema(json!({"type": "object", "properties": {
        "a": {"type": "object", "properties": {"k": {"type": "string"}},
              "x-kubernetes-validations": [{"rule": "oldSelf == null || self == oldSelf"}]},
        "b": {"type": "object", "properties": {"k": {"type": "string"}},
              "x-kubernetes-validations": [{"rule": "type(oldSelf) == null_type || self == oldSelf"}]},
    }, "x-kubernetes-validations": [{"rule": "!has(oldSelf.a) || self.a == oldSelf.a", "message": "a is immutable"}]}));
    let old = json!({"a": {"k": "1"}, "b": {"k": "1"}});
    assert!(create(&s, old.clone()).is_empty());
    assert!(update(&s, old.clone(), old.clone()).is_empty());
    let causes = update(&s, old, json!({"a": {"k": "2"}, "b": {"k": "2"}}));
    assert_eq!(
        causes.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(),
        ["spec", "spec.a", "spec.b"]
    );
}

#[test]
fn optional_old_self_runs_on_create_with_an_empty_optional() {
    let s = schema(json!({"type": "object", "properties": {
        "once": {"type": "string", "x-kubernetes-validations": [{
            "rule": "!oldSelf.hasValue() || oldSelf.value() == self",
            "optionalOldSelf": true, "message": "set once"}]},
        "created": {"type": "string", "x-kubernetes-validations": [{
            "rule": "oldSelf.hasValue()", "optionalOldSelf": true, "message": "only on update"}]},
    }}));
    let causes = create(&s, json!({"once": "a", "created": "x"}));
    assert_eq!(
        causes,
        [Cause::invalid(
            "spec.created",
            "Invalid value: \"string\": only on update"
        )]
    );
    let old = json!({"once": "a", "created": "x"});
    assert!(update(&s, old.clone(), old.clone()).is_empty());
    assert_eq!(
        update(&s, old, json!({"once": "b", "created": "x"})).len(),
        1
    );
}

#[test]
fn map_list_items_find_their_old_selves_by_key() {
    let s = schema(
        json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
        "items": {"type": "object", "required": ["name"],
                  "properties": {"name": {"type": "string"}, "size": {"type": "integer"}},
                  "x-kubernetes-validations": [{"rule": "self.size >= oldSelf.size", "message": "may not shrink"}]}}),
    );
    let old = json!([{"name": "a", "size": 2}, {"name": "b", "size": 5}]);
    assert!(update(
        &s,
        old.clone(),
        json!([{"name": "b", "size": 6}, {"name": "a", "size": 2}, {"name": "c", "size": 0}])
    )
    .is_empty());
    let causes = update(
        &s,
        old,
        json!([{"name": "b", "size": 4}, {"name": "a", "size": 2}]),
    );
    assert_eq!(
        causes,
        [Cause::invalid(
            "spec[0]",
            "Invalid value: \"object\": may not shrink"
        )]
    );
}

// ---------------------------------------------------------------------------
// ratcheting
// ---------------------------------------------------------------------------

#[test]
fn rules_on_unchanged_values_are_ratcheted() {
    let s = schema(json!({"type": "object", "properties": {
        "a": {"type": "string", "x-kubernetes-validations": [{"rule": "self.startsWith('ok')"}]},
        "b": {"type": "string"},
    }}));
    let old = json!({"a": "bad", "b": "1"});
    assert_eq!(create(&s, old.clone()).len(), 1);
    // Unchanged: the rule is not evaluated.
    assert!(update(&s, old.clone(), json!({"a": "bad", "b": "2"})).is_empty());
    // Changed: it is.
    assert_eq!(
        update(&s, old, json!({"a": "still-bad", "b": "1"})).len(),
        1
    );
}

#[test]
fn transition_rules_run_even_on_unchanged_values() {
    // A transition rule that fails even when nothing changed shows it ran.
    let s = schema(json!({"type": "object", "properties": {
        "a": {"type": "string", "x-kubernetes-validations": [{"rule": "self != oldSelf", "message": "must change"}]},
        "b": {"type": "string"},
    }}));
    let old = json!({"a": "x", "b": "1"});
    assert_eq!(
        update(&s, old, json!({"a": "x", "b": "2"})),
        [Cause::invalid(
            "spec.a",
            "Invalid value: \"string\": must change"
        )]
    );
}

#[test]
fn a_long_rule_evaluates_on_a_small_stack() {
    // Lambda and tokio worker threads have 2 MiB stacks: the largest rule
    // accepted must compile and run there.
    let long_rule = vec!["self > 0"; 300].join(" || ");
    assert!(long_rule.len() <= 4096);
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let s = schema(
                json!({"type": "integer", "x-kubernetes-validations": [{"rule": long_rule}]}),
            );
            (create(&s, json!(1)), create(&s, json!(0)).len())
        })
        .unwrap();
    let (ok, failures) = handle.join().unwrap();
    assert!(ok.is_empty());
    assert_eq!(failures, 1);
}
