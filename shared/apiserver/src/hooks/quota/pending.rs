//! Quota's plan for one write, and its commit: the claims' bucket
//! increments planned again from the buckets as they are when one of
//! their conditions refuses.

use std::collections::HashMap;

use domain::quota as q;
use domain::ApiError;
use serde_json::Value;
use store::{ObjectRef, Store, StoreError, Write};

use super::bucket_items::{merged, QuotaWrite};
use super::buckets::{bucket_ref, bucket_writes, claim_types, path_keys, read_buckets};
use super::{CLAIM_BUCKET, ITEM};
use crate::errors::concurrent_change;
use crate::write_set::{CommitError, Failure, Refused, Stamp, WriteSet};
use crate::ApiServer;

/// How often a quota transaction is planned again after contention (a
/// concurrent claim on the same bucket) before giving up with 409.
const ATTEMPTS: usize = 12;

/// What a write adds to its transaction, and how to plan it again.
#[derive(Default)]
pub(crate) struct Pending {
    /// The quota writes that stand as planned: claim objects, releases,
    /// grants and their limits.
    pub(super) writes: Vec<QuotaWrite>,
    /// The claims' bucket increments, decided again (`replan`) when one of
    /// their conditions fails.
    pub(super) claim_buckets: Vec<QuotaWrite>,
    pub(super) replan: Option<Replan>,
    /// Whether the write moves the quota stamp (a registration's or a
    /// creation policy's).
    pub(super) moves_stamp: bool,
    /// Transactions of their own, applied before the request's: what does
    /// not fit in it (a registration's empty buckets beyond the first few).
    pub(super) earlier: Vec<Vec<Write>>,
}

/// What the claims' bucket increments are planned again from.
pub(super) struct Replan {
    pub(super) claims: Vec<q::ResourceClaim>,
    pub(super) path: q::QuotaPath,
    pub(super) registrations: Vec<q::ResourceRegistration>,
    pub(super) now: String,
}

impl Pending {
    /// Quota has no part in the write.
    pub fn none() -> Pending {
        Pending::default()
    }

    pub(super) fn of<W: Into<QuotaWrite>>(writes: impl IntoIterator<Item = W>) -> Pending {
        Pending {
            writes: writes.into_iter().map(Into::into).collect(),
            ..Pending::default()
        }
    }

    /// Adds the writes of another part of the request (grants, the stamp),
    /// which has no claims of its own.
    pub(super) fn add(&mut self, other: Pending) {
        debug_assert!(other.replan.is_none() && other.claim_buckets.is_empty());
        self.writes.extend(other.writes);
        self.earlier.extend(other.earlier);
        self.moves_stamp |= other.moves_stamp;
    }

    /// Quota's items with their roles, changes on one bucket merged (a
    /// claim's and a grant's in one request; see [`merged`]).
    fn items(&self) -> Vec<(crate::write_set::Role, Write)> {
        let writes = self.writes.iter().map(|w| (ITEM, w.clone()));
        let claims = self.claim_buckets.iter().map(|w| (CLAIM_BUCKET, w.clone()));
        merged(writes.chain(claims).collect())
    }

    /// Commits the request's write set with quota's items in it. A claim's
    /// bucket condition that fails is decided again against the buckets
    /// read now (a refusal is the 403 of their numbers); a transaction
    /// cancelled by a concurrent one is sent again. Refusals of the
    /// request's own items are returned for it to read.
    pub async fn commit(
        mut self,
        server: &ApiServer,
        mut set: WriteSet,
    ) -> Result<(), CommitError> {
        for transaction in std::mem::take(&mut self.earlier) {
            set.before(transaction);
        }
        for (role, write) in self.items() {
            set.put(role, write);
        }
        if self.moves_stamp {
            set.stamp(Stamp::Quota, true);
        }
        for attempt in 0..ATTEMPTS {
            let err = match set.commit(server).await {
                Ok(()) => {
                    // Granted is counted once the transaction is in.
                    let claims = self.replan.as_ref().map(|r| r.claims.as_slice());
                    let now = chrono::Utc::now().timestamp_millis();
                    for t in claim_types(claims.unwrap_or_default()) {
                        emit(&q::decision_metric(&t, q::Decision::Granted, now));
                    }
                    return Ok(());
                }
                Err(err) => err,
            };
            tracing::debug!(attempt, error = ?err, "quota transaction refused");
            let refused = match &err {
                CommitError::Refused(refused) if matches!(refused.role, ITEM | CLAIM_BUCKET) => {
                    refused
                }
                // Contention only (the store has backed off already): the
                // plan does not depend on what the buckets hold.
                CommitError::Store(StoreError::TransactionConflict) => continue,
                // The request's own item: its caller reads it.
                _ => return Err(err),
            };
            let Write::Counters(_) = &refused.write else {
                return Err(CommitError::Status(item_changed(refused)));
            };
            // A bucket change merged with a claim's has the claim's role.
            match &self.replan {
                Some(replan) if refused.role == CLAIM_BUCKET => {
                    let again = replan
                        .plan_again(&server.store, &self.writes)
                        .await
                        .map_err(CommitError::Status)?;
                    self.claim_buckets = again;
                    set.remove(|role| matches!(role, ITEM | CLAIM_BUCKET));
                    for (role, write) in self.items() {
                        set.put(role, write);
                    }
                }
                _ => {
                    // A release or limit change has no headroom check: only a
                    // concurrent move re-parented the buckets.
                    return Err(CommitError::Status(ApiError::conflict(
                        q::QUOTA_GROUP,
                        q::ALLOWANCE_BUCKET.plural,
                        "",
                        "the object's quota path changed meanwhile (a move); retry",
                    )));
                }
            }
        }
        Err(CommitError::Store(StoreError::TransactionConflict))
    }
}

