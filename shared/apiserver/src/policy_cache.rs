//! The admission policies an instance enforces, compiled once and kept
//! fresh as the catalog is (catalog_cache.rs): every write of a policy or
//! binding also rewrites the stamp item `s#admission`, and an instance
//! reads that one item at most every `refresh`; only when it moved does it
//! reload the four kinds (four Queries) and compile them again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::admission::{self, PolicySet};
use domain::kinds::{self, KindId};
use domain::ApiError;
use serde_json::Value;
use store::{keys, Context, ItemKey, ObjectRef, Store, Write};

use crate::errors::from_store;

const STAMP: &str = "admission";

pub fn stamp_key() -> ItemKey {
    keys::stamp_key(STAMP)
}

/// The write that tells every instance the policies changed.
pub fn stamp() -> Write {
    Write::stamp(stamp_key())
}

pub struct PolicyCache {
    refresh: Duration,
    state: Mutex<State>,
}

struct State {
    set: Arc<PolicySet>,
    stamp: Option<String>,
    checked: Option<Instant>,
}

impl PolicyCache {
    pub fn new(refresh: Duration) -> Self {
        Self {
            refresh,
            state: Mutex::new(State {
                set: Arc::new(PolicySet::default()),
                stamp: None,
                checked: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Poisoning only means a panic elsewhere; the set is whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The policies, re-checked against the stamp when the last check is
    /// older than the refresh interval.
    pub async fn current(&self, store: &Store) -> Result<Arc<PolicySet>, ApiError> {
        let fresh = {
            let state = self.lock();
            state
                .checked
                .is_some_and(|at| at.elapsed() < self.refresh)
                .then(|| state.set.clone())
        };
        match fresh {
            Some(set) => Ok(set),
            None => self.reload_if_changed(store).await,
        }
    }

    /// Checks the stamp now, and reloads if it moved.
    pub async fn reload_if_changed(&self, store: &Store) -> Result<Arc<PolicySet>, ApiError> {
        let stamp = store.stamp(&stamp_key()).await.map_err(from_store)?;
        {
            let mut state = self.lock();
            if state.checked.is_some() && state.stamp == stamp {
                state.checked = Some(Instant::now());
                return Ok(state.set.clone());
            }
        }
        let set = Arc::new(load(store).await?);
        let mut state = self.lock();
        state.set = set.clone();
        state.stamp = stamp;
        state.checked = Some(Instant::now());
        Ok(set)
    }
}

/// Every stored object of one admission kind (platform context).
pub async fn documents(store: &Store, kind: &KindId) -> Result<Vec<Value>, ApiError> {
    let collection = ObjectRef {
        context: Context::Platform,
        group: kind.group.into(),
        kind: kind.kind.into(),
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
    Ok(docs)
}

/// Parses stored documents; one that no longer parses (a stricter server
/// than the one that accepted it) is logged and left out, not fatal.
fn parsed<T>(docs: Vec<Value>, parse: impl Fn(&Value) -> Result<T, Vec<domain::Cause>>) -> Vec<T> {
    docs.into_iter()
        .filter_map(|doc| match parse(&doc) {
            Ok(parsed) => Some(parsed),
            Err(causes) => {
                tracing::error!(kind = %doc["kind"], name = %doc["metadata"]["name"], ?causes, "stored admission object no longer parses; not enforced");
                None
            }
        })
        .collect()
}

async fn load(store: &Store) -> Result<PolicySet, ApiError> {
    let (vaps, vapbs, maps, mapbs) = tokio::try_join!(
        documents(store, &kinds::VALIDATING_ADMISSION_POLICY),
        documents(store, &kinds::VALIDATING_ADMISSION_POLICY_BINDING),
        documents(store, &kinds::MUTATING_ADMISSION_POLICY),
        documents(store, &kinds::MUTATING_ADMISSION_POLICY_BINDING),
    )?;
    Ok(PolicySet::build(
        parsed(vaps, admission::parse_validating_policy),
        parsed(vapbs, admission::parse_validating_binding),
        parsed(maps, admission::parse_mutating_policy),
        parsed(mapbs, admission::parse_mutating_binding),
    ))
}
