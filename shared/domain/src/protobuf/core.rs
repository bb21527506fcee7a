//! The core kinds kubectl's own create commands send as protobuf
//! (`kubectl create namespace|configmap|secret`): Namespace, ConfigMap,
//! Secret, with the ObjectMeta fields a create carries. A field this does
//! not read is one kubectl does not send on a create.

use base64::Engine;
use serde_json::{Map, Value};

use super::wire::{fields, flag, map, message, text, texts, utf8, Wire};

/// A core kind's fields (all but metadata), read; `None` for a kind that
/// is not one of these.
pub(super) fn body(
    kind: &str,
    object: &[(u64, Wire<'_>)],
) -> Option<Result<Map<String, Value>, String>> {
    let read = match kind {
        "Namespace" => namespace,
        "ConfigMap" => config_map,
        "Secret" => secret,
        _ => return None,
    };
    Some(read(object))
}

/// ObjectMeta: 1 name, 2 generateName, 3 namespace, 11 labels,
/// 12 annotations, 14 finalizers.
pub(super) fn metadata(bytes: &[u8]) -> Result<Value, String> {
    let meta = fields(bytes)?;
    let mut out = Map::new();
    for (number, name) in [(1, "name"), (2, "generateName"), (3, "namespace")] {
        if let Some(value) = text(&meta, number)?.filter(|v| !v.is_empty()) {
            out.insert(name.into(), Value::String(value));
        }
    }
    for (number, name) in [(11, "labels"), (12, "annotations")] {
        if let Some(entries) = map(&meta, number, utf8)? {
            out.insert(name.into(), entries);
        }
    }
    let finalizers = texts(&meta, 14)?;
    if !finalizers.is_empty() {
        out.insert("finalizers".into(), finalizers.into());
    }
    Ok(Value::Object(out))
}

/// 2 spec {1 finalizers}; its status is the server's.
fn namespace(object: &[(u64, Wire<'_>)]) -> Result<Map<String, Value>, String> {
    let spec = fields(message(object, 2).unwrap_or_default())?;
    let mut out = Map::new();
    let finalizers = texts(&spec, 1)?;
    if !finalizers.is_empty() {
        out.insert("spec".into(), serde_json::json!({"finalizers": finalizers}));
    }
    Ok(out)
}

/// 2 data, 3 binaryData (bytes, as base64 in JSON), 4 immutable.
fn config_map(object: &[(u64, Wire<'_>)]) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    insert(&mut out, "data", map(object, 2, utf8)?);
    insert(&mut out, "binaryData", map(object, 3, base64)?);
    insert(&mut out, "immutable", flag(object, 4).map(Value::Bool));
    Ok(out)
}

/// 2 data (bytes, as base64 in JSON), 3 type, 4 immutable, 5 stringData.
fn secret(object: &[(u64, Wire<'_>)]) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    insert(&mut out, "data", map(object, 2, base64)?);
    insert(&mut out, "type", text(object, 3)?.map(Value::String));
    insert(&mut out, "immutable", flag(object, 4).map(Value::Bool));
    insert(&mut out, "stringData", map(object, 5, utf8)?);
    Ok(out)
}

fn insert(out: &mut Map<String, Value>, name: &str, value: Option<Value>) {
    if let Some(value) = value {
        out.insert(name.into(), value);
    }
}

fn base64(bytes: &[u8]) -> Result<Value, String> {
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(bytes),
    ))
}
