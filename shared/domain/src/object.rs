//! The object model: every stored object is `apiVersion`, `kind`, typed
//! `metadata`, and whatever else its kind carries (`spec`, `status`), kept as
//! JSON so that kinds registered at run time fit the same shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
}

/// `metadata` with the fields the server reads or sets. Unknown fields are
/// dropped on decode, as the Kubernetes API server prunes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub generate_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
    /// Who manages which fields (server-side apply: `domain::apply`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields: Vec<Value>,
}

/// The metadata fields a client may send; anything else under `metadata`
/// is an unknown field.
pub const METADATA_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
    "selfLink",
];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Object {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec`, `status` and any other top-level field of the kind.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

impl Object {
    pub fn spec(&self) -> &Value {
        self.fields.get("spec").unwrap_or(&Value::Null)
    }

    pub fn status(&self) -> &Value {
        self.fields.get("status").unwrap_or(&Value::Null)
    }

    pub fn set_status(&mut self, status: Value) {
        if status.is_null() {
            self.fields.remove("status");
        } else {
            self.fields.insert("status".into(), status);
        }
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Decodes a request body or stored document. The message of the error
    /// names the field that did not fit.
    pub fn from_value(value: Value) -> Result<Self, String> {
        if !value.is_object() {
            return Err("the body must be a JSON or YAML object".into());
        }
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    pub fn resource_version(&self) -> Option<u64> {
        self.metadata.resource_version.parse().ok()
    }
}

/// Reads a dotted path (`spec.ownerRef.name`) of a JSON document as the
/// string a field selector compares with.
pub fn field_value(doc: &Value, path: &str) -> Option<String> {
    let mut at = doc;
    for part in path.split('.') {
        at = at.get(part)?;
    }
    match at {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        Value::Bool(_) | Value::Number(_) => Some(at.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_keeps_spec_and_status() {
        let doc = json!({
            "apiVersion": "resourcemanager.miloapis.com/v1alpha1",
            "kind": "Project",
            "metadata": {"name": "p", "labels": {"a": "b"}},
            "spec": {"ownerRef": {"kind": "Organization", "name": "o"}},
            "status": {"conditions": []}
        });
        let obj = Object::from_value(doc.clone()).unwrap();
        assert_eq!(obj.metadata.labels["a"], "b");
        assert_eq!(obj.to_value(), doc);
    }

    #[test]
    fn wrong_type_in_metadata_is_reported() {
        let err = Object::from_value(json!({"metadata": {"labels": {"a": 1}}})).unwrap_err();
        assert!(err.contains("invalid type"), "{err}");
        assert!(Object::from_value(json!([1])).is_err());
    }

    #[test]
    fn field_value_reads_nested_strings() {
        let doc = json!({"spec": {"ownerRef": {"name": "o"}}, "metadata": {"name": "n"}});
        assert_eq!(
            field_value(&doc, "spec.ownerRef.name").as_deref(),
            Some("o")
        );
        assert_eq!(field_value(&doc, "spec.missing"), None);
    }
}
