//! Reading a stored object's fields, each error naming the field (its path
//! as a person would write it) and what is wrong.

use serde_json::Value;

/// The value at a dotted path (`spec.roleRef`), absent or null as `None`.
pub(super) fn at<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(object, |value, key| value.get(key))
        .filter(|value| !value.is_null())
}

/// A string field; unset, null and "" are `None`. `label` is its path in messages.
pub(super) fn text<'a>(
    object: &'a Value,
    key: &str,
    label: &str,
) -> Result<Option<&'a str>, String> {
    match at(object, key) {
        None => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(format!("{label}: must be a string")),
    }
}

/// A string field that must be set.
pub(super) fn required<'a>(object: &'a Value, key: &str, label: &str) -> Result<&'a str, String> {
    text(object, key, label)?.ok_or_else(|| format!("{label}: must be set"))
}

/// A list field (unset: empty).
pub(super) fn list<'a>(object: &'a Value, key: &str, label: &str) -> Result<&'a [Value], String> {
    match at(object, key) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("{label}: must be a list")),
    }
}

/// A list of strings (unset: empty).
pub(super) fn strings(object: &Value, key: &str, label: &str) -> Result<Vec<String>, String> {
    list(object, key, label)?
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::String(text) => Ok(text.clone()),
            _ => Err(format!("{label}[{index}]: must be a string")),
        })
        .collect()
}

/// The object's kind and API group ("" for the core group).
pub(super) fn kind_and_group(object: &Value) -> (&str, &str) {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    (kind, group)
}

/// metadata.name (required) and metadata.namespace ("" when unset).
pub(super) fn name_and_namespace(object: &Value) -> Result<(String, String), String> {
    let name = required(object, "metadata.name", "metadata.name")?;
    let namespace = text(object, "metadata.namespace", "metadata.namespace")?.unwrap_or("");
    Ok((name.to_string(), namespace.to_string()))
}
