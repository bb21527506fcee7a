//! Validation: the OpenAPI value validations (types, formats, enums, bounds,
//! list types, junctors), then the CEL rules, with ratcheting on update.
//!
//! Also the walk both passes share: the children of a value along the
//! schema, each with the old value at the same place (correlated by key for
//! objects and `x-kubernetes-list-type: map` lists, by value for sets; items
//! of other lists have no old counterpart, as in Kubernetes).

use std::collections::HashMap;
use std::fmt::Write;

use serde_json::{Number, Value};

use super::node::{json_type, ListType, Node, Type};
use super::{child_path, format, key_path, render, rules, MAX_DEPTH};
use crate::Cause;

/// Validates a whole object; see [`super::Schema::validate`].
pub(super) fn validate(root: &Node, object: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut out = Vec::new();
    check_tree(root, object, old, "", 0, &mut out);
    // As Kubernetes: type and enum errors make the object unfit for CEL
    // rules, which are then not run at all. (Kubernetes adds a cause without
    // a field saying so; here every cause names its field, and the rules
    // report once the fields they read are fixed.)
    if out.iter().any(is_blocking) {
        return out;
    }
    rules::check_rules(root, object, old, "", 0, false, &mut out);
    out
}

/// Validates a value against a node on its own (no old value), paths
/// relative to it: used for `default`s.
pub(super) fn validate_value(node: &Node, value: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    check_tree(node, value, None, "", 0, &mut out);
    if out.is_empty() {
        rules::check_rules(node, value, None, "", 0, false, &mut out);
    }
    out
}

fn is_blocking(cause: &Cause) -> bool {
    cause.reason == "FieldValueTypeInvalid" || cause.reason == "FieldValueNotSupported"
}

/// The schema pass over `value` and below.
fn check_tree(
    node: &Node,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    depth: usize,
    out: &mut Vec<Cause>,
) {
    if depth > MAX_DEPTH {
        out.push(Cause::invalid(
            path,
            format!("Invalid value: \"object\": exceeds the maximum nesting depth of {MAX_DEPTH}"),
        ));
        return;
    }
    // Ratcheting: nothing at or below a value equal to the old one fails.
    if old.is_some_and(|o| same(node, value, o)) {
        return;
    }
    if !check_value(node, value, path, depth, out) {
        return;
    }
    for child in children(node, value, old, path) {
        check_tree(
            child.node,
            child.value,
            child.old,
            &child.path,
            depth + 1,
            out,
        );
    }
}

/// The keywords of one node on one value. Returns whether to go on to the
/// children (not after a type error, nor on null).
fn check_value(node: &Node, value: &Value, path: &str, depth: usize, out: &mut Vec<Cause>) -> bool {
    if value.is_null() {
        if !node.nullable && (node.ty.is_some() || node.int_or_string) {
            out.push(type_error(node.type_name(), path, value));
        }
        return false;
    }
    if !type_matches(node, value) {
        out.push(type_error(node.type_name(), path, value));
        return false;
    }
    check_format(node, value, path, out);
    check_enum(node, value, path, out);
    match value {
        Value::String(s) => check_string(node, value, s, path, out),
        Value::Number(n) => check_number(node, value, n, path, out),
        Value::Array(items) => check_array(node, items, path, out),
        Value::Object(map) => check_object(node, map, path, out),
        Value::Bool(_) | Value::Null => {}
    }
    check_junctors(node, value, path, depth, out);
    true
}

fn type_matches(node: &Node, value: &Value) -> bool {
    let actual = json_type(value);
    match node.ty {
        None if node.int_or_string => matches!(actual, "integer" | "string"),
        None => true,
        Some(Type::Number) => matches!(actual, "integer" | "number"),
        Some(t) => t.name() == actual,
    }
}

/// `spec.x in body`, or `body` for the root.
fn in_body(path: &str) -> String {
    if path.is_empty() {
        "body".to_string()
    } else {
        format!("{path} in body")
    }
}

fn type_error(expected: &str, path: &str, value: &Value) -> Cause {
    let actual = json_type(value);
    Cause {
        reason: "FieldValueTypeInvalid".into(),
        message: format!(
            "Invalid value: \"{actual}\": {} must be of type {expected}: \"{actual}\"",
            in_body(path)
        ),
        field: path.to_string(),
    }
}

fn check_format(node: &Node, value: &Value, path: &str, out: &mut Vec<Cause>) {
    let Some(fmt) = &node.format else { return };
    if format::check(fmt, value) == Some(false) {
        let shown = render(value);
        out.push(Cause {
            reason: "FieldValueTypeInvalid".into(),
            message: format!(
                "Invalid value: {shown}: {} must be of type {fmt}: {shown}",
                in_body(path)
            ),
            field: path.to_string(),
        });
    }
}

