//! The admission policies an instance enforces, compiled once and kept
//! fresh as the catalog is (catalog_cache.rs): every write of a policy or
//! binding also rewrites the stamp item `s#admission`, and an instance
//! reads that one item at most every `refresh`; only when it moved does it
//! reload the four kinds (four Queries) and compile them again.

use std::sync::Arc;
use std::time::Duration;

use domain::admission::{self, PolicySet};
use domain::kinds;
use domain::ApiError;
use store::{keys, ItemKey, Store, Write};

use crate::stamped::{parsed, platform_documents, Stamped};

const STAMP: &str = "admission";

pub fn stamp_key() -> ItemKey {
    keys::stamp_key(STAMP)
}

/// The write that tells every instance the policies changed.
pub fn stamp() -> Write {
    Write::stamp(stamp_key())
}

pub struct PolicyCache {
    cache: Stamped<PolicySet>,
}

impl PolicyCache {
    pub fn new(refresh: Duration) -> Self {
        Self {
            cache: Stamped::new(stamp_key(), refresh, PolicySet::default()),
        }
    }

    /// The policies, re-checked against the stamp when the last check is
    /// older than the refresh interval.
    pub async fn current(&self, store: &Store) -> Result<Arc<PolicySet>, ApiError> {
        self.cache.current(store, || load(store)).await
    }

    /// Checks the stamp now, and reloads if it moved.
    pub async fn reload_if_changed(&self, store: &Store) -> Result<Arc<PolicySet>, ApiError> {
        self.cache.reload_if_changed(store, || load(store)).await
    }
}

async fn load(store: &Store) -> Result<PolicySet, ApiError> {
    let (vaps, vapbs, maps, mapbs) = tokio::try_join!(
        platform_documents(store, &kinds::VALIDATING_ADMISSION_POLICY),
        platform_documents(store, &kinds::VALIDATING_ADMISSION_POLICY_BINDING),
        platform_documents(store, &kinds::MUTATING_ADMISSION_POLICY),
        platform_documents(store, &kinds::MUTATING_ADMISSION_POLICY_BINDING),
    )?;
    Ok(PolicySet::build(
        parsed(vaps, admission::parse_validating_policy),
        parsed(vapbs, admission::parse_validating_binding),
        parsed(maps, admission::parse_mutating_policy),
        parsed(mapbs, admission::parse_mutating_binding),
    ))
}
