//! The identities of the quota kinds and the labels and annotations the
//! system puts on what it creates (Milo's names, so that Milo's selectors
//! and scenarios find them).

use crate::kinds::{KindId, V1ALPHA1};

pub const QUOTA_GROUP: &str = "quota.miloapis.com";

pub const RESOURCE_REGISTRATION: KindId = KindId {
    group: QUOTA_GROUP,
    version: V1ALPHA1,
    kind: "ResourceRegistration",
    plural: "resourceregistrations",
};
pub const RESOURCE_GRANT: KindId = KindId {
    group: QUOTA_GROUP,
    version: V1ALPHA1,
    kind: "ResourceGrant",
    plural: "resourcegrants",
};
pub const ALLOWANCE_BUCKET: KindId = KindId {
    group: QUOTA_GROUP,
    version: V1ALPHA1,
    kind: "AllowanceBucket",
    plural: "allowancebuckets",
};
pub const RESOURCE_CLAIM: KindId = KindId {
    group: QUOTA_GROUP,
    version: V1ALPHA1,
    kind: "ResourceClaim",
    plural: "resourceclaims",
};
pub const CLAIM_CREATION_POLICY: KindId = KindId {
    group: QUOTA_GROUP,
    version: V1ALPHA1,
    kind: "ClaimCreationPolicy",
    plural: "claimcreationpolicies",
};
pub const GRANT_CREATION_POLICY: KindId = KindId {
    group: QUOTA_GROUP,
    version: V1ALPHA1,
    kind: "GrantCreationPolicy",
    plural: "grantcreationpolicies",
};

/// On claims and grants a policy created: `"true"`.
pub const AUTO_CREATED_LABEL: &str = "quota.miloapis.com/auto-created";
/// On claims and grants a policy created: the policy's name.
pub const POLICY_LABEL: &str = "quota.miloapis.com/policy";
/// On auto-created claims: the trigger's name (Milo's scenario selects the
/// claims of a project by it).
pub const RESOURCE_NAME_LABEL: &str = "quota.miloapis.com/resource-name";
/// On auto-created claims: the trigger's kind.
pub const RESOURCE_KIND_LABEL: &str = "quota.miloapis.com/resource-kind";
/// On buckets: the consumer's kind and name (Milo's "system labels").
pub const CONSUMER_KIND_LABEL: &str = "quota.miloapis.com/consumer-kind";
pub const CONSUMER_NAME_LABEL: &str = "quota.miloapis.com/consumer-name";
/// On an object that ClaimCreationPolicies claimed for: its claims, as
/// `namespace/name` separated by commas. The server writes it with the
/// claims and keeps it across updates (users cannot set or remove it); the
/// object's deletion releases exactly these (if the object owns them).
/// Recording them here keeps the claim itself one item: no index is needed
/// to find them again.
pub const CLAIMS_ANNOTATION: &str = "quota.miloapis.com/claims";
/// On an object that GrantCreationPolicies granted for: each policy's grant,
/// as `policy=name` separated by commas. Kept by the server as
/// [`CLAIMS_ANNOTATION`]; it is how a grant whose template has only a
/// `generateName` is found again when its trigger changes or goes.
pub const GRANTS_ANNOTATION: &str = "quota.miloapis.com/grants";
/// On a claim a ClaimCreationPolicy made for an object in an
/// organization's or project's control plane: that organization or project,
/// as `Organization/acme` or `Project/p1`. The claim counts on its path,
/// which the object's reference alone does not tell (it names no context);
/// the quota audit recomputes it from here. Only the server writes it.
pub const RESOURCE_CONTEXT_ANNOTATION: &str = "quota.miloapis.com/resource-context";
/// On auto-created claims: who made them (Milo's value).
pub const CREATED_BY_ANNOTATION: &str = "quota.miloapis.com/created-by";
pub const CLAIM_CREATED_BY: &str = "claim-creation-plugin";
pub const GRANT_CREATED_BY: &str = "grant-creation-policy";
