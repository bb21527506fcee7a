//! CEL validation rules (`x-kubernetes-validations`): compiling them with the
//! schema, and evaluating them over an object.
//!
//! As in Kubernetes:
//! - a rule sees the value at its node as `self`; a rule that mentions
//!   `oldSelf` (a transition rule) also sees the old value at the same path,
//!   and runs only on update where that old value exists, unless
//!   `optionalOldSelf: true`, where `oldSelf` is a CEL optional
//!   (`optional.none()` on create);
//! - rules run only on non-null values;
//! - properties whose names are CEL keywords or contain `.`, `-`, `/` or `__`
//!   are escaped (`__namespace__`, `a__dash__b`);
//! - `date-time`/`date` strings are timestamps, `duration` strings durations,
//!   `byte` strings bytes, `number`s doubles, integers ints;
//! - the root's `metadata` only shows `name` and `generateName`.
//!
//! Budget: the `cel` crate has no cost accounting or cancellation, so a rule
//! cannot be stopped mid-evaluation. What is bounded here instead: the length
//! and bracket nesting of a rule's source (which bounds the parser's and the
//! evaluator's recursion), and the depth of the values converted for it; the
//! work a rule does is then bounded by the size of the object it iterates.

use std::collections::HashMap;
use std::sync::Arc;

use cel::common::types::CelOptional;
use cel::common::value::Val;
use cel::{Context, Program, Value as CelValue};
use serde_json::{Number, Value};

use super::node::{json_type, Additional, Node, Type};
use super::{child_path, format, key_path, render, validate, MAX_DEPTH};
use crate::cel_common::{env, quote, FieldExpr, Scan};
use crate::Cause;

/// The deepest value converted for a rule (below the rule's node).
const MAX_VALUE_DEPTH: usize = 100;

/// The `reason` of a rule: the reason of the causes it fails with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reason {
    Invalid,
    Forbidden,
    Required,
    Duplicate,
}

/// One compiled `x-kubernetes-validations` entry.
#[derive(Debug)]
pub(super) struct Rule {
    pub source: String,
    program: Program,
    message: Option<String>,
    message_expression: Option<Program>,
    reason: Reason,
    /// `fieldPath` resolved against the schema, as a path suffix
    /// (`.spec.x`, `[key]`).
    field_path: Option<String>,
    pub optional_old_self: bool,
    /// Whether the rule mentions `oldSelf`.
    pub transition: bool,
}

// ---------------------------------------------------------------------------
// Compiling
// ---------------------------------------------------------------------------

/// Compiles the `x-kubernetes-validations` of the node at `node_path` (whose
/// other keywords are compiled already: `fieldPath` is resolved against it).
/// `correlatable`: whether an old value can be found for this node on update
/// (not below the items of a list other than `x-kubernetes-list-type: map`).
pub(super) fn compile_rules(
    doc: &Value,
    node_path: &str,
    node: &Node,
    correlatable: bool,
    causes: &mut Vec<Cause>,
) -> Vec<Rule> {
    let path = child_path(node_path, "x-kubernetes-validations");
    let Some(entries) = doc.as_array() else {
        causes.push(Cause::invalid(
            path,
            format!("Invalid value: {}: must be a list of rules", render(doc)),
        ));
        return Vec::new();
    };
    let mut rules = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let entry_path = key_path(&path, i);
        let before = causes.len();
        let rule = compile_rule(entry, &entry_path, node_path, node, correlatable, causes);
        if causes.len() == before {
            rules.extend(rule);
        }
    }
    rules
}

