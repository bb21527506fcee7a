//! Resource documents as Chainsaw reads and prepares them: YAML files of
//! one or more documents (a `List` stands for its items), templated with
//! `(expr)` values, and the few object fields the runner needs.

use serde_json::{Map, Value};

use crate::assertion::{eval_statement, parse_expression};
use crate::jmespath::Bindings;

/// The documents of a resource file, Lists flattened, empty documents skipped.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, String> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let yaml = serde_yaml::Value::deserialize(doc).map_err(|e| e.to_string())?;
        if yaml.is_null() {
            continue;
        }
        let value: Value = serde_json::to_value(yaml).map_err(|e| e.to_string())?;
        if !value.is_object() {
            return Err("a resource document must be an object".into());
        }
        match value.get("items") {
            Some(Value::Array(items)) if is_list(&value) => out.extend(items.iter().cloned()),
            _ => out.push(value),
        }
    }
    Ok(out)
}

fn is_list(v: &Value) -> bool {
    v.get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
}

/// Chainsaw's templating of a resource: every string value written as an
/// expression is replaced by its result, evaluated on that value with the
/// bindings. Keys are left as they are.
pub fn template(value: &Value, bindings: &Bindings) -> Result<Value, String> {
    mutate(value, value, bindings, "")
}

/// Chainsaw's `mutate`: `tpl` walked alongside `input`; a string expression
/// in `tpl` is evaluated on the value at the same place in `input` (an
/// output's `(@)` is the whole object). Other values are kept, escaped
/// `\(...)\` strings too, as Chainsaw keeps them.
pub fn mutate(
    tpl: &Value,
    input: &Value,
    bindings: &Bindings,
    path: &str,
) -> Result<Value, String> {
    Ok(match tpl {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let at = input.get(k).unwrap_or(&Value::Null);
                out.insert(k.clone(), mutate(v, at, bindings, &format!("{path}.{k}"))?);
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            if !(input.is_null() || input.is_array()) {
                return Err(format!("{path}: expected a slice or array"));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let at = input.get(i).unwrap_or(&Value::Null);
                    mutate(v, at, bindings, &format!("{path}[{i}]"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)?
        }
        Value::String(s) => {
            let expr = parse_expression(s);
            if expr.compiler.is_some() && !expr.foreach && expr.binding.is_none() {
                eval_statement(&expr, input, bindings).map_err(|e| format!("{path}: {e}"))?
            } else {
                tpl.clone()
            }
        }
        other => other.clone(),
    })
}

/// The templating assert and error apply before matching: only apiVersion,
/// kind, metadata.name, metadata.namespace and string labels, which say
/// what to read; the rest stays expressions for the matcher.
pub fn template_reference(value: &Value, bindings: &Bindings) -> Result<Value, String> {
    let mut out = value.clone();
    if api_version(value).is_empty() || kind(value).is_empty() {
        return Ok(out);
    }
    for key in ["apiVersion", "kind"] {
        if let Some(v) = value.get(key) {
            out[key] = template(v, bindings)?;
        }
    }
    if let Some(Value::Object(meta)) = value.get("metadata") {
        let mut meta = meta.clone();
        for key in ["name", "namespace"] {
            if let Some(v @ Value::String(_)) = meta.get(key) {
                let t = template(v, bindings)?;
                meta.insert(key.to_string(), t);
            }
        }
        if let Some(Value::Object(labels)) = meta.get("labels").cloned() {
            let mut templated = labels.clone();
            for (k, v) in &labels {
                if v.is_string() {
                    templated.insert(k.clone(), template(v, bindings)?);
                }
            }
            meta.insert("labels".into(), Value::Object(templated));
        }
        out["metadata"] = Value::Object(meta);
    }
    Ok(out)
}

pub fn api_version(v: &Value) -> &str {
    v.get("apiVersion").and_then(Value::as_str).unwrap_or("")
}

pub fn kind(v: &Value) -> &str {
    v.get("kind").and_then(Value::as_str).unwrap_or("")
}

pub fn name(v: &Value) -> &str {
    v.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn namespace(v: &Value) -> &str {
    v.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn set_namespace(v: &mut Value, ns: &str) {
    if let Value::Object(map) = v {
        let meta = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            meta.insert("namespace".into(), Value::String(ns.into()));
        }
    }
}

/// The string labels of an object, as a label selector (`a=1,b=2`).
pub fn label_selector(v: &Value) -> Option<String> {
    let labels = v.pointer("/metadata/labels")?.as_object()?;
    let parts: Vec<String> = labels
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
        .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

/// `group/version` or `version` → (group, version).
pub fn group_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// A one-line name for messages: `Kind ns/name`.
pub fn describe(v: &Value) -> String {
    let (ns, n) = (namespace(v), name(v));
    match (ns.is_empty(), n.is_empty()) {
        (true, true) => kind(v).to_string(),
        (true, false) => format!("{} {n}", kind(v)),
        (false, true) => format!("{} in {ns}", kind(v)),
        (false, false) => format!("{} {ns}/{n}", kind(v)),
    }
}

/// The merge patch apply and patch send: the desired object itself, with
/// the resourceVersion just read, so a concurrent change is a conflict.
pub fn merge_patch_body(desired: &Value, actual_resource_version: &str) -> Value {
    let mut patch = desired.clone();
    if let Value::Object(map) = &mut patch {
        let meta = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            meta.insert(
                "resourceVersion".into(),
                Value::String(actual_resource_version.into()),
            );
        }
    }
    patch
}

/// kubectl's JSONPath for `wait --for=jsonpath`, for the shapes the suites
/// write: `{.a.b[0].c}`. Returns the single value found, if any.
pub fn jsonpath(path: &str, obj: &Value) -> Result<Option<Value>, String> {
    let inner = path
        .trim()
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .ok_or_else(|| format!("jsonpath {path:?} must be written {{...}}"))?;
    let mut cur = obj.clone();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let key = &after[..end];
            if key.is_empty() {
                return Err(format!("unsupported jsonpath {path:?}"));
            }
            cur = match cur.get(key) {
                Some(v) => v.clone(),
                None => return Ok(None),
            };
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after
                .find(']')
                .ok_or_else(|| format!("unsupported jsonpath {path:?}"))?;
            let idx: usize = after[..end]
                .trim()
                .parse()
                .map_err(|_| format!("unsupported jsonpath {path:?} (only [n] indexes)"))?;
            cur = match cur.get(idx) {
                Some(v) => v.clone(),
                None => return Ok(None),
            };
            rest = &after[end + 1..];
        } else {
            return Err(format!("unsupported jsonpath {path:?}"));
        }
    }
    Ok(Some(cur))
}