fn check_enum(node: &Node, value: &Value, path: &str, out: &mut Vec<Cause>) {
    let Some(allowed) = &node.enumeration else {
        return;
    };
    if allowed.contains(value) {
        return;
    }
    let supported: Vec<String> = allowed.iter().map(render).collect();
    out.push(Cause::not_supported(
        path,
        format!(
            "Unsupported value: {}: supported values: {}",
            render(value),
            supported.join(", ")
        ),
    ));
}

fn check_string(node: &Node, value: &Value, s: &str, path: &str, out: &mut Vec<Cause>) {
    let chars = s.chars().count() as u64;
    if let Some(min) = node.min_length.filter(|&min| chars < min) {
        out.push(invalid(
            path,
            value,
            format!("should be at least {min} chars long"),
        ));
    }
    if let Some(max) = node.max_length.filter(|&max| chars > max) {
        out.push(Cause::too_long(
            path,
            format!("Too long: may not be longer than {max}"),
        ));
    }
    if let Some(p) = node.pattern.as_ref().filter(|p| !p.regex.is_match(s)) {
        out.push(invalid(path, value, format!("should match '{}'", p.source)));
    }
}

/// A `FieldValueInvalid` in go-openapi's words: `<path> in body <detail>`.
fn invalid(path: &str, value: &Value, detail: String) -> Cause {
    Cause::invalid(
        path,
        format!(
            "Invalid value: {}: {} {detail}",
            render(value),
            in_body(path)
        ),
    )
}

fn check_number(node: &Node, value: &Value, n: &Number, path: &str, out: &mut Vec<Cause>) {
    if let Some(b) = &node.minimum {
        let ord = compare(n, &b.limit);
        if b.exclusive && ord.is_le() {
            out.push(invalid(
                path,
                value,
                format!("should be greater than {}", b.limit),
            ));
        } else if !b.exclusive && ord.is_lt() {
            out.push(invalid(
                path,
                value,
                format!("should be greater than or equal to {}", b.limit),
            ));
        }
    }
    if let Some(b) = &node.maximum {
        let ord = compare(n, &b.limit);
        if b.exclusive && ord.is_ge() {
            out.push(invalid(
                path,
                value,
                format!("should be less than {}", b.limit),
            ));
        } else if !b.exclusive && ord.is_gt() {
            out.push(invalid(
                path,
                value,
                format!("should be less than or equal to {}", b.limit),
            ));
        }
    }
    if let Some(m) = node.multiple_of.as_ref().filter(|m| !is_multiple(n, m)) {
        out.push(invalid(path, value, format!("should be a multiple of {m}")));
    }
}

/// Compares two JSON numbers: exactly when both are integers, as floats
/// otherwise.
fn compare(a: &Number, b: &Number) -> std::cmp::Ordering {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x.cmp(&y);
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x.cmp(&y);
    }
    let (x, y) = (
        a.as_f64().unwrap_or(f64::NAN),
        b.as_f64().unwrap_or(f64::NAN),
    );
    x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal)
}

/// `multipleOf`: exact on integers; on floats, within a relative 1e-9 of an
/// integral quotient, as go-openapi.
fn is_multiple(n: &Number, m: &Number) -> bool {
    if let (Some(x), Some(y)) = (n.as_i64(), m.as_i64()) {
        return x.checked_rem(y) == Some(0);
    }
    let (x, y) = (
        n.as_f64().unwrap_or(f64::NAN),
        m.as_f64().unwrap_or(f64::NAN),
    );
    let q = x / y;
    if !q.is_finite() {
        return false;
    }
    let r = q.round();
    q == r || (q - r).abs() / (q.abs() + r.abs()) < 1e-9
}

fn check_array(node: &Node, items: &[Value], path: &str, out: &mut Vec<Cause>) {
    let len = items.len() as u64;
    if let Some(min) = node.min_items.filter(|&min| len < min) {
        out.push(Cause::invalid(
            path,
            format!(
                "Invalid value: {len}: {} should have at least {min} items",
                in_body(path)
            ),
        ));
    }
    if let Some(max) = node.max_items.filter(|&max| len > max) {
        out.push(too_many(path, len, max, "items"));
    }
    match node.list_type {
        Some(ListType::Set) => {
            for i in duplicates(items.iter().map(|v| Some(canonical(v)))) {
                out.push(duplicate(&key_path(path, i), render(&items[i])));
            }
        }
        Some(ListType::Map) => {
            let keys: Vec<Option<String>> = items.iter().map(|v| map_key(node, v)).collect();
            for i in duplicates(keys.into_iter()) {
                out.push(duplicate(&key_path(path, i), shown_keys(node, &items[i])));
            }
        }
        Some(ListType::Atomic) | None => {}
    }
}

