//! Reading quota documents field by field (the CRD reader's way: every
//! problem becomes a cause at its path, all reported together), plus the
//! few checks the quota kinds share.

use serde_json::Value;

use crate::crd::fields::{invalid, required, Field, Reader};
use crate::Cause;

pub(crate) use crate::crd::fields::{duplicate, too_many, unsupported};

/// The `a{separator}b` entries of a comma-separated annotation value, both
/// sides non-empty; malformed entries are skipped (whoever reads them
/// checks what they name anyway).
pub(crate) fn annotation_pairs(
    value: &str,
    separator: char,
) -> impl Iterator<Item = (String, String)> + '_ {
    value
        .split(',')
        .filter_map(move |entry| entry.trim().split_once(separator))
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .map(|(a, b)| (a.to_string(), b.to_string()))
}

/// A required string: absent or empty is `Required value`.
pub(crate) fn required_string(r: &mut Reader, field: &Field) -> Option<String> {
    if !field.is_present() {
        r.push(required(&field.path, ""));
        return None;
    }
    // A value of another type is reported by the reader.
    let value = r.string(field)?;
    if value.is_empty() {
        r.push(required(&field.path, ""));
        return None;
    }
    Some(value.to_string())
}

/// An optional string; absent reads as empty.
pub(crate) fn optional_string(r: &mut Reader, field: &Field) -> String {
    r.string(field).unwrap_or_default().to_string()
}

/// A string's length in characters must be within `min..=max`.
pub(crate) fn check_length(r: &mut Reader, field: &Field, value: &str, min: usize, max: usize) {
    let n = value.chars().count();
    if n < min || n > max {
        let detail = if n > max {
            format!("must be no more than {max} characters")
        } else {
            format!("must be at least {min} characters")
        };
        r.push(invalid(&field.path, value, &detail));
    }
}

/// A strictly positive integer amount: a claim's request, a move's usage.
pub(crate) fn positive_amount(r: &mut Reader, field: &Field) -> Option<i64> {
    let amount = amount(r, field)?;
    if amount <= 0 {
        r.push(Cause::invalid(
            &field.path,
            format!("Invalid value: {amount}: must be greater than 0"),
        ));
        return None;
    }
    Some(amount)
}

/// A non-negative integer amount: a grant's bucket (0 gives nothing, as in
/// Milo, but is not an error).
pub(crate) fn non_negative_amount(r: &mut Reader, field: &Field) -> Option<i64> {
    let amount = amount(r, field)?;
    if amount < 0 {
        r.push(Cause::invalid(
            &field.path,
            format!("Invalid value: {amount}: must be greater than or equal to 0"),
        ));
        return None;
    }
    Some(amount)
}

fn amount(r: &mut Reader, field: &Field) -> Option<i64> {
    if !field.is_present() {
        r.push(required(&field.path, ""));
        return None;
    }
    r.integer(field)
}

/// A required array with at least `min` and at most `max` items.
pub(crate) fn bounded_array<'a>(
    r: &mut Reader,
    field: &Field<'a>,
    min: usize,
    max: usize,
) -> Vec<Field<'a>> {
    if !field.is_present() {
        r.push(required(&field.path, ""));
        return Vec::new();
    }
    let items = r.array(field);
    if field.value.is_some_and(Value::is_array) && items.len() < min {
        r.push(required(
            &field.path,
            &format!("must have at least {min} item(s)"),
        ));
    }
    if items.len() > max {
        r.push(too_many(&field.path, items.len(), max));
    }
    items
}

/// `metadata.name` and `metadata.generation` of a document.
pub(crate) fn name_and_generation(doc: &Value) -> (String, i64) {
    let name = doc["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let generation = doc["metadata"]["generation"].as_i64().unwrap_or(1);
    (name, generation)
}

/// The document's `spec`, required.
pub(crate) fn spec<'a>(r: &mut Reader, root: &Field<'a>) -> Field<'a> {
    let spec = root.get("spec");
    if !spec.is_present() {
        r.push(required("spec", ""));
    } else {
        r.object(&spec);
    }
    spec
}

/// An API group: empty (core) or a DNS subdomain.
pub(crate) fn check_api_group(r: &mut Reader, field: &Field, group: &str) {
    if group.is_empty() {
        return;
    }
    for detail in crate::metadata_rules::dns1123_subdomain_errors(group) {
        r.push(invalid(&field.path, group, &detail));
    }
}