fn compile_rule(
    entry: &Value,
    path: &str,
    node_path: &str,
    node: &Node,
    correlatable: bool,
    causes: &mut Vec<Cause>,
) -> Option<Rule> {
    let Some(entry) = entry.as_object() else {
        causes.push(Cause::invalid(
            path,
            format!("Invalid value: {}: must be an object", render(entry)),
        ));
        return None;
    };
    let text = |key: &str, causes: &mut Vec<Cause>| match entry.get(key) {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            causes.push(Cause::invalid(
                child_path(path, key),
                format!("Invalid value: {}: must be a string", render(other)),
            ));
            None
        }
    };

    let rule_path = child_path(path, "rule");
    let source = text("rule", causes).unwrap_or_default();
    if source.trim().is_empty() {
        causes.push(Cause::required(rule_path));
        return None;
    }
    let (program, uses_old_self) = compile_expression(&source, false, &rule_path, causes)?;
    if uses_old_self && !correlatable {
        causes.push(Cause::invalid(
            &rule_path,
            format!(
                "Invalid value: {}: oldSelf cannot be used on the uncorrelatable portion of the schema within {node_path}",
                quote(&source)
            ),
        ));
    }

    let message = text("message", causes);
    if let Some(m) = &message {
        check_message(m, &child_path(path, "message"), causes);
    }
    let message_expression = text("messageExpression", causes).and_then(|src| {
        let mpath = child_path(path, "messageExpression");
        compile_expression(&src, uses_old_self, &mpath, causes).map(|(p, _)| p)
    });
    let reason = compile_reason(text("reason", causes), &child_path(path, "reason"), causes);
    let field_path = text("fieldPath", causes).and_then(|fp| {
        compile_field_path(&fp, node)
            .map_err(|why| {
                causes.push(Cause::invalid(
                    child_path(path, "fieldPath"),
                    format!(
                        "Invalid value: {}: fieldPath must be a valid path: {why}",
                        quote(&fp)
                    ),
                ))
            })
            .ok()
    });
    let optional_old_self = match entry.get("optionalOldSelf") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            causes.push(Cause::invalid(
                child_path(path, "optionalOldSelf"),
                format!("Invalid value: {}: must be a boolean", render(other)),
            ));
            false
        }
    };
    if optional_old_self && !uses_old_self {
        causes.push(Cause::invalid(
            child_path(path, "optionalOldSelf"),
            "Invalid value: true: may not be set to true if the rule does not use oldSelf",
        ));
    }

    Some(Rule {
        source,
        program,
        message,
        message_expression,
        reason,
        field_path,
        optional_old_self,
        transition: uses_old_self,
    })
}

/// Parses a rule or message expression and checks the variables it uses.
/// Returns the program and whether it uses `oldSelf`.
fn compile_expression(
    source: &str,
    old_self_allowed_for_message: bool,
    path: &str,
    causes: &mut Vec<Cause>,
) -> Option<(Program, bool)> {
    let mut expr = FieldExpr::new(source, path, causes);
    let program = expr.parse()?;
    let uses_old_self = expr
        .check(
            Scan::run(program.expression(), &["self", "oldSelf"]).map_err(|name| {
                format!("undeclared reference to '{name}' (only self and oldSelf are available)")
            }),
        )?
        .used
        .contains("oldSelf");
    // A message expression may use oldSelf only where its rule does.
    let is_message = path.ends_with("messageExpression");
    if is_message && uses_old_self && !old_self_allowed_for_message {
        expr.fail("undeclared reference to 'oldSelf' (the rule does not use oldSelf)");
        return None;
    }
    Some((program, uses_old_self))
}

/// Kubernetes requires a message to be one non-blank line.
fn check_message(message: &str, path: &str, causes: &mut Vec<Cause>) {
    if message.trim().is_empty() {
        causes.push(Cause::invalid(
            path,
            "Invalid value: \"\": message must be non-empty if specified",
        ));
    } else if message.contains('\n') {
        causes.push(Cause::invalid(
            path,
            format!(
                "Invalid value: {}: message must not contain line breaks",
                quote(message)
            ),
        ));
    }
}

fn compile_reason(reason: Option<String>, path: &str, causes: &mut Vec<Cause>) -> Reason {
    match reason.as_deref() {
        None | Some("FieldValueInvalid") => Reason::Invalid,
        Some("FieldValueForbidden") => Reason::Forbidden,
        Some("FieldValueRequired") => Reason::Required,
        Some("FieldValueDuplicate") => Reason::Duplicate,
        Some(other) => {
            causes.push(Cause::not_supported(
                path,
                format!(
                    "Unsupported value: {}: supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\"",
                    quote(other)
                ),
            ));
            Reason::Invalid
        }
    }
}

