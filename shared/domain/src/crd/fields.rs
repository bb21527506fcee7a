//! Reading a CRD document: typed access to its fields, each known by its
//! Kubernetes-style path, and the wording of causes.
//!
//! A CRD arrives as arbitrary JSON. Instead of decoding it into structs (and
//! failing on the first field of the wrong type, as Go's decoder does), every
//! field is read where it is needed; a field of the wrong type becomes a cause
//! and reads as absent, so that all problems are reported together.

use serde_json::Value;

use crate::metadata_rules::DNS1123_LABEL_MAX_LENGTH;
use crate::Cause;

/// A field of the document: its value and its path (`spec.versions[0].name`).
/// `null` reads as absent, as it does for Kubernetes' optional fields.
#[derive(Debug, Clone)]
pub(crate) struct Field<'a> {
    pub value: Option<&'a Value>,
    pub path: String,
}

impl<'a> Field<'a> {
    pub fn root(value: &'a Value) -> Self {
        Self {
            value: Some(value),
            path: String::new(),
        }
    }

    /// The member `key` of this object (absent if this is not an object).
    pub fn get(&self, key: &str) -> Field<'a> {
        let path = if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        };
        self.member(key, path)
    }

    /// A map entry whose key may contain dots: `metadata.annotations[a.b/c]`.
    pub fn entry(&self, key: &str) -> Field<'a> {
        self.member(key, format!("{}[{key}]", self.path))
    }

    pub fn is_present(&self) -> bool {
        self.value.is_some()
    }

    fn member(&self, key: &str, path: String) -> Field<'a> {
        let value = self.value.and_then(|v| v.get(key)).filter(|v| !v.is_null());
        Field { value, path }
    }
}

/// Collects the causes found while reading a document.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    pub causes: Vec<Cause>,
}

impl Reader {
    pub fn push(&mut self, cause: Cause) {
        self.causes.push(cause);
    }

    pub fn extend(&mut self, causes: impl IntoIterator<Item = Cause>) {
        self.causes.extend(causes);
    }

    /// The field as a string; `None` when absent or of another type.
    /// A document's `apiVersion` and `kind`, when given, must be these
    /// (a document of another type or version would be misread).
    pub fn type_meta(&mut self, root: &Field, api_version: &str, kind: &str) {
        for (key, expected) in [("apiVersion", api_version), ("kind", kind)] {
            let field = root.get(key);
            if let Some(value) = self.string(&field) {
                if value != expected {
                    self.push(unsupported(
                        &field.path,
                        value,
                        &supported_values(&[expected]),
                    ));
                }
            }
        }
    }

    pub fn string<'a>(&mut self, field: &Field<'a>) -> Option<&'a str> {
        match field.value? {
            Value::String(s) => Some(s),
            other => self.wrong_type(field, other, "a string"),
        }
    }

    pub fn boolean(&mut self, field: &Field) -> Option<bool> {
        match field.value? {
            Value::Bool(b) => Some(*b),
            other => self.wrong_type(field, other, "a boolean"),
        }
    }

    pub fn integer(&mut self, field: &Field) -> Option<i64> {
        match field.value? {
            Value::Number(n) if n.as_i64().is_some() => n.as_i64(),
            other => self.wrong_type(field, other, "an integer"),
        }
    }

    /// Whether the field is an object; an absent field is not, and is no
    /// problem (callers that require it say so themselves).
    pub fn object(&mut self, field: &Field) -> bool {
        match field.value {
            None => false,
            Some(Value::Object(_)) => true,
            Some(other) => {
                self.wrong_type::<()>(field, other, "an object");
                false
            }
        }
    }

    /// Whether an array item is an object, as every item of a list of
    /// objects must be: an absent (null) one is required.
    pub fn object_item(&mut self, item: &Field) -> bool {
        let object = self.object(item);
        if !object && !item.is_present() {
            self.push(Cause::required(&item.path));
        }
        object
    }

    /// The items of an array field, each with its `[i]` path; none when the
    /// field is absent or not an array.
    pub fn array<'a>(&mut self, field: &Field<'a>) -> Vec<Field<'a>> {
        match field.value {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| Field {
                    value: Some(item).filter(|v| !v.is_null()),
                    path: format!("{}[{i}]", field.path),
                })
                .collect(),
            Some(other) => {
                self.wrong_type::<()>(field, other, "an array");
                Vec::new()
            }
        }
    }

    fn wrong_type<T>(&mut self, field: &Field, value: &Value, expected: &str) -> Option<T> {
        let message = format!("must be {expected}, not {}", json_type(value));
        self.push(Cause::invalid(&field.path, message));
        None
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------------------
// Causes, worded like Kubernetes' `field.Error` so that clients see the same
// text as from a real API server.
// ---------------------------------------------------------------------------

/// `Invalid value: "x": detail`.
pub(crate) fn invalid(path: &str, value: &str, detail: &str) -> Cause {
    Cause::invalid(path, format!("Invalid value: {value:?}: {detail}"))
}

/// `Required value: detail` (plain `Required value` without a detail).
pub(crate) fn required(path: &str, detail: &str) -> Cause {
    let mut cause = Cause::required(path);
    if !detail.is_empty() {
        cause.message = format!("Required value: {detail}");
    }
    cause
}

/// `Unsupported value: "x": detail`.
pub(crate) fn unsupported(path: &str, value: &str, detail: &str) -> Cause {
    Cause::not_supported(path, format!("Unsupported value: {value:?}: {detail}"))
}

/// `supported values: "a", "b"`.
pub(crate) fn supported_values(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("supported values: {}", quoted.join(", "))
}

/// `Forbidden: detail`.
pub(crate) fn forbidden(path: &str, detail: &str) -> Cause {
    Cause::forbidden(path, format!("Forbidden: {detail}"))
}

/// `Duplicate value: "x"` (Kubernetes' `FieldValueDuplicate`).
pub(crate) fn duplicate(path: &str, value: &str) -> Cause {
    Cause {
        reason: "FieldValueDuplicate".into(),
        message: format!("Duplicate value: {value:?}"),
        field: path.into(),
    }
}

/// `Too many: 9: must have at most 8 items` (Kubernetes' `FieldValueTooMany`).
pub(crate) fn too_many(path: &str, count: usize, max: usize) -> Cause {
    Cause {
        reason: "FieldValueTooMany".into(),
        message: format!("Too many: {count}: must have at most {max} items"),
        field: path.into(),
    }
}

// ---------------------------------------------------------------------------
// DNS-1035 labels
// ---------------------------------------------------------------------------

const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_ERR: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";

/// Why `value` is not a DNS-1035 label (a DNS-1123 label that starts with a
/// letter); empty when it is one. Kubernetes holds every name of a CRD
/// (plural, singular, kinds lowercased, short names, categories, versions)
/// to this rule, because they appear in URLs and kubectl arguments where a
/// leading digit would be ambiguous.
pub(crate) fn dns1035_label_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.chars().count() > DNS1123_LABEL_MAX_LENGTH {
        errors.push(format!(
            "must be no more than {DNS1123_LABEL_MAX_LENGTH} characters"
        ));
    }
    let lower_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let well_formed = value.starts_with(|c: char| c.is_ascii_lowercase())
        && value.ends_with(lower_alnum)
        && value.chars().all(|c| lower_alnum(c) || c == '-');
    if !well_formed {
        errors.push(format!(
            "{DNS1035_LABEL_ERR} (e.g. 'my-name' or 'abc-123', regex used for validation is '{DNS1035_LABEL_FMT}')"
        ));
    }
    errors
}
