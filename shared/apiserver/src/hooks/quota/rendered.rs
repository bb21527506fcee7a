//! What a policy renders for a trigger, as a new object: a claim's or a
//! grant's, named and with its system fields; the 422 of a template that
//! renders an invalid one.

use domain::kinds::KindInfo;
use domain::lifecycle;
use domain::metadata_rules::generated_name;
use domain::object::Object;
use domain::quota as q;
use domain::{ApiError, Cause};
use serde_json::Value;

/// A claim or grant a policy rendered, as a new object of `kind`: named
/// (from its generateName if it has no name), its system fields set, and
/// the causes of its metadata and schema that refuse it.
pub(super) fn rendered_object(
    document: Value,
    kind: &KindInfo,
    now: &str,
) -> Result<(Object, Vec<Cause>), ApiError> {
    let mut obj = Object::from_value(document)
        .map_err(|e| ApiError::internal(format!("rendered {}: {e}", kind.singular)))?;
    if obj.metadata.name.is_empty() {
        let suffix = uuid::Uuid::new_v4().simple().to_string()[..5].to_string();
        obj.metadata.name =
            generated_name(&obj.metadata.generate_name, &suffix, kind.max_name_length);
    }
    lifecycle::initialize(&mut obj, kind, uuid::Uuid::new_v4().to_string(), now);
    let mut causes = lifecycle::validate_metadata(kind, &obj);
    causes.extend(kind.schema.validate(&obj.to_value(), None));
    Ok((obj, causes))
}

/// A policy that rendered an invalid claim or grant: 422 with the
/// template's causes (an expression failing on this trigger stays 400).
pub(super) fn policy_invalid(error: &q::PolicyError) -> ApiError {
    match error {
        q::PolicyError::InvalidDocument {
            policy_kind,
            policy,
            causes,
            ..
        } => ApiError::invalid(
            q::QUOTA_GROUP,
            if *policy_kind == q::CLAIM_CREATION_POLICY.kind {
                q::CLAIM_CREATION_POLICY.plural
            } else {
                q::GRANT_CREATION_POLICY.plural
            },
            policy,
            causes.clone(),
        ),
        other => other.to_api_error(),
    }
}
