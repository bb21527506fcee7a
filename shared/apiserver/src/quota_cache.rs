//! The quota policies and registrations an instance decides writes with,
//! parsed once and kept fresh as the admission policies are
//! (policy_cache.rs): every write of a ResourceRegistration,
//! ClaimCreationPolicy or GrantCreationPolicy also rewrites the stamp item
//! `s#quota`, and an instance reads that one item at most every `refresh`;
//! only when it moved does it reload the three kinds (three Queries, sent
//! together) and parse them again. A write that no quota applies to thus
//! costs no Query at all.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::kinds::{self, KindInfo};
use domain::quota as q;
use domain::ApiError;
use serde_json::Value;
use store::{keys, ItemKey, Store, Write};

use crate::errors::from_store;
use crate::quota::all_objects;

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

/// What every write's quota decisions read: the policies and the
/// registrations, as stored (each was checked when written).
#[derive(Default)]
pub(crate) struct Inputs {
    pub claim_policies: Vec<q::ClaimCreationPolicy>,
    pub grant_policies: Vec<q::GrantCreationPolicy>,
    pub registrations: Vec<q::ResourceRegistration>,
}

pub struct QuotaCache {
    refresh: Duration,
    state: Mutex<State>,
}

struct State {
    inputs: Arc<Inputs>,
    /// The stamp the inputs were read at (None: never written).
    stamp: Option<String>,
    /// When the stamp was last read (None: never).
    checked: Option<Instant>,
}

impl QuotaCache {
    pub fn new(refresh: Duration) -> Self {
        Self {
            refresh,
            state: Mutex::new(State {
                inputs: Arc::new(Inputs::default()),
                stamp: None,
                checked: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Poisoning only means a panic elsewhere; the inputs are whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The inputs, re-checked against the stamp when the last check is
    /// older than the refresh interval.
    pub(crate) async fn current(&self, store: &Store) -> Result<Arc<Inputs>, ApiError> {
        let fresh = {
            let state = self.lock();
            state
                .checked
                .is_some_and(|at| at.elapsed() < self.refresh)
                .then(|| state.inputs.clone())
        };
        match fresh {
            Some(inputs) => Ok(inputs),
            None => self.reload_if_changed(store).await,
        }
    }

    /// Checks the stamp now (one consistent GetItem), and reloads if it
    /// moved.
    pub(crate) async fn reload_if_changed(&self, store: &Store) -> Result<Arc<Inputs>, ApiError> {
        let stamp = store.stamp(&stamp_key()).await.map_err(from_store)?;
        {
            let mut state = self.lock();
            if state.checked.is_some() && state.stamp == stamp {
                state.checked = Some(Instant::now());
                return Ok(state.inputs.clone());
            }
        }
        // Read after the stamp: a write in between leaves the newer inputs
        // under the older stamp, so the next check reloads again.
        let inputs = Arc::new(load(store).await?);
        let mut state = self.lock();
        state.inputs = inputs.clone();
        state.stamp = stamp;
        state.checked = Some(Instant::now());
        Ok(inputs)
    }
}

async fn load(store: &Store) -> Result<Inputs, ApiError> {
    let (claim_policies, grant_policies, registrations) = tokio::try_join!(
        all_objects(store, &q::CLAIM_CREATION_POLICY),
        all_objects(store, &q::GRANT_CREATION_POLICY),
        all_objects(store, &q::RESOURCE_REGISTRATION),
    )?;
    Ok(Inputs {
        claim_policies: parsed(claim_policies, q::parse_claim_creation_policy),
        grant_policies: parsed(grant_policies, q::parse_grant_creation_policy),
        registrations: parsed(registrations, q::parse_registration),
    })
}

/// Parses stored documents; one that no longer parses (a stricter server
/// than the one that accepted it) is logged and left out, not fatal.
fn parsed<T>(docs: Vec<Value>, parse: impl Fn(&Value) -> Result<T, Vec<domain::Cause>>) -> Vec<T> {
    docs.into_iter()
        .filter_map(|doc| match parse(&doc) {
            Ok(parsed) => Some(parsed),
            Err(causes) => {
                tracing::error!(kind = %doc["kind"], name = %doc["metadata"]["name"], ?causes, "stored quota object no longer parses; not applied");
                None
            }
        })
        .collect()
}
