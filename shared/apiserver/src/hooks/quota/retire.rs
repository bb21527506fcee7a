//! Buckets that go with what they counted for: an organization's,
//! folder's or project's once it is deleted, a gone consumer's once its
//! last grant is; each only if the delete leaves it empty.

use std::collections::BTreeSet;

use domain::kinds::ORGANIZATION_LABEL;
use domain::object::Object;
use domain::quota::{self as q, BucketKey, BucketLevel, Node};
use domain::ApiError;
use store::ObjectRef;

use super::bucket_items::{folded, QuotaWrite};
use super::buckets::{bucket_delete, bucket_ref};
use super::{conflict, HookContext, Pending};
use crate::errors::from_store;
use crate::quota_cache::Inputs;

/// A deleted organization, folder or project takes along its own
/// buckets that the delete leaves empty (`BucketLevel::is_empty` once
/// its releases and grant removals are added), with their index items,
/// so that no bucket outlives its consumer. Each goes under the version
/// read: a claim or grant landing on it meanwhile makes the delete a 409
/// to retry. A bucket a grant still names stays. A bucket claims still
/// count in keeps its consumer: 409 (`q::claims_holding`).
pub(super) async fn retire_buckets(
    cx: &HookContext<'_>,
    old: &Object,
    inputs: &Inputs,
    pending: &mut Pending,
) -> Result<(), ApiError> {
    let Some(kind) = q::NodeKind::of(&cx.kind.group, &cx.kind.kind) else {
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
    let kept = retire_empty(cx, &keys, &org, pending).await?;
    match q::claims_holding(&kept) {
        Some(reason) => Err(conflict(
            cx,
            &old.metadata.name,
            format!("{} \"{}\": {reason}", cx.kind.singular, old.metadata.name),
        )),
        None => Ok(()),
    }
}

/// The organization whose namespace holds the buckets `keys` (all of
/// one consumer), found through the buckets' consumer-name index: what
/// locates a bucket once its consumer is gone (for a project's, which
/// need none, an empty name). `None`: no such bucket.
pub(super) async fn organization_of_buckets(
    cx: &HookContext<'_>,
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
        let page = cx
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
/// `pending` leaves empty, in its place; see [`retire_buckets`].
/// Returns the others, with their levels once `pending` is in.
pub(super) async fn retire_empty(
    cx: &HookContext<'_>,
    keys: &[BucketKey],
    org: &str,
    pending: &mut Pending,
) -> Result<Vec<(BucketKey, BucketLevel)>, ApiError> {
    let mut kept = Vec::new();
    if keys.is_empty() {
        return Ok(kept);
    }
    let item_keys: Vec<_> = keys.iter().map(|k| bucket_ref(org, k).key()).collect();
    let stored = cx.store.batch_get(&item_keys).await.map_err(from_store)?;
    for bucket in folded(stored) {
        let Ok((key, level)) = q::parse_bucket(&bucket.object) else {
            continue;
        };
        let changes = pending.writes.iter().filter_map(|w| match w {
            QuotaWrite::Bucket(b) if b.key == bucket.key => Some(BucketLevel {
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
            .retain(|w| !matches!(w, QuotaWrite::Bucket(b) if b.key == bucket.key));
        pending.writes.extend(
            bucket_delete(&bucket, &key)
                .into_iter()
                .map(QuotaWrite::Item),
        );
    }
    Ok(kept)
}
