//! Updates of a registered CRD: what may not change, and the versions that
//! objects may still be stored under.

use serde_json::Value;

use crate::Cause;

use super::fields::invalid;
use super::ResourceType;

/// Fields that cannot change once the type exists, and why.
const IMMUTABLE: [(&str, &str, &str); 4] = [
    // The group and plural make the CRD's name and the resource's URLs.
    ("/spec/group", "spec.group", "field is immutable"),
    ("/spec/names/plural", "spec.names.plural", "field is immutable"),
    // Kubernetes allows these two to change until the type is established;
    // here a type is established as soon as it is created.
    (
        "/spec/scope",
        "spec.scope",
        "scope cannot change while the type exists",
    ),
    (
        "/spec/names/kind",
        "spec.names.kind",
        "field is immutable: objects are stored by kind, so objects stored under the old kind would no longer be found",
    ),
];

/// Checks an update of a CRD: `old` is the stored document, `new` the
/// proposed one (which already passed [`parse`](super::parse)), and
/// `stored_versions` the versions objects may still be stored under (the
/// stored `status.storedVersions`).
pub fn check_update(old: &Value, new: &Value, stored_versions: &[String]) -> Vec<Cause> {
    let mut causes = Vec::new();
    for (pointer, path, detail) in IMMUTABLE {
        let before = old.pointer(pointer).and_then(Value::as_str);
        let after = new.pointer(pointer).and_then(Value::as_str);
        if before != after {
            causes.push(invalid(path, after.unwrap_or_default(), detail));
        }
    }
    causes.extend(dropped_stored_versions(new, stored_versions));
    causes
}

/// A version objects may still be stored under must stay declared, or they
/// could no longer be read; it may stop being served.
fn dropped_stored_versions(new: &Value, stored_versions: &[String]) -> Vec<Cause> {
    let declared: Vec<&str> = new
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|versions| {
            versions
                .iter()
                .filter_map(|v| v.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    stored_versions
        .iter()
        .enumerate()
        .filter(|(_, version)| !declared.contains(&version.as_str()))
        .map(|(i, version)| {
            Cause::invalid(
                format!("status.storedVersions[{i}]"),
                format!(
                    "version {version:?} may still be the stored version of existing objects: \
                     keep it in spec.versions (it may be served: false)"
                ),
            )
        })
        .collect()
}

/// The new `status.storedVersions`: the old list (`old_status` is the stored
/// CRD's `status`, absent on create) plus the current storage version,
/// appended if missing. Order is kept; a version leaves the list only when a
/// storage migration has rewritten every object, which this server does not
/// do by itself.
pub fn stored_versions(old_status: Option<&Value>, rt: &ResourceType) -> Vec<String> {
    let mut versions = recorded_stored_versions(old_status);
    if let Some(current) = rt.storage_version() {
        if !versions.contains(&current.name) {
            versions.push(current.name.clone());
        }
    }
    versions
}

/// `status.storedVersions` as recorded (every write records its storage
/// version there), without duplicates, order kept.
pub fn recorded_stored_versions(status: Option<&Value>) -> Vec<String> {
    let listed = status
        .and_then(|s| s.get("storedVersions"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut versions: Vec<String> = Vec::new();
    for version in listed.iter().filter_map(Value::as_str) {
        if !versions.iter().any(|v| v == version) {
            versions.push(version.to_string());
        }
    }
    versions
}
