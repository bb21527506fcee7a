//! The review kinds as kubectl ≥ 1.32 sends them: their specs (the
//! metadata of a review is never read).

use serde_json::{json, Map, Value};

use super::wire::{message, strings, text, texts, Wire};

/// A review kind's spec, read; `None` for a kind that is not a review.
pub(super) fn spec(kind: &str, spec: &[(u64, Wire<'_>)]) -> Option<Result<Value, String>> {
    Some(match kind {
        "SelfSubjectAccessReview" | "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            access_spec(spec)
        }
        "SelfSubjectRulesReview" => {
            text(spec, 1).map(|ns| json!({"namespace": ns.unwrap_or_default()}))
        }
        "SelfSubjectReview" => Ok(json!({})),
        _ => return None,
    })
}

const RESOURCE_ATTRIBUTES: [(u64, &str); 7] = [
    (1, "namespace"),
    (2, "verb"),
    (3, "group"),
    (4, "version"),
    (5, "resource"),
    (6, "subresource"),
    (7, "name"),
];

/// An access review's spec: 1 resourceAttributes, 2 nonResourceAttributes,
/// 3 user, 4 groups (SubjectAccessReview's; a self review has neither).
fn access_spec(spec: &[(u64, Wire<'_>)]) -> Result<Value, String> {
    let mut out = Map::new();
    if let Some(attributes) = message(spec, 1) {
        out.insert(
            "resourceAttributes".into(),
            strings(attributes, &RESOURCE_ATTRIBUTES)?,
        );
    }
    if let Some(attributes) = message(spec, 2) {
        out.insert(
            "nonResourceAttributes".into(),
            strings(attributes, &[(1, "path"), (2, "verb")])?,
        );
    }
    if let Some(user) = text(spec, 3)? {
        out.insert("user".into(), Value::String(user));
    }
    let groups = texts(spec, 4)?;
    if !groups.is_empty() {
        out.insert("groups".into(), json!(groups));
    }
    Ok(Value::Object(out))
}
