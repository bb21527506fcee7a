//! What the catalog, the admission policies and the quota policies share:
//! a value an instance builds from stored objects and keeps fresh cheaply.
//! Every write that changes its inputs also rewrites a stamp item; the
//! instance reads that one small item at most every `refresh`, and only
//! when it moved does it load the inputs again.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::kinds::KindId;
use domain::ApiError;
use serde_json::Value;
use store::{Context, ItemKey, Store, Stored};

use crate::errors::from_store;
use crate::placement::builtin_ref;

pub struct Stamped<T> {
    stamp_key: ItemKey,
    refresh: Duration,
    state: Mutex<State<T>>,
}

struct State<T> {
    value: Arc<T>,
    /// The stamp the value was built at (None: the item was never written).
    stamp: Option<String>,
    /// When the stamp was last read (None: never).
    checked: Option<Instant>,
}

impl<T> Stamped<T> {
    pub fn new(stamp_key: ItemKey, refresh: Duration, initial: T) -> Self {
        Self {
            stamp_key,
            refresh,
            state: Mutex::new(State {
                value: Arc::new(initial),
                stamp: None,
                checked: None,
            }),
        }
    }

    pub fn refresh(&self) -> Duration {
        self.refresh
    }

    /// Waits out the refresh interval after a write moved the stamp: every
    /// instance re-checks the stamp on its next request after it, so a
    /// change is in force everywhere once its write has answered. For the
    /// rare writes whose writer acts on them at once, wherever its next
    /// request lands (a policy, then its trigger).
    pub async fn until_every_instance_rechecks(&self) {
        tokio::time::sleep(self.refresh).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        // A poisoned lock only means another request panicked mid-update of
        // plain data; the value is still whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value, re-checked against the stamp when the last check is older
    /// than the refresh interval.
    pub async fn current<F, Fut>(&self, store: &Store, load: F) -> Result<Arc<T>, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let fresh = {
            let state = self.lock();
            state
                .checked
                .is_some_and(|at| at.elapsed() < self.refresh)
                .then(|| state.value.clone())
        };
        match fresh {
            Some(value) => Ok(value),
            None => self.reload_if_changed(store, load).await,
        }
    }

    /// Checks the stamp now (one consistent GetItem), and reloads if it moved.
    pub async fn reload_if_changed<F, Fut>(
        &self,
        store: &Store,
        load: F,
    ) -> Result<Arc<T>, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let stamp = store.stamp(&self.stamp_key).await.map_err(from_store)?;
        {
            let mut state = self.lock();
            if state.checked.is_some() && state.stamp == stamp {
                state.checked = Some(Instant::now());
                return Ok(state.value.clone());
            }
        }
        // Loaded after the stamp was read: a write in between leaves the
        // newer inputs under the older stamp, so the next check loads again.
        let value = Arc::new(load().await?);
        let mut state = self.lock();
        state.value = value.clone();
        state.stamp = stamp;
        state.checked = Some(Instant::now());
        Ok(value)
    }
}

/// Every stored object of a kind in the platform context, page by page.
pub async fn platform_documents(store: &Store, kind: &KindId) -> Result<Vec<Value>, ApiError> {
    context_documents(store, &Context::Platform, kind).await
}

/// Every stored object of a kind in one context, page by page.
pub async fn context_documents(
    store: &Store,
    context: &Context,
    kind: &KindId,
) -> Result<Vec<Value>, ApiError> {
    let items = context_items(store, context, kind).await?;
    Ok(items.into_iter().map(|s| s.object).collect())
}

/// [`context_documents`] with each item's key and version, for writes
/// conditional on what was read.
pub async fn context_items(
    store: &Store,
    context: &Context,
    kind: &KindId,
) -> Result<Vec<Stored>, ApiError> {
    items_from(store, context, kind, "").await
}

/// Every stored object of a kind in one namespace of one context.
pub async fn namespace_documents(
    store: &Store,
    context: &Context,
    kind: &KindId,
    namespace: &str,
) -> Result<Vec<Value>, ApiError> {
    let prefix = store::keys::Collection::namespace_prefix(namespace);
    let items = items_from(store, context, kind, &prefix).await?;
    Ok(items.into_iter().map(|s| s.object).collect())
}

/// The items of a context's collection whose sort key starts with `prefix`.
async fn items_from(
    store: &Store,
    context: &Context,
    kind: &KindId,
    prefix: &str,
) -> Result<Vec<Stored>, ApiError> {
    let pk = builtin_ref(context, kind, "", "").collection().pk();
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .query_objects(&pk, prefix, None, start)
            .await
            .map_err(from_store)?;
        items.extend(page.items);
        start = page.next;
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// How many objects one page of the type index holds.
const TYPE_PAGE: i32 = 500;

/// Every object of `kind` in every context, through the type index
/// (eventually consistent, as every GSI read), page by page.
pub async fn type_documents(store: &Store, kind: &KindId) -> Result<Vec<Value>, ApiError> {
    let items = type_items(store, kind).await?;
    Ok(items.into_iter().map(|s| s.object).collect())
}

/// [`type_documents`] with each item's key and version.
pub async fn type_items(store: &Store, kind: &KindId) -> Result<Vec<Stored>, ApiError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .query_type(kind.group, kind.kind, TYPE_PAGE, start)
            .await
            .map_err(from_store)?;
        items.extend(page.items);
        start = page.next;
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// Parses stored documents; one that no longer parses (a stricter server
/// than the one that accepted it) is logged and left out, not fatal.
pub fn parsed<T>(
    docs: Vec<Value>,
    parse: impl Fn(&Value) -> Result<T, Vec<domain::Cause>>,
) -> Vec<T> {
    docs.into_iter()
        .filter_map(|doc| match parse(&doc) {
            Ok(parsed) => Some(parsed),
            Err(causes) => {
                tracing::error!(kind = %doc["kind"], name = %doc["metadata"]["name"], ?causes, "stored object no longer parses; left out");
                None
            }
        })
        .collect()
}
