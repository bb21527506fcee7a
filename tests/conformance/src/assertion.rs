//! Chainsaw's assertion trees (kyverno-json's semantics): an expected
//! document is matched against an actual one.
//!
//! - An object matches when every expected key matches; keys absent from the
//!   expected side are not looked at (partial matching). A key written
//!   `(expr)` is a JMESPath projection of the actual value; `~name.(expr)` or
//!   `~.key` iterates over the projected array (or object) and asserts each
//!   element; `key -> name` binds the projected value as `$name`.
//! - An array matches an array of the same length, element by element.
//! - A scalar, or a `(expr)` string evaluated against the actual value,
//!   matches by value; when the expression yields an object or array, that is
//!   matched partially again (objects) or by length and element (arrays).
//!
//! A value of the wrong shape (a key looked up in a string, strings compared
//! with numbers) is an error, not a mismatch: Chainsaw stops polling on it.

use serde_json::Value;

use crate::jmespath::{self, Bindings};

/// Where an assertion failed and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// What a string in an assertion or template means.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    pub foreach: bool,
    pub foreach_name: Option<String>,
    pub binding: Option<String>,
    /// `Some` when the text is an expression (`(...)`); the compiler named
    /// before a `;` in it, if any.
    pub compiler: Option<String>,
    pub statement: String,
}

/// Splits a key or value as kyverno-json does: `~name.` prefix, `-> name`
/// suffix, `\escaped\` text, `(statement)` or `(compiler;statement)`.
pub fn parse_expression(text: &str) -> Expression {
    let mut rest = text.to_string();
    let mut foreach = false;
    let mut foreach_name = None;
    if let Some(after) = rest.strip_prefix('~') {
        if let Some(dot) = after.find('.') {
            let name = &after[..dot];
            if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                foreach = true;
                foreach_name = (!name.is_empty()).then(|| name.to_string());
                rest = after[dot + 1..].to_string();
            }
        }
    }
    let mut binding = None;
    if let Some(arrow) = rest.rfind("->") {
        let name = rest[arrow + 2..].trim();
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            binding = Some(name.to_string());
            rest = rest[..arrow].trim_end().to_string();
        }
    }
    let mut compiler = None;
    if rest.len() > 2 && rest.starts_with('\\') && rest.ends_with('\\') {
        rest = rest[1..rest.len() - 1].to_string();
    } else if rest.len() > 2 && rest.starts_with('(') && rest.ends_with(')') {
        let inner = &rest[1..rest.len() - 1];
        match inner.split_once(';') {
            Some((name, stmt))
                if !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                compiler = Some(name.to_string());
                rest = stmt.to_string();
            }
            _ => {
                compiler = Some("default".to_string());
                rest = inner.to_string();
            }
        }
    }
    Expression {
        foreach,
        foreach_name,
        binding,
        compiler,
        statement: rest,
    }
}

/// Evaluates an expression's statement with the compiler it names (JMESPath
/// is Chainsaw's default; CEL is not needed by the suites).
pub fn eval_statement(
    expr: &Expression,
    current: &Value,
    bindings: &Bindings,
) -> Result<Value, String> {
    match expr.compiler.as_deref() {
        Some("default" | "jp") => jmespath::search(&expr.statement, current, bindings),
        Some(other) => Err(format!(
            "expression compiler {other:?} is not supported (only JMESPath)"
        )),
        None => Ok(Value::String(expr.statement.clone())),
    }
}