fn too_many(path: &str, actual: u64, max: u64, what: &str) -> Cause {
    Cause {
        reason: "FieldValueTooMany".into(),
        message: format!("Too many: {actual}: must have at most {max} {what}"),
        field: path.to_string(),
    }
}

fn duplicate(path: &str, shown: String) -> Cause {
    Cause {
        reason: "FieldValueDuplicate".into(),
        message: format!("Duplicate value: {shown}"),
        field: path.to_string(),
    }
}

/// The indices whose key was seen before (`None` keys are not compared).
fn duplicates(keys: impl Iterator<Item = Option<String>>) -> Vec<usize> {
    let mut seen = HashMap::new();
    let mut dups = Vec::new();
    for (i, key) in keys.enumerate() {
        if let Some(key) = key {
            if seen.insert(key, i).is_some() {
                dups.push(i);
            }
        }
    }
    dups
}

/// The key fields of a map-list item, as JSON, for messages.
fn shown_keys(node: &Node, item: &Value) -> String {
    let keys: serde_json::Map<String, Value> = node
        .list_map_keys
        .iter()
        .map(|k| (k.clone(), item.get(k).cloned().unwrap_or(Value::Null)))
        .collect();
    Value::Object(keys).to_string()
}

/// The identity of a map-list item: its key fields, canonically.
fn map_key(node: &Node, item: &Value) -> Option<String> {
    let item = item.as_object()?;
    let mut key = String::new();
    for k in &node.list_map_keys {
        match item.get(k) {
            Some(v) => write_canonical(v, &mut key),
            None => key.push('~'),
        }
        key.push('\u{1f}');
    }
    Some(key)
}

/// A value as a string equal for equal values (object keys sorted).
fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (k, v) in entries {
                let _ = write!(out, "{}:", Value::String(k.clone()));
                write_canonical(v, out);
                out.push(',');
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for v in items {
                write_canonical(v, out);
                out.push(',');
            }
            out.push(']');
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

fn check_object(
    node: &Node,
    map: &serde_json::Map<String, Value>,
    path: &str,
    out: &mut Vec<Cause>,
) {
    for name in &node.required {
        // The server sees to metadata.
        if node.is_resource() && name == "metadata" {
            continue;
        }
        if !map.contains_key(name) {
            out.push(Cause::required(child_path(path, name)));
        }
    }
    let len = map.len() as u64;
    if let Some(min) = node.min_properties.filter(|&min| len < min) {
        out.push(Cause::invalid(
            path,
            format!(
                "Invalid value: {len}: {} should have at least {min} properties",
                in_body(path)
            ),
        ));
    }
    if let Some(max) = node.max_properties.filter(|&max| len > max) {
        out.push(too_many(path, len, max, "properties"));
    }
    if node.embedded {
        check_embedded(map, path, out);
    }
}

/// An embedded resource needs a non-empty string `apiVersion` and `kind`.
fn check_embedded(map: &serde_json::Map<String, Value>, path: &str, out: &mut Vec<Cause>) {
    for field in ["apiVersion", "kind"] {
        let fpath = child_path(path, field);
        match map.get(field) {
            None => out.push(Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value: must not be empty".into(),
                field: fpath,
            }),
            Some(Value::String(s)) if s.is_empty() => out.push(Cause::invalid(
                fpath,
                "Invalid value: \"\": must not be empty",
            )),
            Some(Value::String(_)) => {}
            Some(other) => out.push(type_error("string", &fpath, other)),
        }
    }
}

/// `allOf` reports the causes of its schemas; `anyOf`, `oneOf` and `not` one
/// cause each, as go-openapi.
fn check_junctors(node: &Node, value: &Value, path: &str, depth: usize, out: &mut Vec<Cause>) {
    for sub in &node.all_of {
        check_tree(sub, value, None, path, depth + 1, out);
    }
    let passes = |sub: &Node| {
        let mut causes = Vec::new();
        check_tree(sub, value, None, path, depth + 1, &mut causes);
        causes.is_empty()
    };
    let shown = shown(value);
    if !node.any_of.is_empty() && !node.any_of.iter().any(passes) {
        out.push(Cause::invalid(
            path,
            format!(
                "Invalid value: {shown}: {} must validate at least one schema (anyOf)",
                in_body(path)
            ),
        ));
    }
    if !node.one_of.is_empty() && node.one_of.iter().filter(|s| passes(s)).count() != 1 {
        out.push(Cause::invalid(
            path,
            format!(
                "Invalid value: {shown}: {} must validate one and only one schema (oneOf)",
                in_body(path)
            ),
        ));
    }
    if node.not.as_deref().is_some_and(passes) {
        out.push(Cause::invalid(
            path,
            format!(
                "Invalid value: {shown}: {} must not validate the schema (not)",
                in_body(path)
            ),
        ));
    }
}

