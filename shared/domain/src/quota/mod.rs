//! Quota (issue #5), the functional core: Milo's six `quota.miloapis.com`
//! kinds parsed into typed values, the policies that create claims and
//! grants from templates, and the arithmetic of hierarchical buckets. No
//! I/O: the adapters read what a decision needs (the claimed object's
//! ancestors, the buckets on that path, the registrations), call in here,
//! and write the plan returned in one transaction.
//!
//! How usage is counted, and why:
//! - A bucket is keyed by (consumer, resource type), the consumer being an
//!   organization, folder or project ([`BucketKey`]). Every claim adds its
//!   amount to the bucket of *every* node on the claimed object's path
//!   ([`QuotaPath`]: the project it lives in, the folders above, the
//!   organization), whether or not that node has a grant. A bucket thus
//!   always knows its subtree's usage, so a grant that gives a folder its
//!   first limit, or a folder that moves, needs no recount (and races no
//!   concurrent claim).
//! - A bucket limits claims once a grant contributes to it
//!   (`grantCount > 0`). The claim's own consumer always limits: without a
//!   grant its limit is 0, as in Milo, where a claim with no grant is
//!   denied. The most restrictive bucket on the path decides.
//! - The transaction's condition on each bucket is on its headroom
//!   (`limit - allocated`, stored beside the two so that DynamoDB checks
//!   it without arithmetic): [`HeadroomCheck`].
//! - Each bucket records its consumer's parent, which every claim and
//!   release write checks against the path it was planned on and a move
//!   rewrites ([`BucketChange::parent`], [`plan_move`]): a write planned on
//!   a path that a move has since changed fails instead of counting on the
//!   wrong ancestors.

mod bucket;
mod claim;
mod created;
mod grant;
mod grant_delta;
mod metrics;
mod move_plan;
mod names;
mod plan;
mod policy;
mod policy_expr;
mod read;
mod readiness;
mod recompute;
mod refs;
mod registration;
mod status;
mod template;
#[cfg(test)]
mod tests;
mod tree;
mod trigger;

pub use bucket::{
    claims_holding, parse_bucket, type_still_counted, BucketKey, BucketLevel,
    PROJECT_BUCKET_NAMESPACE,
};
pub use claim::{
    check_claim_status_update, granted_condition, held_claims, held_claims_value, parse_claim,
    resource_context_value, ClaimRequest, CountedFrom, ResourceClaim,
};
pub use grant::{held_grants, held_grants_value, parse_grant, Allowance, ResourceGrant};
pub use grant_delta::{
    grant_limit_changes, update_contributing_refs, ContributingGrantRef, LimitChange,
};
pub use metrics::{
    bucket_level_metrics, decision_metric, drift_metric, Decision, METRICS_NAMESPACE,
};
pub use move_plan::{plan_move, subject_usage, MovePlan, MoveRefusal, Reparent, SubtreeUsage};
pub use names::*;
pub use plan::{
    apply_changes, merge_changes, plan_claim, plan_claims, plan_claims_unread, plan_release,
    plan_unread, BucketChange, ClaimAllocation, ClaimPlan, ClaimRefusal, ClaimsPlan, Denial,
    HeadroomCheck, QuotaExceeded, MAX_BUCKET_CHANGES,
};
pub use policy::{
    parse_claim_creation_policy, parse_grant_creation_policy, policies_naming, ClaimCreationPolicy,
    GrantCreationPolicy, ParentContext, RenderedGrant,
};
pub use policy_expr::PolicyError;
pub use readiness::{
    claim_policy_in_force, claim_policy_status, grant_policy_in_force, grant_policy_status,
};
pub use recompute::{drift, recompute, BucketTotals, CountedClaim, Drift};
pub use refs::{Node, NodeKind, ObjectRef, PathError, QuotaPath};
pub use registration::{
    check_registration_unique, check_registration_update, parse_registration, ClaimingResource,
    MeasurementType, ResourceRegistration,
};
pub use status::*;
pub use template::Template;
pub use tree::{quota_tree, QuotaTreeNode};
pub use trigger::{PolicyInputs, Trigger};
