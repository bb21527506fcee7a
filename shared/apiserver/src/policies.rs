//! What writing an admission policy or binding adds (as crds.rs for CRDs):
//! the object is parsed and its CEL compiled by domain::admission, so a
//! policy that does not compile is refused (422, one cause per field) and
//! nothing is written; a binding's status says whether its policy exists;
//! every write moves the admission stamp (policy_cache.rs).
//!
//! A binding's status is computed when it is written and again whenever
//! it is read (from this instance's policy set, at most a refresh interval
//! old), so it follows its policy being created or deleted later without a
//! write to every binding.

use domain::admission::{self, PolicySet};
use domain::kinds::{
    KindInfo, MUTATING_ADMISSION_POLICY, MUTATING_ADMISSION_POLICY_BINDING,
    VALIDATING_ADMISSION_POLICY, VALIDATING_ADMISSION_POLICY_BINDING,
};
use domain::object::Object;
use domain::ApiError;
use serde_json::Value;

/// Parses (and compiles) the object as its kind; 422 with the causes.
pub fn check(kind: &KindInfo, obj: &Object) -> Result<(), ApiError> {
    let mut doc = obj.to_value();
    // v1beta1 objects have the v1 shape; the parser checks the v1 envelope.
    doc["apiVersion"] = Value::String(format!("{}/{}", admission::GROUP, admission::VERSION));
    let result = if kind.is(&VALIDATING_ADMISSION_POLICY) {
        admission::parse_validating_policy(&doc).map(drop)
    } else if kind.is(&VALIDATING_ADMISSION_POLICY_BINDING) {
        admission::parse_validating_binding(&doc).map(drop)
    } else if kind.is(&MUTATING_ADMISSION_POLICY) {
        admission::parse_mutating_policy(&doc).map(drop)
    } else if kind.is(&MUTATING_ADMISSION_POLICY_BINDING) {
        admission::parse_mutating_binding(&doc).map(drop)
    } else {
        Ok(())
    };
    result
        .map_err(|causes| ApiError::invalid(&kind.group, &kind.plural, &obj.metadata.name, causes))
}

/// The policy kind a binding kind binds, if `kind` is a binding kind.
fn policy_kind_of(kind: &KindInfo) -> Option<&'static str> {
    if kind.is(&VALIDATING_ADMISSION_POLICY_BINDING) {
        Some(VALIDATING_ADMISSION_POLICY.kind)
    } else if kind.is(&MUTATING_ADMISSION_POLICY_BINDING) {
        Some(MUTATING_ADMISSION_POLICY.kind)
    } else {
        None
    }
}

/// A binding document with its status computed against `set`; other
/// documents unchanged.
pub fn with_binding_status(kind: &KindInfo, mut doc: Value, set: &PolicySet, now: &str) -> Value {
    let Some(policy_kind) = policy_kind_of(kind) else {
        return doc;
    };
    let policy = doc["spec"]["policyName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let found = if kind.is(&VALIDATING_ADMISSION_POLICY_BINDING) {
        set.has_validating_policy(&policy)
    } else {
        set.has_mutating_policy(&policy)
    };
    let previous = doc.get("status").cloned().unwrap_or(Value::Null);
    if let Some(map) = doc.as_object_mut() {
        map.insert(
            "status".into(),
            admission::binding_status(policy_kind, &policy, found, &previous, now),
        );
    }
    doc
}

/// Whether `kind` is a binding kind (its status is computed).
pub fn is_binding_kind(kind: &KindInfo) -> bool {
    policy_kind_of(kind).is_some()
}
