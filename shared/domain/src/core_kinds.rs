//! What Kubernetes' core kinds do beyond their schemas (their CRDs are in
//! ../crds: secrets, configmaps, endpointslices). Only one thing: a
//! Secret's `stringData` is a write-only field that the API server folds
//! into `data`, base64-encoded, before anything else sees the object; a
//! key in both takes `stringData`'s value, as in Kubernetes.

use base64::Engine;
use serde_json::{Map, Value};

use crate::kinds::{KindInfo, SECRET};

/// Folds a Secret's `stringData` into `data`; other kinds are untouched.
/// Runs on the body as sent, once its schema pruned and defaulted it.
pub fn fold_write_only_fields(kind: &KindInfo, doc: &mut Value) {
    if !kind.is(&SECRET) {
        return;
    }
    let Some(fields) = doc.as_object_mut() else {
        return;
    };
    let Some(string_data) = fields.remove("stringData") else {
        return;
    };
    let Value::Object(string_data) = string_data else {
        return;
    };
    if string_data.is_empty() {
        return;
    }
    let data = fields
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    if !data.is_object() {
        *data = Value::Object(Map::new());
    }
    if let Value::Object(data) = data {
        for (key, value) in string_data {
            let text = value.as_str().unwrap_or_default();
            let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
            data.insert(key, Value::String(encoded));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use serde_json::json;

    fn kind(id: &crate::kinds::KindId) -> KindInfo {
        let catalog = Catalog::builtin().unwrap();
        (*catalog.kind(id).unwrap()).clone()
    }

    #[test]
    fn a_secrets_string_data_is_written_into_data_base64_encoded() {
        let secret = kind(&SECRET);
        let mut doc = json!({
            "data": {"kept": "a2VwdA==", "both": "b2xk"},
            "stringData": {"test-key": "test-value-1", "both": "new"}
        });
        fold_write_only_fields(&secret, &mut doc);
        assert_eq!(
            doc,
            json!({"data": {
                "kept": "a2VwdA==",
                "both": "bmV3",
                "test-key": "dGVzdC12YWx1ZS0x"
            }})
        );
    }

    #[test]
    fn string_data_alone_makes_data() {
        let secret = kind(&SECRET);
        let mut doc = json!({"stringData": {"a": ""}});
        fold_write_only_fields(&secret, &mut doc);
        assert_eq!(doc, json!({"data": {"a": ""}}));
    }

    #[test]
    fn other_kinds_keep_a_field_named_string_data() {
        let config_map = kind(&crate::kinds::CONFIG_MAP);
        let mut doc = json!({"stringData": {"a": "b"}});
        fold_write_only_fields(&config_map, &mut doc);
        assert_eq!(doc, json!({"stringData": {"a": "b"}}));
    }
}