/// Matches `actual` against the `expected` tree. `Ok(vec![])` is a match.
pub fn check(
    expected: &Value,
    actual: &Value,
    bindings: &Bindings,
) -> Result<Vec<Mismatch>, String> {
    let mut out = Vec::new();
    assert_node(expected, actual, bindings, "", &mut out)?;
    Ok(out)
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn assert_node(
    expected: &Value,
    actual: &Value,
    bindings: &Bindings,
    path: &str,
    out: &mut Vec<Mismatch>,
) -> Result<(), String> {
    match expected {
        Value::Array(items) => match actual {
            Value::Null => out.push(Mismatch {
                path: path.to_string(),
                message: "value is null".into(),
            }),
            Value::Array(values) => {
                if values.len() != items.len() {
                    out.push(Mismatch {
                        path: path.to_string(),
                        message: format!(
                            "lengths of slices don't match (expected {}, found {})",
                            items.len(),
                            values.len()
                        ),
                    });
                } else {
                    for (i, (e, a)) in items.iter().zip(values).enumerate() {
                        assert_node(e, a, bindings, &format!("{path}[{i}]"), out)?;
                    }
                }
            }
            other => return Err(format!("{path}: expected a slice, found {}", kind(other))),
        },
        Value::Object(map) => {
            if map.is_empty() {
                if actual.is_null() {
                    out.push(Mismatch {
                        path: path.to_string(),
                        message: "invalid value, must not be null".into(),
                    });
                }
                return Ok(());
            }
            let mut bindings = bindings.clone();
            for (key, sub) in map {
                let expr = parse_expression(key);
                let key_path = child(path, key);
                let projected = if expr.compiler.is_some() {
                    Some(
                        eval_statement(&expr, actual, &bindings)
                            .map_err(|e| format!("{key_path}: {e}"))?,
                    )
                } else {
                    match actual {
                        Value::Null => None,
                        Value::Object(o) => o.get(&expr.statement).cloned(),
                        other => {
                            return Err(format!(
                                "{key_path}: projection not recognized on a {}",
                                kind(other)
                            ))
                        }
                    }
                };
                let Some(projected) = projected else {
                    out.push(Mismatch {
                        path: key_path,
                        message: "field not found in the input object".into(),
                    });
                    continue;
                };
                if let Some(name) = &expr.binding {
                    bindings.insert(name.clone(), projected.clone());
                }
                if expr.foreach {
                    match &projected {
                        Value::Array(items) => {
                            for (i, item) in items.iter().enumerate() {
                                let mut b = bindings.clone();
                                if let Some(name) = &expr.foreach_name {
                                    b.insert(name.clone(), Value::from(i));
                                }
                                assert_node(sub, item, &b, &format!("{key_path}[{i}]"), out)?;
                            }
                        }
                        Value::Object(entries) => {
                            for (k, item) in entries {
                                let mut b = bindings.clone();
                                if let Some(name) = &expr.foreach_name {
                                    b.insert(name.clone(), Value::String(k.clone()));
                                }
                                assert_node(sub, item, &b, &child(&key_path, k), out)?;
                            }
                        }
                        other => {
                            return Err(format!(
                                "{key_path}: expected a slice or a map to iterate, found {}",
                                kind(other)
                            ))
                        }
                    }
                } else {
                    assert_node(sub, &projected, &bindings, &key_path, out)?;
                }
            }
        }
        scalar => {
            let expected_value = match scalar {
                Value::String(s) => {
                    let expr = parse_expression(s);
                    if expr.foreach || expr.binding.is_some() {
                        return Err(format!(
                            "{path}: foreach and bindings are not supported in scalar projections"
                        ));
                    }
                    eval_statement(&expr, actual, bindings).map_err(|e| format!("{path}: {e}"))?
                }
                other => other.clone(),
            };
            if !matches(&expected_value, actual).map_err(|e| format!("{path}: {e}"))? {
                out.push(Mismatch {
                    path: path.to_string(),
                    message: format!(
                        "expected {}, found {}",
                        short(&expected_value),
                        short(actual)
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Value matching of a computed expectation (no expressions inside).
fn matches(expected: &Value, actual: &Value) -> Result<bool, String> {
    match expected {
        Value::Array(items) => {
            let Value::Array(values) = actual else {
                return Err(format!(
                    "invalid actual value, must be a slice, found {}",
                    kind(actual)
                ));
            };
            if items.len() != values.len() {
                return Ok(false);
            }
            for (e, a) in items.iter().zip(values) {
                if !matches(e, a)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Value::Object(map) => {
            let Value::Object(values) = actual else {
                return Err(format!(
                    "invalid actual value, must be a map, found {}",
                    kind(actual)
                ));
            };
            for (k, e) in map {
                match values.get(k) {
                    None => return Ok(false),
                    Some(a) => {
                        if !matches(e, a)? {
                            return Ok(false);
                        }
                    }
                }
            }
            Ok(true)
        }
        _ => equal_scalars(expected, actual),
    }
}

fn equal_scalars(expected: &Value, actual: &Value) -> Result<bool, String> {
    match (expected, actual) {
        (Value::Null, Value::Null) => Ok(true),
        (Value::Null, _) | (_, Value::Null) => Ok(false),
        (Value::Number(a), Value::Number(b)) => Ok(a.as_f64() == b.as_f64()),
        (Value::String(a), Value::String(b)) => Ok(a == b),
        (Value::Bool(a), Value::Bool(b)) => Ok(a == b),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => {
            Ok(jmespath::equal(expected, actual))
        }
        _ => Err(format!(
            "types are not comparable, {} - {}",
            kind(expected),
            kind(actual)
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 160 {
        let cut = s.char_indices().nth(160).map(|(i, _)| i).unwrap_or(s.len());
        format!("{}…", &s[..cut])
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(expected: Value, actual: Value) -> bool {
        check(&expected, &actual, &Bindings::new())
            .unwrap()
            .is_empty()
    }

    #[test]
    fn objects_match_partially() {
        let actual =
            json!({"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}}, "spec": {"x": 1}});
        assert!(ok(
            json!({"metadata": {"labels": {"a": "1"}}}),
            actual.clone()
        ));
        assert!(!ok(
            json!({"metadata": {"labels": {"a": "2"}}}),
            actual.clone()
        ));
        assert!(!ok(
            json!({"metadata": {"labels": {"c": "1"}}}),
            actual.clone()
        ));
        assert!(!ok(json!({"status": {}}), actual.clone()));
        assert!(ok(json!({"spec": {}}), actual));
    }

    #[test]
    fn arrays_match_by_length_and_position() {
        let actual = json!({"l": [{"a": 1, "b": 2}, {"a": 3}]});
        assert!(ok(json!({"l": [{"a": 1}, {"a": 3}]}), actual.clone()));
        assert!(!ok(json!({"l": [{"a": 3}, {"a": 1}]}), actual.clone()));
        assert!(!ok(json!({"l": [{"a": 1}]}), actual.clone()));
        assert!(!ok(json!({"missing": [1]}), actual));
    }

    #[test]
    fn numbers_match_by_value_and_types_must_agree() {
        assert!(ok(json!({"limit": 5}), json!({"limit": 5.0})));
        assert!(!ok(json!({"limit": 5}), json!({"limit": 4})));
        // A string against a number is an error, as in Chainsaw, not a mismatch.
        assert!(check(
            &json!({"limit": "5"}),
            &json!({"limit": 5}),
            &Bindings::new()
        )
        .is_err());
        assert!(check(
            &json!({"a": {"b": 1}}),
            &json!({"a": "text"}),
            &Bindings::new()
        )
        .is_err());
    }

    #[test]
    fn expression_keys_project_the_actual_value() {
        let actual = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "OK"},
            {"type": "Suspended", "status": "False"}
        ]}});
        let ready = json!({"status": {"(conditions[?type == 'Ready'])": [{"status": "True"}]}});
        assert!(ok(ready, actual.clone()));
        let suspended =
            json!({"status": {"(conditions[?type == 'Suspended'])": [{"status": "True"}]}});
        assert!(!ok(suspended, actual.clone()));
        // No such condition: an empty projection, whose length differs.
        let absent = json!({"status": {"(conditions[?type == 'Gone'])": [{"status": "True"}]}});
        assert!(!ok(absent, actual.clone()));
        let negated =
            json!({"status": {"(length(conditions[?status == 'Unknown']) == `0`)": true}});
        assert!(ok(negated, actual));
    }

    #[test]
    fn expression_values_are_evaluated_against_the_actual_value() {
        let mut b = Bindings::new();
        b.insert("namespace".into(), json!("chainsaw-x"));
        b.insert("grp".into(), json!({"metadata": {"uid": "u-1"}}));
        let actual = json!({"metadata": {"namespace": "chainsaw-x"}, "subjects": [{"uid": "u-1"}], "n": "abc"});
        let expected = json!({"metadata": {"namespace": "($namespace)"}, "subjects": [{"uid": "($grp.metadata.uid)"}]});
        assert!(check(&expected, &actual, &b).unwrap().is_empty());
        // `(@)` evaluated on the value itself yields the value: a match.
        assert!(ok(json!({"n": "(@)"}), actual));
    }

    #[test]
    fn checks_on_bindings_need_no_actual_value() {
        let mut b = Bindings::new();
        b.insert("error".into(), Value::Null);
        let expect_error = json!({"($error != null)": true});
        assert!(!check(&expect_error, &Value::Null, &b).unwrap().is_empty());
        b.insert(
            "error".into(),
            json!("ResourceRegistration \"x\" is invalid: spec.resourceType: Required value"),
        );
        assert!(check(&expect_error, &Value::Null, &b).unwrap().is_empty());
        let text = json!({"(contains($error, 'spec.resourceType'))": true});
        assert!(check(&text, &Value::Null, &b).unwrap().is_empty());
        let other = json!({"(contains($error, 'spec.type'))": true});
        assert!(!check(&other, &Value::Null, &b).unwrap().is_empty());
    }

    #[test]
    fn foreach_and_bindings() {
        let actual = json!({"items": [{"ready": true, "name": "a"}, {"ready": true, "name": "b"}]});
        assert!(ok(json!({"~.(items)": {"ready": true}}), actual.clone()));
        assert!(!ok(json!({"~.(items)": {"name": "a"}}), actual.clone()));
        assert!(ok(
            json!({"~i.(items)": {"($i >= `0`)": true}}),
            actual.clone()
        ));
        assert!(ok(
            json!({"(items[0]) -> first": {"(name == $first.name)": true}}),
            actual.clone()
        ));
        assert!(!ok(
            json!({"(items[1]) -> second": {"(name == 'a')": true}}),
            actual
        ));
    }

    #[test]
    fn escaped_and_plain_strings_are_literal() {
        assert!(ok(json!({"a": "\\(x)\\"}), json!({"a": "(x)"})));
        assert!(ok(json!({"a": "Standard"}), json!({"a": "Standard"})));
        let e = parse_expression("~name.(items) -> all");
        assert!(e.foreach);
        assert_eq!(e.foreach_name.as_deref(), Some("name"));
        assert_eq!(e.binding.as_deref(), Some("all"));
        assert_eq!(e.statement, "items");
        assert_eq!(parse_expression("(jp;a.b)").compiler.as_deref(), Some("jp"));
        assert_eq!(parse_expression("plain").compiler, None);
    }
}
