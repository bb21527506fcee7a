//! The quota policies and registrations an instance decides writes with,
//! parsed once and kept fresh as the admission policies are
//! (policy_cache.rs): every write of a ResourceRegistration,
//! ClaimCreationPolicy or GrantCreationPolicy also rewrites the stamp item
//! `s#quota`, and an instance reads that one item at most every `refresh`;
//! only when it moved does it reload the three kinds (three Queries, sent
//! together) and parse them again. A write that no quota applies to thus
//! costs no Query at all.

use std::sync::Arc;
use std::time::Duration;

use domain::kinds::{self, KindInfo};
use domain::quota as q;
use domain::ApiError;
use store::{keys, ItemKey, Store, Write};

use crate::stamped::{parsed, platform_documents, Stamped};

const STAMP: &str = "quota";

pub fn stamp_key() -> ItemKey {
    keys::stamp_key(STAMP)
}

/// The write that tells every instance the quota inputs changed.
pub fn stamp() -> Write {
    Write::stamp(stamp_key())
}

/// Whether a write of this kind changes what the cache holds.
pub(crate) fn is_stamped_kind(kind: &KindInfo) -> bool {
    [
        &q::RESOURCE_REGISTRATION,
        &q::CLAIM_CREATION_POLICY,
        &q::GRANT_CREATION_POLICY,
    ]
    .iter()
    .any(|id: &&kinds::KindId| kind.group == id.group && kind.kind == id.kind)
}

/// What every write's quota decisions read: the policies in force (those
/// whose resource types are registered) and the registrations, as stored.
#[derive(Default)]
pub(crate) struct Inputs {
    pub claim_policies: Vec<q::ClaimCreationPolicy>,
    pub grant_policies: Vec<q::GrantCreationPolicy>,
    pub registrations: Vec<q::ResourceRegistration>,
}

pub struct QuotaCache {
    cache: Stamped<Inputs>,
}

impl QuotaCache {
    pub fn new(refresh: Duration) -> Self {
        Self {
            cache: Stamped::new(stamp_key(), refresh, Inputs::default()),
        }
    }

    /// The inputs, re-checked against the stamp when the last check is
    /// older than the refresh interval.
    pub(crate) async fn current(&self, store: &Store) -> Result<Arc<Inputs>, ApiError> {
        self.cache.current(store, || load(store)).await
    }

    /// A quota policy is in force everywhere once its write answered
    /// (`Stamped::until_every_instance_rechecks`): Milo's suites create a
    /// trigger right after the policy is Ready and expect it applied.
    pub(crate) async fn until_every_instance_rechecks(&self) {
        self.cache.until_every_instance_rechecks().await;
    }

    /// Checks the stamp now (one consistent GetItem), and reloads if it
    /// moved.
    pub(crate) async fn reload_if_changed(&self, store: &Store) -> Result<Arc<Inputs>, ApiError> {
        self.cache.reload_if_changed(store, || load(store)).await
    }
}

async fn load(store: &Store) -> Result<Inputs, ApiError> {
    let (claim_policies, grant_policies, registrations) = tokio::try_join!(
        platform_documents(store, &q::CLAIM_CREATION_POLICY),
        platform_documents(store, &q::GRANT_CREATION_POLICY),
        platform_documents(store, &q::RESOURCE_REGISTRATION),
    )?;
    let registrations = parsed(registrations, q::parse_registration);
    // A policy whose types are not all registered is not Ready and makes
    // nothing; it is in force from the moment they are (a registration
    // write moves the stamp, so this is built again then).
    let mut claim_policies = parsed(claim_policies, q::parse_claim_creation_policy);
    claim_policies.retain(|p| q::claim_policy_in_force(p, &registrations));
    let mut grant_policies = parsed(grant_policies, q::parse_grant_creation_policy);
    grant_policies.retain(|p| q::grant_policy_in_force(p, &registrations));
    Ok(Inputs {
        claim_policies,
        grant_policies,
        registrations,
    })
}
