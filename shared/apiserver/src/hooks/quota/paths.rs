//! Where a write's usage counts: the quota path of an object or a
//! consumer (itself, then its ancestors), and a folder's or project's move
//! carrying its subtree's usage from the old path to the new.

use std::collections::BTreeSet;

use domain::hierarchy::{self, ParentRef};
use domain::kinds::{self, ORGANIZATION_LABEL};
use domain::object::Object;
use domain::quota::{self as q, BucketKey, Node};
use domain::{ApiError, Cause};
use store::{Context, ObjectRef, Store};

use super::bucket_items::{BucketCheck, BucketWrite, QuotaWrite};

use super::buckets::{
    bucket_document, bucket_indexes, bucket_ref, bucket_writes, parent_text, read_bucket_keys,
};
use super::claims::claims_of;
use super::{inputs, HookContext, Pending};
use crate::errors::from_store;
use crate::hierarchy_reads::{self, Link};
use crate::placement::{builtin_ref, is_hierarchy};

/// A move (`domain::quota::plan_move`): the subtree's usage leaves the
/// ancestors lost and joins those gained (403 if one has no room), and
/// the subject's buckets are re-parented under the condition that they
/// still hold what was read.
pub(super) async fn admit_move(
    cx: &HookContext<'_>,
    old: &Object,
    placement: &[Link],
    now: &str,
) -> Result<Pending, ApiError> {
    let subject = match cx.kind.kind.as_str() {
        "Folder" => Node::folder(&old.metadata.name),
        "Project" => Node::project(&old.metadata.name),
        _ => return Ok(Pending::default()),
    };
    let Some(old_parent) = hierarchy::parent_of(&cx.kind.kind, old.spec()) else {
        return Ok(Pending::default());
    };
    let old_chain = parent_chain(cx.store, &old_parent).await?;
    let new_chain = hierarchy_reads::ancestors(placement);
    let (Ok(old_path), Ok(new_path)) = (
        q::QuotaPath::of_object(None, &old_chain),
        q::QuotaPath::of_object(None, &new_chain),
    ) else {
        return Ok(Pending::default());
    };
    let types: BTreeSet<String> = inputs(cx)
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
    let levels = read_bucket_keys(cx.store, &keys).await?;
    let own_claims: Vec<q::ResourceClaim> = claims_of(cx, old)
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
    writes.extend(reparent_writes(&plan.reparents, &org, now));
    Ok(Pending::of(writes))
}

/// The writes re-parenting a moved subject's buckets, each under the
/// condition that it still holds what was read (a bucket not read is new:
/// its index items go along).
fn reparent_writes(reparents: &[q::Reparent], org: &str, now: &str) -> Vec<QuotaWrite> {
    let mut writes = Vec::new();
    for reparent in reparents {
        let bucket = bucket_ref(org, &reparent.key);
        writes.push(QuotaWrite::Bucket(BucketWrite {
            key: bucket.key(),
            document: bucket_document(&reparent.key, org, now),
            limit_delta: 0,
            allocated_delta: 0,
            claim_count_delta: 0,
            grant_count_delta: 0,
            check: BucketCheck::Unchanged(reparent.expected.map(|l| (l.allocated, l.claim_count))),
            expect_parent: Some(parent_text(Some(&reparent.old_parent))),
            set_parent: Some(parent_text(Some(&reparent.new_parent))),
            contributions: Vec::new(),
        }));
        if reparent.expected.is_none() {
            writes.extend(
                bucket_indexes(&bucket, &reparent.key)
                    .into_iter()
                    .map(QuotaWrite::Item),
            );
        }
    }
    writes
}

/// The quota path of an object: the nodes whose buckets its claims
/// count on. `placement` is the chain already read for a folder or
/// project create. `None`: the object is in no organization's tree.
pub(super) async fn path_of(
    cx: &HookContext<'_>,
    obj: &Object,
    placement: Option<&[Link]>,
) -> Result<Option<q::QuotaPath>, ApiError> {
    if is_hierarchy(cx.kind) {
        if cx.kind.kind == kinds::ORGANIZATION.kind {
            return Ok(None);
        }
        let chain = match placement {
            Some(links) => hierarchy_reads::ancestors(links),
            None => match hierarchy::parent_of(&cx.kind.kind, obj.spec()) {
                Some(parent) => parent_chain(cx.store, &parent).await?,
                None => return Ok(None),
            },
        };
        return Ok(q::QuotaPath::of_object(None, &chain).ok());
    }
    match cx.context {
        Context::Platform => Ok(None),
        Context::Organization(org) => Ok(Some(path_or_internal(q::QuotaPath::new(vec![
            Node::organization(org),
        ]))?)),
        Context::Project(project) => {
            let project_ref = builtin_ref(&Context::Platform, &kinds::PROJECT, "", project);
            let Some(stored) = cx.store.get(&project_ref.key()).await.map_err(from_store)? else {
                return Ok(None);
            };
            let Some(parent) = hierarchy::parent_of(kinds::PROJECT.kind, &stored.object["spec"])
            else {
                return Ok(None);
            };
            let chain = parent_chain(cx.store, &parent).await?;
            Ok(q::QuotaPath::of_object(Some(project), &chain).ok())
        }
    }
}

fn path_or_internal(path: Result<q::QuotaPath, q::PathError>) -> Result<q::QuotaPath, ApiError> {
    path.map_err(|e| ApiError::internal(format!("quota path: {e}")))
}

pub(super) async fn parent_chain(
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
            vec![consumer_not_found(field, consumer)],
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

/// The cause of a claim or grant whose consumer does not exist.
pub(super) fn consumer_not_found(field: &str, consumer: &Node) -> Cause {
    Cause {
        reason: "FieldValueNotFound".into(),
        field: field.into(),
        message: format!("{consumer} not found"),
    }
}

/// Where an organization, folder or project is stored.
pub(crate) fn node_ref(node: &Node) -> ObjectRef {
    builtin_ref(&Context::Platform, &node_kind(node), "", &node.name)
}

pub(super) fn node_kind(node: &Node) -> kinds::KindId {
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
