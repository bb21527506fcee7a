//! What writing a DiscoveryContextPolicy adds (as crds.rs for CRDs): its
//! rules are checked whole by domain::context_policy (422, one cause per
//! field), and every write, a delete included, moves the catalog stamp in
//! its transaction, since the catalog is built with the policies: the next
//! request on any instance serves and lists types as the policies say.

use domain::context_policy;
use domain::kinds::DISCOVERY_CONTEXT_POLICY;
use domain::object::Object;
use domain::ApiError;

/// Refuses a policy whose rules the catalog could not apply.
pub fn check(obj: &Object) -> Result<(), ApiError> {
    context_policy::parse(&obj.to_value())
        .map(drop)
        .map_err(|causes| {
            ApiError::invalid(
                DISCOVERY_CONTEXT_POLICY.group,
                DISCOVERY_CONTEXT_POLICY.plural,
                &obj.metadata.name,
                causes,
            )
        })
}