/// kubectl's rendering of a JSONPath result for comparison (`%v` in Go).
pub fn jsonpath_text(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Object(_) | Value::Array(_) => {
            Err("jsonpath leads to a nested object or list which is not supported".into())
        }
        Value::Null => Ok("<nil>".into()),
        other => Ok(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_lists_and_empty_ones() {
        let text = "---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: A}\n- {apiVersion: v1, kind: B}\n---\n# only a comment\n---\napiVersion: v1\nkind: C\n";
        let docs = parse_documents(text).unwrap();
        let kinds: Vec<&str> = docs.iter().map(kind).collect();
        assert_eq!(kinds, ["A", "B", "C"]);
        assert!(parse_documents("- a\n- b\n").is_err());
    }

    #[test]
    fn templating_replaces_expressions_only() {
        let mut b = Bindings::new();
        b.insert("namespace".into(), json!("chainsaw-abc"));
        let doc = json!({"metadata": {"name": "x", "namespace": "($namespace)"}, "spec": {"n": 1, "l": ["($namespace)", "plain"], "e": "\\(kept)\\"}});
        let out = template(&doc, &b).unwrap();
        assert_eq!(out["metadata"]["namespace"], "chainsaw-abc");
        assert_eq!(out["spec"]["l"], json!(["chainsaw-abc", "plain"]));
        assert_eq!(out["spec"]["e"], "\\(kept)\\");
        assert_eq!(out["spec"]["n"], 1);
        assert!(template(&json!({"a": "($missing)"}), &b).is_err());
    }

    #[test]
    fn outputs_evaluate_against_the_object() {
        let obj = json!({"metadata": {"uid": "u-1", "name": "g"}});
        let out = mutate(&json!("(@)"), &obj, &Bindings::new(), "").unwrap();
        assert_eq!(out, obj);
        let out = mutate(
            &json!({"metadata": {"uid": "(@)"}}),
            &obj,
            &Bindings::new(),
            "",
        )
        .unwrap();
        assert_eq!(out, json!({"metadata": {"uid": "u-1"}}));
    }

    #[test]
    fn reference_templating_leaves_the_body_to_the_matcher() {
        let mut b = Bindings::new();
        b.insert("namespace".into(), json!("ns1"));
        let doc = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "($namespace)"}, "data": {"(length(@))": 1}, "x": "($namespace)"});
        let out = template_reference(&doc, &b).unwrap();
        assert_eq!(namespace(&out), "ns1");
        assert_eq!(out["x"], "($namespace)");
        assert_eq!(out["data"], json!({"(length(@))": 1}));
    }

    #[test]
    fn selectors_and_group_versions() {
        let v = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        assert_eq!(label_selector(&v).as_deref(), Some("a=1,b=2"));
        assert_eq!(label_selector(&json!({})), None);
        assert_eq!(group_version("v1"), ("", "v1"));
        assert_eq!(
            group_version("quota.miloapis.com/v1alpha1"),
            ("quota.miloapis.com", "v1alpha1")
        );
    }

    #[test]
    fn kubectl_jsonpath_subset() {
        let obj = json!({"status": {"phase": "Active"}, "metadata": {"ownerReferences": [{"name": "u"}]}, "n": 5});
        assert_eq!(
            jsonpath("{.status.phase}", &obj).unwrap(),
            Some(json!("Active"))
        );
        assert_eq!(
            jsonpath("{.metadata.ownerReferences[0].name}", &obj).unwrap(),
            Some(json!("u"))
        );
        assert_eq!(
            jsonpath("{.metadata.ownerReferences[1].name}", &obj).unwrap(),
            None
        );
        assert_eq!(jsonpath("{.spec.x}", &obj).unwrap(), None);
        assert_eq!(jsonpath_text(&json!(5)).unwrap(), "5");
        assert!(jsonpath_text(&json!({"a": 1})).is_err());
        assert!(jsonpath(".status", &obj).is_err());
    }
}
