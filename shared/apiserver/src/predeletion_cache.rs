//! The pre-deletion hooks an instance applies (#21), read and checked once
//! and kept fresh as the admission policies are (policy_cache.rs): every
//! write of a hook also rewrites the stamp item `s#predeletion`, and an
//! instance reads that one item at most every `refresh`; only when it
//! moved does it query the hooks again. A create reads them to put the
//! finalizers of those that match on the new object; the gc, to run one.

use std::sync::Arc;
use std::time::Duration;

use domain::kinds;
use domain::predeletion::Hook;
use domain::ApiError;
use serde_json::Value;
use store::{keys, ItemKey, Store, Write};

use crate::stamped::{parsed, platform_documents, Stamped};

const STAMP: &str = "predeletion";

pub fn stamp_key() -> ItemKey {
    keys::stamp_key(STAMP)
}

/// The write that tells every instance the hooks changed.
pub fn stamp() -> Write {
    Write::stamp(stamp_key())
}

pub struct PreDeletionCache {
    cache: Stamped<Vec<Hook>>,
}

impl PreDeletionCache {
    pub fn new(refresh: Duration) -> Self {
        Self {
            cache: Stamped::new(stamp_key(), refresh, Vec::new()),
        }
    }

    /// The hooks, re-checked against the stamp when the last check is
    /// older than the refresh interval.
    pub async fn current(&self, store: &Store) -> Result<Arc<Vec<Hook>>, ApiError> {
        self.cache.current(store, || load(store)).await
    }

    /// Checks the stamp now, and reloads if it moved.
    pub async fn reload_if_changed(&self, store: &Store) -> Result<Arc<Vec<Hook>>, ApiError> {
        self.cache.reload_if_changed(store, || load(store)).await
    }

    pub async fn until_every_instance_rechecks(&self) {
        self.cache.until_every_instance_rechecks().await;
    }
}

async fn load(store: &Store) -> Result<Vec<Hook>, ApiError> {
    let docs = platform_documents(store, &kinds::PRE_DELETION_HOOK).await?;
    Ok(parsed(docs, parse))
}

/// A stored hook's spec, read as at its write.
pub fn parse(doc: &Value) -> Result<Hook, Vec<domain::Cause>> {
    let name = doc["metadata"]["name"].as_str().unwrap_or_default();
    Hook::parse(name, &doc["spec"])
}
