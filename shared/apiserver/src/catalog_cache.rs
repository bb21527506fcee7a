//! The catalog a function instance serves from, kept fresh cheaply: every
//! CRD write also rewrites a stamp item, and an instance reads that one
//! small item at most every `refresh` (and at once when a path names no
//! known type); only when the stamp moved does it reload the CRDs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::catalog::Catalog;
use domain::crd::{self, ResourceType};
use domain::kinds::CUSTOM_RESOURCE_DEFINITION;
use domain::ApiError;
use serde_json::Value;
use store::{keys, Context, ItemKey, ObjectRef, Store};

use crate::errors::from_store;

/// Name of the stamp item CRD writes touch.
const STAMP: &str = "catalog";

pub fn stamp_key() -> ItemKey {
    keys::stamp_key(STAMP)
}

pub struct CatalogCache {
    refresh: Duration,
    state: Mutex<State>,
}

struct State {
    catalog: Arc<Catalog>,
    /// The stamp the catalog was built at (None: never read).
    stamp: Option<String>,
    checked: Option<Instant>,
}

impl CatalogCache {
    pub fn new(refresh: Duration) -> Result<Self, String> {
        Ok(Self {
            refresh,
            state: Mutex::new(State {
                catalog: Arc::new(Catalog::builtin()?),
                stamp: None,
                checked: None,
            }),
        })
    }

    pub fn refresh(&self) -> Duration {
        self.refresh
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another request panicked mid-update of
        // plain data; the data is still a whole catalog.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The catalog, re-checked against the stamp when the last check is
    /// older than the refresh interval.
    pub async fn current(&self, store: &Store) -> Result<Arc<Catalog>, ApiError> {
        let fresh = {
            let state = self.lock();
            state
                .checked
                .is_some_and(|at| at.elapsed() < self.refresh)
                .then(|| state.catalog.clone())
        };
        match fresh {
            Some(catalog) => Ok(catalog),
            None => self.reload_if_changed(store).await,
        }
    }

    /// Checks the stamp now, and reloads if it moved.
    pub async fn reload_if_changed(&self, store: &Store) -> Result<Arc<Catalog>, ApiError> {
        let stamp = store.stamp(&stamp_key()).await.map_err(from_store)?;
        {
            let mut state = self.lock();
            if state.checked.is_some() && state.stamp == stamp {
                state.checked = Some(Instant::now());
                return Ok(state.catalog.clone());
            }
        }
        let catalog = Arc::new(load(store).await?);
        let mut state = self.lock();
        state.catalog = catalog.clone();
        state.stamp = stamp;
        state.checked = Some(Instant::now());
        Ok(catalog)
    }
}

/// The registered CRD documents: those whose names were accepted when they
/// were written first, then the rest, each by creation time and name. The
/// catalog gives names to the first claimant, so a type keeps the names its
/// status reports, and a refused one is served once its rival is gone.
pub async fn registered_documents(store: &Store) -> Result<Vec<Value>, ApiError> {
    let collection = ObjectRef {
        context: Context::Platform,
        group: CUSTOM_RESOURCE_DEFINITION.group.into(),
        kind: CUSTOM_RESOURCE_DEFINITION.kind.into(),
        namespace: String::new(),
        name: String::new(),
    }
    .collection();
    let mut docs = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .query_objects(&collection.pk(), "", None, start)
            .await
            .map_err(from_store)?;
        docs.extend(page.items.into_iter().map(|s| s.object));
        match page.next {
            Some(next) => start = Some(next),
            None => break,
        }
    }
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
    let registered: Vec<ResourceType> = registered_documents(store)
        .await?
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
    let builtins = domain::builtin::types().map_err(ApiError::internal)?;
    Ok(Catalog::build(builtins, registered))
}