/// A value for a message: scalars as they are, objects and lists by type.
fn shown(value: &Value) -> String {
    match value {
        Value::Object(_) | Value::Array(_) => format!("\"{}\"", json_type(value)),
        other => render(other),
    }
}

// ---------------------------------------------------------------------------
// The shared walk
// ---------------------------------------------------------------------------

/// Whether `new` equals `old` for ratcheting. For a resource (the root, an
/// embedded resource) only `metadata.name`/`generateName` of its metadata
/// count, the rest being the server's.
pub(super) fn same(node: &Node, new: &Value, old: &Value) -> bool {
    if !node.is_resource() {
        return new == old;
    }
    let (Value::Object(n), Value::Object(o)) = (new, old) else {
        return new == old;
    };
    let meta = |m: &serde_json::Map<String, Value>, f: &str| {
        m.get("metadata").and_then(|x| x.get(f)).cloned()
    };
    let fields = |m: &serde_json::Map<String, Value>| m.keys().filter(|k| *k != "metadata").count();
    ["name", "generateName"]
        .iter()
        .all(|f| meta(n, f) == meta(o, f))
        && fields(n) == fields(o)
        && n.iter()
            .filter(|(k, _)| *k != "metadata")
            .all(|(k, v)| o.get(k) == Some(v))
}

/// A value below another, with its schema and its old counterpart.
pub(super) struct Child<'a> {
    pub node: &'a Node,
    pub value: &'a Value,
    pub old: Option<&'a Value>,
    pub path: String,
}

/// The children of `value` that have a schema: declared properties and map
/// entries of an object (a resource's `metadata` excepted), items of a list.
pub(super) fn children<'a>(
    node: &'a Node,
    value: &'a Value,
    old: Option<&'a Value>,
    path: &str,
) -> Vec<Child<'a>> {
    match value {
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| !(node.is_resource() && *k == "metadata"))
            .filter_map(|(k, v)| {
                let (child, is_entry) = node.child(k)?;
                Some(Child {
                    node: child,
                    value: v,
                    old: old.and_then(|o| o.get(k)),
                    path: if is_entry {
                        key_path(path, k)
                    } else {
                        child_path(path, k)
                    },
                })
            })
            .collect(),
        Value::Array(items) => {
            let Some(item_node) = node.items.as_deref() else {
                return Vec::new();
            };
            let olds = correlate(node, items, old);
            items
                .iter()
                .zip(olds)
                .enumerate()
                .map(|(i, (v, o))| Child {
                    node: item_node,
                    value: v,
                    old: o,
                    path: key_path(path, i),
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The old item of each item: by key fields in map lists, by value in sets,
/// none in other lists.
fn correlate<'a>(node: &Node, items: &[Value], old: Option<&'a Value>) -> Vec<Option<&'a Value>> {
    let none = || vec![None; items.len()];
    let Some(Value::Array(old_items)) = old else {
        return none();
    };
    let identity = |v: &Value| match node.list_type {
        Some(ListType::Map) => map_key(node, v),
        Some(ListType::Set) => Some(canonical(v)),
        _ => None,
    };
    if !matches!(node.list_type, Some(ListType::Map | ListType::Set)) {
        return none();
    }
    let index: HashMap<String, &'a Value> = old_items
        .iter()
        .filter_map(|o| Some((identity(o)?, o)))
        .collect();
    items
        .iter()
        .map(|v| identity(v).and_then(|k| index.get(&k).copied()))
        .collect()
}

#[cfg(test)]
mod unit_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_exactly_as_integers_and_by_value_otherwise() {
        let n = |v: Value| v.as_number().cloned().unwrap();
        assert!(compare(
            &n(json!(9007199254740993i64)),
            &n(json!(9007199254740992i64))
        )
        .is_gt());
        assert!(compare(&n(json!(1.5)), &n(json!(1))).is_gt());
        assert!(is_multiple(&n(json!(10)), &n(json!(5))));
        assert!(!is_multiple(&n(json!(10)), &n(json!(3))));
        assert!(is_multiple(&n(json!(0.3)), &n(json!(0.1))));
        assert!(!is_multiple(&n(json!(0.35)), &n(json!(0.1))));
    }

    #[test]
    fn canonical_form_ignores_key_order() {
        assert_eq!(
            canonical(&json!({"a": 1, "b": [1, {"y": 2, "x": 1}]})),
            canonical(&json!({"b": [1, {"x": 1, "y": 2}], "a": 1}))
        );
        assert_ne!(canonical(&json!([1, 2])), canonical(&json!([2, 1])));
    }
}
