//! Quota's adapter (#5): what a write adds to its transaction so that quota
//! is decided atomically with it. The rules are `domain::quota`'s; this
//! module reads what they need (registrations, policies, the object's
//! ancestors, the buckets on its path), calls them, and turns their plans
//! into store writes appended to the request's ONE transaction.
//!
//! - The quota kinds themselves are parsed and checked at write (422 with
//!   causes, nothing written) and get their status (Active, Ready, Granted)
//!   in the same write. AllowanceBuckets are the system's: 405 to users.
//! - A create that a ClaimCreationPolicy matches writes its ResourceClaim
//!   (Granted) and increments every bucket on the object's path, each under
//!   its headroom condition; no room is a 403 with the numbers.
//! - Deleting the object deletes its claims and gives the usage back.
//! - A ResourceGrant's writes change its buckets' limits.
//! - Deleting an organization, folder or project deletes its buckets that
//!   nothing counts in any more.
//!
//! Claims are planned without reading a bucket: the transaction's
//! conditions decide. [`Pending::persist`] runs it: when a bucket's
//! condition fails it reads the buckets and decides with their numbers (a
//! 403 that names them, or, if room was freed meanwhile, the write again);
//! a transaction cancelled by a concurrent one is sent again as planned.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use domain::catalog::Catalog;
use domain::hierarchy::{self, ParentRef};
use domain::kinds::{self, ContextKind, KindInfo, ORGANIZATION_LABEL};
use domain::lifecycle;
use domain::metadata_rules::generated_name;
use domain::object::Object;
use domain::quota::{self as q, BucketChange, BucketKey, BucketLevel, HeadroomCheck, Node};
use domain::{ApiError, Cause};
use serde_json::{json, Value};
use store::{
    BucketCheck, BucketWrite, Context, Expect, ObjectRef, Store, StoreError, Stored, Write,
};

use crate::errors::from_store;
use crate::hierarchy_reads::{self, Link};
use crate::placement::{builtin_ref, is_hierarchy, object_ref};
use crate::quota_cache::{is_stamped_kind, Inputs, QuotaCache};
use crate::stamped::{context_items, type_items};
use crate::write_set::{CommitError, Failure, Refused, Role, Stamp, WriteSet};
use crate::{ApiServer, Call};

/// How often a quota transaction is planned again after contention (a
/// concurrent claim on the same bucket) before giving up with 409.
const ATTEMPTS: usize = 12;

fn is_quota(kind: &KindInfo, id: &kinds::KindId) -> bool {
    kind.group == id.group && kind.kind == id.kind
}

/// The role of quota's items in a request's write set: those that stand
/// as planned, and the claims' bucket increments, planned again when one
/// of their conditions fails.
pub(crate) const ITEM: Role = Role::Hook {
    hook: "quota",
    part: "item",
};
pub(crate) const CLAIM_BUCKET: Role = Role::Hook {
    hook: "quota",
    part: "claim bucket",
};

/// What a write adds to its transaction, and how to plan it again.
#[derive(Default)]
pub(crate) struct Pending {
    /// The quota writes that stand as planned: claim objects, releases,
    /// grants and their limits.
    writes: Vec<Write>,
    /// The claims' bucket increments, decided again (`replan`) when one of
    /// their conditions fails.
    claim_buckets: Vec<Write>,
    replan: Option<Replan>,
    /// Whether the write moves the quota stamp (a registration's or a
    /// creation policy's).
    moves_stamp: bool,
    /// Transactions of their own, applied before the request's: what does
    /// not fit in it (a registration's empty buckets beyond the first few).
    earlier: Vec<Vec<Write>>,
}

/// What the claims' bucket increments are planned again from.
struct Replan {
    claims: Vec<q::ResourceClaim>,
    path: q::QuotaPath,
    registrations: Vec<q::ResourceRegistration>,
    now: String,
}

impl Pending {
    /// Quota has no part in the write.
    pub fn none() -> Pending {
        Pending::default()
    }

    fn of(writes: Vec<Write>) -> Pending {
        Pending {
            writes,
            ..Pending::default()
        }
    }

    /// Adds the writes of another part of the request (grants, the stamp),
    /// which has no claims of its own.
    fn add(&mut self, other: Pending) {
        debug_assert!(other.replan.is_none() && other.claim_buckets.is_empty());
        self.writes.extend(other.writes);
        self.earlier.extend(other.earlier);
        self.moves_stamp |= other.moves_stamp;
    }