/// The 409 of a quota item other than a bucket that changed meanwhile.
fn item_changed(refused: &Refused) -> ApiError {
    match &refused.write {
        Write::PutObject { object, .. } => {
            let kind = object["kind"].as_str().unwrap_or("object");
            let message = if refused.failure == Failure::Exists {
                format!("the {kind} this write creates already exists")
            } else {
                // A policy whose status a registration updates.
                format!("the {kind} this write updates changed meanwhile; retry")
            };
            ApiError::conflict(
                q::QUOTA_GROUP,
                q::RESOURCE_CLAIM.plural,
                object["metadata"]["name"].as_str().unwrap_or_default(),
                message,
            )
        }
        Write::Delete { key, .. } => {
            // A bucket retired with its consumer, or a claim released with
            // its object, that changed since read.
            let target = ObjectRef::from_key(key);
            let is_bucket = target
                .as_ref()
                .is_some_and(|t| t.kind == q::ALLOWANCE_BUCKET.kind);
            let kind = if is_bucket {
                q::ALLOWANCE_BUCKET.plural
            } else {
                q::RESOURCE_CLAIM.plural
            };
            ApiError::conflict(
                q::QUOTA_GROUP,
                kind,
                &target.map(|t| t.name).unwrap_or_default(),
                "quota this delete releases changed meanwhile; retry",
            )
        }
        _ => concurrent_change(),
    }
}

impl Replan {
    /// The claims' bucket writes, planned with the buckets as they are now
    /// and the limits `fixed` (the transaction's other quota writes: a
    /// grant written with the claim) moves on them.
    async fn plan_again(
        &self,
        store: &Store,
        fixed: &[QuotaWrite],
    ) -> Result<Vec<QuotaWrite>, ApiError> {
        let types = claim_types(&self.claims);
        let mut levels = read_buckets(store, &self.path, &types).await?;
        let org = self.path.organization();
        let on_path: HashMap<_, _> = path_keys(&self.path, &types)
            .into_iter()
            .map(|key| (bucket_ref(org, &key).key(), key))
            .collect();
        for write in fixed {
            let QuotaWrite::Bucket(b) = write else {
                continue;
            };
            let Some(key) = on_path.get(&b.key) else {
                continue;
            };
            if b.limit_delta != 0 || b.grant_count_delta != 0 {
                let level = levels.entry(key.clone()).or_default();
                level.limit += b.limit_delta;
                level.grant_count += b.grant_count_delta;
            }
        }
        let plan = q::plan_claims(&self.claims, &self.path, &levels, &self.registrations)
            .map_err(|refusal| refused(&self.claims, &refusal))?;
        Ok(bucket_writes(&plan.changes, &self.path, &levels, &self.now))
    }
}

/// A metric record in CloudWatch's embedded metric format: one JSON line
/// on stdout, which Lambda sends to the function's log group.
pub(crate) fn emit(record: &Value) {
    println!("{record}");
}

pub(super) fn refused(claims: &[q::ResourceClaim], refusal: &q::ClaimRefusal) -> ApiError {
    let name = claims.first().map(|c| c.name.as_str()).unwrap_or_default();
    // The Events of the refusal name the object the claim was for.
    let object = claims
        .iter()
        .find_map(|c| c.resource_ref.as_ref())
        .map_or(name, |r| r.name.as_str());
    if let q::ClaimRefusal::Exceeded(_) = refusal {
        let types: Vec<&str> = claims
            .iter()
            .flat_map(|c| c.requests.iter().map(|r| r.resource_type.as_str()))
            .collect();
        let now = chrono::Utc::now().timestamp_millis();
        for t in types {
            emit(&q::decision_metric(t, q::Decision::QuotaExceeded, now));
        }
    }
    match refusal {
        q::ClaimRefusal::Exceeded(_) => refusal.to_api_error(object),
        q::ClaimRefusal::Invalid(_) => refusal.to_api_error(name),
    }
}