/// Resolves a rule's `fieldPath` (`.spec.x`, `['a.b']`, `.labels['k']`)
/// against the schema of its node, into the suffix of the causes' paths.
fn compile_field_path(field_path: &str, node: &Node) -> Result<String, String> {
    if field_path.is_empty() {
        return Err("must not be empty".to_string());
    }
    let mut out = String::new();
    let mut current = Some(node);
    let mut rest = field_path;
    while !rest.is_empty() {
        let (name, remaining) = if let Some(r) = rest.strip_prefix("['") {
            let end = r.find("']").ok_or("unclosed ['")?;
            (&r[..end], &r[end + 2..])
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            (&r[..end], &r[end..])
        } else {
            return Err(format!("unexpected {}", quote(rest)));
        };
        if name.is_empty() {
            return Err("empty field name".to_string());
        }
        match current {
            Some(n) => match n.child(name) {
                Some((child, true)) => {
                    out = key_path(&out, name);
                    current = Some(child);
                }
                Some((child, false)) => {
                    out = format!("{out}.{name}");
                    current = Some(child);
                }
                // Unknown fields are kept there: the path may go on freely.
                None if n.preserve_unknown || matches!(n.additional, Additional::Any) => {
                    out = format!("{out}.{name}");
                    current = None;
                }
                None => return Err(format!("{name} is not a field of the schema")),
            },
            None => out = format!("{out}.{name}"),
        }
        rest = remaining;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Evaluating
// ---------------------------------------------------------------------------

/// Runs the rules of `node` and below over `value` (the rules pass of
/// validation). `unchanged`: the value equals the old one (ratcheting), so
/// only transition rules run.
pub(super) fn check_rules(
    node: &Node,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    depth: usize,
    unchanged: bool,
    out: &mut Vec<Cause>,
) {
    // Rules only run on non-null values; the depth was reported by the
    // schema pass.
    if !node.has_rules || value.is_null() || depth > MAX_DEPTH {
        return;
    }
    let unchanged = unchanged || old.is_some_and(|o| validate::same(node, value, o));
    // `self` and `oldSelf` are converted once per node and shared by its
    // rules (CEL values are reference-counted): the conversion, not the
    // expression, is most of a rule's cost on a large object.
    let mut bound: Option<Bound> = None;
    for rule in &node.rules {
        if unchanged && !rule.transition {
            continue;
        }
        if rule.transition && old.is_none() && !rule.optional_old_self {
            continue;
        }
        let bound = bound.get_or_insert_with(|| Bound {
            value: to_cel(Some(node), value, 0),
            old: old.map(|o| to_cel(Some(node), o, 0)),
        });
        if let Some(cause) = evaluate(rule, node, value, bound, path) {
            out.push(cause);
        }
    }
    for child in validate::children(node, value, old, path) {
        check_rules(
            child.node,
            child.value,
            child.old,
            &child.path,
            depth + 1,
            unchanged,
            out,
        );
    }
}

/// A node's value and old value as CEL values (or why they could not be
/// converted).
struct Bound {
    value: Result<CelValue, String>,
    old: Option<Result<CelValue, String>>,
}

fn boxed(value: &Result<CelValue, String>) -> Result<Box<dyn Val>, String> {
    let value = value.clone()?;
    Box::<dyn Val>::try_from(value).map_err(|e| e.to_string())
}

/// Evaluates one rule; `Some(cause)` when it fails or cannot be evaluated.
fn evaluate(rule: &Rule, node: &Node, value: &Value, bound: &Bound, path: &str) -> Option<Cause> {
    let type_name = match node.type_name() {
        "" => json_type(value),
        name => name,
    };
    let field = match &rule.field_path {
        Some(suffix) if path.is_empty() => suffix.trim_start_matches('.').to_string(),
        Some(suffix) => format!("{path}{suffix}"),
        None => path.to_string(),
    };
    let error = |why: String| {
        Cause::invalid(
            &field,
            format!(
                "Invalid value: {}: {why} evaluating rule: {}",
                quote(type_name),
                rule_name(rule)
            ),
        )
    };

    let mut context = Context::with_env(Arc::clone(env()));
    match boxed(&bound.value) {
        Ok(v) => context.add_variable_as_val("self", v),
        Err(why) => return Some(error(why)),
    }
    if rule.transition {
        let old_self = match bound.old.as_ref().map(boxed).transpose() {
            Ok(v) => v,
            Err(why) => return Some(error(why)),
        };
        let old_self: Box<dyn Val> = match (old_self, rule.optional_old_self) {
            (Some(v), true) => Box::new(CelOptional::of(v)),
            (None, true) => Box::new(CelOptional::none()),
            (Some(v), false) => v,
            // Not run without an old value: see `check_rules`.
            (None, false) => return None,
        };
        context.add_variable_as_val("oldSelf", old_self);
    }

    match rule.program.execute(&context) {
        Ok(CelValue::Bool(true)) => None,
        Ok(CelValue::Bool(false)) => {
            let message = failure_message(rule, &context);
            Some(failure_cause(rule.reason, field, type_name, &message))
        }
        Ok(other) => Some(error(format!(
            "rule returned {:?}, not a bool",
            other.type_of().to_string()
        ))),
        Err(e) => Some(error(e.to_string())),
    }
}

/// How Kubernetes names a rule in evaluation errors: its message, else its
/// source.
fn rule_name(rule: &Rule) -> &str {
    rule.message.as_deref().unwrap_or(&rule.source).trim()
}

/// The message of a failed rule: its `messageExpression` if that evaluates to
/// a non-blank, single-line string, else its `message`, else
/// `failed rule: <rule>`.
fn failure_message(rule: &Rule, context: &Context) -> String {
    if let Some(expr) = &rule.message_expression {
        if let Ok(CelValue::String(s)) = expr.execute(context) {
            if !s.trim().is_empty() && !s.contains('\n') {
                return s.to_string();
            }
        }
    }
    match &rule.message {
        Some(m) => m.clone(),
        None => format!("failed rule: {}", rule.source.trim()),
    }
}

fn failure_cause(reason: Reason, field: String, type_name: &str, message: &str) -> Cause {
    match reason {
        Reason::Invalid => Cause::invalid(
            field,
            format!("Invalid value: {}: {message}", quote(type_name)),
        ),
        Reason::Forbidden => Cause::forbidden(field, format!("Forbidden: {message}")),
        Reason::Required => Cause {
            reason: "FieldValueRequired".into(),
            message: format!("Required value: {message}"),
            field,
        },
        Reason::Duplicate => Cause {
            reason: "FieldValueDuplicate".into(),
            message: format!("Duplicate value: {}: {message}", quote(type_name)),
            field,
        },
    }
}

// ---------------------------------------------------------------------------
// JSON to CEL
// ---------------------------------------------------------------------------

/// Converts a JSON value to CEL along its schema (`None`: no schema, e.g.
/// under preserve-unknown-fields).
fn to_cel(node: Option<&Node>, value: &Value, depth: usize) -> Result<CelValue, String> {
    if depth > MAX_VALUE_DEPTH {
        return Err(format!(
            "value nesting exceeds the maximum depth of {MAX_VALUE_DEPTH}"
        ));
    }
    Ok(match value {
        Value::Null => CelValue::Null,
        Value::Bool(b) => CelValue::Bool(*b),
        Value::Number(n) => number_to_cel(node.and_then(|n| n.ty), n),
        Value::String(s) => string_to_cel(node, s),
        Value::Array(items) => {
            let item_node = node.and_then(|n| n.items.as_deref());
            let items = items
                .iter()
                .map(|v| to_cel(item_node, v, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            CelValue::List(Arc::new(items))
        }
        Value::Object(map) => {
            let mut out = HashMap::with_capacity(map.len());
            for (key, v) in map {
                let (name, child) = match node {
                    Some(n) if n.is_resource() && key == "metadata" => {
                        out.insert(key.clone(), visible_metadata(v));
                        continue;
                    }
                    Some(n) => match n.child(key) {
                        Some((child, false)) => {
                            (escape(key).unwrap_or_else(|| key.clone()), Some(child))
                        }
                        Some((child, true)) => (key.clone(), Some(child)),
                        None => (key.clone(), None),
                    },
                    None => (key.clone(), None),
                };
                out.insert(name, to_cel(child, v, depth + 1)?);
            }
            CelValue::Map(out.into())
        }
    })
}

/// Integers are CEL ints (uints past `i64::MAX`), except in `number` fields,
/// which are doubles.
fn number_to_cel(ty: Option<Type>, n: &Number) -> CelValue {
    let float = || CelValue::Float(n.as_f64().unwrap_or(f64::NAN));
    if ty == Some(Type::Number) {
        return float();
    }
    if let Some(i) = n.as_i64() {
        return CelValue::Int(i);
    }
    if let Some(u) = n.as_u64() {
        return CelValue::UInt(u);
    }
    match n.as_f64() {
        Some(f) if ty == Some(Type::Integer) && f.fract() == 0.0 && f.abs() < 9.2e18 => {
            CelValue::Int(f as i64)
        }
        _ => float(),
    }
}

fn string_to_cel(node: Option<&Node>, s: &str) -> CelValue {
    let string = || CelValue::String(Arc::new(s.to_string()));
    let Some(node) = node.filter(|n| n.ty == Some(Type::String)) else {
        return string();
    };
    match node.format.as_deref() {
        Some("date-time" | "datetime") => format::parse_date_time(s).map(CelValue::Timestamp),
        Some("date") => format::parse_date(s)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| CelValue::Timestamp(t.and_utc().fixed_offset())),
        Some("duration") => format::parse_duration(s).map(CelValue::Duration),
        Some("byte") => format::parse_byte(s).map(|b| CelValue::Bytes(Arc::new(b))),
        _ => None,
    }
    .unwrap_or_else(string)
}

/// What a rule sees of a resource's `metadata`: `name` and `generateName`.
fn visible_metadata(metadata: &Value) -> CelValue {
    let mut out = HashMap::new();
    for field in ["name", "generateName"] {
        if let Some(Value::String(s)) = metadata.get(field) {
            out.insert(field.to_string(), CelValue::String(Arc::new(s.clone())));
        }
    }
    CelValue::Map(out.into())
}

/// A property name as Kubernetes exposes it to CEL: reserved words as
/// `__word__`; `__`, `.`, `-` and `/` as `__underscores__`, `__dot__`,
/// `__dash__` and `__slash__`. `None` for names CEL cannot reach (leading
/// digit, other characters), which are then left as they are.
fn escape(name: &str) -> Option<String> {
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if crate::cel_common::RESERVED_WORDS.contains(&name) {
        return Some(format!("__{name}__"));
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("__") {
            out.push_str("__underscores__");
            rest = after;
            continue;
        }
        match c {
            '.' => out.push_str("__dot__"),
            '-' => out.push_str("__dash__"),
            '/' => out.push_str("__slash__"),
            c if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
            _ => return None,
        }
        rest = &rest[c.len_utf8()..];
    }
    Some(out)
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn escapes_property_names_like_kubernetes() {
        assert_eq!(escape("namespace").as_deref(), Some("__namespace__"));
        assert_eq!(
            escape("a.b-c/d").as_deref(),
            Some("a__dot__b__dash__c__slash__d")
        );
        assert_eq!(escape("a__b").as_deref(), Some("a__underscores__b"));
        assert_eq!(escape("plain_name1").as_deref(), Some("plain_name1"));
        assert_eq!(escape("1abc"), None);
        assert_eq!(escape("a b"), None);
    }

    #[test]
    fn cel_bind_binds_a_variable() {
        let program = env().compile("cel.bind(x, 2, x * x == 4)").unwrap();
        let context = Context::with_env(Arc::clone(env()));
        assert_eq!(program.execute(&context), Ok(CelValue::Bool(true)));
    }
}