    /// Commits the request's write set with quota's items in it. A claim's
    /// bucket condition that fails is decided again against the buckets
    /// read now (a refusal is the 403 of their numbers); a transaction
    /// cancelled by a concurrent one is sent again. Refusals of the
    /// request's own items are returned for it to read.
    pub async fn commit(self, server: &ApiServer, mut set: WriteSet) -> Result<(), CommitError> {
        for transaction in self.earlier {
            set.before(transaction);
        }
        set.extend(ITEM, self.writes);
        set.extend(CLAIM_BUCKET, self.claim_buckets);
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
            let Write::Bucket(bucket) = &refused.write else {
                return Err(CommitError::Status(item_changed(refused)));
            };
            // Writes on one bucket go as one: whether a claim's is among them.
            let claim_bucket = set
                .with_role(CLAIM_BUCKET)
                .any(|w| matches!(w, Write::Bucket(c) if c.key == bucket.key));
            match &self.replan {
                Some(replan) if claim_bucket => {
                    set.remove(|role| role == CLAIM_BUCKET);
                    let fixed: Vec<Write> = set.with_role(ITEM).cloned().collect();
                    let again = replan
                        .plan_again(&server.store, &fixed)
                        .await
                        .map_err(CommitError::Status)?;
                    set.extend(CLAIM_BUCKET, again);
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
        _ => from_store(StoreError::Conflict { index: 0 }),
    }
}

impl Replan {
    /// The claims' bucket writes, planned with the buckets as they are now
    /// and the limits `fixed` (the transaction's other quota writes: a
    /// grant written with the claim) moves on them.
    async fn plan_again(&self, store: &Store, fixed: &[Write]) -> Result<Vec<Write>, ApiError> {
        let types = claim_types(&self.claims);
        let mut levels = read_buckets(store, &self.path, &types).await?;
        let org = self.path.organization();
        let on_path: HashMap<_, _> = path_keys(&self.path, &types)
            .into_iter()
            .map(|key| (bucket_ref(org, &key).key(), key))
            .collect();
        for write in fixed {
            let Write::Bucket(b) = write else { continue };
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

fn refused(claims: &[q::ResourceClaim], refusal: &q::ClaimRefusal) -> ApiError {
    let name = claims.first().map(|c| c.name.as_str()).unwrap_or_default();
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
    refusal.to_api_error(name)
}

/// The inputs of one write that quota needs.
pub(crate) struct Subject<'a> {
    pub store: &'a Store,
    pub catalog: &'a Catalog,
    pub kind: &'a KindInfo,
    pub context: &'a Context,
    pub call: &'a Call<'a>,
    /// The instance's policies and registrations (quota_cache.rs).
    pub cache: &'a Arc<QuotaCache>,
}

impl Subject<'_> {
    /// The policies and registrations this write is decided with: the
    /// instance's, re-checked against the stamp at most every refresh; for
    /// a write of a quota kind (rare, and checked against registrations),
    /// re-checked now, so what another instance just wrote is seen.
    async fn inputs(&self) -> Result<Arc<Inputs>, ApiError> {
        if self.kind.group == q::QUOTA_GROUP {
            self.cache.reload_if_changed(self.store).await
        } else {
            self.cache.current(self.store).await
        }
    }

    /// A write of a registration or a creation policy also moves the quota
    /// stamp, and this instance reloads once it is in.
    fn stamped(&self, mut pending: Pending) -> Pending {
        pending.moves_stamp |= is_stamped_kind(self.kind);
        pending
    }

    fn invalid(&self, name: &str, causes: Vec<Cause>) -> ApiError {
        ApiError::invalid(&self.kind.group, &self.kind.plural, name, causes)
    }

    fn conflict(&self, name: &str, message: String) -> ApiError {
        ApiError::conflict(&self.kind.group, &self.kind.plural, name, message)
    }

    /// A quota kind as the catalog serves it (to render its objects).
    fn quota_kind(&self, id: &kinds::KindId) -> Result<Arc<KindInfo>, ApiError> {
        self.catalog
            .resolve(ContextKind::Platform, q::QUOTA_GROUP, id.version, id.plural)
            .map_err(|_| ApiError::internal(format!("the {} type is not in the catalog", id.kind)))
    }

    /// What a create adds: the quota kinds' checks and status, the claims
    /// the ClaimCreationPolicies make for the object, a grant's limits.
    /// `placement` is the hierarchy chain read for a folder or project.
    pub async fn admit_create(
        &self,
        obj: &mut Object,
        placement: &[Link],
    ) -> Result<Pending, ApiError> {
        let now = self.call.timestamp();
        let mut pending = Box::pin(self.admit_quota_kind(obj, None, &now)).await?;
        if is_quota(self.kind, &q::RESOURCE_GRANT) || is_quota(self.kind, &q::RESOURCE_CLAIM) {
            return Ok(pending);
        }
        let inputs = Box::pin(self.inputs()).await?;
        let claims = Box::pin(self.claims_for(obj, placement, &now, &inputs)).await?;
        let annotations = &mut obj.metadata.annotations;
        annotations.remove(q::CLAIMS_ANNOTATION);
        if let Some(replan) = &claims.replan {
            annotations.insert(
                q::CLAIMS_ANNOTATION.into(),
                q::held_claims_value(&replan.claims),
            );
        }
        pending.writes.extend(claims.writes);
        pending.claim_buckets = claims.claim_buckets;
        pending.replan = claims.replan;
        let (grants, held) = Box::pin(self.grants_for(None, Some(obj), &now, &inputs)).await?;
        record_grants(obj, &held);
        pending.add(grants);
        Ok(self.stamped(pending))
    }

    /// What an update adds: the quota kinds' checks, status and limits;
    /// for a folder or project that moved (`placement`: its new parent's
    /// chain, empty when it did not move), its usage moving with it.
    pub async fn admit_update(
        &self,
        old: &Object,
        new: &mut Object,
        placement: &[Link],
    ) -> Result<Pending, ApiError> {
        let now = self.call.timestamp();
        let mut pending = if is_hierarchy(self.kind) && !placement.is_empty() {
            Box::pin(self.admit_move(old, placement, &now)).await?
        } else {
            Box::pin(self.admit_quota_kind(new, Some(old), &now)).await?
        };
        if !is_quota(self.kind, &q::RESOURCE_GRANT) {
            let inputs = Box::pin(self.inputs()).await?;
            let (grants, held) =
                Box::pin(self.grants_for(Some(old), Some(new), &now, &inputs)).await?;
            record_grants(new, &held);
            pending.add(grants);
        }
        Ok(self.stamped(pending))
    }

    /// A move (`domain::quota::plan_move`): the subtree's usage leaves the
    /// ancestors lost and joins those gained (403 if one has no room), and
    /// the subject's buckets are re-parented under the condition that they
    /// still hold what was read.
    async fn admit_move(
        &self,
        old: &Object,
        placement: &[Link],
        now: &str,
    ) -> Result<Pending, ApiError> {
        let subject = match self.kind.kind.as_str() {
            "Folder" => Node::folder(&old.metadata.name),
            "Project" => Node::project(&old.metadata.name),
            _ => return Ok(Pending::default()),
        };
        let Some(old_parent) = hierarchy::parent_of(&self.kind.kind, old.spec()) else {
            return Ok(Pending::default());
        };
        let old_chain = parent_chain(self.store, &old_parent).await?;
        let new_chain = hierarchy_reads::ancestors(placement);
        let (Ok(old_path), Ok(new_path)) = (
            q::QuotaPath::of_object(None, &old_chain),
            q::QuotaPath::of_object(None, &new_chain),
        ) else {
            return Ok(Pending::default());
        };
        let types: BTreeSet<String> = self
            .inputs()
            .await?
            .registrations
            .iter()
            .map(|r| r.resource_type.clone())
            .collect();
        if types.is_empty() {
            return Ok(Pending::default());
        }
        let org = new_path.organization().to_string();
        let mut nodes = vec![subject.clone()];
        for node in old_path.nodes().iter().chain(new_path.nodes()) {
            if !nodes.contains(node) {
                nodes.push(node.clone());
            }
        }
        let keys: Vec<_> = nodes
            .iter()
            .flat_map(|n| types.iter().map(move |t| BucketKey::new(n.clone(), t)))
            .map(|k| bucket_ref(&org, &k).key())
            .collect();
        let levels = read_bucket_keys(self.store, &keys).await?;
        let own_claims: Vec<q::ResourceClaim> = self
            .claims_of(old)
            .await?
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        let registered: Vec<String> = types.into_iter().collect();
        let plan = q::plan_move(
            &subject,
            &old_path,
            &new_path,
            &registered,
            &levels,
            &own_claims,
        )
        .map_err(|refusal| refusal.to_api_error())?;
        let mut writes = bucket_writes(&plan.changes, &new_path, &levels, now);
        for reparent in &plan.reparents {
            let bucket = bucket_ref(&org, &reparent.key);
            writes.push(Write::Bucket(BucketWrite {
                key: bucket.key(),
                document: bucket_document(&reparent.key, &org, now),
                limit_delta: 0,
                allocated_delta: 0,
                claim_count_delta: 0,
                grant_count_delta: 0,
                check: BucketCheck::Unchanged(
                    reparent.expected.map(|l| (l.allocated, l.claim_count)),
                ),
                expect_parent: Some(parent_text(Some(&reparent.old_parent))),
                set_parent: Some(parent_text(Some(&reparent.new_parent))),
                contributions: Vec::new(),
            }));
            if reparent.expected.is_none() {
                writes.extend(bucket_indexes(&bucket, &reparent.key));
            }
        }
        Ok(Pending::of(writes))
    }

    /// What a delete adds: a grant's limits taken back, a claim's usage
    /// released, and the claims made for the object deleted with their
    /// usage.
    pub async fn admit_delete(&self, old: &Object) -> Result<Pending, ApiError> {
        let now = self.call.timestamp();
        let retired = if is_quota(self.kind, &q::RESOURCE_REGISTRATION) {
            self.retire_registration(old).await?
        } else {
            Pending::default()
        };
        if is_quota(self.kind, &q::RESOURCE_GRANT) {
            let grant =
                q::parse_grant(&old.to_value()).map_err(|c| self.invalid(&old.metadata.name, c))?;
            let changes = q::grant_limit_changes(Some(&grant), None);
            if let Some(org) = consumer_organization(self.store, &grant.consumer).await? {
                return Ok(Pending::of(limit_writes(
                    &changes,
                    &grant,
                    Some(&org),
                    &now,
                )));
            }
            // The consumer is gone and kept its bucket for this grant: the
            // bucket goes with it once nothing counts in it.
            let keys: Vec<BucketKey> = grant.contributions().into_keys().collect();
            let Some(org) = self.organization_of_buckets(&keys).await? else {
                return Ok(Pending::default());
            };
            let mut pending = Pending::of(limit_writes(&changes, &grant, Some(&org), &now));
            // What it keeps holds no claim: none outlives its consumer
            // (retire_buckets).
            self.retire_empty(&keys, &org, &mut pending).await?;
            return Ok(pending);
        }
        if is_quota(self.kind, &q::RESOURCE_CLAIM) {
            if old
                .metadata
                .labels
                .get(q::AUTO_CREATED_LABEL)
                .map(String::as_str)
                == Some("true")
            {
                // Its usage is counted on its object's path; it goes with
                // that object.
                return Err(ApiError::Forbidden {
                    message: format!(
                        "resourceclaims.quota.miloapis.com \"{}\" was created by a ClaimCreationPolicy; it is released when its object is deleted",
                        old.metadata.name
                    ),
                });
            }
            let claim =
                q::parse_claim(&old.to_value()).map_err(|c| self.invalid(&old.metadata.name, c))?;
            let path = consumer_path(self.store, &claim.consumer, "spec.consumerRef").await?;
            let changes = q::merge_changes(&q::plan_release(&claim, &path));
            let levels = BTreeMap::new();
            return Ok(Pending::of(bucket_writes(&changes, &path, &levels, &now)));
        }
        let mut pending = Box::pin(self.release_claims_of(old, &now)).await?;
        pending.add(retired);
        let inputs = Box::pin(self.inputs()).await?;
        pending.add(
            Box::pin(self.grants_for(Some(old), None, &now, &inputs))
                .await?
                .0,
        );
        Box::pin(self.retire_buckets(old, &inputs, &mut pending)).await?;
        Ok(self.stamped(pending))
    }

    /// A registration is not deleted while its type is in use: while a
    /// policy names it (every create the policy matches would be refused
    /// from then on), or while grants or claims count in a bucket of it
    /// (`q::type_still_counted`). The type's empty buckets go with it, so
    /// that none is left that no registration explains. Best effort against
    /// a write racing the delete: an instance may plan a claim on a cached
    /// registration for up to the cache's 500 ms; the audit reports it.
    async fn retire_registration(&self, registration: &Object) -> Result<Pending, ApiError> {
        let name = &registration.metadata.name;
        let parsed =
            q::parse_registration(&registration.to_value()).map_err(|c| self.invalid(name, c))?;
        let resource_type = &parsed.resource_type;
        let inputs = self.inputs().await?;
        let users = q::policies_naming(
            resource_type,
            &inputs.claim_policies,
            &inputs.grant_policies,
        );
        if !users.is_empty() {
            return Err(self.conflict(
                name,
                format!(
                    "resourceregistrations \"{name}\" registers {resource_type}, which {} still name{}; delete or change {} first",
                    users.join(", "),
                    if users.len() == 1 { "s" } else { "" },
                    if users.len() == 1 { "it" } else { "them" },
                ),
            ));
        }
        let (items, buckets): (Vec<Stored>, Vec<(BucketKey, BucketLevel)>) =
            every_bucket(self.store)
                .await?
                .into_iter()
                .filter_map(|stored| {
                    let bucket = q::parse_bucket(&stored.object).ok()?;
                    (bucket.0.resource_type == *resource_type).then_some((stored, bucket))
                })
                .unzip();
        if let Some(reason) = q::type_still_counted(resource_type, &buckets) {
            return Err(self.conflict(name, format!("resourceregistrations \"{name}\": {reason}")));
        }
        let mut retired: Vec<Vec<Write>> = items
            .iter()
            .zip(&buckets)
            .map(|(stored, (key, _))| bucket_delete(stored, key))
            .collect();
        // The last buckets ride in the registration's own transaction; any
        // more go before it, each under the version read (still empty).
        let rest = retired.split_off(retired.len().saturating_sub(BUCKETS_RETIRED_AT_ONCE));
        Ok(Pending {
            writes: rest.concat(),
            earlier: retired
                .chunks(BUCKETS_RETIRED_AT_ONCE)
                .map(<[Vec<Write>]>::concat)
                .collect(),
            ..Pending::default()
        })
    }

    /// A deleted organization, folder or project takes along its own
    /// buckets that the delete leaves empty (`BucketLevel::is_empty` once
    /// its releases and grant removals are added), with their index items,
    /// so that no bucket outlives its consumer. Each goes under the version
    /// read: a claim or grant landing on it meanwhile makes the delete a 409
    /// to retry. A bucket a grant still names stays. A bucket claims still
    /// count in keeps its consumer: 409 (`q::claims_holding`).
    async fn retire_buckets(
        &self,
        old: &Object,
        inputs: &Inputs,
        pending: &mut Pending,
    ) -> Result<(), ApiError> {
        let Some(kind) = q::NodeKind::of(&self.kind.group, &self.kind.kind) else {
            return Ok(());
        };
        let node = Node::new(kind, &old.metadata.name);
        let org = match kind {
            q::NodeKind::Organization => Some(&old.metadata.name),
            _ => old.metadata.labels.get(ORGANIZATION_LABEL),
        };
        let Some(org) = org.cloned() else {
            return Ok(());
        };
        let types: BTreeSet<&str> = inputs
            .registrations
            .iter()
            .map(|r| r.resource_type.as_str())
            .collect();
        let keys: Vec<BucketKey> = types
            .into_iter()
            .map(|t| BucketKey::new(node.clone(), t))
            .collect();
        let kept = self.retire_empty(&keys, &org, pending).await?;
        match q::claims_holding(&kept) {
            Some(reason) => Err(self.conflict(
                &old.metadata.name,
                format!("{} \"{}\": {reason}", self.kind.singular, old.metadata.name),
            )),
            None => Ok(()),
        }
    }

    /// The organization whose namespace holds the buckets `keys` (all of
    /// one consumer), found through the buckets' consumer-name index: what
    /// locates a bucket once its consumer is gone (for a project's, which
    /// need none, an empty name). `None`: no such bucket.
    async fn organization_of_buckets(
        &self,
        keys: &[BucketKey],
    ) -> Result<Option<String>, ApiError> {
        let Some(first) = keys.first() else {
            return Ok(None);
        };
        let consumer = &first.consumer.name;
        let index = bucket_ref("", first).label_index_key(q::CONSUMER_NAME_LABEL, consumer);
        let names: BTreeSet<String> = keys.iter().map(BucketKey::name).collect();
        let mut start = None;
        loop {
            let page = self
                .store
                .query_index(&index.pk, &format!("{consumer}#"), None, start)
                .await
                .map_err(from_store)?;
            for entry in &page.items {
                let Some(bucket) = ObjectRef::from_key(&entry.target) else {
                    continue;
                };
                if names.contains(&bucket.name) {
                    // A project's buckets are in its control plane, which
                    // `bucket_ref` finds without an organization.
                    return Ok(match first.project_control_plane() {
                        Some(_) => Some(String::new()),
                        None => BucketKey::organization_of(&bucket.namespace).map(str::to_string),
                    });
                }
            }
            match page.next {
                Some(next) => start = Some(next),
                None => return Ok(None),
            }
        }
    }

    /// Deletes those of the buckets `keys` (of organization `org`) that
    /// `pending` leaves empty, in its place; see [`Self::retire_buckets`].
    /// Returns the others, with their levels once `pending` is in.
    async fn retire_empty(
        &self,
        keys: &[BucketKey],
        org: &str,
        pending: &mut Pending,
    ) -> Result<Vec<(BucketKey, BucketLevel)>, ApiError> {
        let mut kept = Vec::new();
        if keys.is_empty() {
            return Ok(kept);
        }
        let item_keys: Vec<_> = keys.iter().map(|k| bucket_ref(org, k).key()).collect();
        let stored = self.store.batch_get(&item_keys).await.map_err(from_store)?;
        for bucket in stored {
            let Ok((key, level)) = q::parse_bucket(&bucket.object) else {
                continue;
            };
            let changes = pending.writes.iter().filter_map(|w| match w {
                Write::Bucket(b) if b.key == bucket.key => Some(BucketLevel {
                    limit: b.limit_delta,
                    allocated: b.allocated_delta,
                    claim_count: b.claim_count_delta,
                    grant_count: b.grant_count_delta,
                }),
                _ => None,
            });
            let after = changes.fold(level, BucketLevel::plus);
            if !after.is_empty() {
                kept.push((key, after));
                continue;
            }
            // DynamoDB takes one operation per item: the delete stands in
            // for this delete's own changes to the bucket.
            pending
                .writes
                .retain(|w| !matches!(w, Write::Bucket(b) if b.key == bucket.key));
            pending.writes.extend(bucket_delete(&bucket, &key));
        }
        Ok(kept)
    }

    /// The claims a policy made for `old`, deleted with their usage.
    async fn release_claims_of(&self, old: &Object, now: &str) -> Result<Pending, ApiError> {
        let claims = self.claims_of(old).await?;
        if claims.is_empty() {
            return Ok(Pending::default());
        }
        let Some(path) = self.path_of(old, None).await? else {
            return Ok(Pending::default());
        };
        let mut changes = Vec::new();
        let mut rest = Vec::new();
        for (stored, claim) in &claims {
            changes.extend(q::plan_release(claim, &path));
            rest.push(Write::Delete {
                key: self.claim_ref(&claim.namespace, &claim.name).key(),
                expect: Expect::Version(stored.version),
            });
        }
        let changes = q::merge_changes(&changes);
        let levels = BTreeMap::new();
        let mut writes = bucket_writes(&changes, &path, &levels, now);
        writes.extend(rest);
        Ok(Pending::of(writes))
    }

    /// The status writes of the creation policies a new registration puts
    /// in force: those that were not Ready only for want of its type, so
    /// that their Ready condition says what is so (under the version read:
    /// a policy written meanwhile is a 409 to retry). Registrations are
    /// rare; this reads the policies (two Queries), as the cache keeps only
    /// those in force.
    async fn policies_put_in_force(
        &self,
        registration: &q::ResourceRegistration,
        before: &[q::ResourceRegistration],
        now: &str,
    ) -> Result<Vec<Write>, ApiError> {
        let mut after = before.to_vec();
        after.push(registration.clone());
        let (claim_policies, grant_policies) = tokio::try_join!(
            context_items(self.store, &Context::Platform, &q::CLAIM_CREATION_POLICY),
            context_items(self.store, &Context::Platform, &q::GRANT_CREATION_POLICY),
        )?;
        let mut writes = Vec::new();
        let mut put = |stored: Stored, status: Value| {
            let version = stored.version + 1;
            let mut object = stored.object;
            object["status"] = status;
            object["metadata"]["resourceVersion"] = json!(version.to_string());
            writes.push(Write::PutObject {
                key: stored.key,
                object,
                version,
                expect: Expect::Version(stored.version),
            });
        };
        for stored in claim_policies {
            let Ok(policy) = q::parse_claim_creation_policy(&stored.object) else {
                continue;
            };
            if !policy.disabled
                && !q::claim_policy_in_force(&policy, before)
                && q::claim_policy_in_force(&policy, &after)
            {
                put(stored, q::claim_policy_status(&policy, &after, now));
            }
        }
        for stored in grant_policies {
            let Ok(policy) = q::parse_grant_creation_policy(&stored.object) else {
                continue;
            };
            if !policy.disabled
                && !q::grant_policy_in_force(&policy, before)
                && q::grant_policy_in_force(&policy, &after)
            {
                put(stored, q::grant_policy_status(&policy, &after, now));
            }
        }
        Ok(writes)
    }

    /// What a `/status` write of a quota kind may change: not whether a
    /// claim is granted (`q::check_claim_status_update`).
    pub fn admit_status_update(&self, old: &Object, new: &Object) -> Result<(), ApiError> {
        if !is_quota(self.kind, &q::RESOURCE_CLAIM) {
            return Ok(());
        }
        let causes = q::check_claim_status_update(&old.to_value(), &new.to_value());
        if causes.is_empty() {
            Ok(())
        } else {
            Err(self.invalid(&new.metadata.name, causes))
        }
    }

    /// Checks and status of the six kinds; a grant's limit changes.
    async fn admit_quota_kind(
        &self,
        obj: &mut Object,
        old: Option<&Object>,
        now: &str,
    ) -> Result<Pending, ApiError> {
        let name = obj.metadata.name.clone();
        let generation = obj.metadata.generation.unwrap_or(1);
        let doc = obj.to_value();
        let invalid = |causes: Vec<Cause>| self.invalid(&name, causes);
        if is_quota(self.kind, &q::RESOURCE_REGISTRATION) {
            let registration = q::parse_registration(&doc).map_err(invalid)?;
            if let Some(old) = old {
                let before = q::parse_registration(&old.to_value()).map_err(invalid)?;
                let causes = q::check_registration_update(&before, &registration);
                if !causes.is_empty() {
                    return Err(invalid(causes));
                }
            }
            // Checked against the registrations as just reloaded: two
            // creates of one type at the same instant can both pass, as in
            // Milo, whose admission checks its informer's cache.
            let inputs = self.inputs().await?;
            let causes = q::check_registration_unique(&registration, &inputs.registrations);
            if !causes.is_empty() {
                return Err(invalid(causes));
            }
            obj.set_status(q::registration_status(generation, now));
            if old.is_none() {
                let writes = self
                    .policies_put_in_force(&registration, &inputs.registrations, now)
                    .await?;
                return Ok(Pending::of(writes));
            }
        } else if is_quota(self.kind, &q::CLAIM_CREATION_POLICY) {
            // Types not registered (yet) are reported on Ready, not
            // refused, as Milo does.
            let policy = q::parse_claim_creation_policy(&doc).map_err(invalid)?;
            let registrations = &self.inputs().await?.registrations;
            obj.set_status(q::claim_policy_status(&policy, registrations, now));
        } else if is_quota(self.kind, &q::GRANT_CREATION_POLICY) {
            let policy = q::parse_grant_creation_policy(&doc).map_err(invalid)?;
            let registrations = &self.inputs().await?.registrations;
            obj.set_status(q::grant_policy_status(&policy, registrations, now));
        } else if is_quota(self.kind, &q::RESOURCE_GRANT) {
            let grant = q::parse_grant(&doc).map_err(invalid)?;
            let causes = grant.check_registrations(&self.inputs().await?.registrations);
            if !causes.is_empty() {
                return Err(invalid(causes));
            }
            let before = match old {
                Some(old) => Some(q::parse_grant(&old.to_value()).map_err(invalid)?),
                None => None,
            };
            let org = match consumer_organization(self.store, &grant.consumer).await? {
                Some(org) => org,
                None => {
                    return Err(invalid(vec![Cause {
                        reason: "FieldValueNotFound".into(),
                        field: "spec.consumerRef".into(),
                        message: format!("{} not found", grant.consumer),
                    }]))
                }
            };
            let mut writes = Vec::new();
            let mut retired = None;
            if let Some(before) = &before {
                if before.consumer != grant.consumer {
                    // The old consumer's buckets lose what this grant gave;
                    // a consumer gone meanwhile kept them for it.
                    let old_keys: Vec<BucketKey> = before.contributions().into_keys().collect();
                    let old_org = match consumer_organization(self.store, &before.consumer).await? {
                        Some(org) => Some(org),
                        None => {
                            let org = self.organization_of_buckets(&old_keys).await?;
                            retired = org.clone().map(|org| (old_keys, org));
                            org
                        }
                    };
                    let gone = q::grant_limit_changes(Some(before), None);
                    writes.extend(limit_writes(&gone, before, old_org.as_deref(), now));
                    let added = q::grant_limit_changes(None, Some(&grant));
                    writes.extend(limit_writes(&added, &grant, Some(&org), now));
                } else {
                    let changes = q::grant_limit_changes(Some(before), Some(&grant));
                    writes.extend(limit_writes(&changes, &grant, Some(&org), now));
                }
            } else {
                let changes = q::grant_limit_changes(None, Some(&grant));
                writes.extend(limit_writes(&changes, &grant, Some(&org), now));
            }
            obj.set_status(q::grant_status(generation, now));
            let mut pending = Pending::of(writes);
            if let Some((keys, org)) = retired {
                self.retire_empty(&keys, &org, &mut pending).await?;
            }
            return Ok(pending);
        } else if is_quota(self.kind, &q::RESOURCE_CLAIM) {
            let claim = q::parse_claim(&doc).map_err(invalid)?;
            let auto_created = |o: &Object| o.metadata.labels.get(q::AUTO_CREATED_LABEL).cloned();
            let label_field = format!("metadata.labels[{}]", q::AUTO_CREATED_LABEL);
            if let Some(old) = old {
                if old.spec() != obj.spec() {
                    return Err(invalid(vec![Cause::invalid(
                        "spec",
                        "a ResourceClaim's spec is immutable: delete it and claim again",
                    )]));
                }
                // It says how the claim was counted, and so how it is released.
                if auto_created(old) != auto_created(obj) {
                    return Err(invalid(vec![Cause::invalid(
                        &label_field,
                        "this label is immutable: it is set by the server on the claims of ClaimCreationPolicies",
                    )]));
                }
                return Ok(Pending::default());
            }
            if claim.auto_created {
                return Err(invalid(vec![Cause::invalid(
                    &label_field,
                    "this label is set only by the server, on the claims of ClaimCreationPolicies",
                )]));
            }
            // A claim written directly counts on its consumer's path. It is
            // an object of its own, not a guard on another write: without
            // room it is stored refused (Granted=False, QuotaExceeded), as
            // Milo stores it, and counts nowhere. Its buckets are read to
            // decide that; a claim that meets a full bucket only at the
            // transaction (a concurrent claim took the room) is a 403.
            let path = consumer_path(self.store, &claim.consumer, "spec.consumerRef").await?;
            let registrations = self.inputs().await?.registrations.clone();
            let claims = vec![claim];
            let levels = read_buckets(self.store, &path, &claim_types(&claims)).await?;
            let plan = match q::plan_claims(&claims, &path, &levels, &registrations) {
                Ok(plan) => plan,
                Err(refusal @ q::ClaimRefusal::Exceeded(_)) => {
                    for t in claim_types(&claims) {
                        emit(&q::decision_metric(
                            &t,
                            q::Decision::QuotaExceeded,
                            chrono::Utc::now().timestamp_millis(),
                        ));
                    }
                    obj.set_status(q::claim_refused_status(&refusal, generation, now));
                    return Ok(Pending::default());
                }
                Err(refusal) => return Err(refused(&claims, &refusal)),
            };
            let allocations = plan
                .plans
                .first()
                .map(|p| p.allocations.clone())
                .unwrap_or_default();
            obj.set_status(q::claim_granted_status(&allocations, generation, now));
            let writes = bucket_writes(&plan.changes, &path, &levels, now);
            return Ok(Pending {
                claim_buckets: writes,
                replan: Some(Replan {
                    claims,
                    path,
                    registrations,
                    now: now.to_string(),
                }),
                ..Pending::default()
            });
        }
        Ok(Pending::default())
    }

    /// The quota path of an object: the nodes whose buckets its claims
    /// count on. `placement` is the chain already read for a folder or
    /// project create. `None`: the object is in no organization's tree.
    async fn path_of(
        &self,
        obj: &Object,
        placement: Option<&[Link]>,
    ) -> Result<Option<q::QuotaPath>, ApiError> {
        if is_hierarchy(self.kind) {
            if self.kind.kind == kinds::ORGANIZATION.kind {
                return Ok(None);
            }
            let chain = match placement {
                Some(links) => hierarchy_reads::ancestors(links),
                None => match hierarchy::parent_of(&self.kind.kind, obj.spec()) {
                    Some(parent) => parent_chain(self.store, &parent).await?,
                    None => return Ok(None),
                },
            };
            return Ok(q::QuotaPath::of_object(None, &chain).ok());
        }
        match self.context {
            Context::Platform => Ok(None),
            Context::Organization(org) => Ok(Some(path_or_internal(q::QuotaPath::new(vec![
                Node::organization(org),
            ]))?)),
            Context::Project(project) => {
                let project_ref = builtin_ref(&Context::Platform, &kinds::PROJECT, "", project);
                let Some(stored) = self
                    .store
                    .get(&project_ref.key())
                    .await
                    .map_err(from_store)?
                else {
                    return Ok(None);
                };
                let Some(parent) =
                    hierarchy::parent_of(kinds::PROJECT.kind, &stored.object["spec"])
                else {
                    return Ok(None);
                };
                let chain = parent_chain(self.store, &parent).await?;
                Ok(q::QuotaPath::of_object(Some(project), &chain).ok())
            }
        }
    }

    /// The claims the ClaimCreationPolicies make for a new object, decided
    /// against the buckets on its path.
    async fn claims_for(
        &self,
        obj: &Object,
        placement: &[Link],
        now: &str,
        inputs: &Inputs,
    ) -> Result<Pending, ApiError> {
        let policies = &inputs.claim_policies;
        if policies.is_empty() {
            return Ok(Pending::default());
        }
        let trigger = obj.to_value();
        let user = json!({
            "username": self.call.request.principal.subject,
            "name": self.call.request.principal.subject,
            "groups": self.call.request.principal.groups,
        });
        let request_info = json!({
            "verb": "create",
            "apiGroup": self.kind.group,
            "apiVersion": self.kind.storage_version,
            "resource": self.kind.plural,
            "name": obj.metadata.name,
            "namespace": obj.metadata.namespace,
        });
        let policy_inputs = q::PolicyInputs {
            trigger: &trigger,
            user: &user,
            request_info: &request_info,
        };
        // A template without consumerRef claims from the control plane the
        // object is written in, as Milo fills it from the request's context.
        let context_consumer = match self.context {
            Context::Organization(org) => Some(Node::organization(org).to_ref().to_json()),
            Context::Project(project) => Some(Node::project(project).to_ref().to_json()),
            Context::Platform => None,
        };
        let mut documents = Vec::new();
        for policy in policies {
            let claim = policy
                .claim_in_context_for(&policy_inputs, context_consumer.as_ref())
                .map_err(|e| policy_invalid(&e))?;
            documents.extend(claim);
        }
        if documents.is_empty() {
            return Ok(Pending::default());
        }
        let name = obj.metadata.name.clone();
        let placement = is_hierarchy(self.kind).then_some(placement);
        let Some(path) = self.path_of(obj, placement).await? else {
            return Err(self.invalid(
                &name,
                vec![Cause::invalid(
                    "metadata",
                    "a ClaimCreationPolicy applies to this object, but it is in no organization's tree, so it has no quota to claim from",
                )],
            ));
        };
        let claim_kind = self.quota_kind(&q::RESOURCE_CLAIM)?;
        // The context its path started from, for the audit to start there
        // too (a folder's or project's starts from its parent, which its
        // resourceRef tells).
        let resource_context = match self.context {
            Context::Organization(org) if placement.is_none() => Some(Node::organization(org)),
            Context::Project(project) if placement.is_none() => Some(Node::project(project)),
            _ => None,
        };
        let mut claims = Vec::new();
        let mut objects = Vec::new();
        for document in documents {
            let (mut claim_obj, mut causes) = rendered_object(document, &claim_kind, now)?;
            if let Some(node) = &resource_context {
                claim_obj.metadata.annotations.insert(
                    q::RESOURCE_CONTEXT_ANNOTATION.into(),
                    q::resource_context_value(node),
                );
            }
            let claim = q::parse_claim(&claim_obj.to_value());
            match claim {
                Ok(claim) if causes.is_empty() => claims.push(claim),
                Ok(_) => {}
                Err(more) => causes.extend(more),
            }
            if !causes.is_empty() {
                return Err(ApiError::invalid(
                    q::QUOTA_GROUP,
                    q::RESOURCE_CLAIM.plural,
                    &claim_obj.metadata.name,
                    causes,
                ));
            }
            objects.push(claim_obj);
        }
        let registrations = inputs.registrations.clone();
        // No bucket read: the transaction's conditions decide (see persist).
        let plan = q::plan_claims_unread(&claims, &path, &registrations)
            .map_err(|refusal| refused(&claims, &refusal))?;
        let mut claim_objects = Vec::new();
        for (claim_obj, claim_plan) in objects.iter_mut().zip(&plan.plans) {
            claim_obj.set_status(q::claim_granted_status(&claim_plan.allocations, 1, now));
            // One item: claims' labels are not indexed (list.rs), the object
            // records it (CLAIMS_ANNOTATION), and it never keeps its
            // namespace from being deleted, as its object releases it.
            let claim_ref = self.claim_ref(&claim_obj.metadata.namespace, &claim_obj.metadata.name);
            claim_objects.push(Write::PutObject {
                key: claim_ref.key(),
                object: claim_obj.to_value(),
                version: 1,
                expect: Expect::Absent,
            });
        }
        Ok(Pending {
            writes: claim_objects,
            claim_buckets: bucket_writes(&plan.changes, &path, &BTreeMap::new(), now),
            replan: Some(Replan {
                claims,
                path,
                registrations,
                now: now.to_string(),
            }),
            moves_stamp: false,
            earlier: Vec::new(),
        })
    }

    /// What the GrantCreationPolicies do for a trigger written (`old`:
    /// as stored before, `new`: as written; `None` on create / delete):
    /// the grants they render are created, changed or deleted in the same
    /// transaction, with their limits. A grant is found again by the
    /// context and namespace its policy renders for the trigger and the name
    /// the trigger's GRANTS_ANNOTATION records (else the rendered one), and
    /// is only touched if the trigger owns it. Also returns what the
    /// annotation records now: each policy's grant that stands.
    async fn grants_for(
        &self,
        old: Option<&Object>,
        new: Option<&Object>,
        now: &str,
        inputs: &Inputs,
    ) -> Result<(Pending, BTreeMap<String, String>), ApiError> {
        let policies = &inputs.grant_policies;
        let mut held = BTreeMap::new();
        if policies.is_empty() {
            return Ok((Pending::default(), held));
        }
        let recorded = old
            .and_then(|o| o.metadata.annotations.get(q::GRANTS_ANNOTATION))
            .map(|v| q::held_grants(v))
            .unwrap_or_default();
        let grant_kind = self.quota_kind(&q::RESOURCE_GRANT)?;
        let old_doc = old.map(Object::to_value);
        let new_doc = new.map(Object::to_value);
        let render = |policy: &q::GrantCreationPolicy, doc: Option<&Value>| {
            let Some(doc) = doc else {
                return Ok(None);
            };
            if !policy.applies_to(doc).map_err(|e| e.to_api_error())? {
                return Ok(None);
            }
            policy
                .render_grant(doc)
                .map(Some)
                .map_err(|e| policy_invalid(&e))
        };
        let mut writes = Vec::new();
        for policy in policies {
            let before = render(policy, old_doc.as_ref())?;
            let after = render(policy, new_doc.as_ref())?;
            // The grant the policy made for the old trigger, as stored.
            let mut stored = None;
            if let (Some(before), Some(old)) = (&before, old) {
                let mut grant_ref = rendered_ref(before);
                if let Some(name) = recorded.get(&policy.name) {
                    grant_ref.name = name.clone();
                }
                let found = if grant_ref.name.is_empty() {
                    None
                } else {
                    self.store.get(&grant_ref.key()).await.map_err(from_store)?
                };
                if let Some(s) = found {
                    let owned = s.object["metadata"]["ownerReferences"]
                        .as_array()
                        .is_some_and(|o| o.iter().any(|o| o["uid"] == old.metadata.uid.as_str()));
                    if owned {
                        stored = Some((grant_ref, s));
                    }
                }
            }
            let mut next = None;
            if let Some(after) = &after {
                let (mut grant_obj, mut causes) =
                    rendered_object(after.document.clone(), &grant_kind, now)?;
                let grant = q::parse_grant(&grant_obj.to_value());
                match &grant {
                    Ok(g) => causes.extend(g.check_registrations(&inputs.registrations)),
                    Err(more) => causes.extend(more.iter().cloned()),
                }
                if !causes.is_empty() {
                    return Err(ApiError::invalid(
                        q::QUOTA_GROUP,
                        q::RESOURCE_GRANT.plural,
                        &grant_obj.metadata.name,
                        causes,
                    ));
                }
                if let Ok(grant) = grant {
                    let mut grant_ref = rendered_ref(after);
                    // generateName: the grant made before, rendered again in
                    // the same place, stays itself.
                    if let Some((old_ref, _)) =
                        stored.as_ref().filter(|_| grant_ref.name.is_empty())
                    {
                        grant_ref.name = old_ref.name.clone();
                        if grant_ref == *old_ref {
                            grant_obj.metadata.name = old_ref.name.clone();
                        }
                    }
                    grant_ref.name = grant_obj.metadata.name.clone();
                    next = Some((grant_ref, grant_obj, grant));
                }
            }
            match (stored, next) {
                (None, None) => {}
                (Some((grant_ref, s)), None) => {
                    let grant = q::parse_grant(&s.object).map_err(|c| {
                        ApiError::internal(format!("stored grant is corrupt: {c:?}"))
                    })?;
                    let org = consumer_organization(self.store, &grant.consumer).await?;
                    writes.push(Write::Delete {
                        key: grant_ref.key(),
                        expect: Expect::Version(s.version),
                    });
                    writes.extend(
                        labels_of(&s.object)
                            .into_iter()
                            .map(|(k, v)| Write::Delete {
                                key: grant_ref.label_index_key(&k, &v),
                                expect: Expect::Anything,
                            }),
                    );
                    let changes = q::grant_limit_changes(Some(&grant), None);
                    writes.extend(limit_writes(&changes, &grant, org.as_deref(), now));
                }
                (stored, Some((grant_ref, mut grant_obj, grant))) => {
                    held.insert(policy.name.clone(), grant_ref.name.clone());
                    let org = self.grant_organization(&grant.consumer, new).await?;
                    let (before_grant, version) = match &stored {
                        Some((old_ref, s)) if *old_ref == grant_ref => {
                            let before = q::parse_grant(&s.object).ok();
                            if before.as_ref().map(|b| (&b.consumer, &b.allowances))
                                == Some((&grant.consumer, &grant.allowances))
                            {
                                continue;
                            }
                            // Same object, new content: keep its identity.
                            let kept: Object = Object::from_value(s.object.clone())
                                .map_err(|e| ApiError::internal(format!("stored grant: {e}")))?;
                            let generation = kept.metadata.generation.unwrap_or(1) + 1;
                            grant_obj.metadata.uid = kept.metadata.uid.clone();
                            grant_obj.metadata.creation_timestamp =
                                kept.metadata.creation_timestamp.clone();
                            grant_obj.metadata.generation = Some(generation);
                            grant_obj.metadata.resource_version = (s.version + 1).to_string();
                            (before, Some(s.version))
                        }
                        Some((old_ref, s)) => {
                            // Rendered elsewhere now: the old one goes.
                            let before = q::parse_grant(&s.object).ok();
                            writes.push(Write::Delete {
                                key: old_ref.key(),
                                expect: Expect::Version(s.version),
                            });
                            writes.extend(labels_of(&s.object).into_iter().map(|(k, v)| {
                                Write::Delete {
                                    key: old_ref.label_index_key(&k, &v),
                                    expect: Expect::Anything,
                                }
                            }));
                            if let Some(b) = &before {
                                let old_org =
                                    consumer_organization(self.store, &b.consumer).await?;
                                let gone = q::grant_limit_changes(Some(b), None);
                                writes.extend(limit_writes(&gone, b, old_org.as_deref(), now));
                            }
                            (None, None)
                        }
                        None => (None, None),
                    };
                    let generation = grant_obj.metadata.generation.unwrap_or(1);
                    grant_obj.set_status(q::grant_status(generation, now));
                    let grant = q::ResourceGrant {
                        generation,
                        ..grant
                    };
                    let doc = grant_obj.to_value();
                    writes.push(Write::PutObject {
                        key: grant_ref.key(),
                        object: doc.clone(),
                        version: version.map_or(1, |v| v + 1),
                        expect: version.map_or(Expect::Absent, Expect::Version),
                    });
                    let old_labels = stored
                        .as_ref()
                        .filter(|(r, _)| *r == grant_ref)
                        .map(|(_, s)| labels_of(&s.object))
                        .unwrap_or_default();
                    let new_labels = labels_of(&doc);
                    writes.extend(new_labels.iter().filter(|l| !old_labels.contains(l)).map(
                        |(k, v)| Write::PutIndex {
                            key: grant_ref.label_index_key(k, v),
                            target: grant_ref.key(),
                        },
                    ));
                    writes.extend(old_labels.iter().filter(|l| !new_labels.contains(l)).map(
                        |(k, v)| Write::Delete {
                            key: grant_ref.label_index_key(k, v),
                            expect: Expect::Anything,
                        },
                    ));
                    let changes = q::grant_limit_changes(before_grant.as_ref(), Some(&grant));
                    writes.extend(limit_writes(&changes, &grant, Some(&org), now));
                }
            }
        }
        Ok((Pending::of(writes), held))
    }

    /// The organization of a policy grant's consumer, which may be the
    /// trigger being created in this very transaction; 422 if it does not
    /// exist.
    async fn grant_organization(
        &self,
        consumer: &Node,
        trigger: Option<&Object>,
    ) -> Result<String, ApiError> {
        if let Some(trigger) = trigger {
            let own = q::NodeKind::of(&self.kind.group, &self.kind.kind)
                .map(|kind| Node::new(kind, &trigger.metadata.name));
            if own.as_ref() == Some(consumer) {
                return match consumer.kind {
                    q::NodeKind::Organization => Ok(consumer.name.clone()),
                    _ => Ok(trigger
                        .metadata
                        .labels
                        .get(ORGANIZATION_LABEL)
                        .cloned()
                        .unwrap_or_default()),
                };
            }
        }
        match consumer_organization(self.store, consumer).await? {
            Some(org) => Ok(org),
            None => Err(ApiError::invalid(
                q::QUOTA_GROUP,
                q::RESOURCE_GRANT.plural,
                &consumer.name,
                vec![Cause {
                    reason: "FieldValueNotFound".into(),
                    field: "spec.consumerRef".into(),
                    message: format!("{consumer} not found"),
                }],
            )),
        }
    }

    /// Where a claim a policy makes for this request's object lives: the
    /// context its object is stored in (a Secret's claim in the project's
    /// control plane, as Milo; a project's claim in the platform's).
    fn claim_ref(&self, namespace: &str, name: &str) -> ObjectRef {
        let home = object_ref(self.context, self.kind, "", "").context;
        builtin_ref(&home, &q::RESOURCE_CLAIM, namespace, name)
    }

    /// The claims a policy made for `obj` (those its CLAIMS_ANNOTATION
    /// records, kept if their owner is this very object), as stored.
    async fn claims_of(
        &self,
        obj: &Object,
    ) -> Result<Vec<(store::Stored, q::ResourceClaim)>, ApiError> {
        let Some(held) = obj.metadata.annotations.get(q::CLAIMS_ANNOTATION) else {
            return Ok(Vec::new());
        };
        let keys: Vec<_> = q::held_claims(held)
            .iter()
            .map(|(namespace, name)| self.claim_ref(namespace, name).key())
            .collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let stored = self.store.batch_get(&keys).await.map_err(from_store)?;
        let uid = &obj.metadata.uid;
        Ok(stored
            .into_iter()
            .filter(|s| {
                s.object["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|owners| owners.iter().any(|o| o["uid"] == uid.as_str()))
            })
            .filter_map(|s| {
                let claim = q::parse_claim(&s.object).ok()?;
                Some((s, claim))
            })
            .collect())
    }
}

/// A claim or grant a policy rendered, as a new object of `kind`: named
/// (from its generateName if it has no name), its system fields set, and
/// the causes of its metadata and schema that refuse it.
fn rendered_object(
    document: Value,
    kind: &KindInfo,
    now: &str,
) -> Result<(Object, Vec<Cause>), ApiError> {
    let mut obj = Object::from_value(document)
        .map_err(|e| ApiError::internal(format!("rendered {}: {e}", kind.singular)))?;
    if obj.metadata.name.is_empty() {
        let suffix = uuid::Uuid::new_v4().simple().to_string()[..5].to_string();
        obj.metadata.name =
            generated_name(&obj.metadata.generate_name, &suffix, kind.max_name_length);
    }
    lifecycle::initialize(&mut obj, kind, uuid::Uuid::new_v4().to_string(), now);
    let mut causes = lifecycle::validate_metadata(kind, &obj);
    causes.extend(kind.schema.validate(&obj.to_value(), None));
    Ok((obj, causes))
}

fn path_or_internal(path: Result<q::QuotaPath, q::PathError>) -> Result<q::QuotaPath, ApiError> {
    path.map_err(|e| ApiError::internal(format!("quota path: {e}")))
}

async fn parent_chain(
    store: &Store,
    parent: &ParentRef,
) -> Result<Vec<domain::hierarchy::Ancestor>, ApiError> {
    let links = hierarchy_reads::chain(store, parent, "spec").await?;
    Ok(hierarchy_reads::ancestors(&links))
}

/// A consumer's own path: itself, then its ancestors. A consumer that does
/// not exist is a 422 on `field`.
pub(crate) async fn consumer_path(
    store: &Store,
    consumer: &Node,
    field: &str,
) -> Result<q::QuotaPath, ApiError> {
    let kind = node_kind(consumer);
    let Some(stored) = store
        .get(&node_ref(consumer).key())
        .await
        .map_err(from_store)?
    else {
        return Err(ApiError::invalid(
            q::QUOTA_GROUP,
            q::RESOURCE_CLAIM.plural,
            &consumer.name,
            vec![Cause {
                reason: "FieldValueNotFound".into(),
                field: field.into(),
                message: format!("{consumer} not found"),
            }],
        ));
    };
    let chain = match hierarchy::parent_of(kind.kind, &stored.object["spec"]) {
        Some(parent) => parent_chain(store, &parent).await?,
        None => Vec::new(),
    };
    let mut nodes = vec![consumer.clone()];
    nodes.extend(
        q::QuotaPath::of_object(None, &chain)
            .map(|p| p.nodes().to_vec())
            .unwrap_or_default(),
    );
    path_or_internal(q::QuotaPath::new(nodes))
}

/// Where an organization, folder or project is stored.
pub(crate) fn node_ref(node: &Node) -> ObjectRef {
    builtin_ref(&Context::Platform, &node_kind(node), "", &node.name)
}

fn node_kind(node: &Node) -> kinds::KindId {
    match node.kind {
        q::NodeKind::Organization => kinds::ORGANIZATION,
        q::NodeKind::Folder => kinds::FOLDER,
        q::NodeKind::Project => kinds::PROJECT,
    }
}

/// The organization a consumer belongs to (`None`: it does not exist).
pub(crate) async fn consumer_organization(
    store: &Store,
    consumer: &Node,
) -> Result<Option<String>, ApiError> {
    let Some(stored) = store
        .get(&node_ref(consumer).key())
        .await
        .map_err(from_store)?
    else {
        return Ok(None);
    };
    if consumer.kind == q::NodeKind::Organization {
        return Ok(Some(consumer.name.clone()));
    }
    Ok(stored.object["metadata"]["labels"][ORGANIZATION_LABEL]
        .as_str()
        .map(str::to_string))
}

fn claim_types(claims: &[q::ResourceClaim]) -> BTreeSet<String> {
    claims
        .iter()
        .flat_map(|c| c.requests.iter().map(|r| r.resource_type.clone()))
        .collect()
}

/// Where a bucket lives (`BucketKey::namespace`): a project's in its own
/// control plane, the others in the platform context, in their
/// organization's namespace (`organization` is not read for a project's).
pub fn bucket_ref(organization: &str, key: &BucketKey) -> ObjectRef {
    let context = match key.project_control_plane() {
        Some(project) => Context::Project(project.to_string()),
        None => Context::Platform,
    };
    builtin_ref(
        &context,
        &q::ALLOWANCE_BUCKET,
        &key.namespace(organization),
        &key.name(),
    )
}

/// Every bucket: the platform's read from their partition, projects' (in
/// their control planes) through the type index, which may lag a bucket
/// made a moment ago (as it may for a CRD's objects).
async fn every_bucket(store: &Store) -> Result<Vec<Stored>, ApiError> {
    let mut buckets = context_items(store, &Context::Platform, &q::ALLOWANCE_BUCKET).await?;
    buckets.extend(
        type_items(store, &q::ALLOWANCE_BUCKET)
            .await?
            .into_iter()
            .filter(|s| {
                ObjectRef::from_key(&s.key).is_some_and(|r| r.context != Context::Platform)
            }),
    );
    Ok(buckets)
}

fn labels_of(doc: &Value) -> Vec<(String, String)> {
    doc["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Records on a trigger the grants its policies made (GRANTS_ANNOTATION).
fn record_grants(trigger: &mut Object, held: &BTreeMap<String, String>) {
    let annotations = &mut trigger.metadata.annotations;
    match q::held_grants_value(held) {
        Some(value) => annotations.insert(q::GRANTS_ANNOTATION.into(), value),
        None => annotations.remove(q::GRANTS_ANNOTATION),
    };
}

/// Where a rendered grant lives: the policy's parent context if it names
/// one, else the platform; the rendered namespace and name.
fn rendered_ref(rendered: &q::RenderedGrant) -> ObjectRef {
    let context = match &rendered.parent_context {
        Some(p) if p.kind == "Organization" => Context::Organization(p.name.clone()),
        Some(p) if p.kind == "Project" => Context::Project(p.name.clone()),
        _ => Context::Platform,
    };
    let meta = &rendered.document["metadata"];
    builtin_ref(
        &context,
        &q::RESOURCE_GRANT,
        meta["namespace"].as_str().unwrap_or_default(),
        meta["name"].as_str().unwrap_or_default(),
    )
}

/// A policy that rendered an invalid claim or grant: 422 with the
/// template's causes (an expression failing on this trigger stays 400).
fn policy_invalid(error: &q::PolicyError) -> ApiError {
    match error {
        q::PolicyError::InvalidDocument {
            policy_kind,
            policy,
            causes,
            ..
        } => ApiError::invalid(
            q::QUOTA_GROUP,
            if *policy_kind == q::CLAIM_CREATION_POLICY.kind {
                q::CLAIM_CREATION_POLICY.plural
            } else {
                q::GRANT_CREATION_POLICY.plural
            },
            policy,
            causes.clone(),
        ),
        other => other.to_api_error(),
    }
}

/// The buckets of every node on `path` for `types`, as stored now.
async fn read_buckets(
    store: &Store,
    path: &q::QuotaPath,
    types: &BTreeSet<String>,
) -> Result<BTreeMap<BucketKey, BucketLevel>, ApiError> {
    let org = path.organization();
    let keys: Vec<_> = path_keys(path, types)
        .iter()
        .map(|k| bucket_ref(org, k).key())
        .collect();
    read_bucket_keys(store, &keys).await
}

/// The buckets a claim of `types` on `path` may count in: each node's, for
/// each type.
fn path_keys(path: &q::QuotaPath, types: &BTreeSet<String>) -> Vec<BucketKey> {
    path.nodes()
        .iter()
        .flat_map(|n| types.iter().map(move |t| BucketKey::new(n.clone(), t)))
        .collect()
}

async fn read_bucket_keys(
    store: &Store,
    keys: &[store::ItemKey],
) -> Result<BTreeMap<BucketKey, BucketLevel>, ApiError> {
    let stored = store.batch_get(keys).await.map_err(from_store)?;
    let mut levels = BTreeMap::new();
    add_levels(&mut levels, stored)?;
    Ok(levels)
}

/// Adds stored buckets to `levels`; a bucket that does not parse is a 500.
pub(crate) fn add_levels(
    levels: &mut BTreeMap<BucketKey, BucketLevel>,
    stored: Vec<store::Stored>,
) -> Result<(), ApiError> {
    for s in stored {
        let (key, level) = q::parse_bucket(&s.object).map_err(|causes| {
            ApiError::internal(format!(
                "stored AllowanceBucket {} is corrupt: {causes:?}",
                s.key.sk
            ))
        })?;
        levels.insert(key, level);
    }
    Ok(())
}

fn parent_text(parent: Option<&Node>) -> String {
    parent
        .map(|p| format!("{}/{}", p.kind.kind(), p.name))
        .unwrap_or_default()
}

/// A new bucket's document: Milo's identity, system labels, our metadata.
pub(crate) fn bucket_document(key: &BucketKey, organization: &str, now: &str) -> Value {
    let mut doc = key.document(organization);
    doc["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
    doc["metadata"]["creationTimestamp"] = json!(now);
    doc["metadata"]["generation"] = json!(1);
    doc
}

/// The store writes of claim or release bucket changes. A bucket a claim
/// increments may be new unless `levels` read it or its condition requires
/// it to exist: its label index items go along (unconditional, so a bucket
/// created meanwhile is indexed the same).
fn bucket_writes(
    changes: &[BucketChange],
    path: &q::QuotaPath,
    levels: &BTreeMap<BucketKey, BucketLevel>,
    now: &str,
) -> Vec<Write> {
    let org = path.organization();
    let mut writes = Vec::new();
    let mut indexes = Vec::new();
    for change in changes {
        let bucket = bucket_ref(org, &change.key);
        let parent = parent_text(change.parent.as_ref());
        writes.push(Write::Bucket(BucketWrite {
            key: bucket.key(),
            document: bucket_document(&change.key, org, now),
            limit_delta: 0,
            allocated_delta: change.allocated_delta,
            claim_count_delta: change.claim_count_delta,
            grant_count_delta: 0,
            check: match change.check {
                HeadroomCheck::None => BucketCheck::None,
                HeadroomCheck::Required(n) => BucketCheck::Headroom(n),
                HeadroomCheck::IfLimited(n) => BucketCheck::HeadroomIfLimited(n),
            },
            expect_parent: Some(parent.clone()),
            set_parent: Some(parent),
            contributions: Vec::new(),
        }));
        let must_exist = matches!(change.check, HeadroomCheck::Required(_));
        if !levels.contains_key(&change.key) && !must_exist && change.allocated_delta > 0 {
            indexes.extend(bucket_indexes(&bucket, &change.key));
        }
    }
    writes.extend(indexes);
    writes
}

fn bucket_indexes(bucket: &ObjectRef, key: &BucketKey) -> Vec<Write> {
    key.labels()
        .into_iter()
        .map(|(k, v)| Write::PutIndex {
            key: bucket.label_index_key(&k, &v),
            target: bucket.key(),
        })
        .collect()
}

/// How many empty buckets one transaction deletes: three items each (the
/// bucket and its two label index items), with room left for the write
/// they go along with.
const BUCKETS_RETIRED_AT_ONCE: usize = 25;

/// The writes deleting a stored bucket and its label index items, under
/// the version read.
fn bucket_delete(bucket: &Stored, key: &BucketKey) -> Vec<Write> {
    let mut writes = vec![Write::Delete {
        key: bucket.key.clone(),
        expect: Expect::Version(bucket.version),
    }];
    let Some(object_ref) = ObjectRef::from_key(&bucket.key) else {
        return writes;
    };
    writes.extend(key.labels().into_iter().map(|(k, v)| Write::Delete {
        key: object_ref.label_index_key(&k, &v),
        expect: Expect::Anything,
    }));
    writes
}

/// The store writes of a grant's limit changes (no condition: lowering a
/// limit under what is allocated keeps what exists). `org`: the consumer's
/// organization (`None`: the consumer is gone; nothing to change).
fn limit_writes(
    changes: &[q::LimitChange],
    grant: &q::ResourceGrant,
    org: Option<&str>,
    now: &str,
) -> Vec<Write> {
    let Some(org) = org else {
        return Vec::new();
    };
    let mut writes = Vec::new();
    let mut indexes = Vec::new();
    for change in changes {
        let bucket = bucket_ref(org, &change.key);
        writes.push(Write::Bucket(BucketWrite {
            key: bucket.key(),
            document: bucket_document(&change.key, org, now),
            limit_delta: change.limit_delta,
            allocated_delta: 0,
            claim_count_delta: 0,
            grant_count_delta: change.grant_count_delta,
            check: BucketCheck::None,
            expect_parent: None,
            set_parent: None,
            contributions: vec![(
                grant.name.clone(),
                change.contribution.map(|a| (a, grant.generation)),
            )],
        }));
        if change.grant_count_delta > 0 {
            indexes.extend(bucket_indexes(&bucket, &change.key));
        }
    }
    writes.extend(indexes);
    writes
}
