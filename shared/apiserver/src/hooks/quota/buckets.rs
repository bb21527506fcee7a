//! Quota's buckets as store items: where one lives, its document, the
//! writes of claim, release and limit changes, and reading them.

use std::collections::{BTreeMap, BTreeSet};

use domain::quota::{self as q, BucketChange, BucketKey, BucketLevel, HeadroomCheck, Node};
use domain::ApiError;
use serde_json::{json, Value};
use store::{Context, Expect, ObjectRef, Store, Stored, Write};

use super::bucket_items::{folded, BucketCheck, BucketWrite, QuotaWrite};

use crate::errors::from_store;
use crate::label_index;
use crate::placement::builtin_ref;
use crate::stamped::{context_items, type_items};

pub(super) fn claim_types(claims: &[q::ResourceClaim]) -> BTreeSet<String> {
    claims
        .iter()
        .flat_map(|c| c.requests.iter().map(|r| r.resource_type.clone()))
        .collect()
}

/// Where a bucket lives (`BucketKey::namespace`): a project's in its own
/// control plane, the others in the platform context, in their
/// organization's namespace (`organization` is not read for a project's).
pub(crate) fn bucket_ref(organization: &str, key: &BucketKey) -> ObjectRef {
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
pub(super) async fn every_bucket(store: &Store) -> Result<Vec<Stored>, ApiError> {
    let mut buckets = context_items(store, &Context::Platform, &q::ALLOWANCE_BUCKET).await?;
    buckets.extend(
        type_items(store, &q::ALLOWANCE_BUCKET)
            .await?
            .into_iter()
            .filter(|s| {
                ObjectRef::from_key(&s.key).is_some_and(|r| r.context != Context::Platform)
            }),
    );
    Ok(folded(buckets))
}

/// The buckets of every node on `path` for `types`, as stored now.
pub(super) async fn read_buckets(
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
pub(super) fn path_keys(path: &q::QuotaPath, types: &BTreeSet<String>) -> Vec<BucketKey> {
    path.nodes()
        .iter()
        .flat_map(|n| types.iter().map(move |t| BucketKey::new(n.clone(), t)))
        .collect()
}

pub(super) async fn read_bucket_keys(
    store: &Store,
    keys: &[store::ItemKey],
) -> Result<BTreeMap<BucketKey, BucketLevel>, ApiError> {
    let stored = store.batch_get(keys).await.map_err(from_store)?;
    let mut levels = BTreeMap::new();
    add_levels(&mut levels, stored)?;
    Ok(levels)
}

/// Adds stored buckets (their counters folded in here) to `levels`; a
/// bucket that does not parse is a 500.
pub(crate) fn add_levels(
    levels: &mut BTreeMap<BucketKey, BucketLevel>,
    stored: Vec<store::Stored>,
) -> Result<(), ApiError> {
    for s in folded(stored) {
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

pub(super) fn parent_text(parent: Option<&Node>) -> String {
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
pub(super) fn bucket_writes(
    changes: &[BucketChange],
    path: &q::QuotaPath,
    levels: &BTreeMap<BucketKey, BucketLevel>,
    now: &str,
) -> Vec<QuotaWrite> {
    let org = path.organization();
    let mut writes = Vec::new();
    let mut indexes = Vec::new();
    for change in changes {
        let bucket = bucket_ref(org, &change.key);
        let parent = parent_text(change.parent.as_ref());
        writes.push(QuotaWrite::Bucket(BucketWrite {
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
    writes.extend(indexes.into_iter().map(QuotaWrite::Item));
    writes
}

pub(super) fn bucket_indexes(bucket: &ObjectRef, key: &BucketKey) -> Vec<Write> {
    let labels: Vec<(String, String)> = key.labels().into_iter().collect();
    label_index::puts(bucket, &labels).collect()
}

/// How many empty buckets one transaction deletes: three items each (the
/// bucket and its two label index items), with room left for the write
/// they go along with.
pub(super) const BUCKETS_RETIRED_AT_ONCE: usize = 25;

/// The writes deleting a stored bucket and its label index items, under
/// the version read.
pub(super) fn bucket_delete(bucket: &Stored, key: &BucketKey) -> Vec<Write> {
    let mut writes = vec![Write::Delete {
        key: bucket.key.clone(),
        expect: Expect::Version(bucket.version),
    }];
    let Some(object_ref) = ObjectRef::from_key(&bucket.key) else {
        return writes;
    };
    let labels: Vec<(String, String)> = key.labels().into_iter().collect();
    writes.extend(label_index::deletes(&object_ref, &labels));
    writes
}

/// The store writes of a grant's limit changes (no condition: lowering a
/// limit under what is allocated keeps what exists). `org`: the consumer's
/// organization (`None`: the consumer is gone; nothing to change).
pub(super) fn limit_writes(
    changes: &[q::LimitChange],
    grant: &q::ResourceGrant,
    org: Option<&str>,
    now: &str,
) -> Vec<QuotaWrite> {
    let Some(org) = org else {
        return Vec::new();
    };
    let mut writes = Vec::new();
    let mut indexes = Vec::new();
    for change in changes {
        let bucket = bucket_ref(org, &change.key);
        writes.push(QuotaWrite::Bucket(BucketWrite {
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
    writes.extend(indexes.into_iter().map(QuotaWrite::Item));
    writes
}
