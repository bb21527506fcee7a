//! The catalog a function instance serves from, kept fresh cheaply: every
//! CRD or DiscoveryContextPolicy write also rewrites a stamp item, and an
//! instance reads that one small item at most every `refresh` (and at once
//! when a path names no known type, and on every discovery request); only
//! when the stamp moved does it reload the CRDs and the policies.

use std::sync::Arc;
use std::time::Duration;

use domain::catalog::Catalog;
use domain::context_policy::{self, ContextPolicies};
use domain::crd::{self, ResourceType};
use domain::kinds::{CUSTOM_RESOURCE_DEFINITION, DISCOVERY_CONTEXT_POLICY};
use domain::ApiError;
use serde_json::Value;
use store::{keys, ItemKey, Store};

use crate::stamped::{platform_documents, Stamped};

/// Name of the stamp item CRD and DiscoveryContextPolicy writes touch.
const STAMP: &str = "catalog";

pub fn stamp_key() -> ItemKey {
    keys::stamp_key(STAMP)
}

pub struct CatalogCache {
    cache: Stamped<Catalog>,
}

impl CatalogCache {
    pub fn new(refresh: Duration) -> Result<Self, String> {
        Ok(Self {
            cache: Stamped::new(stamp_key(), refresh, Catalog::builtin()?),
        })
    }

    pub fn refresh(&self) -> Duration {
        self.cache.refresh()
    }

    /// The catalog, re-checked against the stamp when the last check is
    /// older than the refresh interval.
    pub async fn current(&self, store: &Store) -> Result<Arc<Catalog>, ApiError> {
        self.cache.current(store, || load(store)).await
    }

    /// A DiscoveryContextPolicy is in force everywhere, serving included,
    /// once its write answered (`Stamped::until_every_instance_rechecks`).
    pub async fn until_every_instance_rechecks(&self) {
        self.cache.until_every_instance_rechecks().await;
    }

    /// Checks the stamp now, and reloads if it moved.
    pub async fn reload_if_changed(&self, store: &Store) -> Result<Arc<Catalog>, ApiError> {
        self.cache.reload_if_changed(store, || load(store)).await
    }
}

/// The registered CRD documents: those whose names were accepted when they
/// were written first, then the rest, each by creation time and name. The
/// catalog gives names to the first claimant, so a type keeps the names its
/// status reports, and a refused one is served once its rival is gone.
pub async fn registered_documents(store: &Store) -> Result<Vec<Value>, ApiError> {
    let mut docs = platform_documents(store, &CUSTOM_RESOURCE_DEFINITION).await?;
    docs.sort_by(|a, b| {
        let at = |d: &Value| {
            (
                !names_accepted(d),
                d["metadata"]["creationTimestamp"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                d["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        };
        at(a).cmp(&at(b))
    });
    Ok(docs)
}

fn names_accepted(crd: &Value) -> bool {
    crd["status"]["conditions"]
        .as_array()
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c["type"] == "NamesAccepted" && c["status"] == "True")
        })
}

async fn load(store: &Store) -> Result<Catalog, ApiError> {
    let (documents, policies) = tokio::try_join!(
        registered_documents(store),
        platform_documents(store, &DISCOVERY_CONTEXT_POLICY)
    )?;
    let registered: Vec<ResourceType> = documents
        .iter()
        // The built-in CRDs are stored for listing; they are compiled in.
        .filter(|doc| !domain::builtin::is_builtin(doc["metadata"]["name"].as_str().unwrap_or_default()))
        .filter_map(|doc| match crd::parse(doc) {
            Ok(rt) => Some(rt),
            Err(causes) => {
                // Stored CRDs passed these checks when written; one that no
                // longer does (a stricter server) is skipped, not fatal.
                tracing::error!(crd = %doc["metadata"]["name"], ?causes, "stored CRD no longer parses; not served");
                None
            }
        })
        .collect();
    let policies = ContextPolicies::new(policies.iter().filter_map(|doc| {
        context_policy::parse(doc)
            .inspect_err(|causes| {
                // Checked when written, as CRDs are: skipped, not fatal.
                tracing::error!(policy = %doc["metadata"]["name"], ?causes, "stored DiscoveryContextPolicy no longer parses; not applied");
            })
            .ok()
    }));
    let builtins = domain::builtin::types().map_err(ApiError::internal)?;
    Ok(Catalog::build(builtins, registered, &policies))
}
